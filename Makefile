# Clicktrail: `make run` starts the whole suite, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROTOS := $(sort $(shell find protos -name "*.proto"))

.PHONY: help venv proto proto-check run test test-fast bench lint fmt clean screenshots

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the project with its pinned dependencies

proto: $(STAMP)  ## generate Python code from protos/ into gen/
	rm -rf gen/clicktrail
	mkdir -p gen
	$(BIN)/python -m grpc_tools.protoc -I protos \
	  --python_out=gen --pyi_out=gen --grpc_python_out=gen $(PROTOS)
	find gen/clicktrail -type d -exec touch {}/__init__.py \;

proto-check: proto  ## fail when the checked-in generated code is stale
	@git diff --exit-code --stat -- gen || { echo "gen/ is stale: run 'make proto' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen)" || { git status --porcelain -- gen; echo "gen/ has untracked files: run 'make proto' and commit"; exit 1; }

run: proto  ## the whole suite in the foreground (gateway on 127.0.0.1:8080)
	$(BIN)/python -m cli.suite

# Test workers (pytest-xdist): each has its own template database and servers on ephemeral ports.
TEST_WORKERS ?= 2

test: proto  ## the whole test suite (TEST_WORKERS=2 processes; TEST_WORKERS=0 runs it in one)
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: proto  ## the benchmarks, each beside its baseline
	$(BIN)/python -m bench.run $(BENCH_ARGS)

screenshots: proto  ## a PNG of each console page in console/screenshots/ (needs chromium)
	$(BIN)/python -m tests.console.screenshots

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy libs services gateway cli

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
