"""One root error type; the CLI turns any of them into one clear line and a non-zero exit."""

from __future__ import annotations


class CdcError(Exception):
    """Root of every error the platform raises on purpose. Its message is shown to the user as is."""

    exit_code = 1


class ConfigError(CdcError):
    """A setting, flag or catalog entry is missing or invalid."""

    exit_code = 2


class StackError(CdcError):
    """The local stack could not be started, reached or stopped."""


class ServiceUnavailableError(CdcError):
    """A service (broker, registry, database) did not answer after retries."""


class SchemaError(CdcError):
    """An Avro schema is invalid or incompatible with what is registered."""
