"""The JSON bridge: Avro CDC topics to Debezium-style JSON topics for Redshift streaming MVs (ADR 0010, decision 1).

`json_encoding` (pure: decoded envelope + writer schema -> JSON bytes), `decoding` (Confluent framing, writer
schemas by id, errors as data), `records` (one source record -> its JSON or dead-letter record), `ledger` (which
source records a bridge already wrote, for restarts), `progress` (pure counters and lag), `loop` (the transactional
consume-transform-produce shell), `topics` and `settings`.
"""
