"""The pure planning of a deploy: local vs remote → actions, and the checks that stop a deploy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.artefacts import LocalArtefact
from deploy.plan import (
    Action,
    DeployPlan,
    GlueJobDefinition,
    RemoteObject,
    check_glue_job,
    check_secret,
    is_current,
    plan_migration_actions,
    plan_schemas,
    plan_uploads,
    problem_summary,
    same_schema,
    upload_metadata,
)
from redshift.runner import AppliedMigration, MigrationFile, MigrationReport

SCRIPT = LocalArtefact(
    "script", "streaming/glue_job.py", Path("x.py"), "glue/streaming/glue_job.py", "a" * 64, "b" * 32
)
WHEEL = LocalArtefact(
    "wheel", "w-1-py3-none-any.whl", Path("w.whl"), "glue/wheels/w-1-py3-none-any.whl", "c" * 64, "d" * 32
)
WHEEL_URL = "s3://bucket/glue/wheels/w-1-py3-none-any.whl"
MODULES = "--additional-python-modules"
SCRIPT_URL = "s3://bucket/glue/streaming/glue_job.py"


@pytest.mark.parametrize(
    ("remote", "current"),
    [
        (None, False),
        (RemoteObject(SCRIPT.key, "a" * 64, '"ffff"'), True),  # our digest in the metadata decides
        (RemoteObject(SCRIPT.key, "e" * 64, '"' + "b" * 32 + '"'), False),  # even when the ETag matches
        (RemoteObject(SCRIPT.key, None, '"' + "b" * 32 + '"'), True),  # uploaded by hand: ETag = MD5
        (RemoteObject(SCRIPT.key, None, '"' + "b" * 32 + '-2"'), False),  # multipart ETag: not an MD5
        (RemoteObject(SCRIPT.key, None, None), False),
    ],
)
def test_an_artefact_is_current_when_its_digest_or_its_md5_matches(remote: RemoteObject | None, current: bool) -> None:
    assert is_current(SCRIPT, remote) is current


def test_plan_uploads_only_what_s3_does_not_hold() -> None:
    remote = {SCRIPT.key: RemoteObject(SCRIPT.key, "a" * 64, None), WHEEL.key: RemoteObject(WHEEL.key, "0" * 64, None)}
    actions = plan_uploads([WHEEL, SCRIPT], remote, "bucket")
    assert [(action.artefact, action.target, action.action) for action in actions] == [
        ("wheel w-1-py3-none-any.whl", WHEEL_URL, "upload"),
        ("script streaming/glue_job.py", SCRIPT_URL, "unchanged"),
    ]
    assert actions[0].detail == "sha256 cccccccccccc (was 000000000000)"
    assert plan_uploads([SCRIPT], {}, "bucket")[0].detail.endswith("(new)")
    assert upload_metadata(WHEEL) == {"content-sha256": "c" * 64}


def test_a_schema_is_unchanged_when_the_latest_version_is_the_same_json() -> None:
    local = {"type": "record", "name": "Key", "fields": [{"name": "id", "type": "long"}]}
    reordered = json.dumps({"fields": [{"type": "long", "name": "id"}], "name": "Key", "type": "record"}, indent=2)
    assert same_schema(local, reordered)
    assert not same_schema(local, json.dumps({**local, "doc": "changed"}))
    assert not same_schema(local, None)
    assert not same_schema(local, "not json")
    actions = plan_schemas(
        {"t-key": local, "t-value": local, "u-key": local},
        {"t-key": (3, reordered), "t-value": (1, json.dumps({"type": "string"})), "u-key": None},
        "http://registry",
    )
    assert [(action.artefact, action.action, action.detail) for action in actions] == [
        ("schema t-key", "unchanged", "version 3"),
        ("schema t-value", "register", "after version 1"),
        ("schema u-key", "register", "new subject"),
    ]


def _migration(version: int, name: str) -> MigrationFile:
    return MigrationFile(version, name, Path(f"V{version:03d}__{name}.sql"), "SELECT 1;")


def test_migrations_applied_before_are_unchanged_and_pending_ones_apply() -> None:
    applied = [AppliedMigration(1, "schemas", "x", None)]
    pending = [_migration(2, "feeds"), _migration(3, "dims")]
    dry = MigrationReport(applied, pending, statements={2: 5, 3: 1}, dry_run=True)
    assert [(a.artefact, a.action, a.detail) for a in plan_migration_actions(dry, "wh")] == [
        ("migration V001__schemas.sql", "unchanged", "applied before"),
        ("migration V002__feeds.sql", "apply", "5 statement(s)"),
        ("migration V003__dims.sql", "apply", "1 statement(s)"),
    ]
    real = MigrationReport(applied, pending, applied=[pending[1]], statements={2: 5, 3: 1})
    assert [a.action for a in plan_migration_actions(real, "wh")] == ["unchanged", "unchanged", "apply"]


@pytest.mark.parametrize(
    ("found", "action", "detail"),
    [
        (GlueJobDefinition("job", SCRIPT_URL, {MODULES: f"s3://b/glue/wheelhouse.zip,{WHEEL_URL}"}), "verified", ""),
        (None, "missing", "no such job: apply infra/envs/dev first"),
        (GlueJobDefinition("job", "s3://old/x.py", {MODULES: WHEEL_URL}), "drift", "runs s3://old/x.py"),
        (GlueJobDefinition("job", SCRIPT_URL, {}), "drift", f"{MODULES} lacks {WHEEL_URL}"),
        # on the path as a zip the packages could not read their data files: not enough
        (GlueJobDefinition("job", SCRIPT_URL, {"--extra-py-files": WHEEL_URL}), "drift", f"{MODULES} lacks"),
    ],
)
def test_glue_jobs_must_run_the_uploaded_script_with_the_wheel(
    found: GlueJobDefinition | None, action: str, detail: str
) -> None:
    checked = check_glue_job("job", SCRIPT_URL, WHEEL_URL, found, "dev")
    assert checked.action == action
    assert detail in checked.detail
    assert checked.is_problem is (action != "verified")


def test_summaries_count_changes_and_name_what_blocks() -> None:
    plan = DeployPlan(
        checks=[check_secret("arn:aws:secretsmanager:r:1:secret:s", True, "dev")],
        schemas=[Action("schema a", "r", "register"), Action("schema b", "r", "unchanged")],
        migrations=[Action("migration V001__a.sql", "w", "unchanged")],
        uploads=[Action("script s.py", "s3://b/s.py", "upload")],
    )
    assert plan.summary() == "2 changed, 2 unchanged; 1 check(s) passed"
    assert plan.summary(dry_run=True) == "dry run: 2 to change, 2 unchanged; 1 check(s) passed; nothing was changed"
    assert plan.actions[0].artefact == "secret (warehouse)"
    missing = [check_glue_job(f"job{n}", SCRIPT_URL, WHEEL_URL, None, "dev") for n in range(5)]
    line = problem_summary(missing)
    assert line.startswith("deploy stopped before changing anything: glue job job0: missing (no such job")
    assert line.endswith("and 2 more") and "\n" not in line
    assert check_secret("arn:x", False, "dev").action == "missing"
