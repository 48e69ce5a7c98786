-- Top products by revenue over the last 7 days of orders in the lake (`cdc demo`; DuckDB over curated).
SELECT p.name AS product, p.category, SUM(f.line_total) AS revenue, SUM(f.quantity) AS units
FROM curated.fact_order_items AS f
JOIN curated.dim_product AS p ON p.product_key = f.product_key
WHERE f.order_ts >= (SELECT MAX(order_ts) FROM curated.fact_order_items) - INTERVAL 7 DAY
GROUP BY p.name, p.category
ORDER BY revenue DESC
LIMIT 5;
