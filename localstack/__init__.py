"""The embedded local stack: PostgreSQL, a Kafka-protocol broker, the schema registry and moto, as real processes."""
