"""`cdc deploy` wiring: the Redshift Data API target built from the environment only, the Redshift-dialect plan of
every migration, and the errors that need no services."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from cli import deploy_commands
from cli.main import main
from deploy.clients import AwsTarget
from deploy.settings import DeploySettings
from redshift.connections import DataApiSession
from schemas.catalog import load_catalog

PROJECT = Path(__file__).resolve().parents[3]
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:retail-cdc-dev/redshift-AbCdEf"


class RecordingDataApi:
    """Answers like Redshift would for a warehouse that has never been migrated: every query returns no rows."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def execute_statement(self, **request: Any) -> dict[str, str]:
        self.requests.append(request)
        return {"Id": str(uuid.uuid4())}

    def describe_statement(self, Id: str) -> dict[str, Any]:
        return {"Id": Id, "Status": "FINISHED", "HasResultSet": True}

    def get_statement_result(self, Id: str) -> dict[str, Any]:
        return {"Records": []}


def _redshift_settings() -> DeploySettings:
    return DeploySettings(
        region="eu-west-1",
        artefacts={"bucket": "retail-cdc-dev-scripts-123456789012"},
        schema_registry_url="https://registry.example",
        warehouse={
            "workgroup": "retail-cdc-dev",
            "database": "retail",
            "secret_arn": SECRET,
            "iam_role_arn": "arn:aws:iam::123456789012:role/retail-cdc-dev-redshift",
            "msk_cluster_arn": "arn:aws:kafka:eu-west-1:123456789012:cluster/retail-cdc-dev-msk/uuid",
        },
    )


def test_migrations_go_through_the_data_api_with_only_the_environment_s_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "REDSHIFT_DB_USER": "shell-user",
        "REDSHIFT_IAM": "true",
        "WAREHOUSE_DSN": "postgresql://x",
    }.items():
        monkeypatch.setenv(name, value)  # a shell prepared for something else must not leak into a deploy
    runner = deploy_commands._migrations(
        _redshift_settings(), AwsTarget("eu-west-1", "http://moto.invalid"), load_catalog(), PROJECT
    )
    session = runner.connect()
    assert isinstance(session, DataApiSession)
    assert session.target.request() == {"Database": "retail", "WorkgroupName": "retail-cdc-dev", "SecretArn": SECRET}
    assert runner.dialect == "redshift" and runner.sql_dir == PROJECT / "redshift" / "sql"

    api = RecordingDataApi()
    monkeypatch.setattr(runner, "connect", lambda: DataApiSession(api, session.target, sleep=lambda _: None))
    report = runner.migrate(dry_run=True)
    assert [migration.version for migration in report.pending] == list(range(1, len(report.pending) + 1))
    assert len(report.pending) >= 7 and report.statements[1] > 0  # V007 (indexes) is PostgreSQL-only: 0 here
    assert all(request["WorkgroupName"] == "retail-cdc-dev" for request in api.requests)
    assert all(not request["Sql"].lstrip().upper().startswith(("CREATE", "INSERT", "DROP")) for request in api.requests)
    rendered = report.pending[0].statements("redshift", runner.parameters)
    assert any(
        "CLUSTER_ARN 'arn:aws:kafka:eu-west-1:123456789012:cluster/retail-cdc-dev-msk/uuid'" in s.text for s in rendered
    )


def test_unknown_environment_and_a_missing_flag_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--env", "staging"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown environment 'staging': known environments are dev" in err
    assert main(["deploy"]) == 2
    assert "Missing option '--env'" in capsys.readouterr().err


def test_a_source_folder_without_pyproject_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_WAREHOUSE__MSK_CLUSTER_ARN", "arn:aws:kafka:eu-west-1:1:cluster/c/u")
    monkeypatch.setattr(AwsTarget, "account_id", lambda self: "123456789012")
    assert main(["deploy", "--env", "dev", "--source", str(tmp_path)]) == 2
    assert "is not a project folder (no pyproject.toml)" in capsys.readouterr().err
