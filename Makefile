# The two commands of the README:  make run  |  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: run test setup setup-test lint check bench clean

$(BIN)/.installed: pyproject.toml
	./scripts/system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

## run: install everything and serve on the embedded default (SQLite, ./var, demo data)
run: setup
	$(BIN)/ywt serve

setup-test: setup
	./scripts/system-packages --test
	$(BIN)/python tests/vectors/fetch.py
	npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python scripts/audit-deps $(BIN)/python

## test: install everything and run the whole suite (lint, types, tests with real peers)
test: setup-test lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var tests/.cache tests/peers/node_modules
