"""pgoutput messages built byte by byte from the protocol documentation, parsed back."""

from __future__ import annotations

import struct

import pytest

from producers.capture.postgres.pgoutput import (
    POSTGRES_EPOCH_US,
    UNCHANGED,
    Begin,
    Commit,
    Delete,
    Insert,
    Other,
    PgOutputError,
    Relation,
    Truncate,
    Update,
    format_lsn,
    parse_lsn,
    parse_message,
)


def _tuple(*values: str | object | None) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED:
            out += b"u"
        else:
            encoded = str(value).encode()
            out += b"t" + struct.pack(">i", len(encoded)) + encoded
    return out


def test_begin_and_commit() -> None:
    begin = parse_message(b"B" + struct.pack(">QqI", 0x16B374D848, 1_000_000, 777))
    assert begin == Begin(final_lsn=0x16B374D848, commit_ts_us=POSTGRES_EPOCH_US + 1_000_000, xid=777)
    commit = parse_message(b"C" + struct.pack(">bQQq", 0, 100, 150, 5))
    assert commit == Commit(commit_lsn=100, end_lsn=150, commit_ts_us=POSTGRES_EPOCH_US + 5)


def test_relation_with_key_flags_and_modifiers() -> None:
    body = struct.pack(">I", 16384) + b"public\0customer\0" + b"f" + struct.pack(">h", 2)
    body += b"\x01customer_id\0" + struct.pack(">Ii", 20, -1)
    body += b"\x00email\0" + struct.pack(">Ii", 1043, 324)
    relation = parse_message(b"R" + body)
    assert isinstance(relation, Relation)
    assert (relation.relation_id, relation.namespace, relation.name, relation.replica_identity) == (
        16384,
        "public",
        "customer",
        "f",
    )
    assert [(c.name, c.type_oid, c.type_modifier, c.is_key) for c in relation.columns] == [
        ("customer_id", 20, -1, True),
        ("email", 1043, 324, False),
    ]


def test_insert_update_delete_tuples() -> None:
    insert = parse_message(b"I" + struct.pack(">I", 7) + b"N" + _tuple("1", None, "héllo"))
    assert insert == Insert(7, ("1", None, "héllo"))
    update = parse_message(
        b"U" + struct.pack(">I", 7) + b"O" + _tuple("1", "a", "b") + b"N" + _tuple("1", UNCHANGED, "c")
    )
    assert update == Update(7, ("1", "a", "b"), False, ("1", UNCHANGED, "c"))
    key_update = parse_message(
        b"U" + struct.pack(">I", 7) + b"K" + _tuple("1", None, None) + b"N" + _tuple("2", "x", "y")
    )
    assert isinstance(key_update, Update) and key_update.old_is_key_only
    plain_update = parse_message(b"U" + struct.pack(">I", 7) + b"N" + _tuple("1", "x", "y"))
    assert plain_update == Update(7, None, False, ("1", "x", "y"))
    delete = parse_message(b"D" + struct.pack(">I", 7) + b"O" + _tuple("1", "a", "b"))
    assert delete == Delete(7, ("1", "a", "b"), False)


def test_truncate_and_other_messages() -> None:
    truncate = parse_message(b"T" + struct.pack(">iBII", 2, 3, 10, 11))
    assert truncate == Truncate((10, 11), cascade=True, restart_identity=True)
    assert parse_message(b"O" + struct.pack(">Q", 1) + b"origin\0") == Other("O")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty message"),
        (b"Z123", "unknown message type"),
        (b"B\x00\x01", "truncated or malformed"),
        (b"I" + struct.pack(">I", 7) + b"X", "insert without new tuple"),
        (b"I" + struct.pack(">I", 7) + b"N" + struct.pack(">h", 1) + b"q", "unknown tuple value kind"),
    ],
)
def test_malformed_messages_are_named(data: bytes, message: str) -> None:
    with pytest.raises(PgOutputError, match=message):
        parse_message(data)


def test_lsn_round_trip() -> None:
    assert parse_lsn("16/B374D848") == 0x16B374D848
    assert format_lsn(0x16B374D848) == "16/B374D848"
    with pytest.raises(ValueError, match="not an LSN"):
        parse_lsn("123")
