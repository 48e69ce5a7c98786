"""Warehouse: versioned Redshift SQL (streaming MVs, SCD procedures, facts, COPY) and the runner that applies it."""
