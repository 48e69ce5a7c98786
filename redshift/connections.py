"""Sessions on the warehouse: one small protocol, three implementations, one factory.

* :class:`PsycopgSession` — PostgreSQL, the local stand-in (and the only one that can COPY, see ``refresh``).
* :class:`RedshiftConnectorSession` — Redshift over its wire protocol (password, IAM, or a Secrets Manager secret).
* :class:`DataApiSession` — the Redshift Data API (boto3 ``redshift-data``): no connection to hold, one call per
  statement, a ``transaction()`` becomes one ``batch_execute_statement``.

Parameters use the ``pyformat`` style (``%(name)s``) on every session. Outside ``transaction()`` each statement
commits on its own. Connecting retries transient failures (tenacity); statements are never retried here, so
nothing runs twice behind the caller's back. Secrets (passwords, secret values) are never logged or put into
error messages.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Protocol, TypeVar

import psycopg
from pydantic import SecretStr
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from common.errors import CdcError, ConfigError, ServiceUnavailableError
from common.logging import get_logger
from common.settings import AwsSettings, WarehouseSettings, redact_dsn
from redshift.dialect import Dialect
from redshift.settings import RedshiftSettings

log = get_logger(__name__)

T = TypeVar("T")
Params = Mapping[str, Any]
Row = tuple[Any, ...]

_PYFORMAT: Final = re.compile(r"%\((\w+)\)s|%%")
_BATCH_LIMIT: Final = 40  # BatchExecuteStatement takes at most 40 statements
_FINAL_STATES: Final = frozenset({"FINISHED", "FAILED", "ABORTED"})


class WarehouseStatementError(CdcError):
    """The warehouse refused a statement; the message is the database's own first line."""


class SqlSession(Protocol):
    """What the runner needs from a warehouse connection."""

    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run one statement (committed at once outside ``transaction()``)."""

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run one query and return its rows as tuples."""

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose statements commit together, or not at all when it raises."""

    def close(self) -> None:
        """Release the connection (idempotent)."""


SessionFactory = Callable[[], SqlSession]


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL (psycopg 3)


class PsycopgSession:
    """A psycopg 3 connection in autocommit mode; ``transaction()`` is psycopg's own transaction block."""

    def __init__(self, connection: psycopg.Connection[Row]) -> None:
        self.connection = connection

    @classmethod
    def connect(cls, dsn: str, *, attempts: int = 5, connect_timeout: int = 10) -> PsycopgSession:
        """Connect with retries on transient failures (server starting, network); wrong credentials fail at once."""

        def open_connection() -> PsycopgSession:
            return cls(psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout))

        return _with_retries(open_connection, _is_transient_psycopg, f"warehouse at {redact_dsn(dsn)}", attempts)

    def execute(self, sql: str, params: Params | None = None) -> None:
        try:
            self.connection.execute(sql.encode(), params)
        except psycopg.Error as exc:
            raise WarehouseStatementError(_first_line(exc)) from exc

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        try:
            cursor = self.connection.execute(sql.encode(), params)
            return list(cursor.fetchall()) if cursor.description is not None else []
        except psycopg.Error as exc:
            raise WarehouseStatementError(_first_line(exc)) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.connection.transaction():
            yield

    def close(self) -> None:
        self.connection.close()


def _is_transient_psycopg(exc: BaseException) -> bool:
    permanent = ("authentication failed", "does not exist", "no password supplied", "role ")
    return isinstance(exc, psycopg.OperationalError) and not any(word in str(exc) for word in permanent)


# --------------------------------------------------------------------------------------------------------------
# Redshift over the wire (redshift-connector)


class RedshiftConnectorSession:
    """A redshift-connector connection in autocommit mode; ``transaction()`` turns autocommit off for the block."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.connection.autocommit = True

    def _cursor(self, sql: str, params: Params | None) -> Any:
        from redshift_connector.error import Error as RedshiftError  # noqa: PLC0415 - only Redshift users pay for it

        cursor = self.connection.cursor()
        cursor.paramstyle = "pyformat"
        try:
            cursor.execute(sql, dict(params) if params is not None else None)
        except RedshiftError as exc:
            cursor.close()
            details = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}  # the server's fields
            raise WarehouseStatementError(str(details.get("M") or _first_line(exc))) from exc
        return cursor

    def execute(self, sql: str, params: Params | None = None) -> None:
        self._cursor(sql, params).close()

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        cursor = self._cursor(sql, params)
        try:
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.autocommit = False
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        else:
            self.connection.commit()
        finally:
            self.connection.autocommit = True

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class DatabaseCredentials:
    """What a Secrets Manager secret of a Redshift cluster holds (the password stays a SecretStr)."""

    username: str
    password: SecretStr
    host: str | None = None
    port: int | None = None
    database: str | None = None


def fetch_secret(secret_arn: str, client: Any) -> DatabaseCredentials:
    """Read a Redshift/RDS-style JSON secret (username, password[, host, port, dbname])."""
    try:
        raw = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except Exception as exc:
        raise ServiceUnavailableError(f"cannot read secret {secret_arn}: {type(exc).__name__}") from None
    try:
        values = json.loads(raw)
        return DatabaseCredentials(
            username=str(values["username"]),
            password=SecretStr(str(values["password"])),
            host=values.get("host"),
            port=int(values["port"]) if values.get("port") else None,
            database=values.get("dbname") or values.get("database"),
        )
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"secret {secret_arn} is not a JSON object with 'username' and 'password' (value not shown)"
        ) from None


def redshift_connector_arguments(
    settings: RedshiftSettings,
    dsn: str | None,
    secret: Callable[[str], DatabaseCredentials] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``redshift_connector.connect``: password (DSN or REDSHIFT_PASSWORD), IAM, or secret.

    Pure apart from ``secret`` (which reads Secrets Manager); the result holds the password: hand it only to
    the driver.
    """
    if not (dsn or settings.host or settings.workgroup or settings.cluster_identifier or settings.secret_arn):
        raise ConfigError(
            "no Redshift configured: set WAREHOUSE_DSN (host, user, password), REDSHIFT_HOST, REDSHIFT_SECRET_ARN, "
            "or REDSHIFT_WORKGROUP / REDSHIFT_CLUSTER_IDENTIFIER (Data API, IAM)"
        )
    parts = psycopg.conninfo.conninfo_to_dict(dsn) if dsn else {}
    arguments: dict[str, Any] = {
        "host": parts.get("host") or settings.host,
        "port": int(str(parts.get("port") or settings.port)),
        "database": parts.get("dbname") or settings.database,
    }
    user = parts.get("user") or settings.db_user
    if settings.secret_arn:
        if secret is None:
            raise ConfigError("REDSHIFT_SECRET_ARN is set but no Secrets Manager client is available")
        credentials = secret(settings.secret_arn)
        arguments.update(user=credentials.username, password=credentials.password.get_secret_value())
        arguments["host"] = arguments["host"] or credentials.host
        arguments["port"] = credentials.port or arguments["port"]
        arguments["database"] = parts.get("dbname") or credentials.database or settings.database
    elif settings.iam:
        arguments.update(iam=True, db_user=user, region=settings.region)
        if settings.workgroup:
            arguments.update(is_serverless=True, serverless_work_group=settings.workgroup)
        elif settings.cluster_identifier:
            arguments["cluster_identifier"] = settings.cluster_identifier
        else:
            raise ConfigError("REDSHIFT_IAM needs REDSHIFT_WORKGROUP or REDSHIFT_CLUSTER_IDENTIFIER")
    else:
        password = parts.get("password") or (settings.password.get_secret_value() if settings.password else None)
        if not user or not password:
            raise ConfigError(
                "Redshift password login needs user and password in WAREHOUSE_DSN (or REDSHIFT_DB_USER and "
                "REDSHIFT_PASSWORD); or use REDSHIFT_IAM=true or REDSHIFT_SECRET_ARN"
            )
        arguments.update(user=user, password=password)
    if not arguments["host"] and not (settings.iam and settings.workgroup):
        raise ConfigError("no Redshift host: put it in WAREHOUSE_DSN or set REDSHIFT_HOST")
    if parts.get("sslmode"):
        arguments["sslmode"] = parts["sslmode"]
    return {key: value for key, value in arguments.items() if value is not None}


def _is_transient_redshift(exc: BaseException) -> bool:
    from redshift_connector.error import InterfaceError, OperationalError  # noqa: PLC0415

    return isinstance(exc, (InterfaceError, OperationalError, OSError))


# --------------------------------------------------------------------------------------------------------------
# Redshift Data API (boto3 redshift-data)


@dataclass(frozen=True)
class DataApiTarget:
    """Where Data API statements run: a Serverless workgroup or a provisioned cluster, as whom, in which database."""

    database: str
    workgroup: str | None = None
    cluster_identifier: str | None = None
    db_user: str | None = None
    secret_arn: str | None = None

    def __post_init__(self) -> None:
        if bool(self.workgroup) == bool(self.cluster_identifier):
            raise ConfigError("the Data API needs exactly one of REDSHIFT_WORKGROUP or REDSHIFT_CLUSTER_IDENTIFIER")
        if self.cluster_identifier and not (self.db_user or self.secret_arn):
            raise ConfigError("the Data API on a provisioned cluster needs REDSHIFT_DB_USER or REDSHIFT_SECRET_ARN")

    def request(self) -> dict[str, str]:
        """The target part of every request: WorkgroupName, or ClusterIdentifier + DbUser/SecretArn."""
        values = {
            "Database": self.database,
            "WorkgroupName": self.workgroup,
            "ClusterIdentifier": self.cluster_identifier,
            "SecretArn": self.secret_arn,
            "DbUser": None if self.secret_arn else self.db_user,
        }
        return {key: value for key, value in values.items() if value}


@dataclass
class DataApiSession:
    """Statements through the Data API, polled to completion with ``describe_statement``."""

    client: Any
    target: DataApiTarget
    poll_seconds: float = 0.5
    timeout_seconds: float = 3600.0
    sleep: Callable[[float], None] = time.sleep
    _batch: list[str] | None = field(default=None, init=False, repr=False)

    def execute(self, sql: str, params: Params | None = None) -> None:
        if self._batch is not None:
            self._batch.append(inline_parameters(sql, params))
            return
        self._run(sql, params)

    def fetchall(self, sql: str, params: Params | None = None) -> list[Row]:
        if self._batch is not None:
            raise WarehouseStatementError("the Data API cannot read inside a transaction (it runs as one batch)")
        statement = self._run(sql, params)
        if not statement.get("HasResultSet"):
            return []
        rows: list[Row] = []
        token: str | None = None
        while True:
            page = self._call("get_statement_result", Id=statement["Id"], **({"NextToken": token} if token else {}))
            rows.extend(tuple(_field_value(value) for value in record) for record in page.get("Records", []))
            token = page.get("NextToken")
            if not token:
                return rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._batch is not None:
            raise WarehouseStatementError("Data API transactions do not nest")
        self._batch = []
        try:
            yield
            statements = self._batch
        finally:
            self._batch = None
        if len(statements) > _BATCH_LIMIT:
            raise WarehouseStatementError(
                f"a Data API transaction holds at most {_BATCH_LIMIT} statements, got {len(statements)}"
            )
        if len(statements) == 1:
            self._run(statements[0], None)
        elif statements:
            response = self._call("batch_execute_statement", Sqls=statements, **self.target.request())
            self._wait(response["Id"], statements)

    def close(self) -> None:
        """Nothing to release: the Data API holds no connection."""

    def _run(self, sql: str, params: Params | None) -> dict[str, Any]:
        text, parameters = data_api_parameters(sql, params)
        request: dict[str, Any] = {"Sql": text, **self.target.request()}
        if parameters:
            request["Parameters"] = parameters
        response = self._call("execute_statement", **request)
        return self._wait(response["Id"], [text])

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        """One Data API call; AWS-side refusals (validation, access, throttling after retries) become one line."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            response: dict[str, Any] = getattr(self.client, operation)(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise WarehouseStatementError(f"Data API {operation}: {error.get('Code')}: {error.get('Message')}") from exc
        except BotoCoreError as exc:
            raise ServiceUnavailableError(f"Data API {operation}: {_first_line(exc)}") from exc
        return response

    def _wait(self, statement_id: str, statements: Sequence[str]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            described = self._call("describe_statement", Id=statement_id)
            status = described.get("Status")
            if status == "FINISHED":
                return described
            if status in _FINAL_STATES:
                raise WarehouseStatementError(_data_api_failure(described, statements))
            if time.monotonic() > deadline:
                with suppress(Exception):
                    self.client.cancel_statement(Id=statement_id)
                raise WarehouseStatementError(
                    f"Data API statement {statement_id} still {status} after {self.timeout_seconds:.0f}s (cancelled)"
                )
            self.sleep(self.poll_seconds)


def data_api_parameters(sql: str, params: Params | None) -> tuple[str, list[dict[str, str]]]:
    """``%(name)s`` → ``:name`` with string ``Parameters``; NULLs and empty strings are inlined (the API takes
    neither)."""
    if params is None:
        return sql, []
    used: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in params:
            raise WarehouseStatementError(f"statement parameter %({name})s has no value")
        value = params[name]
        if value is None or value == "":
            return sql_literal(value)
        used[name] = _parameter_text(value)
        return f":{name}"

    text = _PYFORMAT.sub(replace, sql)
    return text, [{"name": name, "value": value} for name, value in used.items()]


def inline_parameters(sql: str, params: Params | None) -> str:
    """``%(name)s`` replaced by Redshift literals (for ``batch_execute_statement``, which takes no Parameters)."""
    if params is None:
        return sql

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in params:
            raise WarehouseStatementError(f"statement parameter %({name})s has no value")
        return sql_literal(params[name])

    return _PYFORMAT.sub(replace, sql)


def sql_literal(value: Any) -> str:
    """A Redshift literal: NULL, TRUE/FALSE, numbers as is, everything else a quoted string (backslashes doubled:
    Redshift reads them as escapes)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = _parameter_text(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _field_value(value: Mapping[str, Any]) -> Any:
    if value.get("isNull"):
        return None
    for key in ("longValue", "stringValue", "doubleValue", "booleanValue", "blobValue"):
        if key in value:
            return value[key]
    return None


def _data_api_failure(described: Mapping[str, Any], statements: Sequence[str]) -> str:
    error = str(described.get("Error") or described.get("Status"))
    for index, sub in enumerate(described.get("SubStatements") or []):
        if sub.get("Status") in ("FAILED", "ABORTED"):
            text = statements[index] if index < len(statements) else ""
            return f"statement {index + 1} of the batch ({_summary(text)}) failed: {sub.get('Error') or error}"
    return error.strip().splitlines()[0] if error.strip() else "statement failed"


# --------------------------------------------------------------------------------------------------------------
# The factory


@dataclass(frozen=True)
class WarehouseConnection:
    """Everything needed to open sessions on the warehouse, picked from typed settings (secrets stay SecretStr)."""

    warehouse: WarehouseSettings
    redshift: RedshiftSettings
    aws: AwsSettings

    @property
    def dialect(self) -> Dialect:
        return self.redshift.dialect

    @property
    def connector(self) -> str:
        return self.redshift.resolved_connector()

    def describe(self) -> str:
        """Where sessions go, for people and logs (no secrets)."""
        if self.connector == "data-api":
            target = self.redshift.workgroup or self.redshift.cluster_identifier
            return f"Redshift Data API ({target}/{self.redshift.database})"
        if self.warehouse.dsn is not None:
            return f"{self.connector} {redact_dsn(self.warehouse.dsn.get_secret_value())}"
        return f"{self.connector} {self.redshift.host}:{self.redshift.port}/{self.redshift.database}"

    def session_factory(self) -> SessionFactory:
        """A callable opening one session per call (the runner's connection factory)."""
        connector = self.connector
        if connector == "psycopg":
            if self.warehouse.dsn is None:
                raise ConfigError(
                    "no warehouse configured: set WAREHOUSE_DSN, pass --warehouse-dsn, or start the stack with "
                    "`cdc stack up`"
                )
            dsn = self.warehouse.dsn.get_secret_value()
            return lambda: PsycopgSession.connect(dsn)
        if connector == "redshift-connector":
            return self._redshift_connector
        target = DataApiTarget(
            database=self.redshift.database,
            workgroup=self.redshift.workgroup,
            cluster_identifier=self.redshift.cluster_identifier,
            db_user=self.redshift.db_user,
            secret_arn=self.redshift.secret_arn,
        )
        return lambda: DataApiSession(
            self.boto3_client("redshift-data"),
            target,
            poll_seconds=self.redshift.poll_seconds,
            timeout_seconds=self.redshift.statement_timeout_seconds,
        )

    def boto3_client(self, service: str) -> Any:
        """A boto3 client with standard retries (throttling, connection errors) and the endpoint override."""
        import boto3  # noqa: PLC0415 - boto3 takes a while to import; only Redshift paths need it
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            service,
            region_name=self.redshift.region or self.aws.region,
            endpoint_url=self.aws.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )

    def _redshift_connector(self) -> RedshiftConnectorSession:
        import redshift_connector  # noqa: PLC0415

        dsn = self.warehouse.dsn.get_secret_value() if self.warehouse.dsn else None
        arguments = redshift_connector_arguments(
            self.redshift, dsn, lambda arn: fetch_secret(arn, self.boto3_client("secretsmanager"))
        )
        where = f"Redshift at {arguments.get('host') or self.redshift.workgroup}:{arguments.get('port')}"
        connection = _with_retries(
            lambda: redshift_connector.connect(**arguments), _is_transient_redshift, where, attempts=5
        )
        return RedshiftConnectorSession(connection)


def _with_retries(
    open_once: Callable[[], T], transient: Callable[[BaseException], bool], what: str, attempts: int
) -> T:
    """``open_once()``, retried with backoff while it fails transiently; one clear ServiceUnavailableError else."""
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=8),
            retry=retry_if_exception(transient),
        ):
            with attempt:
                return open_once()
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        log.warning("warehouse.unreachable", target=what, attempts=attempts, error=type(cause).__name__)
        raise ServiceUnavailableError(f"{what} unreachable after {attempts} attempts: {_first_line(cause)}") from None
    except CdcError:
        raise
    except Exception as exc:
        raise ServiceUnavailableError(f"cannot connect to {what}: {_first_line(exc)}") from None
    raise ServiceUnavailableError(f"cannot connect to {what}")  # pragma: no cover - Retrying returns or raises


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__


def _summary(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 80 else first[:77] + "..."
