# One entry point for every check: `make check` is what CI runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup demo test lint fmt typecheck check bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

## The whole pipeline on the embedded demo data: init a demo project, then validate, train, gate.
demo: setup
	$(BIN)/mlgate init --demo $(DEMO_DIR) --force --no-dvc
	cd $(DEMO_DIR) && $(abspath $(BIN))/mlgate run

# Containers and image registries (e2e) run in one process after the rest: their builds share
# podman's store and would only compete for the two cores.
test: setup
	$(BIN)/pytest -n 2 -m "not e2e" $(PYTEST_ARGS)
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

## Every benchmark, each in a fresh process; refreshes benchmarks/RESULTS.md. Exits 1 if one
## failed or timed out. BENCH_ARGS: --quick (smoke sizes), --only NAME, --list, --timeout S.
bench: setup
	$(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
