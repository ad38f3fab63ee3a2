# One task runner for developers and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install lock system-deps node-deps jars lint test test-unit test-integration test-faults demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/lgsp: pyproject.toml requirements.lock hatch_build.py bus/signing/_merkle.c bus/_codec.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[all,dev]'
	@touch $@

install: $(BIN)/lgsp ## create .venv and install the project with every extra and the dev tools ([all,dev]), at the versions of requirements.lock

lock: ## re-resolve the dependencies within pyproject.toml's bounds and rewrite requirements.lock
	@scripts/lock.sh

system-deps: ## the Debian packages the tests use, installed when missing (root or passwordless sudo)
	@scripts/system_deps.sh test

node-deps: node_modules/.package-lock.json ## the npm packages the tests use (package.json, locked)

node_modules/.package-lock.json: package.json package-lock.json
	@scripts/system_deps.sh test
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p node_modules && touch $@

jars: install ## resolve the Kafka and Apicurio Registry jars from Maven Central into the cache
	@scripts/system_deps.sh demo
	$(BIN)/lgsp dev fetch

lint: install ## ruff + mypy --strict on all code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bus producers consumers lgsp tests bench hatch_build.py

test: install system-deps node-deps jars ## the whole suite: unit, integration (real Kafka + registry), e2e, faults
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install system-deps node-deps ## only the tests that need no broker
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-faults: install system-deps jars ## kills, restarts, overload, bad input on real processes; figures in bench/results/
	$(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

demo: install ## the whole bus locally: stack, topics, schemas, simulated nation, views, scoreboard
	@scripts/system_deps.sh demo
	$(BIN)/lgsp demo $(DEMO_ARGS)

bench: install ## benchmarks on the local stack; results in bench/results/
	@scripts/system_deps.sh bench
	$(BIN)/lgsp bench

clean: ## remove the venv, node_modules and caches (not the jar cache in ~/.cache/lgsp)
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
