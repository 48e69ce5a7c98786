from __future__ import annotations

from pathlib import Path

import pytest

from cli.endpoints import resolve_endpoints
from common.errors import ConfigError
from localstack.state import ServiceRecord, StackState, save_state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "SOURCE_DSN", "LAKE_ROOT", "CDC_HOME"):
        monkeypatch.delenv(name, raising=False)
    state = StackState(
        services={"kafka": ServiceRecord(name="kafka", port=1111, pid=12345, address="127.0.0.1:1111")},
        endpoints={
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1111",
            "SCHEMA_REGISTRY_URL": "http://127.0.0.1:2222",
            "LAKE_ROOT": "/lake",
        },
    )
    save_state(tmp_path / "stack.json", state)
    return tmp_path


def test_flag_beats_environment_beats_stack_state(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = resolve_endpoints(home)
    assert endpoints.kafka.bootstrap_servers == "127.0.0.1:1111"
    assert endpoints.registry.url == "http://127.0.0.1:2222"
    assert endpoints.lake.root == "/lake"
    assert endpoints.source.dsn is None

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "msk-1:9098")
    assert resolve_endpoints(home).kafka.bootstrap_servers == "msk-1:9098"
    assert resolve_endpoints(home, bootstrap_servers="flag:9092").kafka.bootstrap_servers == "flag:9092"


def test_stopped_stack_provides_nothing(home: Path) -> None:
    state_file = home / "stack.json"
    state = StackState.model_validate_json(state_file.read_text())
    state.services["kafka"].pid = None
    save_state(state_file, state)
    assert resolve_endpoints(home).kafka.bootstrap_servers is None


def test_state_file_is_private(home: Path) -> None:
    assert (home / "stack.json").stat().st_mode & 0o077 == 0


def test_invalid_flag_is_a_config_error(home: Path) -> None:
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS"):
        resolve_endpoints(home, bootstrap_servers="nohostport")
