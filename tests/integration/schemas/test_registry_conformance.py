"""Conformance of the registry with Confluent Schema Registry, driven by confluent-kafka's real client and serdes.

Runs against the project's server by default and unchanged against a real Confluent registry when
SCHEMA_REGISTRY_URL is set (subjects are unique per test and removed afterwards).
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    ServerConfig,
    header_schema_id_serializer,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.integration.schemas.conftest import REPO_ROOT, EmbeddedRegistry, unique_subject

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., SchemaRegistryClient]
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = [level.value for level in ConfigCompatibilityLevel]


def avro_record(*fields: dict[str, Any]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": "Customer",
            "namespace": "retail.conformance",
            "fields": [{"name": "id", "type": "int"}, *fields],
        }
    )


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


BASE = avro_record(field("email", "string"))
# Adding a field with a default is compatible at every level.
BASE_PLUS = avro_record(field("email", "string"), field("segment", "string", default="none"))
BASE_PLUS_PLUS = avro_record(
    field("email", "string"), field("segment", "string", default="none"), field("phone", "string", default="")
)
ADD_WITHOUT_DEFAULT = avro_record(field("email", "string"), field("loyalty_tier", "string"))
DROP_EMAIL = avro_record()
OTHER = avro_record(field("phone", "string", default=""))

# Three versions where neighbours agree at BACKWARD, FORWARD and FULL, but v1 and v3 do not.
V1 = avro_record(field("loyalty_tier", "string", default=""))
V2 = avro_record()
V3 = avro_record(field("loyalty_tier", "int", default=0))


def avro(text: str, schema_type: str = "AVRO") -> Schema:
    return Schema(text, schema_type)


@contextmanager
def registry_error(http_status: int, *error_codes: int) -> Iterator[pytest.ExceptionInfo[SchemaRegistryError]]:
    with pytest.raises(SchemaRegistryError) as info:
        yield info
    assert info.value.http_status_code == http_status, info.value
    assert info.value.error_code in error_codes, info.value


def as_json(schema_str: str | None) -> Any:
    assert schema_str is not None
    return json.loads(schema_str)


def set_level(client: SchemaRegistryClient, subject: str, level: str) -> None:
    response: object = client.set_compatibility(subject, level)  # typed `str`, but the raw body is returned
    assert response == {"compatibility": level}


# --------------------------------------------------------------------------------------------- basics


def test_health_and_schema_types(http: httpx.Client, client: SchemaRegistryClient) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["content-type"].startswith(CONTENT_TYPE)
    assert "AVRO" in client.get_schema_types()


def test_register_returns_the_registration_and_is_idempotent(client_factory: ClientFactory, subject: str) -> None:
    registered = client_factory().register_schema_full_response(subject, avro(BASE))
    assert registered.schema_id is not None and registered.schema_id > 0
    assert registered.subject == subject
    if registered.version is not None:  # older Confluent versions answer with the id only
        assert registered.version == 1
    again = client_factory().register_schema(subject, avro(BASE))
    assert again == registered.schema_id
    assert client_factory().get_versions(subject) == [1]


def test_whitespace_and_key_order_do_not_make_a_new_schema(client_factory: ClientFactory, subject: str) -> None:
    schema_id = client_factory().register_schema(subject, avro(BASE))
    parsed = json.loads(BASE)
    reordered = {"fields": parsed["fields"], "namespace": parsed["namespace"], "name": "Customer", "type": "record"}
    pretty = json.dumps(reordered, indent=4)
    client = client_factory()
    assert client.register_schema(subject, avro(pretty)) == schema_id
    assert client.get_versions(subject) == [1]
    assert client_factory().lookup_schema(subject, avro(pretty)).schema_id == schema_id


def test_same_schema_under_another_subject_reuses_the_global_id(
    client_factory: ClientFactory, subjects: Callable[[], str]
) -> None:
    first, second = subjects(), subjects()
    schema_id = client_factory().register_schema(first, avro(BASE))
    assert client_factory().register_schema(second, avro(BASE)) == schema_id
    client = client_factory()
    assert sorted(client.get_subjects_by_schema_id(schema_id)) == sorted([first, second])
    pairs = {(pair.subject, pair.version) for pair in client.get_schema_versions(schema_id)}
    assert pairs == {(first, 1), (second, 1)}


def test_new_versions_get_new_ids_and_are_readable(
    client_factory: ClientFactory, subject: str, http: httpx.Client
) -> None:
    id1 = client_factory().register_schema(subject, avro(BASE))
    id2 = client_factory().register_schema(subject, avro(BASE_PLUS))
    assert id2 > id1
    client = client_factory()
    assert client.get_versions(subject) == [1, 2]
    latest = client.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 2, id2)
    assert as_json(latest.schema.schema_str) == json.loads(BASE_PLUS)
    first = client.get_version(subject, 1)
    assert (first.version, first.schema_id) == (1, id1)
    assert as_json(client.get_schema(id1).schema_str) == json.loads(BASE)
    body = http.get(f"/subjects/{subject}/versions/-1").json()
    assert (body["subject"], body["version"], body["id"]) == (subject, 2, id2)
    assert json.loads(body["schema"]) == json.loads(BASE_PLUS)
    assert "schemaType" not in body  # omitted for AVRO, as Confluent does


def test_get_schema_by_id(client_factory: ClientFactory, subject: str, http: httpx.Client) -> None:
    schema_id = client_factory().register_schema(subject, avro(BASE))
    fetched = client_factory().get_schema(schema_id)
    assert fetched.schema_type == "AVRO"
    assert as_json(fetched.schema_str) == json.loads(BASE)
    body = http.get(f"/schemas/ids/{schema_id}").json()
    assert json.loads(body["schema"]) == json.loads(BASE) and "schemaType" not in body
    with registry_error(404, 40403):
        client_factory().get_schema(2_000_000_000)
    with registry_error(404, 40403):
        client_factory().get_subjects_by_schema_id(2_000_000_000)


def test_lookup_schema(client_factory: ClientFactory, subject: str, subjects: Callable[[], str]) -> None:
    schema_id = client_factory().register_schema(subject, avro(BASE))
    found = client_factory().lookup_schema(subject, avro(BASE))
    assert (found.subject, found.schema_id, found.version) == (subject, schema_id, 1)
    with registry_error(404, 40401):
        client_factory().lookup_schema(subjects(), avro(BASE))
    with registry_error(404, 40403):
        client_factory().lookup_schema(subject, avro(OTHER))


def test_list_subjects_and_versions(client_factory: ClientFactory, subject: str, subjects: Callable[[], str]) -> None:
    client = client_factory()
    client.register_schema(subject, avro(BASE))
    client.register_schema(subject, avro(BASE_PLUS))
    assert subject in client.get_subjects()
    assert client.get_subjects(subject_prefix=subject) == [subject]
    assert client.get_versions(subject) == [1, 2]
    with registry_error(404, 40401):
        client.get_versions(subjects())


def test_version_errors(client_factory: ClientFactory, subject: str, http: httpx.Client) -> None:
    client_factory().register_schema(subject, avro(BASE))
    with registry_error(404, 40401):
        client_factory().get_version(unique_subject(), 1)
    with registry_error(404, 40401):
        client_factory().get_latest_version(unique_subject())
    with registry_error(404, 40402):
        client_factory().get_version(subject, 99)
    with registry_error(422, 42202):
        client_factory().get_version(subject, 0)
    response = http.get(f"/subjects/{subject}/versions/abc")
    assert response.status_code == 422
    assert response.json()["error_code"] == 42202


# -------------------------------------------------------------------------------------------- deletes


def test_soft_then_permanent_subject_delete(client_factory: ClientFactory, subject: str) -> None:
    id1 = client_factory().register_schema(subject, avro(BASE))
    client_factory().register_schema(subject, avro(BASE_PLUS))
    with registry_error(404, 40405):
        client_factory().delete_subject(subject, permanent=True)
    assert client_factory().delete_subject(subject) == [1, 2]

    client = client_factory()
    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    with registry_error(404, 40401):
        client.get_versions(subject)
    assert client.get_versions(subject, deleted=True) == [1, 2]
    with registry_error(404, 40401):
        client.get_latest_version(subject)
    with registry_error(404, 40401):
        client.lookup_schema(subject, avro(BASE))
    assert client_factory().lookup_schema(subject, avro(BASE), deleted=True).version == 1
    # Soft-deleted schemas stay readable by id: consumers still need them.
    assert as_json(client_factory().get_schema(id1).schema_str) == json.loads(BASE)
    with registry_error(404, 40404):
        client_factory().delete_subject(subject)

    # Registering the soft-deleted schema again gives it back its id, as a new version.
    assert client_factory().register_schema(subject, avro(BASE)) == id1
    assert client_factory().get_versions(subject) == [3]
    assert client_factory().delete_subject(subject) == [3]
    deleted = client_factory().delete_subject(subject, permanent=True)
    assert sorted(deleted) == [2, 3]
    assert subject not in client_factory().get_subjects(deleted=True)
    with registry_error(404, 40401):
        client_factory().delete_subject(subject)


def test_soft_then_permanent_version_delete(client_factory: ClientFactory, subject: str) -> None:
    client_factory().register_schema(subject, avro(BASE))
    id2 = client_factory().register_schema(subject, avro(BASE_PLUS))
    with registry_error(404, 40407):
        client_factory().delete_version(subject, 2, permanent=True)
    assert client_factory().delete_version(subject, 2) == 2

    client = client_factory()
    assert client.get_versions(subject) == [1]
    assert client.get_versions(subject, deleted=True) == [1, 2]
    assert client.get_latest_version(subject).version == 1
    with registry_error(404, 40402):
        client_factory().get_version(subject, 2)
    hidden = client_factory().get_version(subject, 2, deleted=True)
    assert (hidden.version, hidden.schema_id) == (2, id2)
    with registry_error(404, 40406):
        client_factory().delete_version(subject, 2)
    assert client_factory().delete_version(subject, 2, permanent=True) == 2
    assert client_factory().get_versions(subject, deleted=True) == [1]
    with registry_error(404, 40402):
        client_factory().delete_version(subject, 99)
    with registry_error(404, 40401):
        client_factory().delete_version(unique_subject(), 1)


def test_ids_are_not_reused_after_a_permanent_delete(
    client_factory: ClientFactory, subjects: Callable[[], str]
) -> None:
    gone = subjects()
    old_id = client_factory().register_schema(gone, avro(BASE))
    client_factory().delete_subject(gone)
    client_factory().delete_subject(gone, permanent=True)
    fresh = avro_record(field("unique_to_this_test", "string", default=unique_subject()))
    assert client_factory().register_schema(subjects(), avro(fresh)) > old_id


# --------------------------------------------------------------------------------------------- config


def test_global_config(client_factory: ClientFactory) -> None:
    client = client_factory()
    before = client.get_compatibility()
    try:
        response: object = client.set_compatibility(level="FULL")
        assert response == {"compatibility": "FULL"}
        assert client_factory().get_compatibility() == "FULL"
        assert client_factory().get_config().compatibility_level == ConfigCompatibilityLevel.FULL
        removed = client_factory().delete_config()
        assert removed.compatibility_level == ConfigCompatibilityLevel.FULL
        assert client_factory().get_compatibility() in LEVELS
        with registry_error(422, 42203):
            client_factory().set_compatibility(level="SIDEWAYS")
    finally:
        client_factory().set_compatibility(level=before)
    assert client_factory().get_compatibility() == before


def test_subject_config(client_factory: ClientFactory, subject: str, http: httpx.Client) -> None:
    client = client_factory()
    with registry_error(404, 40408):
        client.get_compatibility(subject)
    response = http.get(f"/config/{subject}", params={"defaultToGlobal": "true"})
    assert response.status_code == 200
    assert response.json()["compatibilityLevel"] == client.get_compatibility()

    set_level(client, subject, "FORWARD_TRANSITIVE")
    assert client_factory().get_compatibility(subject) == "FORWARD_TRANSITIVE"
    client.set_config(subject, ServerConfig(compatibility=ConfigCompatibilityLevel.FULL))
    assert client_factory().get_config(subject).compatibility_level == ConfigCompatibilityLevel.FULL

    removed = client_factory().delete_config(subject)
    assert removed.compatibility_level == ConfigCompatibilityLevel.FULL
    with registry_error(404, 40408):
        client_factory().get_compatibility(subject)
    with registry_error(422, 42203):
        client_factory().set_compatibility(subject, "SIDEWAYS")


# -------------------------------------------------------------------------------------- compatibility


@pytest.mark.parametrize("level", LEVELS)
def test_compatibility_levels(client_factory: ClientFactory, subjects: Callable[[], str], level: str) -> None:
    transitive = level.endswith("_TRANSITIVE")

    # A compatible change is accepted; the third version shows what "transitive" adds.
    history = subjects()
    set_level(client_factory(), history, level)
    id1 = client_factory().register_schema(history, avro(V1))
    id2 = client_factory().register_schema(history, avro(V2))
    assert id2 != id1
    assert client_factory().test_compatibility(history, avro(V3)) is True  # against latest only
    assert client_factory().test_compatibility(history, avro(V3), version=1) is (level == "NONE")
    assert client_factory().test_compatibility_all_versions(history, avro(V3)) is not transitive
    if transitive:
        with registry_error(409, 409, 40901) as info:
            client_factory().register_schema(history, avro(V3))
        assert "loyalty_tier" in info.value.error_message
        assert client_factory().get_versions(history) == [1, 2]
    else:
        client_factory().register_schema(history, avro(V3))
        assert client_factory().get_versions(history) == [1, 2, 3]

    # The change this level forbids is refused (NONE forbids nothing).
    direct = subjects()
    set_level(client_factory(), direct, level)
    client_factory().register_schema(direct, avro(BASE))
    breaking = DROP_EMAIL if level.startswith("FORWARD") else ADD_WITHOUT_DEFAULT
    if level == "NONE":
        breaking = avro_record(field("email", "int"))
        client_factory().register_schema(direct, avro(breaking))
        return
    assert client_factory().test_compatibility(direct, avro(breaking)) is False
    with registry_error(409, 409, 40901) as info:
        client_factory().register_schema(direct, avro(breaking))
    assert ("email" if breaking is DROP_EMAIL else "loyalty_tier") in info.value.error_message


def test_incompatible_change_names_the_field(client_factory: ClientFactory, subject: str, http: httpx.Client) -> None:
    set_level(client_factory(), subject, "BACKWARD")
    client_factory().register_schema(subject, avro(BASE))
    with registry_error(409, 409, 40901) as info:
        client_factory().register_schema(subject, avro(ADD_WITHOUT_DEFAULT))
    assert subject in info.value.error_message and "loyalty_tier" in info.value.error_message

    url = f"/compatibility/subjects/{subject}/versions/latest"
    verbose = http.post(url, params={"verbose": "true"}, json={"schema": ADD_WITHOUT_DEFAULT}).json()
    assert verbose["is_compatible"] is False
    assert any("loyalty_tier" in message for message in verbose["messages"])
    quiet = http.post(url, json={"schema": BASE_PLUS}).json()
    assert quiet == {"is_compatible": True}
    everything = http.post(f"/compatibility/subjects/{subject}/versions", json={"schema": BASE_PLUS}).json()
    assert everything["is_compatible"] is True
    with registry_error(404, 40402):
        client_factory().test_compatibility(subject, avro(BASE_PLUS), version=7)


# -------------------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "nonsense"}',
        "not json at all",
        '{"type": "record", "name": "R"}',
        avro_record(field("points", "int", default="lots")),
    ],
    ids=["unknown-type", "not-json", "record-without-fields", "bad-default"],
)
def test_invalid_avro_is_rejected(client_factory: ClientFactory, subject: str, text: str) -> None:
    with registry_error(422, 42201):
        client_factory().register_schema(subject, avro(text))


def test_unsupported_schema_type_is_rejected(client_factory: ClientFactory, subject: str) -> None:
    with registry_error(422, 42201):
        client_factory().register_schema(subject, avro(BASE, "PROTOBUF"))


def test_malformed_request_bodies(http: httpx.Client, subject: str) -> None:
    headers = {"Content-Type": CONTENT_TYPE}
    response = http.post(f"/subjects/{subject}/versions", content=b"{not json", headers=headers)
    assert response.status_code in (400, 422)
    assert isinstance(response.json()["error_code"], int)
    missing = http.post(f"/subjects/{subject}/versions", json={"schemaType": "AVRO"}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["error_code"] in (42201, 422)


def test_unknown_paths_and_methods_get_json_errors(http: httpx.Client) -> None:
    response = http.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"error_code": 404, "message": "HTTP 404 Not Found"}
    assert http.get("/schemas/ids/not-a-number").status_code == 404
    wrong_method = http.patch("/subjects")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error_code"] == 405


# ---------------------------------------------------------------------------------- concurrency, serdes


def test_parallel_registrations_of_one_schema_get_one_id(client_factory: ClientFactory, subject: str) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    clients = [client_factory() for _ in range(threads)]
    ids: list[int] = []
    failures: list[BaseException] = []

    def register(client: SchemaRegistryClient) -> None:
        try:
            barrier.wait(timeout=10)
            ids.append(client.register_schema(subject, avro(BASE)))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=register, args=(client,)) for client in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not failures
    assert len(ids) == threads and len(set(ids)) == 1
    assert client_factory().get_versions(subject) == [1]


def test_parallel_registrations_of_different_schemas_get_distinct_versions(
    client_factory: ClientFactory, subject: str
) -> None:
    set_level(client_factory(), subject, "NONE")
    threads = 8
    barrier = threading.Barrier(threads)
    results: dict[int, int] = {}
    failures: list[BaseException] = []

    def register(index: int, client: SchemaRegistryClient) -> None:
        text = avro_record(field(f"f{index}", "string", default=""))
        try:
            barrier.wait(timeout=10)
            results[index] = client.register_schema(subject, avro(text))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=register, args=(i, client_factory())) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not failures
    assert len(set(results.values())) == threads
    assert client_factory().get_versions(subject) == list(range(1, threads + 1))


def test_serializer_deserializer_round_trip(client_factory: ClientFactory, subjects: Callable[[], str]) -> None:
    topic = subjects().removesuffix("-value")
    context = SerializationContext(topic, MessageField.VALUE)
    customer = {"id": 7, "email": "ada@example.com", "segment": "gold"}

    payload = AvroSerializer(client_factory(), BASE_PLUS)(customer, context)
    assert payload is not None and payload[0] == 0
    (schema_id,) = struct.unpack(">I", payload[1:5])
    assert client_factory().get_latest_version(f"{topic}-value").schema_id == schema_id
    assert AvroDeserializer(client_factory())(payload, context) == customer

    # A reader on an older schema resolves the writer schema by id (schema evolution through the registry).
    reader = AvroDeserializer(client_factory(), BASE)
    assert reader(payload, context) == {"id": 7, "email": "ada@example.com"}


def test_header_framing_round_trip_by_guid(client_factory: ClientFactory, subjects: Callable[[], str]) -> None:
    topic = subjects().removesuffix("-value")
    registered = client_factory().register_schema_full_response(f"{topic}-value", avro(BASE))
    if registered.guid is None:
        pytest.skip("this registry does not report schema guids")
    headers: list[tuple[str, str | bytes | None]] = []
    context = SerializationContext(topic, MessageField.VALUE, headers)
    serializer = AvroSerializer(client_factory(), BASE, conf={"schema.id.serializer": header_schema_id_serializer})
    payload = serializer({"id": 1, "email": "x@example.com"}, context)
    assert payload is not None and headers
    assert AvroDeserializer(client_factory())(payload, context) == {"id": 1, "email": "x@example.com"}


# --------------------------------------------------------------------------- the project's own server process


def test_state_survives_a_restart(embedded_registry: EmbeddedRegistry, client_factory: ClientFactory) -> None:
    url = embedded_registry.url
    client = client_factory(url)
    customers, orders, dropped = unique_subject(), unique_subject(), unique_subject()
    id1 = client.register_schema(customers, avro(BASE))
    id2 = client.register_schema(customers, avro(BASE_PLUS))
    assert client.register_schema(orders, avro(BASE)) == id1
    client.register_schema(dropped, avro(OTHER))
    client.delete_subject(dropped)
    set_level(client, customers, "FULL")
    client.set_compatibility(level="NONE")

    embedded_registry.restart()

    after = client_factory(url)
    assert after.get_versions(customers) == [1, 2]
    assert after.get_latest_version(customers).schema_id == id2
    assert as_json(after.get_schema(id1).schema_str) == json.loads(BASE)
    assert after.lookup_schema(orders, avro(BASE)).schema_id == id1
    assert after.get_compatibility(customers) == "FULL"
    assert after.get_compatibility() == "NONE"
    assert dropped not in after.get_subjects() and dropped in after.get_subjects(deleted=True)
    assert after.get_versions(dropped, deleted=True) == [1]
    assert after.register_schema(customers, avro(BASE)) == id1  # still known: no new version
    assert after.get_versions(customers) == [1, 2]
    fresh = after.register_schema_full_response(customers, avro(BASE_PLUS_PLUS))
    assert fresh.schema_id is not None and fresh.schema_id > max(id1, id2)
    assert fresh.version == 3


def _run_server(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False)


def test_startup_fails_with_one_line_when_the_port_is_taken(embedded_only: None, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        server = EmbeddedRegistry(tmp_path / "data", port=taken.getsockname()[1])
        result = _run_server(server.command())
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use" in lines[0], result.stderr


def test_startup_fails_with_one_line_when_the_data_dir_is_unusable(embedded_only: None, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _run_server(EmbeddedRegistry(blocker / "data").command())
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0], result.stderr
