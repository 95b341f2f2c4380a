# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export LASCOPF_DATA_DIR ?= $(CURDIR)/data
export LASCOPF_PROFILE ?= local

.PHONY: install dev-install lint lock lock-check test-latest dagster-home demo test dev bench bench-backfill bench-phase bench-lascopf bench-lascopf-pypsa bench-storage bench-utility phase-balance-lv clean

## installs come from the hashed locks in requirements/ (see scripts/lock.py), never from a fresh resolve
LOCK_MAIN := requirements/main.txt
LOCK_DEV := requirements/dev.txt
UV_VERSION := 0.13.8
LOCK_TOOLS := $(CURDIR)/.venv-lock
LATEST_VENV := $(CURDIR)/.venv-latest

$(VENV)/.installed: $(LOCK_MAIN) pyproject.toml
	$(PYTHON) scripts/lock.py check
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r $(LOCK_MAIN)
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PIP) check
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed $(LOCK_DEV)
	$(PIP) install --require-hashes --no-deps -r $(LOCK_DEV)
	$(PIP) check
	touch $@

install: $(VENV)/.installed
dev-install: $(VENV)/.dev-installed

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	cp dagster.local.yaml $(DAGSTER_HOME)/dagster.yaml

## the demo's daily partitions are its data's year (lascopf demo writes 2023); `make dev` after it shows the
## same days. For your own data give the window: LASCOPF_LAST_DAY= (empty: open-ended, up to today),
## LASCOPF_FIRST_DAY=YYYY-MM-DD (default 2023-01-01); see defs/partitions.py
DEMO_LAST_DAY := 2023-12-31
demo dev: export LASCOPF_LAST_DAY ?= $(DEMO_LAST_DAY)

## make demo: set up, generate the demo zone and materialize every asset on the local profile
demo: install dagster-home
	$(VENV)/bin/lascopf demo $(DEMO_ARGS)

## make test: lock matches pyproject, set up (dev extras), lint, start what the tests need (fixtures do), run pytest
test: lock-check dev-install lint
	$(PY) -m pytest -q -p no:cacheprovider

lint: dev-install
	$(VENV)/bin/ruff check .

lock-check:
	$(PYTHON) scripts/lock.py check

## make lock: re-resolve requirements/ after a change to pyproject.toml (keeps existing pins;
## UPGRADE=1 takes the newest versions the ranges allow). Commit requirements/ with the change.
lock:
	test -x $(LOCK_TOOLS)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install -q uv==$(UV_VERSION))
	$(PYTHON) scripts/lock.py compile --uv $(LOCK_TOOLS)/bin/uv $(if $(UPGRADE),--upgrade,)

## make test-latest (not in CI): the test suite in a throwaway venv with the newest versions the
## ranges allow, to see drift before it reaches users
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install -q --upgrade pip setuptools wheel
	$(LATEST_VENV)/bin/pip install -q --upgrade --upgrade-strategy eager -e ".[dev]"
	$(LATEST_VENV)/bin/pip freeze --all --exclude-editable > $(LATEST_VENV)/freeze.txt
	$(LATEST_VENV)/bin/python scripts/lock.py drift $(LATEST_VENV)/freeze.txt || true
	$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider

## make dev: the Dagster UI with the daemon (sensors, automation) on http://127.0.0.1:3000
dev: install dagster-home
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## benchmarks (long; not part of make test)
## make bench-backfill INTERVAL=15: the same zone with 15-minute readings (5, 10, 15, 20, 30; default 60, hourly)
INTERVAL ?= 60
bench-backfill: install
	$(PY) benchmarks/backfill.py$(if $(filter-out 60,$(INTERVAL)), --interval-minutes $(INTERVAL))
## 20,000 meters (10 feeders x 40 junctions) for a year as one run, and its first 90 days (memory vs days);
## the zone is generated once into benchmarks/.work/backfill/ (CSV landing files)
.PHONY: bench-backfill-utility
bench-backfill-utility: install
	$(PY) benchmarks/backfill.py --feeders 10 --junctions 40 --meters 20000 --growth-days 90 --month-days 0
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
## 30 feeders, 20,000 meters, a year: backfill as one run, then every feeder on 1 and 2 Celery workers
## (RabbitMQ on 127.0.0.1:5672; the zone is generated once into benchmarks/.work/)
bench-utility: install
	$(PY) benchmarks/utility.py
## the physics check of phase changes on the real feeders (../shared/data): European LV 1,440 min, IEEE 123 8,760 h,
## IEEE 8500 24 h, before and after together, with times and peak memory (issue 12)
.PHONY: bench-phase-impact
bench-phase-impact: install
	$(PY) benchmarks/phase_impact.py
bench: bench-backfill bench-phase bench-lascopf bench-storage

clean:
	rm -rf $(DAGSTER_HOME) data .dagster_home15 data15 $(LATEST_VENV) $(LOCK_TOOLS)

## make api: the results API (lascopf_assets/api) on http://127.0.0.1:8080 (LASCOPF_API_HOST / LASCOPF_API_PORT);
## execute endpoints need LASCOPF_API_TOKEN in the environment and a webserver (make dev) on LASCOPF_DAGSTER_PORT
.PHONY: api bench-api
api: install
	$(PY) -m lascopf_assets.api
## p50/p99 latency of the results endpoints under a bounded local load (a demo zone generated into benchmarks/.work/api)
bench-api: install
	$(PY) benchmarks/api.py
