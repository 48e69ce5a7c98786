"""Spark Structured Streaming: Kafka CDC topics to the Parquet landing zone, exactly-once, with a dead-letter sink."""
