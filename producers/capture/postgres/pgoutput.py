"""Parser for PostgreSQL's `pgoutput` logical replication messages (protocol version 1).

Pure functions over bytes, following "Logical Replication Message Formats" in the PostgreSQL manual. Tuple values
arrive in text format; `UNCHANGED` marks an unchanged TOASTed value that the server did not send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

POSTGRES_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


class _Unchanged:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()
TupleValue = str | None | _Unchanged
TupleData = tuple[TupleValue, ...]


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int  # Unix epoch microseconds
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class RelationColumn:
    name: str
    type_oid: int
    type_modifier: int
    is_key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    relation_id: int
    namespace: str
    name: str
    replica_identity: str  # d default, n nothing, f full, i index
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True, slots=True)
class Insert:
    relation_id: int
    new: TupleData


@dataclass(frozen=True, slots=True)
class Update:
    relation_id: int
    old: TupleData | None  # full old row (REPLICA IDENTITY FULL) or old key ('K'), None when not sent
    old_is_key_only: bool
    new: TupleData


@dataclass(frozen=True, slots=True)
class Delete:
    relation_id: int
    old: TupleData
    old_is_key_only: bool


@dataclass(frozen=True, slots=True)
class Truncate:
    relation_ids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class Other:
    """Messages capture does not act on (Origin, Type, logical decoding Message)."""

    kind: str


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Other

_INT8 = struct.Struct(">q")
_UINT64 = struct.Struct(">Q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")
_BEGIN = struct.Struct(">QqI")
_COMMIT = struct.Struct(">bQQq")


class PgOutputError(ValueError):
    """A message that does not follow the pgoutput format."""


def _cstring(data: bytes, offset: int) -> tuple[str, int]:
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8"), end + 1


def _tuple(data: bytes, offset: int) -> tuple[TupleData, int]:
    # The hot loop of streaming capture: plain integer arithmetic on the buffer, no struct calls per value.
    count = (data[offset] << 8) | data[offset + 1]
    offset += 2
    values: list[TupleValue] = []
    append = values.append
    for _ in range(count):
        kind = data[offset]
        if kind == 0x74 or kind == 0x62:  # noqa: PLR1714 - 't' text, 'b' binary (not requested)
            start = offset + 5
            offset = start + int.from_bytes(data[offset + 1 : start], "big")
            append(data[start:offset].decode("utf-8"))
        elif kind == 0x6E:  # 'n' null
            append(None)
            offset += 1
        elif kind == 0x75:  # 'u' unchanged toast
            append(UNCHANGED)
            offset += 1
        else:
            raise PgOutputError(f"unknown tuple value kind {kind!r}")
    if offset > len(data):
        raise PgOutputError("tuple data runs past the end of the message")
    return tuple(values), offset


def parse_message(data: bytes) -> Message:  # noqa: PLR0911, PLR0912 - one branch per message type
    """Decode one pgoutput message."""
    if not data:
        raise PgOutputError("empty message")
    kind = data[0:1]
    try:
        if kind == b"B":
            final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
            return Begin(final_lsn, ts + POSTGRES_EPOCH_US, xid)
        if kind == b"C":
            _flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
            return Commit(commit_lsn, end_lsn, ts + POSTGRES_EPOCH_US)
        if kind == b"R":
            return _relation(data)
        if kind == b"I":
            (relation_id,) = _UINT32.unpack_from(data, 1)
            if data[5:6] != b"N":
                raise PgOutputError("insert without new tuple")
            new, _ = _tuple(data, 6)
            return Insert(relation_id, new)
        if kind == b"U":
            return _update(data)
        if kind == b"D":
            (relation_id,) = _UINT32.unpack_from(data, 1)
            marker = data[5:6]
            if marker not in (b"K", b"O"):
                raise PgOutputError(f"delete with unexpected tuple marker {marker!r}")
            old, _ = _tuple(data, 6)
            return Delete(relation_id, old, marker == b"K")
        if kind == b"T":
            (count,) = _INT32.unpack_from(data, 1)
            options = data[5]
            ids = tuple(_UINT32.unpack_from(data, 6 + 4 * i)[0] for i in range(count))
            return Truncate(ids, bool(options & 1), bool(options & 2))
        if kind in (b"O", b"Y", b"M"):
            return Other(kind.decode())
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, PgOutputError):
            raise
        raise PgOutputError(f"truncated or malformed {kind!r} message: {exc}") from None
    raise PgOutputError(f"unknown message type {kind!r}")


def _relation(data: bytes) -> Relation:
    (relation_id,) = _UINT32.unpack_from(data, 1)
    namespace, offset = _cstring(data, 5)
    name, offset = _cstring(data, offset)
    replica_identity = chr(data[offset])
    (count,) = _INT16.unpack_from(data, offset + 1)
    offset += 3
    columns = []
    for _ in range(count):
        flags = data[offset]
        column, offset = _cstring(data, offset + 1)
        (type_oid,) = _UINT32.unpack_from(data, offset)
        (modifier,) = _INT32.unpack_from(data, offset + 4)
        offset += 8
        columns.append(RelationColumn(column, type_oid, modifier, bool(flags & 1)))
    return Relation(relation_id, namespace or "pg_catalog", name, replica_identity, tuple(columns))


def _update(data: bytes) -> Update:
    (relation_id,) = _UINT32.unpack_from(data, 1)
    marker = data[5:6]
    offset = 6
    old: TupleData | None = None
    key_only = False
    if marker in (b"K", b"O"):
        old, offset = _tuple(data, offset)
        key_only = marker == b"K"
        marker = data[offset : offset + 1]
        offset += 1
    if marker != b"N":
        raise PgOutputError(f"update without new tuple (marker {marker!r})")
    new, _ = _tuple(data, offset)
    return Update(relation_id, old, key_only, new)


def format_lsn(lsn: int) -> str:
    """PostgreSQL's `XXXXXXXX/XXXXXXXX` spelling of an LSN."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """`16/B374D848` → integer LSN."""
    high, _, low = text.partition("/")
    if not low:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)
