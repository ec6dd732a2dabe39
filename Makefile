# Two commands on a fresh machine: `make demo` and `make test`. `make ui` opens the Dagster UI.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster
# uv writes no bytecode by default and this machine sets PYTHONDONTWRITEBYTECODE: compile at install.
export UV_COMPILE_BYTECODE := 1

.PHONY: setup demo test test-fast ui bench bench-live bench-scale clean

setup: $(VENV)/.installed $(VENV)/.postgresql

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet uv
	$(BIN)/uv sync --locked --inexact --compile-bytecode
	@touch $@

# The PostgreSQL instance test (tests/postgres.py) starts a throwaway server from Debian's
# `postgresql` package: installed here when it is missing and we can (root, apt-get). Tried once
# per venv and never fatal: without it that test skips and says why.
$(VENV)/.postgresql: | $(VENV)/.installed
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's postgresql (for the PostgreSQL instance test)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } \
	    || echo "could not install postgresql: its test will skip (rm $@ to try again)"; \
	else echo "no PostgreSQL server (initdb): its test will skip; install Debian's postgresql to run it"; fi
	@touch $@

# PYTHONHASHSEED: one XLA program per IRT fit shape, so the compilation cache hits (hibayes/model/platform.py)
demo: setup  ## set up, then materialize every asset on the example logs and print a summary
	PYTHONHASHSEED=0 $(BIN)/python -m hibayes_assets.demo

# Two workers, one test file each at a time (module fixtures are built once): many tests wait on
# process start-ups, SQLite and single-threaded compiles, so two files side by side fill 2 cores.
PYTEST_WORKERS ?= -n 2 --dist loadfile

test: setup  ## the whole test suite (unit, Dagster, a few slow ones), two files at a time
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

test-fast: setup  ## everything but the slow tests
	$(BIN)/python -m pytest $(PYTEST_WORKERS) -m "not slow"

ui: setup  ## the Dagster webserver and daemon on http://127.0.0.1:3000, or the next free port (Ctrl-C stops both)
	$(BIN)/python -m hibayes_assets.ui

bench: setup  ## the benchmarks; results go in benchmarks/RESULTS.md
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_hibayes_examples.py

bench-live: setup  ## the live path with `dagster dev`: one new log -> every affected report (about 10 min)
	$(BIN)/python benchmarks/bench_live.py

bench-scale: setup  ## synthetic corpora of 1k, 3k and 10k logs: cold ingest vs samples_df, time and peak RSS (about an hour)
	$(BIN)/python benchmarks/bench_scale.py --out benchmarks/scale

clean:  ## remove the local instance and warehouse (keeps .venv)
	rm -rf .dagster .hibayes
