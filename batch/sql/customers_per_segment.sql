-- Customers per segment over time: how many customers each segment held at the end of the last 6 months, from the
-- SCD2 history (a version counts when it was valid at that instant and not deleted) (`cdc demo`).
WITH months AS (
  SELECT DISTINCT date_trunc('month', valid_from) + INTERVAL 1 MONTH AS month_end
  FROM curated.dim_customer
)
SELECT m.month_end - INTERVAL 1 DAY AS month, d.segment, COUNT(*) AS customers
FROM months AS m
JOIN curated.dim_customer AS d
  ON d.valid_from < m.month_end AND d.valid_to >= m.month_end AND NOT d.is_deleted
WHERE m.month_end > (SELECT MAX(valid_from) FROM curated.dim_customer) - INTERVAL 6 MONTH
GROUP BY 1, 2
ORDER BY 1, 2;
