# Quick start: `make demo` (embedded demo through Airflow) and `make test` (the whole suite).
# `make demo TRANSMIT=1` also transmits to a local S3 server (moto) the demo starts.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEMO := $(CURDIR)/var/demo
DEMO_FROM := 2026-03-25
DEMO_TO := 2026-03-31
DEMO_MONTH := 2026-03
DEMO_CONFIG := $(CURDIR)/include/config/demo.yaml

# The embedded demo: SQLite sources, a local data directory and an Airflow home under var/; the
# configuration store (bds_db) is SQLite in the data directory, seeded from DEMO_CONFIG.
demo-env = \
	PATH="$(BIN):$$PATH" \
	AIRFLOW_HOME="$(DEMO)/airflow" \
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" \
	AIRFLOW__CORE__PLUGINS_FOLDER="$(CURDIR)/plugins" \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True \
	AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH=65536 \
	AIRFLOW_CONN_BDS_GIM='{"conn_type": "sqlite", "host": "$(DEMO)/sources/gim.db"}' \
	AIRFLOW_CONN_BDS_GVP='{"conn_type": "sqlite", "host": "$(DEMO)/sources/gvp.db"}' \
	AIRFLOW_CONN_BDS_CME='{"conn_type": "sqlite", "host": "$(DEMO)/sources/cme.db"}' \
	AIRFLOW_CONN_BDS_OUTBOX='{"conn_type": "fs", "extra": {"path": "$(DEMO)/data/outbox"}}' \
	AIRFLOW_CONN_BDS_DB='{"conn_type": "sqlite", "host": "$(DEMO)/data/bds.db"}' \
	BDS_CONFIG="$(DEMO_CONFIG)" \
	BDS_DATA_DIR="$(DEMO)/data" \
	DEMO="$(DEMO)" DEMO_FROM=$(DEMO_FROM) DEMO_TO=$(DEMO_TO) DEMO_MONTH=$(DEMO_MONTH) AIRFLOW_PORT=$(AIRFLOW_PORT)

.PHONY: demo test lint bench airflow venv clean compose-env screenshots

venv: $(VENV)/.installed

# The development environment: the runtime, the suite's and the tools' packages
# (requirements-dev.txt), the package (src/bds) and the development tools (tools/bds_tools).
$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml tools/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e . -e tools
	touch $@

demo: venv
	@rm -rf "$(DEMO)" && mkdir -p "$(DEMO)"
	@$(demo-env) $(BIN)/python -m bds_tools.airflow_local with-api-server -- \
		$(if $(filter 1 yes true,$(TRANSMIT)),$(BIN)/python -m bds_tools.demo_s3 --config "$(DEMO_CONFIG)" --dir "$(DEMO)/s3" --) \
		include/demo/demo.sh

# The UI on the demo (`make airflow AIRFLOW_PORT=9090` for another port): the api-server, the
# tasks' execution API and the run notes' REST client all move with the port. Nothing secret
# is echoed: the recipe is silent, and the password is only in the file it names.
AIRFLOW_PORT ?= 8080
airflow: venv
	@test -f "$(DEMO)/sources/gim.db" || $(MAKE) demo
	@$(demo-env) $(BIN)/python -m bds_tools.airflow_local standalone --port $(AIRFLOW_PORT)

test: venv
	$(BIN)/python -m pytest

# ruff (lint and format, pyproject.toml) over the Python, sqlfluff (.sqlfluff) over include/sql.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint include/sql

# The benchmark (README.md, "Performance"): not part of `make test`; needs the PostgreSQL the
# suite uses (BDS_TEST_PG_URL) and several GB of disk at scale 4.
BENCH_ARGS ?= --scale 1 --scale 4 --runs 3
bench: venv
	$(BIN)/python -m bds_tools.bench $(BENCH_ARGS)

# The README's screenshots of the billing console (docs/console/*.png), taken by its browser
# tests (Debian's chromium) on the demo's month; `make test` keeps its own in var/test-output.
screenshots: venv
	BDS_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q -p no:cacheprovider tests/console/test_console_browser.py

# .env for docker compose (README.md, "Deployment"): .env.example with fresh secrets.
compose-env:
	$(PYTHON) include/deploy/compose_env.py

clean:
	rm -rf var $(VENV)
