# The usual targets. `make demo` and `make test` each set everything up first (scripts/bootstrap.sh is idempotent).
VENV ?= .venv
BIN := $(VENV)/bin
export CDC_HOME ?= $(CURDIR)/.cdc

.PHONY: setup demo test test-unit test-integration test-spark35 crash soak lint fmt typecheck bench up down status env clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(BIN)/cdc demo

test: setup
	$(BIN)/pytest

test-unit: setup
	$(BIN)/pytest tests/unit

test-integration: setup
	$(BIN)/pytest tests/integration -m "integration and not crash"

# tests/spark_compat again under PySpark 3.5 (AWS Glue 5), in its own venv .venv-spark35 (scripts/spark35.sh).
test-spark35: setup
	@MAIN_VENV=$(VENV) bash scripts/spark35.sh

crash: setup
	$(BIN)/pytest -m crash

soak: setup
	$(BIN)/pytest -m soak -o addopts=""

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: setup
	$(BIN)/mypy

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	@set -e; for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script; done

up: setup
	$(BIN)/cdc stack up

down:
	@if [ -x $(BIN)/cdc ]; then $(BIN)/cdc stack down; fi

status: setup
	$(BIN)/cdc stack status

env: setup
	@$(BIN)/cdc stack env

clean: down
	rm -rf $(CDC_HOME) .pytest_cache .mypy_cache .ruff_cache

# Terraform checks that need no AWS account: terraform fmt -check, then checkov in its own venv (.venv-checkov,
# scripts/infra_checks.sh). Run it before `make test`: the `infra` tests in tests/infra use that venv.
.PHONY: infra-check
infra-check: setup
	@bash scripts/infra_checks.sh
