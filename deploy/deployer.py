"""Survey → plan → apply: the deploy's shell around the pure planning in ``deploy.plan``.

Order (ADR 0012): checks (Glue jobs and the warehouse secret exist and point where they should — a problem stops
the deploy before anything changed), schemas (a refused, incompatible schema stops it before the warehouse or
the code moved), migrations (pending files only), uploads (the code that uses the new schemas and tables last).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common.logging import get_logger
from deploy.artefacts import LocalArtefact, s3_url, script_key, wheel_key
from deploy.clients import ArtefactBucket, DeployError, GlueJobs, Secrets
from deploy.plan import (
    Action,
    DeployPlan,
    check_glue_job,
    check_secret,
    plan_migration_actions,
    plan_schemas,
    plan_uploads,
    problem_summary,
)
from deploy.settings import DeploySettings
from redshift.runner import MigrationReport
from schemas.catalog import Catalog
from schemas.debezium import envelope_schema, key_schema, subject_names
from schemas.registry import RegisteredSchema

log = get_logger(__name__)


class Registry(Protocol):
    """What deploy needs from the schema registry client (``schemas.registry.SchemaRegistry``)."""

    url: str

    def latest(self, subject: str) -> tuple[int, str] | None: ...

    def register(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema: ...


Migrate = Callable[[bool], MigrationReport]  # dry_run -> report (the runner's migrate)


def catalog_schemas(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """Every subject the catalog defines with its schema: ``<topic>-key`` and ``<topic>-value`` per table."""
    schemas: dict[str, dict[str, Any]] = {}
    for table in catalog.tables:
        key_subject, value_subject = subject_names(table)
        schemas[key_subject] = key_schema(table)
        schemas[value_subject] = envelope_schema(table)
    return schemas


def environment_checks(
    environment: str, settings: DeploySettings, wheel_name: str, glue: GlueJobs, secrets: Secrets
) -> list[Action]:
    """What Terraform owns, checked (reads only): each Glue job runs its uploaded script and pip-installs the
    wheel; the warehouse secret exists. Needs only the wheel's name, so it can run before the build."""
    artefacts = settings.artefacts
    wheel_url = s3_url(artefacts.bucket, wheel_key(artefacts.prefix, wheel_name))
    actions = [
        check_glue_job(
            name,
            s3_url(artefacts.bucket, script_key(artefacts.prefix, script)),
            wheel_url,
            glue.describe(name),
            environment,
        )
        for name, script in sorted(settings.glue_jobs.items())
    ]
    if settings.warehouse.secret_arn is not None:
        secret = settings.warehouse.secret_arn
        actions.append(check_secret(secret, secrets.exists(secret), environment))
    return actions


@dataclass
class Deployer:
    """One environment's deploy of one built source tree."""

    environment: str
    settings: DeploySettings
    artefacts: Sequence[LocalArtefact]
    schemas: Mapping[str, dict[str, Any]]
    bucket: ArtefactBucket
    glue: GlueJobs
    secrets: Secrets
    registry: Registry
    migrate: Migrate
    warehouse: str

    def plan(self) -> DeployPlan:
        """Read the remote state (nothing is changed) and decide every action."""
        plan = DeployPlan()
        plan.checks = self.checks()
        registered = {subject: self.registry.latest(subject) for subject in self.schemas}
        plan.schemas = plan_schemas(self.schemas, registered, self.registry.url)
        plan.migrations = plan_migration_actions(self.migrate(True), self.warehouse)
        remote = {artefact.key: self.bucket.describe(artefact.key) for artefact in self.artefacts}
        plan.uploads = plan_uploads(self.artefacts, remote, self.bucket.bucket)
        return plan

    def checks(self) -> list[Action]:
        wheel = next(artefact for artefact in self.artefacts if artefact.kind == "wheel")
        return environment_checks(self.environment, self.settings, wheel.name, self.glue, self.secrets)

    def apply(self, plan: DeployPlan) -> DeployPlan:
        """Carry out ``plan``'s changes; returns what was done (migrations as the runner reports them)."""
        if plan.problems:
            raise DeployError(problem_summary(plan.problems))
        done = DeployPlan(checks=list(plan.checks))
        for action in plan.schemas:
            if action.action != "register":
                done.schemas.append(action)
                continue
            subject = action.artefact.removeprefix("schema ")
            registered = self.registry.register(subject, self.schemas[subject])
            log.info("deploy.registered", subject=subject, id=registered.schema_id, version=registered.version)
            detail = f"id {registered.schema_id}, version {registered.version}"
            done.schemas.append(Action(action.artefact, action.target, "register", detail))
        if any(action.changes for action in plan.migrations):
            done.migrations = plan_migration_actions(self.migrate(False), self.warehouse)
        else:
            done.migrations = list(plan.migrations)
        by_target = {s3_url(self.bucket.bucket, artefact.key): artefact for artefact in self.artefacts}
        for action in plan.uploads:
            if action.action == "upload":
                self.bucket.upload(by_target[action.target])
                log.info("deploy.uploaded", target=action.target)
            done.uploads.append(action)
        return done
