"""Batch medallion jobs: landing to staging to the curated star schema, incremental."""
