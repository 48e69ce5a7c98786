"""`cdc demo`: the end-to-end run on the local stack, one timed step per stage that exists so far."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from cli import schema_commands, stack_commands
from cli.options import Home
from cli.output import console


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], object]


def run_steps(steps: list[Step]) -> list[tuple[str, float]]:
    """Run steps in order, printing a rule per step; a failing step stops the demo with its own error."""
    timings = []
    for index, step in enumerate(steps, start=1):
        console.rule(f"[bold]{index}/{len(steps)} {step.name}")
        started = time.perf_counter()
        step.run()
        timings.append((step.name, time.perf_counter() - started))
    return timings


def demo(
    home: Home = None,
    profile: Annotated[
        Literal["embedded", "compose"], typer.Option(help="Which local stack to run the demo on")
    ] = "embedded",
) -> None:
    """Bring the stack up, register the catalog's schemas and show what runs where."""
    resolved_home: Path | None = home
    steps = [
        Step(
            "start the local stack",
            lambda: stack_commands.up(
                home=resolved_home,
                profile=profile,
                postgres_port=0,
                kafka_port=0,
                registry_port=0,
                aws_port=0,
                foreground=False,
            ),
        ),
        Step(
            "register the catalog's Avro schemas",
            lambda: schema_commands.register(home=resolved_home, schema_registry_url=None, catalog=None, tables=None),
        ),
        Step(
            "check the schemas against the registry",
            lambda: schema_commands.check(
                home=resolved_home,
                schema_registry_url=None,
                catalog=None,
                avsc_dir=schema_commands.AVSC_DIR,
                against="registry",
                revision="HEAD",
            ),
        ),
        Step("stack status", lambda: stack_commands.status(home=resolved_home)),
    ]
    timings = run_steps(steps)
    summary = Table(title="demo summary", title_justify="left")
    summary.add_column("step")
    summary.add_column("seconds", justify="right")
    for name, seconds in timings:
        summary.add_row(name, f"{seconds:.1f}")
    console.print(summary)
    console.print("the stack keeps running: `cdc stack status`, `cdc stack env`, `cdc stack down`")
