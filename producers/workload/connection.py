"""Opening the source database: a few quick retries, then one clear error line with the password hidden."""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from common.errors import ConfigError, ServiceUnavailableError
from common.settings import redact_dsn

APPLICATION_NAME = "cdc-workload"
CONNECT_TIMEOUT_SECONDS = 5


def connect(dsn: str, *, attempts: int = 3) -> psycopg.Connection[TupleRow]:
    """An autocommit connection (transactions are explicit) with the session in UTC.

    A malformed DSN is a ConfigError; a database that does not answer or refuses the login after ``attempts``
    tries is a ServiceUnavailableError naming the redacted DSN.
    """

    @retry(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_fixed(0.5),
        retry=retry_if_exception_type(psycopg.OperationalError),
        reraise=True,
    )
    def _open() -> psycopg.Connection[TupleRow]:
        return psycopg.connect(
            dsn,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=APPLICATION_NAME,
            options="-c TimeZone=UTC",
        )

    try:
        return _open()
    except psycopg.ProgrammingError as exc:  # raised by libpq for an unparsable DSN
        raise ConfigError(f"invalid source database DSN {safe_dsn(dsn)}: {_first_line(exc, dsn)}") from None
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(
            f"cannot connect to the source database at {safe_dsn(dsn)}: {_first_line(exc, dsn)}"
        ) from None


def safe_dsn(dsn: str) -> str:
    """The DSN with its password hidden; a placeholder when it is too malformed to tell where the password is."""
    try:
        return redact_dsn(dsn)
    except ValueError:
        return "<unparsable DSN>"


def _first_line(exc: Exception, dsn: str) -> str:
    """The first line of a libpq error, with the DSN's password (if it shows up at all) hidden."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(dsn, safe_dsn(dsn))
