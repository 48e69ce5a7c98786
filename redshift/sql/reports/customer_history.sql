-- The version history of the customers with the most versions, oldest version first (`cdc warehouse report`).
-- Portable SQL: runs unchanged on Redshift and on the PostgreSQL stand-in. Parameter `customers`: how many (an integer).
WITH busiest AS (
  SELECT customer_id, COUNT(*) AS versions
  FROM analytics.dim_customer
  GROUP BY customer_id
  ORDER BY COUNT(*) DESC, customer_id
  LIMIT {{ customers }}
)
SELECT
  d.customer_id,
  d.segment,
  d.loyalty_tier,
  d.city,
  d.valid_from,
  d.valid_to,
  d.is_current,
  d.is_deleted
FROM analytics.dim_customer AS d
JOIN busiest AS b ON b.customer_id = d.customer_id
ORDER BY b.versions DESC, d.customer_id, d.valid_from, d.version_lsn;
