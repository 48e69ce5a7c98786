"""A Confluent-compatible Avro schema registry shipped with the project.

Run it with `python -m schemas.registry_server`. It speaks the REST subset confluent-kafka's
`SchemaRegistryClient` uses, decides compatibility with the official Avro checker (`schemas.compatibility`)
and keeps its state in SQLite under `--data-dir`.
"""

from schemas.registry_server.app import create_app
from schemas.registry_server.registry import Registry
from schemas.registry_server.store import Store

__all__ = ["Registry", "Store", "create_app"]
