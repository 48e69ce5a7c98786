"""Table catalog, Avro schemas (Debezium Key/Envelope), Confluent framing, registry client and registry server."""
