"""Registry rules on top of the store: registration, lookup, soft/permanent deletes, config, compatibility.

Mirrors Confluent Schema Registry: a schema already live under a subject keeps its id and version; the same
schema under another subject reuses its global id; a new version is checked against the subject's live
versions at the effective compatibility level (subject config, else global config, else the server default);
soft-deleted versions are invisible unless asked for, and a permanent delete needs a soft delete first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from common.errors import SchemaError
from common.logging import get_logger
from schemas.compatibility import CompatibilityLevel, Incompatibility, canonical, check, parse_schema
from schemas.registry_server import errors
from schemas.registry_server.store import SchemaRow, Store, Transaction, VersionRow

log = get_logger(__name__)

SUPPORTED_SCHEMA_TYPES = ("AVRO",)
_MAX_VERSION = 2**31 - 1


def parse_version(text: str) -> int | None:
    """A version path segment: a positive int, or None for "latest" / -1. Raises 42202 otherwise."""
    value = text.strip()
    if value.lower() == "latest":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.invalid_version(text) from None
    if number == -1:
        return None
    if 1 <= number <= _MAX_VERSION:
        return number
    raise errors.invalid_version(text)


@dataclass(frozen=True)
class CompatibilityReport:
    level: CompatibilityLevel
    problems: list[Incompatibility]

    @property
    def is_compatible(self) -> bool:
        return not self.problems

    def messages(self) -> list[str]:
        if not self.problems:
            return []
        lines = [problem.describe() for problem in self.problems]
        version = self.problems[0].against_version
        if version is not None:
            lines.append(f"{{oldSchemaVersion: {version}}}")
        lines.append(f"{{compatibility: '{self.level}'}}")
        return lines


@dataclass(frozen=True)
class _Candidate:
    schema_type: str
    canonical: str
    stored_text: str
    text: str


class Registry:
    def __init__(self, store: Store, default_level: CompatibilityLevel = CompatibilityLevel.BACKWARD) -> None:
        self._store = store
        self._default_level = default_level

    # --------------------------------------------------------------------------------------- schemas
    def register(self, subject: str, schema_text: str, schema_type: str = "AVRO") -> VersionRow:
        candidate = _prepare(schema_text, schema_type, new=True)
        with self._store.write() as tx:
            versions = tx.versions(subject)
            existing = tx.schema_by_canonical(candidate.schema_type, candidate.canonical)
            if existing is not None:
                for row in versions:
                    if row.schema_id == existing.id and not row.deleted:
                        return row
            live = [row for row in versions if not row.deleted]
            level = self._effective_level(tx, subject)
            problems = check(candidate.text, [(row.version, row.schema_text) for row in live], level)
            if problems:
                report = CompatibilityReport(level, problems)
                log.info(
                    "registry.schema_rejected",
                    subject=subject,
                    level=str(level),
                    fields=",".join(sorted({problem.field for problem in problems})),
                )
                raise errors.incompatible_schema(subject, report.messages())
            schema = existing or tx.insert_schema(candidate.schema_type, candidate.canonical, candidate.stored_text)
            new_version = max((row.version for row in versions), default=0) + 1
            for row in versions:
                if row.deleted and row.schema_id == schema.id:
                    tx.hard_delete_version(subject, row.version)
            tx.insert_version(subject, new_version, schema.id)
        log.info("registry.schema_registered", subject=subject, version=new_version, id=schema.id)
        return VersionRow(subject, new_version, schema.id, False, schema.schema_type, schema.schema_text, schema.guid)

    def lookup(self, subject: str, schema_text: str, schema_type: str, *, deleted: bool) -> VersionRow:
        candidate = _prepare(schema_text, schema_type, new=False)
        with self._store.read() as tx:
            visible = _visible(tx.versions(subject), deleted=deleted)
            if not visible:
                raise errors.subject_not_found(subject)
            schema = tx.schema_by_canonical(candidate.schema_type, candidate.canonical)
            matches = [row for row in visible if schema is not None and row.schema_id == schema.id]
        if not matches:
            raise errors.schema_not_found()
        live = [row for row in matches if not row.deleted]
        return (live or matches)[-1]

    def schema_by_id(self, schema_id: int) -> SchemaRow:
        with self._store.read() as tx:
            schema = tx.schema_by_id(schema_id)
            if schema is None or not tx.versions_of_schema(schema_id):
                raise errors.schema_not_found(schema_id)
            return schema

    def schema_by_guid(self, guid: str) -> SchemaRow:
        with self._store.read() as tx:
            schema = tx.schema_by_guid(guid)
            if schema is None or not tx.versions_of_schema(schema.id):
                raise errors.schema_not_found()
            return schema

    def versions_of_schema(self, schema_id: int, subject: str | None, *, deleted: bool) -> list[VersionRow]:
        with self._store.read() as tx:
            rows = tx.versions_of_schema(schema_id)
        if not rows:
            raise errors.schema_not_found(schema_id)
        return [row for row in _visible(rows, deleted=deleted) if subject is None or row.subject == subject]

    # -------------------------------------------------------------------------------------- subjects
    def subjects(self, prefix: str | None, *, deleted: bool, deleted_only: bool) -> list[str]:
        with self._store.read() as tx:
            if deleted_only:
                names = sorted(tx.subjects_with_deleted_versions())
            else:
                names = [name for name, live in tx.subjects() if live or deleted]
        if prefix and prefix != ":*:":
            names = [name for name in names if name.startswith(prefix)]
        return names

    def versions(self, subject: str, *, deleted: bool, deleted_only: bool) -> list[int]:
        with self._store.read() as tx:
            rows = tx.versions(subject)
        if deleted_only:
            if not rows:
                raise errors.subject_not_found(subject)
            return [row.version for row in rows if row.deleted]
        visible = _visible(rows, deleted=deleted)
        if not visible:
            raise errors.subject_not_found(subject)
        return [row.version for row in visible]

    def get_version(self, subject: str, version: int | None, *, deleted: bool) -> VersionRow:
        with self._store.read() as tx:
            visible = _visible(tx.versions(subject), deleted=deleted)
        if not visible:
            raise errors.subject_not_found(subject)
        if version is None:
            return visible[-1]
        for row in visible:
            if row.version == version:
                return row
        raise errors.version_not_found(version)

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        with self._store.write() as tx:
            rows = tx.versions(subject)
            if not rows:
                raise errors.subject_not_found(subject)
            live = [row for row in rows if not row.deleted]
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                for row in rows:
                    tx.hard_delete_version(subject, row.version)
                deleted = [row.version for row in rows]
            else:
                if not live:
                    raise errors.subject_soft_deleted(subject)
                for row in live:
                    tx.soft_delete_version(subject, row.version)
                deleted = [row.version for row in live]
            tx.set_subject_compatibility(subject, None)
        log.info("registry.subject_deleted", subject=subject, permanent=permanent, versions=len(deleted))
        return deleted

    def delete_version(self, subject: str, version: int | None, *, permanent: bool) -> int:
        with self._store.write() as tx:
            rows = tx.versions(subject)
            if not rows:
                raise errors.subject_not_found(subject)
            if version is None:
                candidates = rows if permanent else [row for row in rows if not row.deleted]
                if not candidates:
                    raise errors.subject_not_found(subject)
                target = candidates[-1]
            else:
                found = [row for row in rows if row.version == version]
                if not found:
                    raise errors.version_not_found(version)
                target = found[0]
            if permanent:
                if not target.deleted:
                    raise errors.version_not_soft_deleted(subject, target.version)
                tx.hard_delete_version(subject, target.version)
            else:
                if target.deleted:
                    raise errors.version_soft_deleted(subject, target.version)
                tx.soft_delete_version(subject, target.version)
        log.info("registry.version_deleted", subject=subject, version=target.version, permanent=permanent)
        return target.version

    # ---------------------------------------------------------------------------------- compatibility
    def test_compatibility(
        self, subject: str, schema_text: str, schema_type: str, version: int | None
    ) -> CompatibilityReport:
        """Against one version (None = latest live one); a subject without versions accepts anything."""
        candidate = _prepare(schema_text, schema_type, new=True)
        with self._store.read() as tx:
            level = self._effective_level(tx, subject)
            live = _visible(tx.versions(subject), deleted=False)
        if version is None:
            against = live[-1:]
        else:
            against = [row for row in live if row.version == version]
            if not against:
                raise errors.version_not_found(version)  # Confluent says 40402 even for unknown subjects
        problems = check(candidate.text, [(row.version, row.schema_text) for row in against], level)
        return CompatibilityReport(level, problems)

    def test_compatibility_all(self, subject: str, schema_text: str, schema_type: str) -> CompatibilityReport:
        """Exactly the check a registration would run (latest or all versions, as the level says)."""
        candidate = _prepare(schema_text, schema_type, new=True)
        with self._store.read() as tx:
            level = self._effective_level(tx, subject)
            live = _visible(tx.versions(subject), deleted=False)
        problems = check(candidate.text, [(row.version, row.schema_text) for row in live], level)
        return CompatibilityReport(level, problems)

    # ----------------------------------------------------------------------------------------- config
    def global_level(self) -> CompatibilityLevel:
        with self._store.read() as tx:
            return self._global_level(tx)

    def set_global_level(self, level: CompatibilityLevel) -> None:
        with self._store.write() as tx:
            tx.set_global_compatibility(str(level))
        log.info("registry.config_set", scope="global", compatibility=str(level))

    def reset_global_level(self) -> CompatibilityLevel:
        """Forget the stored global level (back to the server default); return the level it had."""
        with self._store.write() as tx:
            previous = self._global_level(tx)
            tx.set_global_compatibility(None)
        log.info("registry.config_deleted", scope="global")
        return previous

    def subject_level(self, subject: str, *, default_to_global: bool) -> CompatibilityLevel:
        with self._store.read() as tx:
            stored = tx.subject_compatibility(subject)
            if stored is not None:
                return CompatibilityLevel(stored)
            if default_to_global:
                return self._global_level(tx)
        raise errors.compatibility_not_configured(subject)

    def set_subject_level(self, subject: str, level: CompatibilityLevel) -> None:
        with self._store.write() as tx:
            tx.set_subject_compatibility(subject, str(level))
        log.info("registry.config_set", scope=subject, compatibility=str(level))

    def delete_subject_level(self, subject: str) -> CompatibilityLevel:
        with self._store.write() as tx:
            stored = tx.subject_compatibility(subject)
            if stored is None:
                raise errors.subject_not_found(subject)
            tx.set_subject_compatibility(subject, None)
        log.info("registry.config_deleted", scope=subject)
        return CompatibilityLevel(stored)

    def _global_level(self, tx: Transaction) -> CompatibilityLevel:
        stored = tx.global_compatibility()
        return CompatibilityLevel(stored) if stored else self._default_level

    def _effective_level(self, tx: Transaction, subject: str) -> CompatibilityLevel:
        stored = tx.subject_compatibility(subject)
        return CompatibilityLevel(stored) if stored else self._global_level(tx)


def _visible(rows: list[VersionRow], *, deleted: bool) -> list[VersionRow]:
    return rows if deleted else [row for row in rows if not row.deleted]


def _prepare(schema_text: str, schema_type: str, *, new: bool) -> _Candidate:
    kind = schema_type.strip().upper()
    if kind not in SUPPORTED_SCHEMA_TYPES:
        raise errors.invalid_schema(f"Schema type {schema_type} is not supported by this registry (supported: AVRO)")
    try:
        parse_schema(schema_text, validate_defaults=new)
        normal = canonical(schema_text)
    except SchemaError as err:
        raise errors.invalid_schema(str(err)) from None
    stored = json.dumps(json.loads(schema_text), separators=(",", ":"), ensure_ascii=False)
    return _Candidate(kind, normal, stored, schema_text)
