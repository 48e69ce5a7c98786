"""The replication-protocol side of the source (psycopg2's LogicalReplicationConnection).

psycopg 3 has no replication protocol API; psycopg2 does, and it is needed for `CREATE_REPLICATION_SLOT ...
EXPORT_SNAPSHOT` (the snapshot consistent with the slot's start) and for streaming with flush feedback.
"""

from __future__ import annotations

import contextlib
import select
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extras

from common.errors import ServiceUnavailableError
from common.settings import redact_dsn
from producers.capture.postgres.pgoutput import parse_lsn


@dataclass(frozen=True)
class CreatedSlot:
    name: str
    consistent_lsn: int
    snapshot_name: str


class ReplicationSession:
    """One replication connection: create a slot exporting its snapshot, then stream pgoutput from a slot."""

    def __init__(self, dsn: str) -> None:
        try:
            self._conn: Any = psycopg2.connect(
                dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection, connect_timeout=10
            )
        except psycopg2.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceUnavailableError(
                f"cannot open a replication connection to {redact_dsn(dsn)}: {reason}"
            ) from None
        self._cursor: Any = self._conn.cursor()

    def create_slot(self, name: str) -> CreatedSlot:
        """Create a pgoutput slot; its exported snapshot stays importable until the next command here."""
        self._cursor.execute(f'CREATE_REPLICATION_SLOT "{name}" LOGICAL pgoutput EXPORT_SNAPSHOT')
        slot_name, consistent_point, snapshot_name, _plugin = self._cursor.fetchone()
        return CreatedSlot(slot_name, parse_lsn(consistent_point), snapshot_name)

    def start(self, slot: str, publication: str, start_lsn: int = 0) -> None:
        self._cursor.start_replication(
            slot_name=slot,
            decode=False,
            start_lsn=start_lsn,
            options={"proto_version": "1", "publication_names": publication},
            status_interval=10,
        )

    def read(self) -> tuple[bytes, int] | None:
        """The next message (payload, its WAL start) if one is buffered, else None."""
        message = self._cursor.read_message()
        if message is None:
            return None
        return bytes(message.payload), int(message.data_start)

    def wait(self, timeout: float) -> None:
        """Block until the server sends something or `timeout` seconds pass."""
        select.select([self._conn], [], [], timeout)

    def feedback(self, flush_lsn: int, *, force: bool = False) -> None:
        """Tell the server everything up to `flush_lsn` is durably handled (it may recycle that WAL)."""
        self._cursor.send_feedback(write_lsn=flush_lsn, flush_lsn=flush_lsn, force=force)

    @property
    def wal_end(self) -> int:
        """How far the server has sent (from keepalives and data)."""
        return int(self._cursor.wal_end)

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self._conn.close()
