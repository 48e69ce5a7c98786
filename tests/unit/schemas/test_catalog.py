"""The table catalog loads, resolves topics and SCD settings, and rejects bad entries with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from schemas.catalog import DEFAULT_PATH, Catalog, load_catalog

pytestmark = pytest.mark.unit

MINIMAL = """
topic_prefix = "retail"
database = "retail"
source_schema = "public"
connector_name = "retail"

[tables.thing]
role = "fact"
primary_key = ["id"]
columns = [
  { name = "id", type = "int64" },
  { name = "label", type = "string", nullable = true },
]
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    """Load a bad catalog and return the ConfigError message after the common checks."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


# ── the packaged catalog ─────────────────────────────────────────────────────────────────────────────────


def test_default_catalog_is_next_to_the_module(catalog: Catalog) -> None:
    assert DEFAULT_PATH.name == "catalog.toml"
    assert DEFAULT_PATH.parent == Path(__file__).resolve().parents[3] / "schemas"
    assert load_catalog(DEFAULT_PATH) == catalog


def test_retail_tables_in_declaration_order(catalog: Catalog) -> None:
    assert catalog.table_names == ("customer", "product", "orders", "order_item", "payment", "shipment")


def test_catalog_level_settings(catalog: Catalog) -> None:
    assert catalog.topic_prefix == "retail"
    assert catalog.database == "retail"
    assert catalog.source_schema == "public"
    assert catalog.connector == "postgresql"
    assert catalog.connector_name == "retail"


def test_topics_follow_the_seed_pattern(catalog: Catalog) -> None:
    for table in catalog.tables:
        assert table.topic == f"retail.{table.name}.cdc"
        assert catalog.by_topic(table.topic) is table
    assert catalog.table("orders").qualified_name == "public.orders"


def test_key_columns_in_key_order(catalog: Catalog) -> None:
    assert [c.name for c in catalog.table("order_item").key_columns] == ["order_id", "line_no"]
    assert [c.name for c in catalog.table("customer").key_columns] == ["customer_id"]
    assert all(c.type == "int64" for c in catalog.table("orders").key_columns)


def test_every_table_partitions_by_source_ts(catalog: Catalog) -> None:
    assert {table.partition_by for table in catalog.tables} == {"source_ts"}


def test_roles_and_dimensions(catalog: Catalog) -> None:
    roles = {table.name: table.role for table in catalog.tables}
    assert roles == {
        "customer": "dimension",
        "product": "dimension",
        "orders": "fact",
        "order_item": "fact",
        "payment": "fact",
        "shipment": "fact",
    }
    customer, product = catalog.table("customer"), catalog.table("product")
    assert customer.dimension is not None and customer.dimension.name == "dim_customer"
    assert customer.dimension.scd_type == 2
    assert product.dimension is not None and product.dimension.name == "dim_product"
    assert catalog.table("orders").dimension is None


def test_column_scd_wins_over_the_dimension_default(catalog: Catalog) -> None:
    product = catalog.table("product")
    for name in ("category", "subcategory", "unit_price"):
        assert product.scd_type_of(name) == 2
    for name in ("name", "description", "brand"):
        assert product.scd_type_of(name) == 1
    assert product.scd_type_of("product_id") is None  # the natural key is not an attribute
    assert {c.name for c in product.scd_columns(2)} >= {"category", "subcategory", "unit_price"}
    assert catalog.table("orders").scd_type_of("status") is None
    assert catalog.table("orders").scd_columns(2) == ()


def test_columns_types_and_nullability(catalog: Catalog) -> None:
    customer = catalog.table("customer")
    assert customer.column("phone").nullable
    assert not customer.column("email").nullable
    assert customer.column("birth_date").type == "date"
    assert customer.column("created_at").postgres_type == "timestamp(6)"
    product = catalog.table("product")
    assert product.column("unit_price").type == "decimal(12,2)"
    assert product.column("unit_price").postgres_type == "numeric(12,2)"
    assert product.column("description").postgres_type == "text"
    assert product.column("active").avro_type == "boolean"
    assert catalog.table("order_item").column("quantity").avro_type == "int"


def test_postgres_ddl(catalog: Catalog) -> None:
    ddl = catalog.table("order_item").postgres_ddl()
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS public.order_item (")
    assert "unit_price numeric(12,2) NOT NULL" in ddl
    assert "PRIMARY KEY (order_id, line_no)" in ddl
    assert "phone varchar(32)," in catalog.table("customer").postgres_ddl()


def test_unknown_table_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match=r"unknown table 'x' \(known: customer, product, orders, "):
        catalog.table("x")


def test_unknown_column_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match=r"table 'payment' has no column 'x' \(known: payment_id, "):
        catalog.table("payment").column("x")


def test_minimal_catalog_defaults(tmp_path: Path) -> None:
    loaded = load_catalog(write(tmp_path, MINIMAL))
    thing = loaded.table("thing")
    assert thing.topic == "retail.thing.cdc"
    assert thing.connector == "postgresql"
    assert thing.partition_by == "source_ts"
    assert thing.column("label").nullable


def test_topic_pattern_and_per_table_overrides(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'topic_prefix = "retail"', 'topic_prefix = "shop"\ntopic_pattern = "{prefix}.{schema}.{table}"'
    )
    text += '\n[tables.other]\nrole = "reference"\ntopic = "custom.other_topic"\nsource_schema = "dbo"\n'
    text += 'primary_key = ["code"]\ncolumns = [{ name = "code", type = "varchar(8)" }]\n'
    loaded = load_catalog(write(tmp_path, text))
    assert loaded.table("thing").topic == "shop.public.thing"
    assert loaded.table("other").topic == "custom.other_topic"
    assert loaded.table("other").qualified_name == "dbo.other"


def test_type_spelling_is_canonicalised(tmp_path: Path) -> None:
    loaded = load_catalog(write(tmp_path, MINIMAL.replace('type = "string"', 'type = "decimal( 10 , 3 )"')))
    assert loaded.table("thing").column("label").type == "decimal(10,3)"


# ── validation errors: one line, naming the file, the table and the column ──────────────────────────────


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'type = "string"',
            'type = "strng"',
            "table 'thing', column 'label', key 'type': unknown type 'strng'",
        ),
        (
            'type = "string"',
            'type = "decimal(40,2)"',
            "column 'label', key 'type': decimal precision must be",
        ),
        ('type = "string"', 'type = "decimal(5,6)"', "column 'label', key 'type': decimal scale must be"),
        ('type = "string"', 'type = "decimal(12)"', "column 'label', key 'type': type 'decimal(12)' needs 2"),
        ('type = "string"', 'type = "varchar(0)"', "column 'label', key 'type': varchar length must be"),
        ('type = "string"', 'type = "varchar"', "column 'label', key 'type': type 'varchar' needs arguments"),
        (
            'type = "string"',
            'type = "int64(3)"',
            "column 'label', key 'type': type 'int64' takes no arguments",
        ),
        (
            'name = "label"',
            'name = "Label"',
            "table 'thing', column 'Label', key 'name': 'Label' is not a valid",
        ),
        ('name = "label"', 'name = "id"', "table 'thing': duplicate column(s) 'id'"),
        ("nullable = true", "nulable = true", "table 'thing', column 'label', key 'nulable': unknown key"),
        (
            "nullable = true",
            'nullable = "yes"',
            "table 'thing', column 'label', key 'nullable': Input should be",
        ),
        ('["id"]', '["nope"]', "table 'thing': primary key column 'nope' is not among the columns"),
        ('["id"]', '["id", "id"]', "table 'thing': primary_key ['id', 'id'] repeats a column"),
        ('["id"]', '["label"]', "table 'thing': column 'label': primary key columns must not be nullable"),
        ('["id"]', "[]", "table 'thing', key 'primary_key': must not be empty"),
        ('["id"]', '["ID"]', "table 'thing', key 'primary_key', item 1: 'ID' is not a valid identifier"),
        ("primary_key =", "primary_keys =", "table 'thing', key 'primary_keys': unknown key"),
        ('role = "fact"', 'role = "facts"', "table 'thing', key 'role': Input should be"),
        (
            'role = "fact"',
            'role = "dimension"',
            "table 'thing': role \"dimension\" needs a [tables.<name>.dimension]",
        ),
        (
            "nullable = true",
            'nullable = true, scd = "type2"',
            "column 'label': scd is only allowed on dimension",
        ),
        ("[tables.thing]", "[tables.Thing]", "table 'Thing', key 'name': 'Thing' is not a valid identifier"),
        ("[tables.thing]", '[tables.thing]\nname = "x"', "table 'thing': remove 'name'"),
        (
            'role = "fact"',
            'role = "fact"\ntopic = "retail-thing"',
            "table 'thing', key 'topic': topic 'retail-thing'",
        ),
        (
            'role = "fact"',
            'role = "fact"\npartition_by = "day"',
            "table 'thing', key 'partition_by': Input should",
        ),
        ('connector_name = "retail"', 'connector_name = "retail"\nconnector = "mysql"', "key 'connector':"),
        ('source_schema = "public"', "", "key 'source_schema': missing"),
        (
            'topic_prefix = "retail"',
            'topic_prefix = "retail"\ntopic_pattern = "{prefix}.{tbl}"',
            "placeholder(s)",
        ),
        (
            'topic_prefix = "retail"',
            'topic_prefix = "retail"\ntopic_prefx = "x"',
            "key 'topic_prefx': unknown key",
        ),
    ],
)
def test_validation_errors_name_the_culprit(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in MINIMAL
    message = load_error(tmp_path, MINIMAL.replace(old, new, 1))
    assert expected in message


def test_dimension_errors(tmp_path: Path) -> None:
    dimension = (
        MINIMAL.replace('role = "fact"', 'role = "dimension"') + '\n[tables.thing.dimension]\nname = "dim_thing"\n'
    )
    assert "table 'thing', key 'dimension', key 'scd_type': missing" in load_error(tmp_path, dimension)
    message = load_error(tmp_path, dimension + "scd_type = 3\n")
    assert "key 'scd_type'" in message and "Input should be 1 or 2" in message
    assert "scd_type must be the integer 1 or 2" in load_error(tmp_path, dimension + 'scd_type = "2"\n')
    keyed = dimension.replace('{ name = "id", type = "int64" }', '{ name = "id", type = "int64", scd = "type1" }')
    assert "column 'id': scd is not allowed on a primary key" in load_error(tmp_path, keyed + "scd_type = 2\n")
    fact = MINIMAL + '\n[tables.thing.dimension]\nname = "dim_thing"\nscd_type = 1\n'
    assert 'a dimension block needs role = "dimension", not "fact"' in load_error(tmp_path, fact)


def test_tables_sharing_a_topic_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + '\n[tables.twin]\nrole = "fact"\ntopic = "retail.thing.cdc"\nprimary_key = ["id"]\n'
    text += 'columns = [{ name = "id", type = "int64" }]\n'
    assert "tables 'thing' and 'twin' share topic 'retail.thing.cdc'" in load_error(tmp_path, text)


def test_a_catalog_needs_tables(tmp_path: Path) -> None:
    assert "key 'tables': missing" in load_error(tmp_path, MINIMAL.split("[tables.thing]", maxsplit=1)[0])
    assert "key 'tables': must not be empty" in load_error(
        tmp_path, MINIMAL.split("[tables.thing]", maxsplit=1)[0] + "tables = {}"
    )


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = MINIMAL.replace('type = "int64"', 'type = "int65"').replace("nullable = true", "nullable = 1")
    message = load_error(tmp_path, text)
    assert "column 'id', key 'type': unknown type 'int65'" in message
    assert "column 'label', key 'nullable'" in message
    assert "must not be empty" not in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    assert "invalid TOML" in load_error(tmp_path, MINIMAL.replace("]\n", "\n", 1))


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read the catalog"):
        load_catalog(path)


# ── data-quality rules and file extracts ───────────────────────────────────────────────────────────────


def test_quality_rules_of_the_packaged_catalog(catalog: Catalog) -> None:
    customer = catalog.table("customer").quality
    assert customer.rule_names()[:4] == ["not_null:email", "not_null:segment", "not_null:country", "unique:email"]
    assert catalog.table("order_item").quality.references == {"order_id": "orders", "product_id": "product"}
    order = [table.name for table in catalog.referenced_first()]
    assert order.index("customer") < order.index("orders") < order.index("order_item")
    assert order.index("product") < order.index("order_item")
    employee = catalog.extract("employee")
    assert employee.target_table == "staging.extract_employee" and employee.primary_key == ("employee_id",)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ('[tables.thing.quality]\nnot_null = ["nope"]', "unknown column(s) 'nope'"),
        ("[tables.thing.quality]\nranges = { id = { min = 5, max = 1 } }", "min 5 is above max 1"),
        ("[tables.thing.quality]\nranges = { id = {} }", "needs min, max or both"),
        ('[tables.thing.quality]\npatterns = { label = "(" }', "not a regular expression"),
        ('[tables.thing.quality]\nreferences = { id = "other" }', "unknown table 'other'"),
        (
            '[tables.thing.quality]\nreferences = { id = "other" }\n'
            '[tables.other]\nrole = "fact"\nprimary_key = ["id"]\ncolumns = [{ name = "id", type = "int64" }]\n'
            '[tables.other.quality]\nreferences = { id = "thing" }',
            "cycle",
        ),
        ('[tables.thing.quality]\nmaximum = ["id"]', "unknown key"),
        ('[extracts.x]\nprimary_key = ["a"]\ncolumns = [{ name = "b", type = "int64" }]', "are not among the columns"),
        (
            '[extracts.x]\nprimary_key = ["a"]\nencoding = "klingon"\ncolumns = [{ name = "a", type = "int64" }]',
            "unknown encoding",
        ),
    ],
)
def test_bad_quality_rules_and_extracts_are_named(tmp_path: Path, block: str, expected: str) -> None:
    text = MINIMAL + "\n" + block + "\n"
    if "cycle" in expected:
        with pytest.raises(ConfigError, match="cycle"):
            load_catalog(write(tmp_path, text)).referenced_first()
        return
    assert expected in load_error(tmp_path, text)


def test_a_self_reference_needs_no_order(tmp_path: Path) -> None:
    text = MINIMAL + '\n[tables.thing.quality]\nreferences = { id = "thing" }\n'
    assert [table.name for table in load_catalog(write(tmp_path, text)).referenced_first()] == ["thing"]


def test_unknown_extract_lists_none(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown file extract 'x' \(known: none\)"):
        load_catalog(write(tmp_path, MINIMAL)).extract("x")
