# Quick start: `make demo` (embedded demo through Airflow) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
DEMO := $(CURDIR)/var/demo
DEMO_FROM := 2026-03-25
DEMO_TO := 2026-03-31
DEMO_MONTH := 2026-03

# The embedded demo: SQLite sources, a local data directory and an Airflow home under var/.
demo-env = \
	PATH="$(BIN):$$PATH" \
	AIRFLOW_HOME="$(DEMO)/airflow" \
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" \
	AIRFLOW__CORE__PLUGINS_FOLDER="$(CURDIR)/plugins" \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True \
	AIRFLOW_CONN_BDS_GIM='{"conn_type": "sqlite", "host": "$(DEMO)/sources/gim.db"}' \
	AIRFLOW_CONN_BDS_GVP='{"conn_type": "sqlite", "host": "$(DEMO)/sources/gvp.db"}' \
	AIRFLOW_CONN_BDS_CME='{"conn_type": "sqlite", "host": "$(DEMO)/sources/cme.db"}' \
	BDS_CONFIG="$(CURDIR)/include/config/demo.yaml" \
	BDS_DATA_DIR="$(DEMO)/data"

.PHONY: demo test airflow venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

demo: venv
	@rm -rf "$(DEMO)" && mkdir -p "$(DEMO)"
	@echo "Seeding the demo sources (SQLite) in $(DEMO)/sources"
	@$(demo-env) $(BIN)/python -m bds.demo --sqlite-dir "$(DEMO)/sources" --config include/config/demo.yaml \
		--from $(DEMO_FROM) --to $(DEMO_TO) > "$(DEMO)/seed.log"
	@echo "Preparing Airflow's metadata database in $(DEMO)/airflow"
	@$(demo-env) $(BIN)/airflow db migrate > "$(DEMO)/airflow-migrate.log" 2>&1
	@set -e; day=$(DEMO_FROM); while [[ "$$day" < "$$(date -d "$(DEMO_TO) + 1 day" +%F)" ]]; do \
		$(demo-env) $(BIN)/airflow dags test bds_daily "$$day" -c "{\"date\": \"$$day\"}" > "$(DEMO)/run-$$day.log" 2>&1 \
			|| { tail -n 40 "$(DEMO)/run-$$day.log"; exit 1; }; \
		grep -q "state=success" "$(DEMO)/run-$$day.log" || { grep -E "ERROR|error|Error" "$(DEMO)/run-$$day.log" | tail -n 20; exit 1; }; \
		echo "bds_daily billed $$day through Airflow (log: $(DEMO)/run-$$day.log)"; \
		day=$$(date -d "$$day + 1 day" +%F); \
	done
	@$(demo-env) $(BIN)/airflow dags test bds_monthly -c '{"month": "$(DEMO_MONTH)"}' > "$(DEMO)/run-$(DEMO_MONTH).log" 2>&1 \
		|| { tail -n 40 "$(DEMO)/run-$(DEMO_MONTH).log"; exit 1; }
	@grep -q "state=success" "$(DEMO)/run-$(DEMO_MONTH).log" || { grep -E "ERROR|error|Error" "$(DEMO)/run-$(DEMO_MONTH).log" | tail -n 20; exit 1; }
	@echo "bds_monthly rolled up $(DEMO_MONTH) through Airflow (log: $(DEMO)/run-$(DEMO_MONTH).log)"
	@$(demo-env) $(BIN)/python -m bds.report

airflow: venv
	@test -f "$(DEMO)/sources/gim.db" || $(MAKE) demo
	@echo "Airflow UI: http://localhost:8080  user admin, password in $(DEMO)/airflow/simple_auth_manager_passwords.json.generated"
	$(demo-env) AIRFLOW__API__HOST=127.0.0.1 $(BIN)/airflow standalone

test: venv
	$(BIN)/python -m pytest

clean:
	rm -rf var $(VENV)
