# One entry point for every check: `make check` is what CI runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
PYTEST_ARGS ?=
BENCH_ARGS ?=

# uv installs exactly uv.lock into $(VENV) (removing whatever the lock does not list) and never
# downloads a Python of its own.
UV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv

.PHONY: setup setup-feast system lock demo test lint fmt typecheck deps imports check bench clean

## Install exactly what uv.lock pins, mlgate itself editable. `make -B setup` reinstalls it
## after a hand-made change to .venv.
setup: $(VENV)/.installed

# The venv (also over one an older pip-based setup left) and, in it, uv at the version and
# hashes uv.lock pins.
define bootstrap_uv
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python scripts/bootstrap_uv.py $(VENV) uv.lock
endef

# --locked: a uv.lock that no longer matches pyproject.toml is an error (run `make lock`), never
# silently installed.
$(VENV)/.installed: pyproject.toml uv.lock
	$(bootstrap_uv)
	$(UV) sync --locked --extra dev
	touch $@

## The Feast environment: the same uv.lock's `feast` fork (Feast caps pandas below 3), mlgate
## editable, and what the tests need. The Feast tests (tests/feature_store) run in it.
FEAST_VENV ?= .venv-feast
setup-feast: $(FEAST_VENV)/.installed

$(FEAST_VENV)/.installed: pyproject.toml uv.lock $(VENV)/.installed
	test -x $(FEAST_VENV)/bin/python || $(PY) -m venv $(FEAST_VENV)
	UV_PROJECT_ENVIRONMENT=$(FEAST_VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv sync --locked \
	  --extra feast --extra test
	touch $@

## Refresh uv.lock on purpose: after editing pyproject.toml, or to move one package on with
## `make lock LOCK_ARGS='--upgrade-package NAME'` (every package: LOCK_ARGS=--upgrade).
LOCK_ARGS ?=
lock:
	$(bootstrap_uv)
	$(UV) lock $(LOCK_ARGS)

## The whole pipeline on the embedded demo data: init a demo project, then validate, train, gate.
demo: setup
	$(BIN)/mlgate init --demo $(DEMO_DIR) --force --no-dvc
	cd $(DEMO_DIR) && $(abspath $(BIN))/mlgate run

## Every system package and service the tests need (nginx, Prometheus, Chromium, wrk,
## PostgreSQL, podman, a local OCI registry, the local base image): installed as root; otherwise
## each missing one is named with the command that installs it, and make stops (exit 3).
system:
	bash scripts/setup-system.sh

# The tests run with an MLflow tracking server on PostgreSQL up for their duration (stopped by
# PID afterwards, also on failure). As root, where `make system` provides every component, a
# test that skips for want of one fails instead (tests/conftest.py).
test: system setup setup-feast
	MLGATE_TEST_REQUIRE_SYSTEM=$$( [ "$$(id -u)" -eq 0 ] && echo 1 || echo 0 ) \
	  bash scripts/with-mlflow.sh sh -c '$(TEST_SUITES)'

# Containers and image registries (e2e) run in one process after the rest: their builds share
# podman's store and would only compete for the two cores. `--dist loadgroup`: the tests of one
# xdist_group (the Ray cluster's) share one worker and its fixtures.
TEST_SUITES = $(BIN)/pytest -n 2 --dist loadgroup -m "not e2e" --ignore=tests/feature_store $(PYTEST_ARGS) \
  && $(FEAST_VENV)/bin/pytest tests/feature_store $(PYTEST_ARGS) \
  && $(BIN)/pytest -m e2e --ignore=tests/feature_store $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup
	$(BIN)/mypy

## Every third-party module src/ imports is a declared runtime dependency ([tool.deptry]); the
## ones tests/ and benchmarks/ import are declared too, the dev extra included.
deps: setup
	$(BIN)/deptry src
	$(BIN)/deptry tests benchmarks --ignore DEP002,DEP004 --exclude '\.venv|benchmarks/\.work' \
	  --known-first-party mlgate --known-first-party tests --known-first-party benchmarks

## The layering contracts in .importlinter.
imports: setup
	$(BIN)/lint-imports

# system first: a missing package is reported before anything long (installs, tests) runs.
check: system lint typecheck deps imports test

## Every benchmark, each in a fresh process; refreshes benchmarks/RESULTS.md. Exits 1 if one
## failed or timed out. BENCH_ARGS: --quick (smoke sizes), --only NAME, --list, --timeout S.
bench: setup
	$(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
