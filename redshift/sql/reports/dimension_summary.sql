-- Keys, versions and current rows of the SCD2 customer dimension (`cdc warehouse report`).
-- Portable SQL: runs unchanged on Redshift and on the PostgreSQL stand-in.
SELECT
  COUNT(DISTINCT customer_id) AS customers,
  COUNT(*) AS versions,
  SUM(CASE WHEN is_current AND NOT is_deleted THEN 1 ELSE 0 END) AS current_rows,
  SUM(CASE WHEN is_current AND is_deleted THEN 1 ELSE 0 END) AS deleted_customers
FROM analytics.dim_customer;
