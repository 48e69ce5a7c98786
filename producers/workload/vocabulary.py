"""The word lists the retail workload draws its values from: names, places, product taxonomy, methods, carriers.

Plain data, no logic. Every string is free of tabs, newlines and backslashes (they travel through COPY text
format) and fits its catalog column; ``tests/unit/producers/test_workload_values.py`` checks both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, NamedTuple

FIRST_NAMES: Final = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Christopher", "Karen",
    "Charles", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
    "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie",
    "Jason", "Rebecca", "George", "Sharon", "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Dorothy",
    "Jacob", "Amy", "Nicholas", "Kathleen", "Gary", "Angela", "Eric", "Shirley", "Jonathan", "Emma",
    "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Nicole", "Scott", "Anna", "Brandon", "Samantha",
    "Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Patrick",
    "Carolyn", "Frank", "Janet", "Raymond", "Maria", "Jack", "Olivia", "Dennis", "Heather", "Jerry", "Helen",
    "Wei", "Mei", "Hiroshi", "Yuki", "Priya", "Arjun", "Sofia", "Mateo", "Fatima", "Omar", "Chloe", "Lucas",
    "Aisha", "Diego", "Ingrid", "Lars", "Noah", "Zoe", "Elena", "Ivan",
)  # fmt: skip

LAST_NAMES: Final = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "O'Brien", "O'Connor", "Chen", "Wang", "Patel", "Shah", "Tanaka", "Suzuki", "Kowalski", "Novak",
    "Schmidt", "Muller", "Rossi", "Bianchi", "Dubois", "Larsen", "Johansson", "Ivanova", "Haddad", "Okafor",
)  # fmt: skip

EMAIL_DOMAINS: Final = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me",
    "comcast.net", "verizon.net", "example.com",
)  # fmt: skip

STREET_NAMES: Final = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset", "Lincoln",
    "Jackson", "Church", "Highland", "Willow", "Meadow", "River", "Forest", "Spring", "Ridge", "Valley",
    "Franklin", "Jefferson", "Madison", "Adams", "Chestnut", "Walnut", "Birch", "Dogwood", "Magnolia",
    "Prospect", "Center", "Mill", "Broad", "Market", "Union", "Grove", "Harbor", "Bay",
)  # fmt: skip
STREET_SUFFIXES: Final = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way", "Pl", "Ter")
UNIT_PREFIXES: Final = ("Apt", "Unit", "Suite")


class Place(NamedTuple):
    """A US city with its state code and the first three digits of its ZIP codes."""

    city: str
    state: str
    zip_prefix: str


PLACES: Final = (
    Place("New York", "NY", "100"), Place("Brooklyn", "NY", "112"), Place("Buffalo", "NY", "142"),
    Place("Los Angeles", "CA", "900"), Place("San Diego", "CA", "921"), Place("San Francisco", "CA", "941"),
    Place("San Jose", "CA", "951"), Place("Sacramento", "CA", "958"), Place("Chicago", "IL", "606"),
    Place("Springfield", "IL", "627"), Place("Houston", "TX", "770"), Place("Dallas", "TX", "752"),
    Place("Austin", "TX", "787"), Place("San Antonio", "TX", "782"), Place("Phoenix", "AZ", "850"),
    Place("Tucson", "AZ", "857"), Place("Philadelphia", "PA", "191"), Place("Pittsburgh", "PA", "152"),
    Place("Jacksonville", "FL", "322"), Place("Miami", "FL", "331"), Place("Tampa", "FL", "336"),
    Place("Orlando", "FL", "328"), Place("Columbus", "OH", "432"), Place("Cleveland", "OH", "441"),
    Place("Cincinnati", "OH", "452"), Place("Charlotte", "NC", "282"), Place("Raleigh", "NC", "276"),
    Place("Indianapolis", "IN", "462"), Place("Seattle", "WA", "981"), Place("Spokane", "WA", "992"),
    Place("Denver", "CO", "802"), Place("Boulder", "CO", "803"), Place("Washington", "DC", "200"),
    Place("Boston", "MA", "021"), Place("Worcester", "MA", "016"), Place("Nashville", "TN", "372"),
    Place("Memphis", "TN", "381"), Place("Detroit", "MI", "482"), Place("Grand Rapids", "MI", "495"),
    Place("Portland", "OR", "972"), Place("Eugene", "OR", "974"), Place("Las Vegas", "NV", "891"),
    Place("Reno", "NV", "895"), Place("Louisville", "KY", "402"), Place("Baltimore", "MD", "212"),
    Place("Milwaukee", "WI", "532"), Place("Madison", "WI", "537"), Place("Albuquerque", "NM", "871"),
    Place("Atlanta", "GA", "303"), Place("Savannah", "GA", "314"), Place("Kansas City", "MO", "641"),
    Place("St. Louis", "MO", "631"), Place("Omaha", "NE", "681"), Place("Minneapolis", "MN", "554"),
    Place("Saint Paul", "MN", "551"), Place("New Orleans", "LA", "701"), Place("Salt Lake City", "UT", "841"),
    Place("Boise", "ID", "837"), Place("Anchorage", "AK", "995"), Place("Honolulu", "HI", "968"),
    Place("Newark", "NJ", "071"), Place("Jersey City", "NJ", "073"), Place("Providence", "RI", "029"),
    Place("Hartford", "CT", "061"), Place("Burlington", "VT", "054"), Place("Portland", "ME", "041"),
    Place("Richmond", "VA", "232"), Place("Virginia Beach", "VA", "234"), Place("Birmingham", "AL", "352"),
    Place("Little Rock", "AR", "722"), Place("Des Moines", "IA", "503"), Place("Wichita", "KS", "672"),
    Place("Oklahoma City", "OK", "731"), Place("Charleston", "SC", "294"), Place("Fargo", "ND", "581"),
    Place("Sioux Falls", "SD", "571"), Place("Billings", "MT", "591"), Place("Cheyenne", "WY", "820"),
    Place("Jackson", "MS", "392"), Place("Wilmington", "DE", "198"), Place("Manchester", "NH", "031"),
    Place("Charleston", "WV", "253"),
)  # fmt: skip

# (value, relative weight)
SEGMENTS: Final = (("consumer", 80), ("small_business", 14), ("corporate", 6))
LOYALTY_TIERS: Final = ((None, 40), ("bronze", 30), ("silver", 18), ("gold", 9), ("platinum", 3))
CHANNELS: Final = (("web", 45), ("mobile_app", 35), ("store", 12), ("marketplace", 8))
PAYMENT_METHODS: Final = (("card", 70), ("paypal", 18), ("gift_card", 5), ("bank_transfer", 7))


class Carrier(NamedTuple):
    """A parcel carrier and how its tracking numbers look (prefix + digits)."""

    name: str
    tracking_prefix: str
    tracking_digits: int


CARRIERS: Final = (
    (Carrier("UPS", "1Z", 16), 35),
    (Carrier("FedEx", "", 12), 28),
    (Carrier("USPS", "94", 20), 25),
    (Carrier("DHL", "JD", 18), 7),
    (Carrier("OnTrac", "C", 14), 5),
)


class Subcategory(NamedTuple):
    """A product subcategory: its price band (USD) and the nouns its product names use."""

    name: str
    min_price: Decimal
    max_price: Decimal
    nouns: tuple[str, ...]


class Category(NamedTuple):
    """A product category with the brands that sell in it and its subcategories."""

    name: str
    code: str
    brands: tuple[str, ...]
    subcategories: tuple[Subcategory, ...]


def _sub(name: str, low: str, high: str, *nouns: str) -> Subcategory:
    return Subcategory(name, Decimal(low), Decimal(high), nouns)


CATEGORIES: Final = (
    Category(
        "electronics",
        "ELE",
        ("Acme", "Voltix", "Northwave", "Lumen", "Sonora", "Pixelle"),
        (
            _sub("headphones", "19.99", "349.99", "Headphones", "Earbuds", "Headset"),
            _sub("laptops", "399.00", "2499.00", "Laptop", "Notebook", "Ultrabook"),
            _sub("phones", "149.00", "1299.00", "Smartphone", "Phone"),
            _sub("accessories", "4.99", "79.99", "Charger", "Cable", "Case", "Power Bank", "Adapter"),
            _sub("smart_home", "24.99", "299.99", "Smart Speaker", "Smart Plug", "Thermostat", "Camera"),
        ),
    ),
    Category(
        "home_kitchen",
        "HOM",
        ("Hearthly", "Copperfield", "Casa Nova", "Brightside", "Oakmont"),
        (
            _sub("cookware", "14.99", "399.00", "Skillet", "Saucepan", "Dutch Oven", "Wok"),
            _sub("appliances", "29.99", "899.00", "Blender", "Toaster", "Coffee Maker", "Air Fryer"),
            _sub("bedding", "19.99", "249.00", "Duvet", "Pillow", "Sheet Set", "Blanket"),
            _sub("decor", "9.99", "189.00", "Lamp", "Vase", "Mirror", "Rug", "Frame"),
        ),
    ),
    Category(
        "apparel",
        "APP",
        ("Trailpeak", "Urbanist", "Blue Harbor", "Kinfolk", "Stride"),
        (
            _sub("mens", "12.99", "229.00", "T-Shirt", "Jacket", "Jeans", "Sweater", "Shirt"),
            _sub("womens", "12.99", "249.00", "Dress", "Blouse", "Jacket", "Jeans", "Cardigan"),
            _sub("shoes", "29.99", "219.00", "Sneakers", "Boots", "Sandals", "Loafers"),
            _sub("kids", "7.99", "89.00", "Hoodie", "Pajamas", "Raincoat", "Leggings"),
        ),
    ),
    Category(
        "sports_outdoors",
        "SPO",
        ("Summitline", "Trailpeak", "Riverstone", "Apex Gear"),
        (
            _sub("camping", "9.99", "499.00", "Tent", "Sleeping Bag", "Lantern", "Stove"),
            _sub("fitness", "9.99", "899.00", "Yoga Mat", "Dumbbell Set", "Treadmill", "Kettlebell"),
            _sub("cycling", "14.99", "1499.00", "Bike Helmet", "Road Bike", "Bike Light", "Pump"),
        ),
    ),
    Category(
        "grocery",
        "GRO",
        ("Green Acre", "Harvest Lane", "Daily Basket", "Orchard & Co"),
        (
            _sub("pantry", "1.49", "24.99", "Pasta", "Olive Oil", "Rice", "Granola", "Honey"),
            _sub("beverages", "0.99", "39.99", "Coffee Beans", "Green Tea", "Sparkling Water", "Juice"),
            _sub("snacks", "0.99", "14.99", "Trail Mix", "Crackers", "Chocolate Bar", "Chips"),
        ),
    ),
    Category(
        "beauty",
        "BEA",
        ("Lumiere", "Pure Botanica", "Velvet Row", "Glowhaus"),
        (
            _sub("skincare", "6.99", "129.00", "Moisturizer", "Serum", "Cleanser", "Sunscreen"),
            _sub("haircare", "4.99", "59.99", "Shampoo", "Conditioner", "Hair Oil", "Hair Dryer"),
            _sub("makeup", "4.99", "69.99", "Lipstick", "Mascara", "Foundation", "Eyeliner"),
        ),
    ),
    Category(
        "toys_games",
        "TOY",
        ("Playwright", "Tiny Giants", "Brainbox", "Funforge"),
        (
            _sub("board_games", "9.99", "89.99", "Board Game", "Card Game", "Puzzle"),
            _sub("building", "9.99", "249.99", "Building Set", "Block Kit", "Marble Run"),
            _sub("outdoor_play", "12.99", "299.00", "Scooter", "Kite", "Water Blaster", "Swing Set"),
        ),
    ),
    Category(
        "books_media",
        "BOO",
        ("Paperlane", "Northstar Press", "Quill House"),
        (
            _sub("fiction", "6.99", "34.99", "Novel", "Thriller", "Anthology"),
            _sub("nonfiction", "8.99", "49.99", "Cookbook", "Biography", "Field Guide", "Atlas"),
            _sub("music", "9.99", "59.99", "Vinyl Record", "CD Box Set"),
        ),
    ),
)

PRODUCT_ADJECTIVES: Final = (
    "Classic", "Pro", "Essential", "Ultra", "Compact", "Deluxe", "Everyday", "Premium", "Eco", "Smart",
    "Lite", "Max", "Signature", "Vintage", "Modern", "Travel", "Heritage", "Studio", "Active", "Prime",
)  # fmt: skip
PRODUCT_COLORS: Final = (
    "Black", "White", "Navy", "Graphite", "Red", "Sage", "Sand", "Blue", "Silver", "Olive", "Charcoal", "Rose",
)  # fmt: skip
DESCRIPTION_TEMPLATES: Final = (
    "Built for everyday use: the {adjective} {noun} from {brand}.",
    "{brand}'s {adjective} {noun} in {color}. Customers love its quality and value.",
    "Our best-selling {noun}: {adjective}, durable and backed by a 1-year warranty.",
    "The {adjective} {noun} by {brand}. Available in {color}; ships in recyclable packaging.",
)
