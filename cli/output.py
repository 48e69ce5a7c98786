"""Rendering for people: rich tables on stdout, one-line errors on stderr."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from localstack.services import ServiceStatus

console = Console(soft_wrap=True)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)

_HEALTH_STYLE = {"healthy": "green", "unhealthy": "yellow", "stopped": "red"}


def status_table(rows: Sequence[ServiceStatus], profile: str) -> Table:
    table = Table(title=f"local stack ({profile})", title_justify="left")
    table.add_column("service", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("health", no_wrap=True)
    table.add_column("pid", no_wrap=True)
    table.add_column("log", overflow="fold")
    for row in rows:
        style = _HEALTH_STYLE[row.health]
        table.add_row(row.name, row.address, f"[{style}]{row.health}[/]", str(row.pid or "-"), row.log or "-")
    return table


def print_error(message: str) -> None:
    error_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
