"""`cdc stack up|down|status|env|logs`."""

from __future__ import annotations

import json
import shlex
import signal
import threading
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.endpoints import stack_settings
from cli.options import Home
from cli.output import console, status_table
from common.errors import StackError
from common.settings import Profile
from localstack.compose import ComposeStack
from localstack.paths import StackPaths
from localstack.services import ServiceStatus
from localstack.state import load_state
from localstack.supervisor import SERVICE_ORDER, EmbeddedStack

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="Start, inspect and stop the local stack (PostgreSQL, Kafka, schema registry, AWS).",
    no_args_is_help=True,
)

PortOption = Annotated[int, typer.Option(min=0, max=65535, help="0 = reuse the last port or pick a free one")]


def open_stack(home: Path | None, profile: Profile | None = None) -> EmbeddedStack | ComposeStack:
    """The stack object for a profile; without one, whichever profile the state file records."""
    settings = stack_settings(home)
    paths = StackPaths.at(settings.home)
    if profile is None:
        state = load_state(paths.state_file)
        profile = state.profile if state else settings.profile
    if profile == "external":
        raise StackError("the `external` profile has no local stack: set the endpoint variables instead")
    return ComposeStack(paths) if profile == "compose" else EmbeddedStack(paths)


def show_status(stack: EmbeddedStack | ComposeStack) -> list[ServiceStatus]:
    rows = stack.status()
    console.print(status_table(rows, stack.profile))
    return rows


@app.command()
def up(
    home: Home = None,
    profile: Annotated[
        Literal["embedded", "compose"] | None,
        typer.Option(help="embedded: real local processes (default); compose: docker-compose.yml", show_default=False),
    ] = None,
    postgres_port: PortOption = 0,
    kafka_port: PortOption = 0,
    registry_port: PortOption = 0,
    aws_port: PortOption = 0,
    foreground: Annotated[bool, typer.Option(help="Stay attached; Ctrl-C or SIGTERM stops the stack")] = False,
) -> None:
    """Start the stack (idempotent: services already healthy are left alone)."""
    chosen: Profile = profile or stack_settings(home).profile
    stack = open_stack(home, chosen)
    if foreground:
        # SIGTERM during start-up must roll back like Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_interrupt)
    with console.status(f"starting the {chosen} stack ..."):
        if isinstance(stack, EmbeddedStack):
            ports = {
                "postgres": postgres_port,
                "kafka": kafka_port,
                "schema-registry": registry_port,
                "aws": aws_port,
            }
            stack.up({name: port for name, port in ports.items() if port})
        else:
            stack.up()
    show_status(stack)
    console.print(f'use it from any shell: [bold]eval "$(cdc stack env --home {stack.paths.home})"[/]')
    if foreground:
        _wait_for_stop_signal()
        with console.status("stopping ..."):
            stack.down()
        console.print("stack stopped")


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _wait_for_stop_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print("running in the foreground; press Ctrl-C to stop")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


@app.command()
def down(
    home: Home = None,
    purge: Annotated[bool, typer.Option(help="Also delete the stack's data (database, registry, lake)")] = False,
) -> None:
    """Stop every service of the stack; data is kept unless --purge (the broker keeps topics in memory only)."""
    stack = open_stack(home)
    stopped = stack.down(purge=purge)
    console.print(
        f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}"
        + (f"; deleted {stack.paths.home}" if purge else "")
    )


@app.command()
def status(home: Home = None) -> None:
    """A table of services, address and health; exit 1 unless every service is healthy."""
    stack = open_stack(home)
    if stack.state() is None:
        raise StackError(f"no stack recorded in {stack.paths.home}; start one with `cdc stack up`")
    rows = show_status(stack)
    if not rows or any(row.health != "healthy" for row in rows):
        raise typer.Exit(1)


@app.command()
def env(
    home: Home = None,
    output: Annotated[Literal["shell", "dotenv", "json"], typer.Option("--format", help="Output format")] = "shell",
) -> None:
    """Print the stack's endpoints as `export` lines (eval them) so any tool can use the stack."""
    stack = open_stack(home)
    state = stack.state()
    if state is None or not state.endpoints or not any(row.health == "healthy" for row in stack.status()):
        raise StackError(f"no running stack in {stack.paths.home}; start one with `cdc stack up`")
    endpoints = {"CDC_HOME": str(stack.paths.home), **state.endpoints}
    if output == "json":
        typer.echo(json.dumps(endpoints, indent=2))
        return
    prefix = "export " if output == "shell" else ""
    for key, value in endpoints.items():
        typer.echo(f"{prefix}{key}={shlex.quote(value)}")


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICE_ORDER)}")],
    home: Home = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1)] = 40,
) -> None:
    """Show the last lines of a service's log."""
    stack = open_stack(home)
    state = stack.state()
    record = state.services.get(service) if state else None
    if service not in SERVICE_ORDER:
        raise StackError(f"unknown service {service!r}; known: {', '.join(SERVICE_ORDER)}")
    if record is None or not record.log or not Path(record.log).exists():
        raise StackError(f"no log recorded for {service} in {stack.paths.home}")
    tail = Path(record.log).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    typer.echo("\n".join(tail))
