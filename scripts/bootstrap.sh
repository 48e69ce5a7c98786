#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (root, no Docker): system packages, then the virtualenv.
# Called by `make setup` (and so by `make demo` / `make test`); safe to run again at any time.
set -euo pipefail

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-}"
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; exit 1; fi
}

APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    log "missing system packages ($*) and no apt-get here: install them by hand"; exit 1
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  log "installing system packages: $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Python 3.11 -------------------------------------------------------------------------------------------
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  apt_install python3.11 python3.11-venv
  PYTHON=python3.11
fi

# --- Java 17 (Spark) ----------------------------------------------------------------------------------------
java_major() { java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  apt_install openjdk-17-jre-headless
fi

# --- PostgreSQL 15+ server binaries (the embedded stack runs its own private instance) -------------------------
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql-15 postgresql-client-15
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  log "creating the postgres system user (PostgreSQL refuses to run as root)"
  as_root useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# --- virtualenv + the project -------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    apt_install python3-venv
    "$PYTHON" -m venv "$VENV"
  fi
fi
STAMP="$VENV/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  log "installing the project and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
log "ready: $("$VENV/bin/python" --version), java $(java_major), $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
