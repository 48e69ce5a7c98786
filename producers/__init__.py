"""Change capture: PostgreSQL logical decoding and the Debezium engine, publishing Debezium-format Avro to Kafka."""
