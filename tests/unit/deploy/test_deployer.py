"""The deployer over fake AWS clients, registry and runner: what it reads, what it changes, and in which order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from common.errors import ServiceUnavailableError
from deploy.artefacts import LocalArtefact, script_artefact, sha256_hex
from deploy.clients import ArtefactBucket, AwsTarget, DeployError, GlueJobs, Secrets
from deploy.deployer import Deployer, catalog_schemas
from deploy.settings import DeploySettings
from redshift.runner import AppliedMigration, MigrationFile, MigrationReport
from schemas.catalog import load_catalog
from schemas.registry import RegisteredSchema

TARGET = AwsTarget("eu-west-1", "http://moto.invalid")
SECRET = "arn:aws:secretsmanager:eu-west-1:1:secret:wh"


def _missing(operation: str, code: str = "404") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "not found"}}, operation)


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.calls: list[str] = []

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise _missing("HeadObject")
        return {"Metadata": self.objects[Key][1], "ETag": '"x"'}

    def put_object(self, **request: Any) -> None:
        self.calls.append(f"upload {request['Key']}")
        self.objects[request["Key"]] = (request["Body"], request["Metadata"])


class FakeGlue:
    def __init__(self, jobs: dict[str, dict[str, Any]]) -> None:
        self.jobs = jobs

    def get_job(self, JobName: str) -> dict[str, Any]:
        if JobName not in self.jobs:
            raise _missing("GetJob", "EntityNotFoundException")
        return {"Job": self.jobs[JobName]}


class FakeSecrets:
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        if SecretId not in self.names:
            raise _missing("DescribeSecret", "ResourceNotFoundException")
        return {"ARN": SecretId}


class FakeRegistry:
    url = "http://registry"

    def __init__(self, calls: list[str]) -> None:
        self.registered: dict[str, str] = {}
        self.calls = calls

    def latest(self, subject: str) -> tuple[int, str] | None:
        return (1, self.registered[subject]) if subject in self.registered else None

    def register(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema:
        self.calls.append(f"register {subject}")
        self.registered[subject] = json.dumps(schema)
        return RegisteredSchema(subject, len(self.registered), 1)


class FakeRunner:
    def __init__(self, calls: list[str]) -> None:
        self.applied: list[AppliedMigration] = []
        self.files = [MigrationFile(1, "schemas", Path("V001__schemas.sql"), "SELECT 1;")]
        self.calls = calls

    def migrate(self, dry_run: bool) -> MigrationReport:
        done = {migration.version for migration in self.applied}
        pending = [migration for migration in self.files if migration.version not in done]
        report = MigrationReport(list(self.applied), pending, statements={1: 1}, dry_run=dry_run)
        if not dry_run:
            self.calls.append(f"migrate {len(pending)}")
            report.applied = pending
            self.applied += [AppliedMigration(m.version, m.name, m.checksum, None) for m in pending]
        return report


def _settings() -> DeploySettings:
    return DeploySettings(
        region="eu-west-1",
        artefacts={"bucket": "scripts", "scripts": ["batch/glue_jobs.py"]},
        glue_jobs={"batch": "batch/glue_jobs.py"},
        schema_registry_url="http://registry",
        warehouse={"dialect": "postgres", "dsn": "postgresql://u:p@h/d", "secret_arn": SECRET},
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("DEPLOY_ARTEFACTS__BUCKET", "DEPLOY_WAREHOUSE__DSN", "DEPLOY_WAREHOUSE__DIALECT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "glue_jobs.py").write_text("main()\n")
    wheel = tmp_path / "w-1-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    script = script_artefact(tmp_path, "batch/glue_jobs.py", "glue")
    wheel_artefact = LocalArtefact("wheel", wheel.name, wheel, f"glue/wheels/{wheel.name}", "w" * 64, "0" * 32)
    calls: list[str] = []
    s3 = FakeS3()
    s3.calls = calls
    glue = FakeGlue(
        {
            "batch": {
                "Command": {"ScriptLocation": "s3://scripts/glue/batch/glue_jobs.py"},
                "DefaultArguments": {"--additional-python-modules": "s3://scripts/glue/wheels/w-1-py3-none-any.whl"},
            }
        }
    )
    registry = FakeRegistry(calls)
    runner = FakeRunner(calls)
    catalog = load_catalog()
    schemas = dict(list(catalog_schemas(catalog).items())[:2])
    deployer = Deployer(
        environment="dev",
        settings=_settings(),
        artefacts=[wheel_artefact, script],
        schemas=schemas,
        bucket=ArtefactBucket(TARGET, "scripts", client=s3),
        glue=GlueJobs(TARGET, client=glue),
        secrets=Secrets(TARGET, client=FakeSecrets({SECRET})),
        registry=registry,
        migrate=runner.migrate,
        warehouse="PostgreSQL stand-in",
    )
    return {"deployer": deployer, "calls": calls, "s3": s3, "glue": glue, "script": script}


def test_a_first_deploy_registers_then_migrates_then_uploads_and_a_second_changes_nothing(
    world: dict[str, Any],
) -> None:
    deployer: Deployer = world["deployer"]
    plan = deployer.plan()
    assert world["calls"] == []  # planning reads only
    assert plan.summary() == "5 changed, 0 unchanged; 2 check(s) passed"
    done = deployer.apply(plan)
    assert world["calls"] == [
        "register retail.customer.cdc-key",
        "register retail.customer.cdc-value",
        "migrate 1",
        "upload glue/wheels/w-1-py3-none-any.whl",
        "upload glue/batch/glue_jobs.py",
    ]
    assert done.summary() == "5 changed, 0 unchanged; 2 check(s) passed"
    assert [a.detail for a in done.schemas] == ["id 1, version 1", "id 2, version 1"]
    script_metadata = world["s3"].objects["glue/batch/glue_jobs.py"][1]
    assert script_metadata == {"content-sha256": sha256_hex(b"main()\n")}

    again = deployer.plan()
    assert again.summary() == "0 changed, 5 unchanged; 2 check(s) passed"
    deployer.apply(again)
    assert len(world["calls"]) == 5


def test_a_glue_job_that_drifted_stops_the_deploy_before_any_change(world: dict[str, Any]) -> None:
    world["glue"].jobs["batch"]["Command"]["ScriptLocation"] = "s3://old/glue_jobs.py"
    deployer: Deployer = world["deployer"]
    plan = deployer.plan()
    assert [action.action for action in plan.problems] == ["drift"]
    with pytest.raises(DeployError, match=r"glue job batch: drift \(runs s3://old/glue_jobs\.py"):
        deployer.apply(plan)
    assert world["calls"] == []


def test_aws_failures_are_one_line_without_credentials() -> None:
    class Unreachable:
        def head_bucket(self, Bucket: str) -> None:
            raise EndpointConnectionError(endpoint_url="http://moto.invalid/scripts")

    class Missing:
        def head_bucket(self, Bucket: str) -> None:
            raise _missing("HeadBucket")

    with pytest.raises(ServiceUnavailableError, match=r"S3 bucket scripts: AWS endpoint http://moto.invalid"):
        ArtefactBucket(TARGET, "scripts", client=Unreachable()).check("dev")
    with pytest.raises(DeployError, match="bucket scripts does not exist: apply infra/envs/dev first"):
        ArtefactBucket(TARGET, "scripts", client=Missing()).check("dev")
    assert TARGET.describe() == "http://moto.invalid (AWS_ENDPOINT_URL), region eu-west-1"
    assert AwsTarget("eu-west-1").describe() == "AWS eu-west-1 (default credentials chain)"
