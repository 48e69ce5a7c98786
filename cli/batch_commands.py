"""`cdc batch`: the batch medallion stage — file extracts now; staging, curated and the DAG join as they land."""

from __future__ import annotations

import typer

from cli import load_files_command

app = typer.Typer(
    rich_markup_mode=None,  # plain help: option texts carry literal [env: …] and <table> that markup would eat
    help="Batch jobs over the lake: file extracts (load-files), landing -> staging -> curated star schema.",
    no_args_is_help=True,
)
app.command(name="load-files")(load_files_command.load_files)
