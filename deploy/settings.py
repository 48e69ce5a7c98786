"""Deployment environments: one TOML file per environment (``deploy/envs/<env>.toml``), ``DEPLOY_*`` overrides.

The file holds what Terraform created for the environment (bucket, Glue job names, Redshift workgroup, secret ARN,
…); an environment variable ``DEPLOY_<FIELD>`` (nested: ``DEPLOY_WAREHOUSE__DSN``) wins over the file, which is
how CI or a test points one deploy somewhere else without editing the file. Secrets are ``SecretStr`` and never
printed; ARNs are not secrets.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from common.errors import ConfigError
from redshift.settings import optional_arn

ENVS_DIR: Final = Path(__file__).resolve().parent / "envs"
DEFAULT_SCRIPTS: Final = ("streaming/glue_job.py", "batch/glue_jobs.py")
ACCOUNT_PLACEHOLDER: Final = "{account_id}"

_ENV_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_BUCKET: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX: Final = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_SCRIPT: Final = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*\.py$")
_GLUE_JOB: Final = re.compile(r"^[\w.:/-]{1,255}$")
_REGION: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class ArtefactSettings(BaseModel):
    """Where the wheel and the Glue entry scripts go: ``s3://<bucket>/<prefix>/wheels/<wheel>`` and
    ``s3://<bucket>/<prefix>/<script>`` (the keys infra/modules/glue's jobs run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str
    prefix: str = "glue"
    scripts: tuple[str, ...] = DEFAULT_SCRIPTS

    @field_validator("bucket")
    @classmethod
    def _check_bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError(f"not a valid S3 bucket name: {value!r}")
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not _PREFIX.match(value):
            raise ValueError(f"expected a key prefix like 'glue' or 'code/glue', got {value!r}")
        return value

    @field_validator("scripts")
    @classmethod
    def _check_scripts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for script in value:
            if not _SCRIPT.match(script):
                raise ValueError(f"expected a project-relative .py path like 'streaming/glue_job.py', got {script!r}")
        if len(set(value)) != len(value):
            raise ValueError("a script is listed twice")
        return value


class WarehouseTarget(BaseModel):
    """The warehouse migrations run on: Redshift through the Data API, or the PostgreSQL stand-in (tests, local)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dialect: Literal["redshift", "postgres"] = "redshift"
    workgroup: str | None = None
    cluster_identifier: str | None = None
    database: str = "dev"
    db_user: str | None = None
    secret_arn: str | None = None
    iam_role_arn: str | None = None
    msk_cluster_arn: str | None = None
    dsn: SecretStr | None = None

    @field_validator("secret_arn", "iam_role_arn", "msk_cluster_arn")
    @classmethod
    def _check_arn(cls, value: str | None) -> str | None:
        return optional_arn(value)

    @model_validator(mode="after")
    def _complete(self) -> WarehouseTarget:
        if self.dialect == "postgres":
            if self.dsn is None:
                raise ValueError("the postgres stand-in needs warehouse.dsn (DEPLOY_WAREHOUSE__DSN)")
            return self
        if bool(self.workgroup) == bool(self.cluster_identifier):
            raise ValueError("set exactly one of warehouse.workgroup (Serverless) or warehouse.cluster_identifier")
        if self.cluster_identifier and not (self.secret_arn or self.db_user):
            raise ValueError("a provisioned cluster needs warehouse.secret_arn or warehouse.db_user")
        missing = [name for name in ("iam_role_arn", "msk_cluster_arn") if getattr(self, name) is None]
        if missing:
            variables = " and ".join(f"DEPLOY_WAREHOUSE__{name.upper()}" for name in missing)
            raise ValueError(
                f"the Redshift migrations need warehouse.{' and warehouse.'.join(missing)}: set it in the file or "
                f"{variables} (from `terraform output`)"
            )
        return self

    def describe(self) -> str:
        """Where migrations go, without secrets."""
        if self.dialect == "postgres":
            return "PostgreSQL stand-in"
        return f"Redshift Data API {self.workgroup or self.cluster_identifier}/{self.database}"


class DeploySettings(BaseSettings):
    """One environment's deployment targets: the file's values under ``DEPLOY_*`` environment overrides."""

    model_config = SettingsConfigDict(env_prefix="DEPLOY_", env_nested_delimiter="__", extra="forbid", frozen=True)

    region: str
    artefacts: ArtefactSettings
    glue_jobs: dict[str, str] = Field(default_factory=dict)
    schema_registry_url: str
    schema_registry_basic_auth: SecretStr | None = None
    warehouse: WarehouseTarget

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment first, then the constructor's values (the TOML file's, see :func:`load_environment`)."""
        return env_settings, init_settings

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"expected an AWS region like eu-west-1, got {value!r}")
        return value

    @field_validator("schema_registry_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value.strip()):
            raise ValueError(f"expected an http(s):// URL, got {value.strip()!r}")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _jobs_run_known_scripts(self) -> DeploySettings:
        for job, script in self.glue_jobs.items():
            if not _GLUE_JOB.match(job):
                raise ValueError(f"not a valid Glue job name: {job!r}")
            if script not in self.artefacts.scripts:
                raise ValueError(f"Glue job {job} runs {script!r}, which is not in artefacts.scripts")
        return self


def known_environments(folder: Path = ENVS_DIR) -> list[str]:
    """The environment names: the stems of ``<folder>/*.toml``, sorted."""
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.toml") if _ENV_NAME.match(path.stem))


def check_environment(name: str, folder: Path = ENVS_DIR) -> Path:
    """The environment's file; an unknown name is one ConfigError line (exit 2) listing the known ones."""
    known = known_environments(folder)
    if name not in known:
        choices = ", ".join(known) if known else "none"
        raise ConfigError(f"unknown environment {name!r}: known environments are {choices} (files in {folder})")
    return folder / f"{name}.toml"


def load_environment(
    name: str, folder: Path = ENVS_DIR, account_id: Callable[[str], str] | None = None
) -> DeploySettings:
    """The environment's settings: the file with ``{account_id}`` filled in (``account_id(region)`` is asked only
    when the file uses it), under ``DEPLOY_*`` overrides; an invalid value is one ConfigError line (exit 2)."""
    path = check_environment(name, folder)
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if ACCOUNT_PLACEHOLDER in json.dumps(values):
        if account_id is None:
            raise ConfigError(f"{path} uses {ACCOUNT_PLACEHOLDER} but no AWS account is known")
        values = fill_placeholder(values, ACCOUNT_PLACEHOLDER, account_id(str(values.get("region", ""))))
    try:
        return DeploySettings(**values)
    except ValidationError as exc:
        raise ConfigError(f"invalid deploy setting in {path} or DEPLOY_*: {_first_error(exc)}") from None


def fill_placeholder(value: Any, placeholder: str, replacement: str) -> Any:
    """``value`` with ``placeholder`` replaced in every string inside it (keys included). Pure."""
    if isinstance(value, str):
        return value.replace(placeholder, replacement)
    if isinstance(value, dict):
        return {
            fill_placeholder(key, placeholder, replacement): fill_placeholder(item, placeholder, replacement)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [fill_placeholder(item, placeholder, replacement) for item in value]
    return value


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{location}: {message}" if location else message
