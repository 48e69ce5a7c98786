#!/usr/bin/env bash
# Static checks of the Terraform under infra/ that need no AWS account and no provider download:
#   terraform fmt -check -recursive, then checkov (3.x) with no failed check.
# checkov pins many libraries, so it lives in its own virtualenv (.venv-checkov), never in the main .venv.
# Called by `make infra-check` and by tests/infra (marker `infra`), which run it over a broken copy of infra/.
#
#   bash scripts/infra_checks.sh                # setup + fmt + checkov over infra/ (what `make infra-check` runs)
#   bash scripts/infra_checks.sh setup          # only create/refresh .venv-checkov
#   bash scripts/infra_checks.sh fmt [DIR]      # terraform fmt -check -recursive DIR (default infra)
#   bash scripts/infra_checks.sh checkov [DIR]  # checkov -d DIR with the project's settings (venv must exist)
#
# Idempotent: the venv is (re)filled only when the pinned requirement changes. Exit status: non-zero on any
# formatting difference, failed checkov check, or missing tool.
set -euo pipefail
# fmt downloads nothing: no CLI configuration needed (and none to warn about when the configured one is missing).
if [ ! -f "${TF_CLI_CONFIG_FILE:-$HOME/.terraformrc}" ]; then export TF_CLI_CONFIG_FILE=/dev/null; fi
cd "$(dirname "$0")/.."

VENV="${CHECKOV_VENV:-.venv-checkov}"
MAIN_VENV="${MAIN_VENV:-.venv}"
# One pinned version: a new checkov release adds checks, and a new failing check should arrive by a change here,
# not by surprise in CI.
CHECKOV_REQUIREMENT="${CHECKOV_REQUIREMENT:-checkov==3.3.30}"

log() { printf '[infra] %s\n' "$*" >&2; }

python_311() {
  local python="${PYTHON:-}" base candidate
  if [ -z "$python" ] && [ -x "$MAIN_VENV/bin/python" ]; then
    base="$("$MAIN_VENV/bin/python" -c 'import sys; print(sys.base_prefix)')"
    for candidate in "$base/bin/python3.11" "$base/bin/python3"; do
      if [ -x "$candidate" ]; then python="$candidate"; break; fi
    done
  fi
  [ -n "$python" ] || python="$(command -v python3.11 || command -v python3 || true)"
  if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 9))'; then
    log "no Python >= 3.9 for checkov (run \`make setup\` first, or set PYTHON=/path/to/python3)"; exit 1
  fi
  printf '%s\n' "$python"
}

# pip, minus the warnings some machines' pip configuration prints for every package (missing local mirrors).
pip_quiet() {
  "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@" 2> >(grep -v '^WARNING: Location ' >&2)
}

setup() {
  local python stamp
  if [ ! -x "$VENV/bin/python" ]; then
    python="$(python_311)"
    log "creating $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  [ -f "$VENV/.gitignore" ] || echo '*' >"$VENV/.gitignore"  # never committed, as Python >= 3.13 venvs do
  stamp="$VENV/.deps-$(printf '%s\n' "$("$VENV/bin/python" --version 2>&1)" "$CHECKOV_REQUIREMENT" | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ] || [ ! -x "$VENV/bin/checkov" ]; then
    log "installing $CHECKOV_REQUIREMENT into $VENV (first time: a minute or two)"
    pip_quiet install --upgrade pip
    pip_quiet install "$CHECKOV_REQUIREMENT"
    rm -f "$VENV"/.deps-*
    touch "$stamp"
  fi
}

run_fmt() {
  local dir="${1:-infra}"
  if ! command -v terraform >/dev/null; then
    log "terraform not found on PATH: install Terraform >= 1.6 (CI: hashicorp/setup-terraform)"; exit 1
  fi
  log "terraform fmt -check -recursive $dir ($(terraform version | head -n1))"
  if ! terraform fmt -check -recursive -diff "$dir"; then
    log "formatting differs: run \`terraform fmt -recursive $dir\`"; exit 1
  fi
}

run_checkov() {
  local dir="${1:-infra}"
  if [ ! -x "$VENV/bin/checkov" ]; then
    log "$VENV/bin/checkov missing: run \`bash scripts/infra_checks.sh setup\` (or \`make infra-check\`)"; exit 1
  fi
  log "checkov -d $dir ($("$VENV/bin/checkov" --version 2>/dev/null))"
  # --download-external-modules false: every module is local. No API key: offline, findings carry no severity.
  # Skips are inline (#checkov:skip=CKV_...:reason) next to each resource, never here.
  BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false \
    "$VENV/bin/checkov" -d "$dir" --framework terraform --quiet --compact \
    --download-external-modules false --skip-download --output cli
}

command="${1:-all}"
case "$command" in
  setup) setup ;;
  fmt) run_fmt "${2:-infra}" ;;
  checkov) run_checkov "${2:-infra}" ;;
  all)
    run_fmt infra
    setup
    run_checkov infra
    log "infra checks passed"
    ;;
  *) log "usage: $0 [all|setup|fmt [DIR]|checkov [DIR]]"; exit 2 ;;
esac
