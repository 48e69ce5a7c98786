"""`cdc deploy --env dev` end to end: the stack's moto server (S3, Glue, Secrets Manager, STS), its schema registry
and its PostgreSQL. PostgreSQL stands in for Redshift here: moto's Redshift Data API records statements but leaves
every one in STARTED and answers every query with the same canned rows (ADR 0012).

The deploy runs on a snapshot of this checkout (other work may edit files meanwhile) under a unique topic prefix,
a unique bucket (created and versioned here, as Terraform does) and a fresh database; the Glue jobs of
``deploy/envs/dev.toml`` are (re)created pointing at that bucket, as Terraform would.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from cli.main import main
from common.settings import SchemaRegistrySettings
from deploy.artefacts import project_info, s3_url, script_key, stage_source, wheel_content_digest, wheel_key
from deploy.deployer import catalog_schemas
from deploy.plan import CONTENT_DIGEST_METADATA
from deploy.settings import DeploySettings, load_environment
from schemas.catalog import load_catalog
from schemas.registry import SchemaRegistry
from tests.support.sourcedb import isolated_database

PROJECT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"  # moto's account
SCRIPTS = ("streaming/glue_job.py", "batch/glue_jobs.py")
TIMINGS: list[str] = []  # one entry per `cdc` call of the scenario, printed at its end


@dataclass
class Environment:
    """One deploy target in moto + registry + PostgreSQL, and the project snapshot deployed to it."""

    source: Path
    settings: DeploySettings
    s3: Any
    dsn: str
    registry_url: str

    @property
    def bucket(self) -> str:
        return self.settings.artefacts.bucket

    def versions(self) -> dict[str, int]:
        """Object versions per key: an upload adds one, a skipped upload none."""
        counts: dict[str, int] = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for version in page.get("Versions", []):
                counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts

    def object(self, key: str) -> tuple[bytes, dict[str, str]]:
        found = self.s3.get_object(Bucket=self.bucket, Key=key)
        return found["Body"].read(), found["Metadata"]

    def applied_migrations(self) -> int:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()
            if exists is None or exists[0] is None:
                return 0
            row = conn.execute("SELECT COUNT(*) FROM public.schema_migrations").fetchone()
            return int(row[0]) if row else 0

    def latest_schemas(self) -> dict[str, tuple[int, str] | None]:
        registry = SchemaRegistry(SchemaRegistrySettings(url=self.registry_url))
        try:
            catalog = load_catalog(self.source / "schemas" / "catalog.toml")
            return {subject: registry.latest(subject) for subject in catalog_schemas(catalog)}
        finally:
            registry.close()


def snapshot_project(destination: Path, topic_prefix: str) -> Path:
    """What `cdc deploy --source` builds from: pyproject, README and the packages, under a unique topic prefix."""
    stage_source(PROJECT, destination, project_info(PROJECT), leave_out=())
    catalog = destination / "schemas" / "catalog.toml"
    catalog.write_text(catalog.read_text().replace('topic_prefix = "retail"', f'topic_prefix = "{topic_prefix}"'))
    return destination


@pytest.fixture
def environment(
    stack_endpoints: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Environment]:
    for name, value in stack_endpoints.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    endpoint = stack_endpoints["AWS_ENDPOINT_URL"]
    tag = uuid.uuid4().hex[:8]
    source = snapshot_project(tmp_path / "project", f"deploy{tag}")
    with isolated_database(stack_endpoints["WAREHOUSE_DSN"], prefix="deploy") as dsn:
        monkeypatch.setenv("DEPLOY_ARTEFACTS__BUCKET", f"retail-cdc-test-scripts-{tag}")
        monkeypatch.setenv("DEPLOY_SCHEMA_REGISTRY_URL", stack_endpoints["SCHEMA_REGISTRY_URL"])
        monkeypatch.setenv("DEPLOY_WAREHOUSE__DIALECT", "postgres")
        monkeypatch.setenv("DEPLOY_WAREHOUSE__DSN", dsn)
        settings = load_environment("dev", account_id=lambda _: ACCOUNT)
        region = settings.region
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
        s3.create_bucket(Bucket=settings.artefacts.bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_versioning(Bucket=settings.artefacts.bucket, VersioningConfiguration={"Status": "Enabled"})
        secret = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region).create_secret(
            Name=f"retail-cdc-dev/redshift-admin-{tag}",
            SecretString=json.dumps({"username": "admin", "password": "not-printed"}),
        )
        monkeypatch.setenv("DEPLOY_WAREHOUSE__SECRET_ARN", secret["ARN"])
        settings = load_environment("dev", account_id=lambda _: ACCOUNT)
        create_glue_jobs(boto3.client("glue", endpoint_url=endpoint, region_name=region), settings, source)
        yield Environment(source, settings, s3, dsn, stack_endpoints["SCHEMA_REGISTRY_URL"])


def create_glue_jobs(glue: Any, settings: DeploySettings, source: Path) -> None:
    """The dev Glue jobs as Terraform defines them: the entry script, the wheelhouse and the wheel pip-installed."""
    artefacts = settings.artefacts
    wheel_url = s3_url(artefacts.bucket, wheel_key(artefacts.prefix, project_info(source).wheel_filename))
    for name, script in settings.glue_jobs.items():
        with contextlib.suppress(glue.exceptions.EntityNotFoundException):
            glue.delete_job(JobName=name)
        glue.create_job(
            Name=name,
            Role=f"arn:aws:iam::{ACCOUNT}:role/retail-cdc-dev-glue",
            Command={
                "Name": "gluestreaming" if script.startswith("streaming/") else "glueetl",
                "ScriptLocation": s3_url(artefacts.bucket, script_key(artefacts.prefix, script)),
                "PythonVersion": "3",
            },
            DefaultArguments={
                "--additional-python-modules": f"s3://{artefacts.bucket}/glue/wheelhouse.zip,{wheel_url}",
                "--python-modules-installer-option": "--no-deps",
            },
            GlueVersion="5.0",
        )


def cdc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    started = time.monotonic()
    code = main(list(argv))
    TIMINGS.append(f"{'dry run' if '--dry-run' in argv else 'deploy'} {time.monotonic() - started:.1f}s")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_deploy_uploads_registers_migrates_and_a_second_run_changes_nothing(
    environment: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    TIMINGS.clear()
    source = str(environment.source)
    keys = {
        "wheel": wheel_key("glue", project_info(environment.source).wheel_filename),
        **{script: script_key("glue", script) for script in SCRIPTS},
    }
    subjects = 12  # 6 catalog tables, key + value
    migrations = len(list((environment.source / "redshift" / "sql").glob("V*.sql")))
    total = subjects + migrations + len(keys)

    # A dry run on an empty environment shows everything as to do and changes nothing.
    code, out, err = cdc(capsys, "deploy", "--env", "dev", "--source", source, "--dry-run")
    assert code == 0, out + err
    assert f"dry run: {total} to change, 0 unchanged; 6 check(s) passed; nothing was changed" in out
    assert environment.versions() == {}
    assert all(latest is None for latest in environment.latest_schemas().values())
    assert environment.applied_migrations() == 0

    # The first deploy uploads the wheel and both scripts, registers every subject, applies every migration.
    code, out, err = cdc(capsys, "deploy", "--env", "dev", "--source", source)
    assert code == 0, out + err
    assert f"{total} changed, 0 unchanged; 6 check(s) passed" in out
    assert environment.versions() == {key: 1 for key in keys.values()}
    for script in SCRIPTS:
        body, metadata = environment.object(keys[script])
        assert body == (environment.source / script).read_bytes()
        assert metadata[CONTENT_DIGEST_METADATA] == hashlib.sha256(body).hexdigest()
    wheel, metadata = environment.object(keys["wheel"])
    assert metadata[CONTENT_DIGEST_METADATA] == wheel_content_digest(wheel)
    entries = zipfile.ZipFile(io.BytesIO(wheel)).namelist()
    assert "common/glue.py" in entries and "redshift/sql/V001__schemas.sql" in entries
    assert not set(SCRIPTS) & set(entries)  # the entry scripts live in S3 once, as the jobs' scripts
    schemas = catalog_schemas(load_catalog(environment.source / "schemas" / "catalog.toml"))
    latest = environment.latest_schemas()
    assert len(latest) == subjects
    for subject, found in latest.items():
        assert found is not None and json.loads(found[1]) == schemas[subject]
    assert environment.applied_migrations() == migrations

    # The second deploy of the same tree changes nothing (the wheel is rebuilt and compares equal).
    code, out, err = cdc(capsys, "deploy", "--env", "dev", "--source", source)
    assert code == 0, out + err
    assert f"0 changed, {total} unchanged" in out
    assert environment.versions() == {key: 1 for key in keys.values()}

    # One script changed: exactly that one is uploaded.
    changed = environment.source / "streaming" / "glue_job.py"
    changed.write_text(changed.read_text() + "\n# deployed by the integration test\n")
    code, out, err = cdc(capsys, "deploy", "--env", "dev", "--source", source)
    assert code == 0, out + err
    assert f"1 changed, {total - 1} unchanged" in out
    assert environment.versions() == {**{key: 1 for key in keys.values()}, keys["streaming/glue_job.py"]: 2}
    assert environment.object(keys["streaming/glue_job.py"])[0] == changed.read_bytes()

    # A dry run with a pending change shows it and changes nothing.
    other = environment.source / "batch" / "glue_jobs.py"
    before = environment.object(keys["batch/glue_jobs.py"])[0]
    other.write_text(other.read_text() + "\n# not deployed: dry run\n")
    code, out, err = cdc(capsys, "deploy", "--env", "dev", "--source", source, "--dry-run")
    assert code == 0, out + err
    assert f"dry run: 1 to change, {total - 1} unchanged" in out
    assert environment.object(keys["batch/glue_jobs.py"])[0] == before
    assert environment.versions()[keys["batch/glue_jobs.py"]] == 1
    print(f"\ndeploy scenario: {time.monotonic() - started:.1f}s; per command: {', '.join(TIMINGS)}")


def test_a_glue_job_pointing_elsewhere_stops_the_deploy_before_any_change(
    environment: Environment, capsys: pytest.CaptureFixture[str], stack_endpoints: dict[str, str]
) -> None:
    glue = boto3.client(
        "glue", endpoint_url=stack_endpoints["AWS_ENDPOINT_URL"], region_name=environment.settings.region
    )
    glue.delete_job(JobName="retail-cdc-dev-landing")  # moto's UpdateJob answers 500: replace the job instead
    glue.create_job(
        Name="retail-cdc-dev-landing",
        Role=f"arn:aws:iam::{ACCOUNT}:role/retail-cdc-dev-glue",
        Command={"Name": "gluestreaming", "ScriptLocation": "s3://elsewhere/landing.py", "PythonVersion": "3"},
        GlueVersion="5.0",
    )
    code, _, err = cdc(capsys, "deploy", "--env", "dev", "--source", str(environment.source))
    assert code == 1
    assert err.count("\n") == 1 and "glue job retail-cdc-dev-landing: drift (runs s3://elsewhere/landing.py" in err
    assert environment.versions() == {}
    assert environment.applied_migrations() == 0


def test_unknown_environment_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cdc(capsys, "deploy", "--env", "nope")
    assert code == 2
    assert err.count("\n") == 1 and "unknown environment 'nope': known environments are dev" in err
    assert out == ""


def test_unreachable_endpoint_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, _, err = cdc(capsys, "deploy", "--env", "dev")
    assert code == 1
    assert err.count("\n") == 1 and f"http://127.0.0.1:{port} (AWS_ENDPOINT_URL)" in err and "unreachable" in err
