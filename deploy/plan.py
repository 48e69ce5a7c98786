"""The pure core of a deploy: what is local, what is remote → the actions, in the order they run.

Nothing here talks to AWS, the registry or the warehouse: the deployer gathers the remote state into the small
records below and these functions decide. Actions that change something: ``upload``, ``register``, ``apply``.
Actions that do not: ``unchanged``, ``verified``. Anything that must stop the deploy before it changes anything
(a Glue job missing or pointing elsewhere, a secret missing) is a problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from common.errors import SchemaError
from deploy.artefacts import LocalArtefact, etag_md5, s3_url
from redshift.runner import MigrationReport
from schemas.compatibility import canonical

ActionKind = Literal["upload", "unchanged", "register", "apply", "verified", "missing", "drift"]
CHANGES: Final = frozenset({"upload", "register", "apply"})
PROBLEMS: Final = frozenset({"missing", "drift"})
ADDITIONAL_MODULES: Final = "--additional-python-modules"
CONTENT_DIGEST_METADATA: Final = "content-sha256"


@dataclass(frozen=True)
class Action:
    """One row of the plan: the artefact (what), its target (where), the action, a short detail."""

    artefact: str
    target: str
    action: ActionKind
    detail: str = ""

    @property
    def changes(self) -> bool:
        return self.action in CHANGES

    @property
    def is_problem(self) -> bool:
        return self.action in PROBLEMS


@dataclass(frozen=True)
class RemoteObject:
    """What S3 says about a key: our content digest from the object's metadata (if we uploaded it) and its ETag."""

    key: str
    content_sha256: str | None
    etag: str | None
    size: int | None = None


@dataclass(frozen=True)
class GlueJobDefinition:
    """What a Glue job runs: its script location and default arguments (only what deploy compares)."""

    name: str
    script_location: str
    default_arguments: Mapping[str, str] = field(default_factory=dict)


@dataclass
class DeployPlan:
    """Checks, schemas, migrations, uploads: the order the deployer runs them in."""

    checks: list[Action] = field(default_factory=list)
    schemas: list[Action] = field(default_factory=list)
    migrations: list[Action] = field(default_factory=list)
    uploads: list[Action] = field(default_factory=list)

    @property
    def actions(self) -> list[Action]:
        return [*self.checks, *self.schemas, *self.migrations, *self.uploads]

    @property
    def problems(self) -> list[Action]:
        return [action for action in self.checks if action.is_problem]

    @property
    def changed(self) -> int:
        return sum(action.changes for action in self.actions)

    @property
    def unchanged(self) -> int:
        return sum(action.action == "unchanged" for action in self.actions)

    @property
    def verified(self) -> int:
        return sum(action.action == "verified" for action in self.actions)

    def summary(self, *, dry_run: bool = False) -> str:
        """``N changed, M unchanged`` (a dry run says what it would change and that it changed nothing)."""
        checks = f"; {self.verified} check(s) passed" if self.verified else ""
        if dry_run:
            return f"dry run: {self.changed} to change, {self.unchanged} unchanged{checks}; nothing was changed"
        return f"{self.changed} changed, {self.unchanged} unchanged{checks}"


# --------------------------------------------------------------------------------------------------------------
# Artefacts


def is_current(local: LocalArtefact, remote: RemoteObject | None) -> bool:
    """True when S3 already holds ``local``: our digest in the object's metadata matches, or (an object uploaded
    without it) its ETag is the MD5 of our bytes. KMS-encrypted and multipart objects have other ETags, so an
    object without our metadata and with such an ETag counts as changed (uploaded once more, with metadata)."""
    if remote is None:
        return False
    if remote.content_sha256 is not None:
        return remote.content_sha256 == local.content_sha256
    return etag_md5(remote.etag) == local.md5


def plan_uploads(
    artefacts: Sequence[LocalArtefact], remote: Mapping[str, RemoteObject | None], bucket: str
) -> list[Action]:
    """``upload`` for every artefact S3 does not hold as it is locally, ``unchanged`` for the others."""
    actions = []
    for artefact in artefacts:
        found = remote.get(artefact.key)
        current = is_current(artefact, found)
        detail = f"sha256 {artefact.content_sha256[:12]}"
        if not current:
            detail += " (new)" if found is None else f" (was {(found.content_sha256 or 'unknown')[:12]})"
        actions.append(
            Action(
                f"{artefact.kind} {artefact.name}",
                s3_url(bucket, artefact.key),
                "unchanged" if current else "upload",
                detail,
            )
        )
    return actions


def upload_metadata(artefact: LocalArtefact) -> dict[str, str]:
    """The user metadata stored with each upload: the content digest the next deploy compares."""
    return {CONTENT_DIGEST_METADATA: artefact.content_sha256}


# --------------------------------------------------------------------------------------------------------------
# Schemas


def same_schema(local: Mapping[str, Any], registered: str | None) -> bool:
    """Is the registered text the same schema as ``local``, by the registry's own notion of sameness
    (:func:`schemas.compatibility.canonical`: key order, whitespace and equivalent spellings do not count)?"""
    if registered is None:
        return False
    try:
        return canonical(registered) == canonical(local)
    except SchemaError:
        return False


def plan_schemas(
    local: Mapping[str, Mapping[str, Any]], registered: Mapping[str, tuple[int, str] | None], registry_url: str
) -> list[Action]:
    """Per subject: ``unchanged`` when its latest registered version is the local schema, else ``register``."""
    actions = []
    for subject, schema in local.items():
        latest = registered.get(subject)
        if latest is not None and same_schema(schema, latest[1]):
            actions.append(Action(f"schema {subject}", registry_url, "unchanged", f"version {latest[0]}"))
        else:
            detail = "new subject" if latest is None else f"after version {latest[0]}"
            actions.append(Action(f"schema {subject}", registry_url, "register", detail))
    return actions


# --------------------------------------------------------------------------------------------------------------
# Migrations


def plan_migration_actions(report: MigrationReport, where: str) -> list[Action]:
    """Applied files are ``unchanged``; pending ones ``apply`` (from a dry-run report) — or, from a real run's
    report, ``apply`` for the ones it applied."""
    actions = [
        Action(f"migration V{applied.version:03d}__{applied.name}.sql", where, "unchanged", "applied before")
        for applied in report.already_applied
    ]
    done = {migration.version for migration in report.applied}
    for migration in report.pending:
        statements = report.statements.get(migration.version)
        count = f"{statements} statement(s)" if statements is not None else ""
        if report.dry_run or migration.version in done:
            actions.append(Action(f"migration {migration.filename}", where, "apply", count))
        else:  # applied by someone else between our check and our run
            actions.append(Action(f"migration {migration.filename}", where, "unchanged", "applied concurrently"))
    return actions


# --------------------------------------------------------------------------------------------------------------
# Checks: what Terraform owns must exist and point at what we upload


def check_glue_job(
    name: str, expected_script: str, wheel_url: str, found: GlueJobDefinition | None, environment: str
) -> Action:
    """``verified`` when the job runs ``expected_script`` and pip-installs the wheel, else a problem.

    The wheel must be on ``--additional-python-modules`` (installed by pip), not ``--extra-py-files`` (put on the
    path as a zip): the packages read their data files (catalog, .avsc, SQL) next to ``__file__``, which only
    exist as files once the wheel is installed."""
    if found is None:
        return Action(
            f"glue job {name}", expected_script, "missing", f"no such job: apply infra/envs/{environment} first"
        )
    differences = []
    if found.script_location != expected_script:
        differences.append(f"runs {found.script_location or 'nothing'}")
    installed = [item.strip() for item in found.default_arguments.get(ADDITIONAL_MODULES, "").split(",")]
    if wheel_url not in installed:
        differences.append(f"{ADDITIONAL_MODULES} lacks {wheel_url}")
    if differences:
        return Action(f"glue job {name}", expected_script, "drift", "; ".join(differences))
    return Action(f"glue job {name}", expected_script, "verified", f"wheel on {ADDITIONAL_MODULES}")


def check_secret(arn: str, exists: bool, environment: str) -> Action:
    if exists:
        return Action("secret (warehouse)", arn, "verified", "exists (value not read)")
    return Action("secret (warehouse)", arn, "missing", f"no such secret: apply infra/envs/{environment} first")


def problem_summary(problems: Sequence[Action]) -> str:
    """One line naming what blocks the deploy."""
    items = "; ".join(f"{action.artefact}: {action.action} ({action.detail})" for action in problems[:3])
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"deploy stopped before changing anything: {items}{more}"
