# Lotus: `make run` sets up and runs the main job on the embedded stores; `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export LOTUS_HOME ?= $(CURDIR)/.lotus
export DAGSTER_HOME ?= $(LOTUS_HOME)/dagster

.PHONY: setup run test test-fast test-soak lint bench bench-microtape fixtures verify-fixtures dev clean postgres

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# setuptools' editable build warns, for every project, that a folder named like the package
	# could shadow it; none does here, so the banner is silenced (nothing else is)
	PYTHONWARNINGS="ignore:Editable installation.:UserWarning" \
	  $(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# `$(WARM_KERNELS_BESIDE) cmd`: cmd (a step that keeps one core busy) with the compiled kernels
# loaded or, on a fresh clone, compiled into numba's cache on the other core meanwhile; fails
# if either fails. Without it each process of the run compiles them on its first call.
WARM_KERNELS_BESIDE := bash scripts/beside.sh "$(BIN)/python -m lotus_core.live.kernels" --

## run: the demo loop on the embedded default (no server): the frozen set of fixtures/loop/
## (generated on first use, every file checked against the committed manifest's sha256),
## every asset for every day, and a per-day summary of what the loop learned
LOOP_FEED ?= $(LOTUS_HOME)/loop-feed
# One feed location: run, dev (the UI's `feed` resource, re-runs, backfills) and the nightly
# schedule read the same recordings (docs/surface.md "One feed location").
run: export LOTUS_FEED_DIR = $(LOOP_FEED)
run: setup $(DAGSTER_HOME)/dagster.yaml
	$(WARM_KERNELS_BESIDE) $(BIN)/lotus fixtures ensure --manifest fixtures/loop/manifest.json --out $(LOOP_FEED)
	$(BIN)/lotus materialize --feed-dir $(LOOP_FEED)

## test: the whole suite (starts PostgreSQL if it is down). Three workers on two cores: the UI,
## daemon and backfill tests spend much of their time waiting on Dagster's daemon loops, and a
## third worker computes meanwhile (four were slower: 27 min 8 s against 25 min 34 s). The
## suite prints its wall time, each worker's share and the cores' busy share, and warns past
## 12 minutes.
TEST_WORKERS ?= 3
# Every test process (workers, CLI subprocesses, Dagster code servers, daemons) imports the
# project's ~350 modules; with bytecode caching off (PYTHONDONTWRITEBYTECODE set, as some CI
# shells do) each of them compiles all of it again. The suite caches it (`__pycache__/` is
# git-ignored).
test: export PYTHONDONTWRITEBYTECODE =
test: setup
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-rabbitmq.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-tesseract.sh
	$(BIN)/ruff check .
	$(WARM_KERNELS_BESIDE) $(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder -q --durations=25

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

## test-soak: the closed loop at the generator's default effect on 3 seeds, each beside its
## null twin (tests/assets/test_learning_loop_soak.py; 3.4-4.4 CPU hours, so `make test`
## skips it). LOTUS_SOAK_JSON=<path> keeps the runs (stamped with the commit and code hash) for
## `python -m bench.closed_loop --from-json`; LOTUS_SOAK_FROM=<path> judges kept runs instead
## (seconds), refused if the learning, scoring or generator code changed since they ran.
test-soak: setup
	$(BIN)/pytest -q -m soak -s tests/assets/test_learning_loop_soak.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

## dev: the Dagster UI on http://127.0.0.1:3000 (dg reads [tool.dg] in pyproject.toml), on
## the recordings `make run` materialised (fixtures/ before the first `make run`). Ctrl-C,
## SIGINT or SIGTERM (to make or its group) stops dg, the webserver, the code servers and the
## Dagster daemon within seconds: scripts/dev_server.py runs `dg dev` and stops all of it
## (make alone does not pass SIGINT on). DEV_HOST / DEV_PORT move the UI.
DEV_HOST ?= 127.0.0.1
DEV_PORT ?= 3000
dev: export LOTUS_FEED_DIR ?= $(if $(wildcard $(LOOP_FEED)/manifest.json),$(LOOP_FEED),$(CURDIR)/fixtures)
dev: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/dev_server.py --host $(DEV_HOST) --port $(DEV_PORT)

## bench: every benchmark; figures go to BENCHMARKS.md
bench: setup
	$(BIN)/python -m bench.run

fixtures: setup
	$(BIN)/lotus fixtures generate --out fixtures

verify-fixtures: setup
	$(BIN)/lotus fixtures verify --dir fixtures --regenerate

clean:
	rm -rf .lotus .pytest_cache .ruff_cache
