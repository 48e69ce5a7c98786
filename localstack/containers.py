"""Integration-test stack in containers (testcontainers), used when a Docker engine answers.

Same endpoint names as the embedded stack; tests never know which one they got.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from localstack.http_service import http_ok
from localstack.paths import StackPaths
from localstack.process import wait_until

KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"
REGISTRY_IMAGE = "confluentinc/cp-schema-registry:7.9.1"
POSTGRES_IMAGE = "postgres:15"
MINIO_IMAGE = "minio/minio:RELEASE.2025-04-22T22-12-26Z"


@contextmanager
def container_stack(lake_home: Path) -> Iterator[dict[str, str]]:
    """Start Kafka (KRaft), Confluent Schema Registry, PostgreSQL 15 (logical WAL) and MinIO; yield endpoints."""
    from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415 - only with Docker
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.network import Network  # noqa: PLC0415
    from testcontainers.minio import MinioContainer  # noqa: PLC0415
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

    paths = StackPaths.at(lake_home)
    paths.ensure()
    with ExitStack() as stack:
        network = stack.enter_context(Network())
        kafka = stack.enter_context(
            KafkaContainer(KAFKA_IMAGE).with_kraft().with_network(network).with_network_aliases("kafka")
        )
        registry = (
            DockerContainer(REGISTRY_IMAGE)
            .with_network(network)
            .with_exposed_ports(8081)
            .with_env("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
            .with_env("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
            .with_env("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", "BROKER://kafka:9092")
        )
        stack.enter_context(registry)
        registry_url = f"http://{registry.get_container_host_ip()}:{registry.get_exposed_port(8081)}"
        wait_until(lambda: http_ok(f"{registry_url}/subjects"), timeout=120, what="schema registry container")
        postgres = PostgresContainer(
            POSTGRES_IMAGE,
            username="cdc",
            password="cdc",  # noqa: S106 - throwaway container
            dbname="retail",
            driver=None,
        )
        postgres.with_command("postgres -c wal_level=logical -c max_replication_slots=16 -c max_wal_senders=16")
        stack.enter_context(postgres)
        postgres.exec(["psql", "-U", "cdc", "-d", "retail", "-c", "CREATE DATABASE warehouse"])
        minio = stack.enter_context(MinioContainer(MINIO_IMAGE))
        minio_config = minio.get_config()
        source_dsn = postgres.get_connection_url(driver=None)
        yield {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "SCHEMA_REGISTRY_URL": registry_url,
            "SOURCE_DSN": source_dsn,
            "WAREHOUSE_DSN": source_dsn.rsplit("/", 1)[0] + "/warehouse",
            "AWS_ENDPOINT_URL": f"http://{minio_config['endpoint']}",
            "AWS_ACCESS_KEY_ID": minio_config["access_key"],
            "AWS_SECRET_ACCESS_KEY": minio_config["secret_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "LAKE_ROOT": str(paths.lake),
        }
