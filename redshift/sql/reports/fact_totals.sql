-- Order-line facts per order status, with how many lines still wait for their customer or product version
-- (`cdc warehouse report`). Portable SQL: runs unchanged on Redshift and on the PostgreSQL stand-in.
SELECT
  COALESCE(f.order_status, '(none)') AS order_status,
  COUNT(DISTINCT f.order_id) AS orders,
  COUNT(*) AS lines,
  COALESCE(SUM(f.quantity), 0) AS units,
  COALESCE(SUM(f.line_total), 0) AS revenue,
  SUM(CASE WHEN f.customer_key IS NULL OR f.product_key IS NULL THEN 1 ELSE 0 END) AS unresolved_lines
FROM analytics.fact_order_items AS f
GROUP BY COALESCE(f.order_status, '(none)')
ORDER BY revenue DESC, order_status;
