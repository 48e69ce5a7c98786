#!/usr/bin/env bash
# The Spark 3.5 (AWS Glue 5) compatibility run: tests/spark_compat in its own virtualenv with PySpark 3.5.
# Everything after the Kafka source must run unchanged on Glue's Spark 3.5, so this venv holds pyspark 3.5, only
# the runtime dependencies of that code path, and the project itself without its dependencies (no pyspark 4).
# Called by `make test-spark35`; idempotent: the venv is (re)filled only when the requirement list changes.
# Extra arguments go to pytest (e.g. `bash scripts/spark35.sh -k evolution`).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${SPARK35_VENV:-.venv-spark35}"
MAIN_VENV="${MAIN_VENV:-.venv}"

log() { printf '[spark35] %s\n' "$*"; }

# Pins follow pyproject.toml; pyspark is the one deliberate difference.
REQUIREMENTS=(
  "pyspark==3.5.*"
  "pyarrow>=15"
  "pandas<3"
  "numpy"
  "fastavro>=1.9"
  "avro>=1.12"
  "confluent-kafka>=2.6,<3"
  "httpx>=0.27"
  "tenacity>=8.2"
  "pydantic>=2.7"
  "pydantic-settings>=2.3"
  "starlette>=0.40"
  "uvicorn>=0.30"
  "pytest>=8"
  "pytest-timeout>=2.3"
)

# --- Python 3.11: the interpreter the main venv was made with --------------------------------------------
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ] && [ -x "$MAIN_VENV/bin/python" ]; then
  base="$("$MAIN_VENV/bin/python" -c 'import sys; print(sys.base_prefix)')"
  for candidate in "$base/bin/python3.11" "$base/bin/python3"; do
    if [ -x "$candidate" ]; then PYTHON="$candidate"; break; fi
  done
fi
if [ -z "$PYTHON" ]; then
  PYTHON="$(command -v python3.11 || true)"
fi
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  log "no Python 3.11 found (run \`make setup\` first, or set PYTHON=/path/to/python3.11)"; exit 1
fi

# --- the venv: dependencies keyed on the requirement list, the project on pyproject.toml --------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
[ -f "$VENV/.gitignore" ] || echo '*' >"$VENV/.gitignore"  # as Python >= 3.13 venvs do: never committed
DEPS_STAMP="$VENV/.deps-$(printf '%s\n' "$("$PYTHON" --version 2>&1)" "${REQUIREMENTS[@]}" | sha1sum | cut -c1-12)"
if [ ! -f "$DEPS_STAMP" ]; then
  log "installing pyspark 3.5 and the streaming path's dependencies into $VENV (the first pyspark build takes minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "${REQUIREMENTS[@]}"
  rm -f "$VENV"/.deps-* "$VENV"/.project-*
  touch "$DEPS_STAMP"
fi
PROJECT_STAMP="$VENV/.project-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$PROJECT_STAMP" ]; then
  log "installing the project into $VENV without its dependencies"
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  rm -f "$VENV"/.project-*
  touch "$PROJECT_STAMP"
fi
"$VENV/bin/python" - <<'EOF'
import sys

import pyspark

if not pyspark.__version__.startswith("3.5."):
    sys.exit(f"[spark35] expected pyspark 3.5.x in {sys.prefix}, found {pyspark.__version__}")
EOF

# --- the tests -----------------------------------------------------------------------------------------------
# Spark and Python workers must come from this venv, whatever the caller's environment points at.
unset SPARK_HOME PYSPARK_PYTHON PYSPARK_DRIVER_PYTHON
log "running tests/spark_compat with $("$VENV/bin/python" -c 'import pyspark; print("pyspark", pyspark.__version__)')"
# --confcutdir: tests/conftest.py serves the stack tests and imports their dependencies (psycopg, ...),
# which this venv deliberately lacks; tests/spark_compat/conftest.py has everything these tests need.
exec "$VENV/bin/python" -m pytest tests/spark_compat -p no:cacheprovider --confcutdir=tests/spark_compat "$@"
