"""Warehouse connection settings beyond ``WAREHOUSE_DSN``: the dialect and how to reach Redshift (``REDSHIFT_*``).

Read at entry points only (the CLI, deployment scripts), next to :class:`common.settings.WarehouseSettings`.
Locally nothing needs setting: the dialect is ``postgres`` and the DSN comes from the running stack.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from redshift.dialect import Dialect

Connector = Literal["auto", "psycopg", "redshift-connector", "data-api"]


class RedshiftSettings(BaseSettings):
    """Dialect, connector and Redshift coordinates (`REDSHIFT_*`); secrets as `SecretStr`, resolved at connect."""

    model_config = SettingsConfigDict(env_prefix="REDSHIFT_", extra="ignore")

    dialect: Dialect = "postgres"
    connector: Connector = "auto"
    # Where: a Serverless workgroup or a provisioned cluster (Data API, IAM auth); host/port for a direct connection
    # when WAREHOUSE_DSN does not give them.
    workgroup: str | None = None
    cluster_identifier: str | None = None
    host: str | None = None
    port: int = Field(default=5439, gt=0, lt=65536)
    database: str = "dev"
    # Who: a database user (Data API on a provisioned cluster, IAM), a Secrets Manager secret, or IAM.
    db_user: str | None = None
    secret_arn: str | None = None
    iam: bool = False
    region: str | None = None
    # What the versioned SQL needs on Redshift (the external schema over MSK).
    iam_role_arn: str | None = None
    msk_cluster_arn: str | None = None
    # Data API polling.
    poll_seconds: float = Field(default=0.5, gt=0)
    statement_timeout_seconds: float = Field(default=3600.0, gt=0)
    # `cdc warehouse run`: procedures to CALL, in order (comma-separated schema.name); empty = discover.
    procedures: str | None = None
    password: SecretStr | None = None

    @field_validator("workgroup", "cluster_identifier", "host", "db_user", "secret_arn", "region", "procedures")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @field_validator("iam_role_arn", "msk_cluster_arn", "secret_arn")
    @classmethod
    def _check_arn(cls, value: str | None) -> str | None:
        return optional_arn(value)

    @model_validator(mode="after")
    def _one_target(self) -> RedshiftSettings:
        if self.workgroup and self.cluster_identifier:
            raise ValueError("set either REDSHIFT_WORKGROUP (Serverless) or REDSHIFT_CLUSTER_IDENTIFIER, not both")
        return self

    def resolved_connector(self) -> Literal["psycopg", "redshift-connector", "data-api"]:
        """The connector `auto` stands for: psycopg locally; on Redshift a direct connection for IAM or an explicit
        host, the Data API for a workgroup or cluster, else a direct connection with the DSN's credentials."""
        if self.connector != "auto":
            return self.connector
        if self.dialect == "postgres":
            return "psycopg"
        if self.iam or self.host:
            return "redshift-connector"
        if self.workgroup or self.cluster_identifier:
            return "data-api"
        return "redshift-connector"

    def procedure_names(self) -> tuple[str, ...] | None:
        """The configured procedure order, or None to discover procedures from the database."""
        if not self.procedures:
            return None
        return tuple(name.strip() for name in self.procedures.split(",") if name.strip())


def optional_arn(value: str | None) -> str | None:
    """A blank value is unset; anything else must look like an ARN (validators of ARN settings share this)."""
    if value is None or not value.strip():
        return None
    if not value.strip().startswith("arn:"):
        raise ValueError(f"expected an ARN (arn:aws:...), got {value.strip()!r}")
    return value.strip()
