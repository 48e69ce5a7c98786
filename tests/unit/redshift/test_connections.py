"""Connections: the Data API session against moto's server, connector arguments, parameters, the factory."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from common.errors import ConfigError, ServiceUnavailableError
from common.settings import AwsSettings, WarehouseSettings
from redshift.connections import (
    DataApiSession,
    DataApiTarget,
    PsycopgSession,
    WarehouseConnection,
    WarehouseStatementError,
    data_api_parameters,
    fetch_secret,
    inline_parameters,
    redshift_connector_arguments,
    sql_literal,
)
from redshift.settings import RedshiftSettings

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)


@pytest.fixture
def finishing_statements(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """moto keeps Data API statements STARTED forever: finish them (the server runs in this process), with a
    result set for SELECTs, and fail those containing FAIL_ME. Returns the statements moto saw."""
    from moto.redshiftdata import models

    seen: list[dict[str, Any]] = []
    original = models.RedshiftDataAPIServiceBackend.execute_statement

    def execute_statement(self: Any, **kwargs: Any) -> Any:
        statement = original(self, **kwargs)
        seen.append(kwargs)
        statement.status = "FAILED" if "FAIL_ME" in kwargs["sql"] else "FINISHED"
        statement.has_result_set = kwargs["sql"].lstrip().upper().startswith("SELECT")
        if statement.status == "FAILED":
            statement.error = 'ERROR: relation "fail_me" does not exist'
        return statement

    monkeypatch.setattr(models.RedshiftDataAPIServiceBackend, "execute_statement", execute_statement)
    original_iter = models.Statement.__iter__

    def with_error(self: Any) -> Iterator[tuple[str, Any]]:
        yield from original_iter(self)
        if getattr(self, "error", None):
            yield "Error", self.error

    monkeypatch.setattr(models.Statement, "__iter__", with_error)
    return seen


def data_api_client(endpoint: str) -> Any:
    return boto3.client("redshift-data", region_name=REGION, endpoint_url=endpoint)


def captured_requests(client: Any) -> list[dict[str, Any]]:
    """The parameters of every ExecuteStatement call the client makes (moto does not keep WorkgroupName)."""
    requests: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        requests.append(dict(params))

    client.meta.events.register("provide-client-params.redshift-data.ExecuteStatement", capture)
    return requests


# ------------------------------------------------------------------------------------------------------------
# Data API against moto


@pytest.mark.usefixtures("aws_credentials")
def test_data_api_execute_and_fetch_on_a_serverless_workgroup(
    moto_endpoint: str, finishing_statements: list[dict[str, Any]]
) -> None:
    client = data_api_client(moto_endpoint)
    requests = captured_requests(client)
    session = DataApiSession(client, DataApiTarget(database="dev", workgroup="retail-wg"), poll_seconds=0.01)

    session.execute("CREATE TABLE staging.t (a INT)")
    rows = session.fetchall("SELECT a, b, c FROM staging.t WHERE a = %(a)s AND b = %(b)s", {"a": 10, "b": "x"})

    # moto's canned result set, decoded from its typed fields
    assert rows == [(10, "Alpha st", "Vancouver"), (50, "Beta st", "Toronto"), (100, "Gamma av", "Seattle")]
    assert requests[0] == {"Sql": "CREATE TABLE staging.t (a INT)", "Database": "dev", "WorkgroupName": "retail-wg"}
    assert requests[1]["Sql"] == "SELECT a, b, c FROM staging.t WHERE a = :a AND b = :b"
    assert requests[1]["Parameters"] == [{"name": "a", "value": "10"}, {"name": "b", "value": "x"}]
    assert [seen["sql"] for seen in finishing_statements] == [requests[0]["Sql"], requests[1]["Sql"]]


@pytest.mark.usefixtures("aws_credentials")
def test_data_api_on_a_provisioned_cluster_sends_cluster_and_user(
    moto_endpoint: str, finishing_statements: list[dict[str, Any]]
) -> None:
    target = DataApiTarget(database="dev", cluster_identifier="retail-cluster", db_user="loader")
    DataApiSession(data_api_client(moto_endpoint), target, poll_seconds=0.01).execute("CALL staging.sp_load()")
    (seen,) = finishing_statements
    assert (seen["cluster_identifier"], seen["db_user"], seen["database"]) == ("retail-cluster", "loader", "dev")

    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift-abc"
    with_secret = DataApiTarget(database="dev", cluster_identifier="retail-cluster", db_user="x", secret_arn=secret)
    assert with_secret.request() == {"Database": "dev", "ClusterIdentifier": "retail-cluster", "SecretArn": secret}


@pytest.mark.usefixtures("aws_credentials")
def test_aws_refusals_are_one_line(moto_endpoint: str) -> None:
    session = DataApiSession(data_api_client(moto_endpoint), DataApiTarget("dev", workgroup="retail-wg"))
    with pytest.raises(WarehouseStatementError, match=r"^Data API describe_statement: ValidationException: id must"):
        session._wait("not-a-uuid", ["SELECT 1"])


@pytest.mark.usefixtures("aws_credentials", "finishing_statements")
def test_data_api_failure_is_one_line_with_the_database_message(moto_endpoint: str) -> None:
    session = DataApiSession(
        data_api_client(moto_endpoint), DataApiTarget("dev", workgroup="retail-wg"), poll_seconds=0.01
    )
    with pytest.raises(WarehouseStatementError, match=r'^ERROR: relation "fail_me" does not exist$'):
        session.execute("SELECT * FROM FAIL_ME")


@pytest.mark.usefixtures("aws_credentials")
def test_data_api_polls_until_finished(moto_endpoint: str) -> None:
    """Without the finishing patch moto leaves the statement STARTED: the session polls, then times out."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    session = DataApiSession(
        data_api_client(moto_endpoint),
        DataApiTarget("dev", workgroup="retail-wg"),
        poll_seconds=0.05,
        timeout_seconds=0.2,
        sleep=sleep,
    )
    with pytest.raises(WarehouseStatementError, match=r"still STARTED after 0s \(cancelled\)"):
        session.execute("SELECT 1")
    assert len(sleeps) >= 2 and set(sleeps) == {0.05}


class FakeDataApi:
    """A Data API client double for what moto does not implement (batch_execute_statement)."""

    def __init__(self, statuses: list[dict[str, Any]] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.statuses = statuses or [{"Status": "SUBMITTED"}, {"Status": "FINISHED"}]

    def batch_execute_statement(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("batch", kwargs))
        return {"Id": "batch-1"}

    def execute_statement(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("execute", kwargs))
        return {"Id": "one-1"}

    def describe_statement(self, Id: str) -> dict[str, Any]:
        self.calls.append(("describe", {"Id": Id}))
        return {"Id": Id, **(self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0])}


def test_data_api_transaction_is_one_batch_with_inlined_parameters() -> None:
    client = FakeDataApi()
    session = DataApiSession(client, DataApiTarget("dev", workgroup="retail-wg"), sleep=lambda _: None)
    with session.transaction():
        session.execute("INSERT INTO t VALUES (%(a)s, %(b)s, %(c)s)", {"a": 1, "b": "it's \\ here", "c": None})
        session.execute("UPDATE t SET d = TRUE")
        with pytest.raises(WarehouseStatementError, match="cannot read inside a transaction"):
            session.fetchall("SELECT 1")
    kind, request = client.calls[0]
    assert kind == "batch"
    assert request == {
        "Sqls": ["INSERT INTO t VALUES (1, 'it''s \\\\ here', NULL)", "UPDATE t SET d = TRUE"],
        "Database": "dev",
        "WorkgroupName": "retail-wg",
    }
    assert [kind for kind, _ in client.calls[1:]] == ["describe", "describe"]


def test_data_api_batch_failure_names_the_sub_statement() -> None:
    failed = {
        "Status": "FAILED",
        "Error": "batch failed",
        "SubStatements": [{"Status": "FINISHED"}, {"Status": "FAILED", "Error": 'column "x" does not exist'}],
    }
    session = DataApiSession(FakeDataApi([failed]), DataApiTarget("dev", workgroup="retail-wg"), sleep=lambda _: None)
    with pytest.raises(WarehouseStatementError) as caught, session.transaction():
        session.execute("SELECT 1")
        session.execute("UPDATE t SET x = 1")
    assert str(caught.value) == 'statement 2 of the batch (UPDATE t SET x = 1) failed: column "x" does not exist'


def test_data_api_transaction_that_raises_sends_nothing() -> None:
    client = FakeDataApi()
    session = DataApiSession(client, DataApiTarget("dev", workgroup="retail-wg"), sleep=lambda _: None)
    with pytest.raises(RuntimeError), session.transaction():
        session.execute("UPDATE t SET a = 1")
        raise RuntimeError("caller changed its mind")
    assert client.calls == []


def test_data_api_batch_limit() -> None:
    session = DataApiSession(FakeDataApi(), DataApiTarget("dev", workgroup="retail-wg"), sleep=lambda _: None)
    with pytest.raises(WarehouseStatementError, match="at most 40 statements, got 41"), session.transaction():
        for _ in range(41):
            session.execute("SELECT 1")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"database": "dev"}, "exactly one of REDSHIFT_WORKGROUP or REDSHIFT_CLUSTER_IDENTIFIER"),
        ({"database": "dev", "workgroup": "w", "cluster_identifier": "c"}, "exactly one of"),
        ({"database": "dev", "cluster_identifier": "c"}, "needs REDSHIFT_DB_USER or REDSHIFT_SECRET_ARN"),
    ],
)
def test_data_api_target_validation(target: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DataApiTarget(**target)


# ------------------------------------------------------------------------------------------------------------
# Parameters


def test_data_api_parameters_are_named_and_stringly_typed() -> None:
    sql, parameters = data_api_parameters(
        "SELECT '100%%' WHERE a = %(a)s AND b = %(b)s AND c = %(c)s AND d = %(d)s AND a2 = %(a)s",
        {"a": 5, "b": True, "c": None, "d": ""},
    )
    assert sql == "SELECT '100%' WHERE a = :a AND b = :b AND c = NULL AND d = '' AND a2 = :a"
    assert parameters == [{"name": "a", "value": "5"}, {"name": "b", "value": "true"}]
    assert data_api_parameters("SELECT '100%%'", None) == ("SELECT '100%%'", [])  # no params: sent as is


def test_missing_parameter_is_an_error() -> None:
    with pytest.raises(WarehouseStatementError, match=r"%\(nope\)s has no value"):
        data_api_parameters("SELECT %(nope)s", {})
    with pytest.raises(WarehouseStatementError, match=r"%\(nope\)s has no value"):
        inline_parameters("SELECT %(nope)s", {})


def test_sql_literals() -> None:
    from datetime import datetime
    from decimal import Decimal

    assert [sql_literal(v) for v in (None, True, 3, Decimal("1.50"), 0.5, "a'b\\c")] == [
        "NULL",
        "TRUE",
        "3",
        "1.50",
        "0.5",
        "'a''b\\\\c'",
    ]
    assert sql_literal(datetime(2026, 11, 22, 5, 6, 7)) == "'2026-11-22 05:06:07'"


# ------------------------------------------------------------------------------------------------------------
# redshift-connector arguments and Secrets Manager


def test_password_login_from_the_dsn() -> None:
    arguments = redshift_connector_arguments(
        RedshiftSettings(dialect="redshift"), "postgresql://loader:s3cret@cluster.example:5439/analytics"
    )
    assert arguments == {
        "host": "cluster.example",
        "port": 5439,
        "database": "analytics",
        "user": "loader",
        "password": "s3cret",
    }


def test_iam_login_serverless_and_provisioned() -> None:
    serverless = RedshiftSettings(dialect="redshift", iam=True, workgroup="retail-wg", region="eu-west-1")
    assert redshift_connector_arguments(serverless, None) == {
        "port": 5439,
        "database": "dev",
        "iam": True,
        "region": "eu-west-1",
        "is_serverless": True,
        "serverless_work_group": "retail-wg",
    }
    provisioned = RedshiftSettings(dialect="redshift", iam=True, cluster_identifier="c1", db_user="loader")
    arguments = redshift_connector_arguments(provisioned, "host=c1.example dbname=dev")
    assert arguments["cluster_identifier"] == "c1" and arguments["db_user"] == "loader" and arguments["iam"]
    assert "password" not in arguments
    with pytest.raises(ConfigError, match="REDSHIFT_IAM needs REDSHIFT_WORKGROUP or REDSHIFT_CLUSTER_IDENTIFIER"):
        redshift_connector_arguments(RedshiftSettings(dialect="redshift", iam=True), "host=h")


def test_password_login_needs_user_and_password() -> None:
    with pytest.raises(ConfigError, match="needs user and password"):
        redshift_connector_arguments(RedshiftSettings(dialect="redshift"), "postgresql://loader@h:5439/dev")
    with pytest.raises(ConfigError, match="no Redshift configured: set WAREHOUSE_DSN"):
        redshift_connector_arguments(RedshiftSettings(dialect="redshift", db_user="u", password=SecretStr("p")), None)
    iam_without_host = RedshiftSettings(dialect="redshift", iam=True, cluster_identifier="c1", db_user="u")
    with pytest.raises(ConfigError, match="no Redshift host: put it in WAREHOUSE_DSN or set REDSHIFT_HOST"):
        redshift_connector_arguments(iam_without_host, None)


@pytest.mark.usefixtures("aws_credentials")
def test_secret_from_secrets_manager(moto_endpoint: str) -> None:
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_endpoint)
    value = {"username": "loader", "password": "pa55", "host": "c1.example", "port": 5439, "dbname": "retail"}
    arn = client.create_secret(Name="redshift-loader", SecretString=json.dumps(value))["ARN"]

    credentials = fetch_secret(arn, client)
    assert credentials.username == "loader" and credentials.password.get_secret_value() == "pa55"
    assert "pa55" not in repr(credentials)

    settings = RedshiftSettings(dialect="redshift", secret_arn=arn)
    arguments = redshift_connector_arguments(settings, None, lambda name: fetch_secret(name, client))
    assert arguments == {"host": "c1.example", "port": 5439, "database": "retail", "user": "loader", "password": "pa55"}

    bad = client.create_secret(Name="not-json", SecretString="pa55")["ARN"]
    with pytest.raises(ConfigError) as caught:
        fetch_secret(bad, client)
    assert "pa55" not in str(caught.value) and "(value not shown)" in str(caught.value)
    with pytest.raises(ServiceUnavailableError, match="cannot read secret"):
        fetch_secret(arn.replace("redshift-loader", "missing"), client)


# ------------------------------------------------------------------------------------------------------------
# Settings and the factory


def connection(dsn: str | None = None, **redshift: Any) -> WarehouseConnection:
    return WarehouseConnection(
        WarehouseSettings(dsn=dsn) if dsn else WarehouseSettings(),
        RedshiftSettings(**redshift),
        AwsSettings(),
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("REDSHIFT_", "WAREHOUSE_")):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_factory_picks_the_connector() -> None:
    assert connection("postgresql://u:p@h/db").connector == "psycopg"
    assert connection("postgresql://u:p@h/db", dialect="redshift").connector == "redshift-connector"
    assert connection(dialect="redshift", workgroup="retail-wg").connector == "data-api"
    assert connection("postgresql://u:p@h/db", dialect="redshift", cluster_identifier="c", db_user="u").connector == (
        "data-api"
    )
    assert connection(dialect="redshift", workgroup="retail-wg", iam=True).connector == "redshift-connector"
    assert connection("postgresql://u:p@h/db", dialect="redshift", connector="data-api").connector == "data-api"


@pytest.mark.usefixtures("clean_env", "aws_credentials")
def test_data_api_factory_opens_data_api_sessions() -> None:
    target = connection(dialect="redshift", workgroup="retail-wg", database="analytics")
    session = target.session_factory()()
    assert isinstance(session, DataApiSession)
    assert session.target.request() == {"Database": "analytics", "WorkgroupName": "retail-wg"}
    assert target.describe() == "Redshift Data API (retail-wg/analytics)"


@pytest.mark.usefixtures("clean_env")
def test_describe_never_shows_the_password() -> None:
    assert connection("postgresql://u:s3cret@h:5432/db").describe() == "psycopg postgresql://u:***@h:5432/db"


@pytest.mark.usefixtures("clean_env")
def test_psycopg_factory_needs_a_dsn() -> None:
    with pytest.raises(ConfigError, match="no warehouse configured: set WAREHOUSE_DSN"):
        connection().session_factory()


def test_unreachable_postgres_is_one_error_without_the_password() -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        PsycopgSession.connect("postgresql://u:s3cret@127.0.0.1:9/db", attempts=2, connect_timeout=1)
    message = str(caught.value)
    assert message.startswith("warehouse at postgresql://u:***@127.0.0.1:9/db unreachable after 2 attempts")
    assert "s3cret" not in message


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workgroup": "w", "cluster_identifier": "c"}, "either REDSHIFT_WORKGROUP"),
        ({"iam_role_arn": "role/x"}, "expected an ARN"),
        ({"dialect": "oracle"}, "Input should be 'redshift' or 'postgres'"),
    ],
)
def test_settings_validation(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedshiftSettings(**values)


@pytest.mark.usefixtures("clean_env")
def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDSHIFT_DIALECT", "redshift")
    monkeypatch.setenv("REDSHIFT_WORKGROUP", "wg")
    monkeypatch.setenv("REDSHIFT_PROCEDURES", "staging.sp_a, analytics.sp_b,")
    settings = RedshiftSettings()
    assert settings.dialect == "redshift" and settings.workgroup == "wg"
    assert settings.procedure_names() == ("staging.sp_a", "analytics.sp_b")
    assert RedshiftSettings(procedures=" ").procedure_names() is None


class FakeRedshiftCursor:
    def __init__(self, log: list[object], fail: bool) -> None:
        self.log, self.fail, self.paramstyle, self.description = log, fail, "format", None

    def execute(self, sql: str, params: object) -> None:
        from redshift_connector.error import ProgrammingError

        self.log.append((self.paramstyle, sql, params))
        if self.fail:
            raise ProgrammingError({"S": "ERROR", "M": 'relation "nope" does not exist'})
        self.description = [("a",)] if sql.startswith("SELECT") else None

    def fetchall(self) -> list[list[object]]:
        return [[1, "x"], [2, "y"]]

    def close(self) -> None:
        self.log.append("close")


class FakeRedshiftConnection:
    def __init__(self, fail: bool = False) -> None:
        self.log: list[object] = []
        self.fail = fail
        self._autocommit = False

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.log.append(("autocommit", value))
        self._autocommit = value

    def cursor(self) -> FakeRedshiftCursor:
        return FakeRedshiftCursor(self.log, self.fail)

    def commit(self) -> None:
        self.log.append("commit")

    def rollback(self) -> None:
        self.log.append("rollback")


def test_redshift_connector_session_autocommits_except_in_transactions() -> None:
    from redshift.connections import RedshiftConnectorSession

    connection = FakeRedshiftConnection()
    session = RedshiftConnectorSession(connection)
    assert session.fetchall("SELECT a, b FROM t WHERE a = %(a)s", {"a": 1}) == [(1, "x"), (2, "y")]
    with session.transaction():
        session.execute("UPDATE t SET a = 2")
    with pytest.raises(RuntimeError), session.transaction():
        raise RuntimeError("boom")
    assert connection.log == [
        ("autocommit", True),
        ("pyformat", "SELECT a, b FROM t WHERE a = %(a)s", {"a": 1}),
        "close",
        ("autocommit", False),
        ("pyformat", "UPDATE t SET a = 2", None),
        "close",
        "commit",
        ("autocommit", True),
        ("autocommit", False),
        "rollback",
        ("autocommit", True),
    ]


def test_redshift_connector_errors_become_statement_errors() -> None:
    from redshift.connections import RedshiftConnectorSession

    session = RedshiftConnectorSession(FakeRedshiftConnection(fail=True))
    with pytest.raises(WarehouseStatementError, match=r'^relation "nope" does not exist$'):
        session.execute("SELECT * FROM nope")
