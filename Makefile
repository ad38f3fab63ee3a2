# One task runner for developers and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install jars lint test test-unit test-integration test-faults demo bench wrk clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/lgsp: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[all,dev]'
	@touch $@

install: $(BIN)/lgsp ## create .venv and install the project with every extra and the dev tools ([all,dev])

jars: install ## resolve the Kafka and Apicurio Registry jars from Maven Central into the cache
	$(BIN)/lgsp dev fetch

lint: install ## ruff + mypy --strict on all code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bus producers consumers lgsp tests bench

test: install ## the whole suite: unit, integration (real Kafka + registry), e2e, faults
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install ## only the tests that need no broker
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-faults: install ## kills, restarts, overload, bad input on real processes; figures in bench/results/
	$(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

demo: install ## the whole bus locally: stack, topics, schemas, simulated nation, views, scoreboard
	$(BIN)/lgsp demo

bench: install wrk ## benchmarks on the local stack; results in bench/results/
	$(BIN)/lgsp bench

wrk: ## the HTTP load generator the ingress benchmark needs (Debian package; sudo when not root)
	@command -v wrk >/dev/null 2>&1 || { \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing wrk (apt-get)"; \
		$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q wrk; }

clean: ## remove the venv and caches (not the jar cache in ~/.cache/lgsp)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
