#!/usr/bin/env bash
# The embedded demo, run by `make demo` in the environment the Makefile sets (AIRFLOW_HOME,
# connections, BDS_CONFIG, BDS_DATA_DIR, DEMO, DEMO_FROM, DEMO_TO, DEMO_MONTH), while an
# api-server of the demo's Airflow runs (python -m bds_tools.airflow_local with-api-server). Every run
# goes through Airflow (`airflow dags test --use-executor`): each task runs as a worker runs it,
# its log kept where the UI (`make airflow`) shows it; each run's own log is under $DEMO.
set -euo pipefail

# Run one DAG through Airflow; on failure show the end of its log and stop. Airflow 3.3.2's
# LocalExecutor can leave one worker waiting for work after the run has finished, and `dags
# test` then waits for it forever: once the run is over, an idle worker gets a minute to go.
run_dag() {
    local log="$1"; shift
    airflow dags test --use-executor "$@" > "$log" 2>&1 &
    local pid=$! status=0 waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if grep -q "DagRun Finished" "$log" && (( waited++ >= 60 )); then
            pkill -TERM -P "$pid" -f "LocalExecutor: <idle>" || true
        fi
        sleep 1
    done
    wait "$pid" || status=$?
    if (( status != 0 )) || ! grep -q "state=success" "$log"; then
        grep -E "ERROR|Error|error" "$log" | tail -n 20 || tail -n 40 "$log"
        echo "demo: airflow dags test $* failed (log: $log; the tasks' logs: $AIRFLOW_HOME/logs)" >&2
        exit 1
    fi
}

transmitting() {
    python -c 'from bds.config.store import current_config as c; raise SystemExit(not c().billing_server.transmit)'
}

echo "Seeding the demo sources (SQLite) in $DEMO/sources"
python -m bds.demo --sqlite-dir "$DEMO/sources" --config "$BDS_CONFIG" --from "$DEMO_FROM" --to "$DEMO_TO" > "$DEMO/seed.log"

echo "Seeding the configuration store (bds_db: $DEMO/data/bds.db) from $BDS_CONFIG"
python -m bds.config seed

day="$DEMO_FROM"
while [[ ! "$day" > "$DEMO_TO" ]]; do
    run_dag "$DEMO/run-$day.log" bds_daily "$day" -c "{\"date\": \"$day\"}"
    echo "bds_daily billed $day through Airflow (log: $DEMO/run-$day.log)"
    day=$(date -d "$day + 1 day" +%F)
done
if transmitting; then
    run_dag "$DEMO/transmit-daily.log" bds_transmit
    echo "bds_transmit sent the daily files (log: $DEMO/transmit-daily.log)"
fi

run_dag "$DEMO/run-$DEMO_MONTH.log" bds_monthly -c "{\"month\": \"$DEMO_MONTH\"}"
echo "bds_monthly rolled up $DEMO_MONTH through Airflow (log: $DEMO/run-$DEMO_MONTH.log)"
if transmitting; then
    run_dag "$DEMO/transmit-monthly.log" bds_transmit
    echo "bds_transmit sent the monthly files (log: $DEMO/transmit-monthly.log)"
    echo
    python -m bds.report --transmission
    echo
    python -m bds.manifest --s3
else
    echo
    python -m bds.report
    echo
    python -m bds.manifest
fi
echo
python -m bds.ledger check  # the billing ledger the console reads, against the archive

echo
echo "The billing console (Billing in the Airflow UI's navigation), the configuration API and its"
echo "Swagger UI, behind the Airflow login (after \`make airflow\`):"
echo "  http://127.0.0.1:${AIRFLOW_PORT:-8080}/bds/console/tenants"
echo "  http://127.0.0.1:${AIRFLOW_PORT:-8080}/bds/api/v1/tenants"
echo "  http://127.0.0.1:${AIRFLOW_PORT:-8080}/bds/docs"
echo "From a terminal: python -m bds.config show (README.md, \"Configuring tenants\")"
