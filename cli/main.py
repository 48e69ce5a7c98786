"""Entry point of the `cdc` command: wires the sub-commands and turns every failure into one clear line."""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

from cli import (
    batch_commands,
    bridge_commands,
    capture_commands,
    deploy_commands,
    lake_commands,
    query_commands,
    schema_commands,
    stack_commands,
    status_command,
    stream_commands,
    warehouse_backfill,
    warehouse_commands,
    workload_commands,
)
from cli import demo as demo_module
from cli.output import print_error
from common import logging as cdc_logging
from common.errors import CdcError

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    name="cdc",
    help="Retail CDC platform: local stack, schemas, capture, streaming, warehouse and batch jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_commands.app, name="stack")
app.add_typer(schema_commands.app, name="schemas")
app.add_typer(workload_commands.app, name="workload")
app.add_typer(lake_commands.app, name="lake")
warehouse_commands.app.command(name="backfill")(warehouse_backfill.backfill)
app.add_typer(warehouse_commands.app, name="warehouse")
app.add_typer(batch_commands.app, name="batch")
app.command(name="demo")(demo_module.demo)
app.command(name="capture")(capture_commands.capture)
app.command(name="stream")(stream_commands.stream)
app.command(name="bridge")(bridge_commands.bridge)
app.command(name="query")(query_commands.query)
app.command(name="status")(status_command.status)
app.command(name="deploy")(deploy_commands.deploy)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one exit code per failure class
    """Run the CLI; returns the exit code (also used by tests)."""
    cdc_logging.configure(os.environ.get("CDC_LOG_LEVEL", "WARNING"))
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv if argv is not None else sys.argv[1:], prog_name="cdc", standalone_mode=False)
    except CdcError as exc:
        print_error(str(exc))
        return exc.exit_code
    except typer.Abort:
        print_error("interrupted")
        return 130
    except typer.TyperException as exc:  # usage errors from the command-line parser
        return _usage_error(exc)
    except ValidationError as exc:
        print_error(f"invalid input: {exc.errors()[0]['msg']}")
        return 2
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("CDC_DEBUG"):
            raise
        print_error(f"unexpected {type(exc).__name__}: {exc} (set CDC_DEBUG=1 for a traceback)")
        return 1
    if result == 130:  # the parser turns Ctrl-C (and our SIGTERM handler's interrupt) into this exit code
        print_error("interrupted")
    return result if isinstance(result, int) else 0


def _usage_error(exc: typer.TyperException) -> int:
    context = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
        typer.echo(context.get_help())
        return 0
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    hint = f" (see `{context.command_path} --help`)" if context is not None else ""
    print_error(f"{message}{hint}")
    return int(getattr(exc, "exit_code", 2))


def entry() -> None:
    sys.exit(main())
