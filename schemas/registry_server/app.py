"""Starlette routes speaking the Confluent Schema Registry REST subset used by confluent-kafka's client.

HTTP concerns only (paths, query flags, bodies, status codes); the rules live in `registry.Registry`. Every
response is `application/vnd.schemaregistry.v1+json`; every error is `{"error_code": ..., "message": ...}`.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.errors import SchemaError
from common.logging import get_logger
from schemas.compatibility import CompatibilityLevel, parse_level
from schemas.registry_server import errors
from schemas.registry_server.registry import CompatibilityReport, Registry, parse_version
from schemas.registry_server.store import SchemaRow, VersionRow

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

log = get_logger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


class RegistryResponse(JSONResponse):
    media_type = CONTENT_TYPE


def error_response(http_status: int, error_code: int, message: str) -> Response:
    return RegistryResponse({"error_code": error_code, "message": message}, status_code=http_status)


def _endpoint(handler: Endpoint) -> Endpoint:
    """Turn RegistryError into Confluent's JSON error and anything unexpected into a 500 without traceback."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except errors.RegistryError as err:
            log.debug(
                "registry.request_refused",
                method=request.method,
                path=request.url.path,
                status=err.http_status,
                error_code=err.error_code,
            )
            return error_response(err.http_status, err.error_code, err.message)
        except Exception:  # the client gets a 500 body, never a traceback
            logging.getLogger(__name__).exception(
                "registry.unexpected_error method=%s path=%s", request.method, request.url.path
            )
            return error_response(500, errors.STORE_ERROR, "Internal error in the schema registry")

    return wrapper


# ------------------------------------------------------------------------------------------ request helpers


def _flag(request: Request, name: str) -> bool:
    """Query booleans as the client sends them: `true`, `True`, `false`, `False`."""
    return request.query_params.get(name, "false").strip().lower() == "true"


def _int_param(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


def _page(request: Request, items: list[Any]) -> list[Any]:
    offset = max(_int_param(request, "offset", 0), 0)
    limit = _int_param(request, "limit", -1)
    return items[offset:] if limit < 0 else items[offset : offset + limit]


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as err:
        raise errors.RegistryError(400, 400, f"Malformed JSON in request body: {err}") from None
    if not isinstance(body, dict):
        raise errors.RegistryError(422, 422, "Request body must be a JSON object")
    return body


async def _schema_body(request: Request) -> tuple[str, str]:
    """(schema text, schema type) from a register / lookup / compatibility request body."""
    body = await _json_body(request)
    schema = body.get("schema")
    if not isinstance(schema, str) or not schema.strip():
        raise errors.invalid_schema('Empty schema: the request needs a non-empty "schema" string')
    schema_type = body.get("schemaType") or "AVRO"
    if not isinstance(schema_type, str):
        raise errors.invalid_schema('"schemaType" must be a string')
    if body.get("references"):
        raise errors.invalid_schema("Schema references are not supported by this registry")
    return schema, schema_type


def _schema_id(request: Request) -> int:
    try:
        return int(request.path_params["id"])
    except ValueError:
        # Confluent (JAX-RS) answers a non-integer id path segment as an unknown path.
        raise errors.RegistryError(404, 404, "HTTP 404 Not Found") from None


def _version_body(row: VersionRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": row.subject,
        "version": row.version,
        "id": row.schema_id,
        "guid": row.guid,
        "schema": row.schema_text,
    }
    if row.schema_type != "AVRO":
        body["schemaType"] = row.schema_type
    return body


def _schema_row_body(row: SchemaRow) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": row.schema_text, "id": row.id, "guid": row.guid}
    if row.schema_type != "AVRO":
        body["schemaType"] = row.schema_type
    return body


def _level_from_body(body: dict[str, Any]) -> Any:
    return body.get("compatibility", body.get("compatibilityLevel"))


# ------------------------------------------------------------------------------------------------ routes


class _Api:
    """One method per route; `registry` calls block, so they run in Starlette's thread pool."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def root(self, request: Request) -> Response:
        return RegistryResponse({})

    async def schema_types(self, request: Request) -> Response:
        return RegistryResponse(["AVRO"])

    async def get_schema(self, request: Request) -> Response:
        row: SchemaRow = await _call(self.registry.schema_by_id, _schema_id(request))
        return RegistryResponse(_schema_row_body(row))

    async def get_schema_by_guid(self, request: Request) -> Response:
        row: SchemaRow = await _call(self.registry.schema_by_guid, request.path_params["guid"])
        return RegistryResponse(_schema_row_body(row))

    async def get_schema_subjects(self, request: Request) -> Response:
        rows: list[VersionRow] = await _call(
            self.registry.versions_of_schema,
            _schema_id(request),
            request.query_params.get("subject"),
            deleted=_flag(request, "deleted"),
        )
        return RegistryResponse(_page(request, sorted({row.subject for row in rows})))

    async def get_schema_versions(self, request: Request) -> Response:
        rows: list[VersionRow] = await _call(
            self.registry.versions_of_schema,
            _schema_id(request),
            request.query_params.get("subject"),
            deleted=_flag(request, "deleted"),
        )
        pairs = [{"subject": row.subject, "version": row.version} for row in rows]
        return RegistryResponse(_page(request, pairs))

    async def list_subjects(self, request: Request) -> Response:
        names: list[str] = await _call(
            self.registry.subjects,
            request.query_params.get("subjectPrefix"),
            deleted=_flag(request, "deleted"),
            deleted_only=_flag(request, "deleted_only") or _flag(request, "deletedOnly"),
        )
        return RegistryResponse(_page(request, names))

    async def lookup(self, request: Request) -> Response:
        schema, schema_type = await _schema_body(request)
        row: VersionRow = await _call(
            self.registry.lookup,
            request.path_params["subject"],
            schema,
            schema_type,
            deleted=_flag(request, "deleted"),
        )
        return RegistryResponse(_version_body(row))

    async def delete_subject(self, request: Request) -> Response:
        versions: list[int] = await _call(
            self.registry.delete_subject,
            request.path_params["subject"],
            permanent=_flag(request, "permanent"),
        )
        return RegistryResponse(versions)

    async def list_versions(self, request: Request) -> Response:
        versions: list[int] = await _call(
            self.registry.versions,
            request.path_params["subject"],
            deleted=_flag(request, "deleted"),
            deleted_only=_flag(request, "deleted_only") or _flag(request, "deletedOnly"),
        )
        return RegistryResponse(_page(request, versions))

    async def register(self, request: Request) -> Response:
        schema, schema_type = await _schema_body(request)
        row: VersionRow = await _call(self.registry.register, request.path_params["subject"], schema, schema_type)
        return RegistryResponse(_version_body(row))

    async def get_version(self, request: Request) -> Response:
        version = parse_version(request.path_params["version"])
        row: VersionRow = await _call(
            self.registry.get_version,
            request.path_params["subject"],
            version,
            deleted=_flag(request, "deleted"),
        )
        return RegistryResponse(_version_body(row))

    async def delete_version(self, request: Request) -> Response:
        version = parse_version(request.path_params["version"])
        deleted: int = await _call(
            self.registry.delete_version,
            request.path_params["subject"],
            version,
            permanent=_flag(request, "permanent"),
        )
        return RegistryResponse(deleted)

    async def test_version(self, request: Request) -> Response:
        version = parse_version(request.path_params["version"])
        schema, schema_type = await _schema_body(request)
        return await _compatibility_response(
            request,
            self.registry.test_compatibility,
            request.path_params["subject"],
            schema,
            schema_type,
            version,
        )

    async def test_all(self, request: Request) -> Response:
        schema, schema_type = await _schema_body(request)
        return await _compatibility_response(
            request, self.registry.test_compatibility_all, request.path_params["subject"], schema, schema_type
        )

    async def get_global_config(self, request: Request) -> Response:
        level = await _call(self.registry.global_level)
        return RegistryResponse({"compatibilityLevel": str(level)})

    async def put_global_config(self, request: Request) -> Response:
        level = _parse_level(_level_from_body(await _json_body(request)))
        await _call(self.registry.set_global_level, level)
        return RegistryResponse({"compatibility": str(level)})

    async def delete_global_config(self, request: Request) -> Response:
        previous = await _call(self.registry.reset_global_level)
        return RegistryResponse({"compatibilityLevel": str(previous)})

    async def get_subject_config(self, request: Request) -> Response:
        level = await _call(
            self.registry.subject_level,
            request.path_params["subject"],
            default_to_global=_flag(request, "defaultToGlobal"),
        )
        return RegistryResponse({"compatibilityLevel": str(level)})

    async def put_subject_config(self, request: Request) -> Response:
        level = _parse_level(_level_from_body(await _json_body(request)))
        await _call(self.registry.set_subject_level, request.path_params["subject"], level)
        return RegistryResponse({"compatibility": str(level)})

    async def delete_subject_config(self, request: Request) -> Response:
        previous = await _call(self.registry.delete_subject_level, request.path_params["subject"])
        return RegistryResponse({"compatibilityLevel": str(previous)})


async def _compatibility_response(request: Request, check: Callable[..., Any], *args: Any) -> Response:
    """`{"is_compatible": ...}` plus `messages` when verbose; verbose also reports an invalid schema there."""
    verbose = _flag(request, "verbose")
    try:
        report: CompatibilityReport = await _call(check, *args)
    except errors.RegistryError as err:
        if verbose and err.error_code == errors.INVALID_SCHEMA:
            return RegistryResponse({"is_compatible": False, "messages": [err.message]})
        raise
    body: dict[str, Any] = {"is_compatible": report.is_compatible}
    if verbose:
        body["messages"] = report.messages()
    return RegistryResponse(body)


async def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await run_in_threadpool(function, *args, **kwargs)


def create_app(registry: Registry) -> Starlette:
    """The ASGI app serving `registry`."""
    api = _Api(registry)
    routes = [
        Route("/", _endpoint(api.root), methods=["GET"]),
        Route("/schemas/types", _endpoint(api.schema_types), methods=["GET"]),
        Route("/schemas/ids/{id}", _endpoint(api.get_schema), methods=["GET"]),
        Route("/schemas/ids/{id}/subjects", _endpoint(api.get_schema_subjects), methods=["GET"]),
        Route("/schemas/ids/{id}/versions", _endpoint(api.get_schema_versions), methods=["GET"]),
        Route("/schemas/guids/{guid}", _endpoint(api.get_schema_by_guid), methods=["GET"]),
        Route("/subjects", _endpoint(api.list_subjects), methods=["GET"]),
        Route("/subjects/{subject}", _endpoint(api.lookup), methods=["POST"]),
        Route("/subjects/{subject}", _endpoint(api.delete_subject), methods=["DELETE"]),
        Route("/subjects/{subject}/versions", _endpoint(api.list_versions), methods=["GET"]),
        Route("/subjects/{subject}/versions", _endpoint(api.register), methods=["POST"]),
        Route("/subjects/{subject}/versions/{version}", _endpoint(api.get_version), methods=["GET"]),
        Route("/subjects/{subject}/versions/{version}", _endpoint(api.delete_version), methods=["DELETE"]),
        Route("/compatibility/subjects/{subject}/versions", _endpoint(api.test_all), methods=["POST"]),
        Route(
            "/compatibility/subjects/{subject}/versions/{version}",
            _endpoint(api.test_version),
            methods=["POST"],
        ),
        Route("/config", _endpoint(api.get_global_config), methods=["GET"]),
        Route("/config", _endpoint(api.put_global_config), methods=["PUT"]),
        Route("/config", _endpoint(api.delete_global_config), methods=["DELETE"]),
        Route("/config/{subject}", _endpoint(api.get_subject_config), methods=["GET"]),
        Route("/config/{subject}", _endpoint(api.put_subject_config), methods=["PUT"]),
        Route("/config/{subject}", _endpoint(api.delete_subject_config), methods=["DELETE"]),
    ]

    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown path (404) or method (405), in Confluent's JSON error form: `HTTP 404 Not Found`."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    response = error_response(status, status, f"HTTP {status} {phrase}")
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


def _parse_level(value: object) -> CompatibilityLevel:
    try:
        return parse_level(value)
    except SchemaError:
        raise errors.invalid_compatibility_level(
            "Invalid compatibility level. Valid values are none, backward, forward, full, "
            "backward_transitive, forward_transitive, and full_transitive"
        ) from None
