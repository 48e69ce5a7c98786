"""Change capture: native PostgreSQL logical decoding and the Debezium engine."""
