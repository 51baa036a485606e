# vigil: every target creates .venv and installs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format bench clean cluster-test

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing vigil and its dependencies into $(VENV) (first run only)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install vigil with its dev tools

run: $(STAMP) ## Start embedded NATS + PostgreSQL, every service and the gateway on http://127.0.0.1:8000
	@$(BIN)/vigil up

lint: $(STAMP) ## ruff and mypy --strict on shared/ and services/
	$(BIN)/ruff check shared services tests bench
	$(BIN)/ruff format --check shared services tests bench
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format shared services tests bench
	$(BIN)/ruff check --fix shared services tests bench

test: lint ## Lint, then the whole test suite against real NATS and PostgreSQL
	$(BIN)/pytest

cluster-test: $(STAMP) ## 3 clustered nats-servers on loopback; one dies mid-stream, nothing is lost
	$(BIN)/pytest tests/integration/cluster/test_nats_cluster.py

# faraday-plugins (Faraday's parser library) is a comparison point for `make bench` only:
# it lives in a venv of its own and is never a dependency of vigil.
FARADAY := .venv-faraday/bin/faraday-plugins

$(FARADAY):
	@$(PYTHON) -m venv .venv-faraday
	@echo "Installing faraday-plugins into .venv-faraday (bench comparison only)..."
	@.venv-faraday/bin/python -m pip install --quiet faraday-plugins

bench: $(STAMP) $(FARADAY) ## Performance figures, each with its ratio to the ceiling it names
	VIGIL_FARADAY_PLUGINS=$(FARADAY) $(BIN)/python -m bench

clean: ## Stop nothing, delete .venv and .vigil (stop `make run` first)
	rm -rf $(VENV) .venv-faraday .vigil
