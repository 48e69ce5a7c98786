"""Bad input gets one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_HOME", str(tmp_path / "home"))
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "SCHEMA_REGISTRY_URL",
        "SOURCE_DSN",
        "WAREHOUSE_DSN",
        "LAKE_ROOT",
        "AWS_ENDPOINT_URL",
        "CDC_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("stack", "up", "--kafka-port", "abc"), 2, "Invalid value for '--kafka-port'"),
        (("stack", "up", "--kafka-port", "70000"), 2, "--kafka-port"),
        (("stack", "up", "--nope"), 2, "No such option: --nope"),
        (("stack", "logs"), 2, "Missing argument"),
        (("stack", "status"), 1, "no stack recorded in"),
        (("stack", "env"), 1, "no running stack in"),
        (("stack", "down"), 0, ""),
        (("schemas", "register"), 2, "no schema registry configured: set SCHEMA_REGISTRY_URL"),
        (
            ("schemas", "register", "--schema-registry-url", "localhost:8081"),
            2,
            "invalid setting SCHEMA_REGISTRY_URL: expected an http(s):// URL",
        ),
        (
            ("schemas", "register", "--schema-registry-url", "http://127.0.0.1:9", "--table", "nope"),
            2,
            "unknown table 'nope'",
        ),
        (("schemas", "generate", "--catalog", "/does/not/exist.toml"), 2, "/does/not/exist.toml"),
    ],
)
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], code: int, message: str
) -> None:
    exit_code, err = _run(capsys, *argv)
    assert exit_code == code
    assert message in err
    assert "Traceback" not in err
    if code:
        assert len(err.strip().splitlines()) == 1, err


def test_invalid_environment_variable_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "not a url")
    exit_code, err = _run(capsys, "schemas", "register")
    assert exit_code == 2
    assert err.strip() == "error: invalid setting SCHEMA_REGISTRY_URL: expected an http(s):// URL, got 'not a url'"


def test_unreachable_registry_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, err = _run(
        capsys, "schemas", "register", "--schema-registry-url", "http://127.0.0.1:9", "--table", "customer"
    )
    assert exit_code == 1
    assert "schema registry at http://127.0.0.1:9 unreachable" in err
    assert len(err.strip().splitlines()) == 1


def test_compose_profile_without_docker_engine_is_explained(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("localstack.compose.docker_engine_available", lambda: False)
    exit_code, err = _run(capsys, "stack", "up", "--profile", "compose")
    assert exit_code == 1
    assert "needs a running Docker engine" in err


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "stack" in capsys.readouterr().out
