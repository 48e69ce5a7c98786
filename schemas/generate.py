"""Render the catalog's Debezium Key/Envelope schemas to ``schemas/avsc/<topic>-{key,value}.avsc``.

``python -m schemas.generate`` rewrites the files; ``--check`` writes nothing and exits 1 listing every
stale file (missing, different, or left over from a table no longer in the catalog), so CI can insist that
the committed schemas and the catalog agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from common.errors import CdcError
from schemas import debezium
from schemas.catalog import Catalog, load_catalog

DEFAULT_DIRECTORY: Final = Path(__file__).with_name("avsc")
SUFFIXES: Final = ("-key.avsc", "-value.avsc")


def render(schema: dict[str, Any]) -> str:
    """A schema as committed: JSON with 2-space indent, key order kept, non-ASCII kept, trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def render_all(catalog: Catalog) -> dict[str, str]:
    """Every table's ``<topic>-key.avsc`` and ``<topic>-value.avsc`` file name → file text."""
    files: dict[str, str] = {}
    for table in catalog.tables:
        key_subject, value_subject = debezium.subject_names(table)
        files[f"{key_subject}.avsc"] = render(debezium.key_schema(table))
        files[f"{value_subject}.avsc"] = render(debezium.envelope_schema(table))
    return files


def _generated_files(directory: Path) -> set[str]:
    """Names of files in ``directory`` that look like generator output (``*-key.avsc``/``*-value.avsc``)."""
    if not directory.is_dir():
        return set()
    return {path.name for path in directory.iterdir() if path.name.endswith(SUFFIXES)}


def stale_files(catalog: Catalog, directory: Path) -> list[tuple[str, str]]:
    """(file name, reason) for every file that is missing, differs, or belongs to no catalog table."""
    expected = render_all(catalog)
    problems: list[tuple[str, str]] = []
    for name, text in expected.items():
        path = directory / name
        if not path.is_file():
            problems.append((name, "missing"))
        elif path.read_text(encoding="utf-8") != text:
            problems.append((name, "differs from the catalog"))
    problems.extend((name, "not in the catalog") for name in sorted(_generated_files(directory) - set(expected)))
    return problems


def diff_committed(catalog: Catalog, directory: Path = DEFAULT_DIRECTORY) -> list[str]:
    """Names of the committed schema files that are missing, differ, or have no table in the catalog."""
    return [name for name, _ in stale_files(catalog, directory)]


def write_all(catalog: Catalog, directory: Path = DEFAULT_DIRECTORY) -> list[Path]:
    """Write the schema files whose text changed; delete generated files of tables not in the catalog."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = render_all(catalog)
    written: list[Path] = []
    for name, text in expected.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for name in sorted(_generated_files(directory) - set(expected)):
        (directory / name).unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the schema files, or with ``--check`` report stale ones and exit 1."""
    parser = argparse.ArgumentParser(
        prog="python -m schemas.generate", description="Render the catalog's Debezium Avro schemas."
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file is stale")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog TOML (default: the packaged one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIRECTORY, help="schema directory")
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog(args.catalog)
        if args.check:
            problems = stale_files(catalog, args.out)
            for name, reason in problems:
                print(f"stale: {args.out / name}: {reason}")
            return 1 if problems else 0
        for path in write_all(catalog, args.out):
            print(f"wrote {path}")
    except CdcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
