"""Applying generated transactions to the source database: the thin I/O shell around the pure model.

Each ``Transaction`` runs inside one database transaction; every statement must touch exactly the rows the model
expected, otherwise the whole transaction is rolled back and the run stops, because the database no longer
matches the generator's view (someone else changed the rows) and continuing would produce nonsense.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from common.errors import CdcError
from producers.workload.statements import Transaction


class WorkloadDriftError(CdcError):
    """A statement touched a different number of rows than the generator expected."""


class TransactionExecutor:
    """Runs transactions on one autocommit psycopg connection (psycopg prepares the repeated statements)."""

    def __init__(self, connection: psycopg.Connection[TupleRow]) -> None:
        if not connection.autocommit:
            raise ValueError("the executor needs an autocommit connection: it opens each transaction itself")
        self._connection = connection

    def apply(self, transaction: Transaction) -> None:
        """All statements of ``transaction`` or none of them."""
        with self._connection.transaction(), self._connection.cursor() as cursor:
            for statement in transaction.statements:
                cursor.execute(statement.query, statement.params)
                if cursor.rowcount != statement.rows:
                    raise WorkloadDriftError(
                        f"{transaction.action}: {statement.operation} on {statement.table} changed {cursor.rowcount} "
                        f"row(s), expected {statement.rows}; the source tables were changed by someone else while "
                        "the workload ran (rolled back; start `cdc workload run` again to re-read them)"
                    )
