# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export LASCOPF_DATA_DIR ?= $(CURDIR)/data
export LASCOPF_PROFILE ?= local

.PHONY: install dev-install dagster-home demo test dev bench bench-backfill bench-phase bench-lascopf bench-lascopf-pypsa bench-storage phase-balance-lv clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install -e ".[dev]"
	touch $@

install: $(VENV)/.installed
dev-install: $(VENV)/.dev-installed

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## make demo: set up, generate the demo zone and materialize every asset on the local profile
demo: install dagster-home
	$(VENV)/bin/lascopf demo

## make test: set up (dev extras), start what the tests need (fixtures do), run pytest
test: dev-install
	$(PY) -m pytest -q -p no:cacheprovider

## make dev: the Dagster UI with the daemon (sensors, automation) on http://127.0.0.1:3000
dev: install dagster-home
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## benchmarks (long; not part of make test)
bench-backfill: install
	$(PY) benchmarks/backfill.py
bench-phase: install
	$(PY) benchmarks/phase_balance.py --time-limit 1800
## the IEEE European LV feeder (../shared/data) through the CLI, hourly and 1-minute, K = 5
phase-balance-lv: install
	$(VENV)/bin/lascopf phase-balance ../shared/data/ieee_european_lv --max-changes 5 --json
	$(VENV)/bin/lascopf phase-balance ../shared/data/ieee_european_lv --resolution minute --max-changes 5 --time-limit 300 --json
bench-lascopf: install
	$(PY) benchmarks/lascopf.py
bench-lascopf-pypsa: install   # adds PyPSA (own virtualenv, created by the script) on the same network
	$(PY) benchmarks/lascopf.py --pypsa
bench-storage: dev-install
	$(PY) benchmarks/storage.py
bench: bench-backfill bench-phase bench-lascopf bench-storage

clean:
	rm -rf $(DAGSTER_HOME) data
