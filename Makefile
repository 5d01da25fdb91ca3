PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo lint test mutate install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[onednn,tensorboard]"

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,torch,onednn]"

# Trains the default model offline; samples and metrics land in runs/default.
demo: install
	$(BIN)/genjax train --workdir runs/default

# Static checks: ruff's bug-finding rules and formatting, and the import contracts of pyproject.toml.
lint: install-test
	$(BIN)/ruff check genjax tests benchmarks tools
	$(BIN)/ruff format --check genjax tests benchmarks tools
	$(BIN)/lint-imports

# The whole suite (notebooks and docs included), two workers.
test: install-test
	$(BIN)/python -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

# Mutation testing of the core (hours; not part of `make test`): per-module scores, resumable.
# Narrow it with e.g. MUTATE_ARGS="--area losses --sample 40"; docs/mutation.md records the scores.
MUTATE_ARGS ?=
mutate: install-test
	$(BIN)/python tools/mutate.py $(MUTATE_ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache .import_linter_cache
