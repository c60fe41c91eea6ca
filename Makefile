# Lotus: `make run` sets up and runs the main job on the embedded stores; `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export LOTUS_HOME ?= $(CURDIR)/.lotus
export DAGSTER_HOME ?= $(LOTUS_HOME)/dagster

.PHONY: setup run test test-fast lint bench bench-microtape fixtures verify-fixtures dev clean postgres

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## run: materialise every asset for every fixture day on the embedded default (no server)
run: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/lotus materialize --feed-dir fixtures

## test: the whole suite (starts PostgreSQL if it is down)
test: setup
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-rabbitmq.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=12

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .

## dev: the Dagster UI on http://127.0.0.1:3000 (dg reads [tool.dg] in pyproject.toml)
dev: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev --host 127.0.0.1 --port 3000

## bench: every benchmark; figures go to BENCHMARKS.md
bench: setup
	$(BIN)/python -m bench.run

fixtures: setup
	$(BIN)/lotus fixtures generate --out fixtures

verify-fixtures: setup
	$(BIN)/lotus fixtures verify --dir fixtures --regenerate

clean:
	rm -rf .lotus .pytest_cache .ruff_cache
