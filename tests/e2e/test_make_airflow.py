"""``make airflow`` on a port of its own: the UI, the tasks' execution API and the run notes
all move with ``AIRFLOW_PORT``; nothing secret reaches the terminal; a run's task logs are
served by the UI."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from bds_tools.airflow_local import Airflow, free_port, passwords_file, stop
from tests.conftest import ROOT
from tests.e2e.conftest import SOURCES


def test_make_airflow_on_another_port_runs_a_day_with_its_note_and_logs_and_prints_no_secret(sqlite_sources, tmp_path):
    demo = tmp_path / "demo"
    (demo / "sources").mkdir(parents=True)
    for source in SOURCES:  # the demo's sources, as `make demo` leaves them
        shutil.copy(json.loads(sqlite_sources[source])["host"], demo / "sources" / f"{source}.db")
    port = free_port()
    output = tmp_path / "make-airflow.out"
    with output.open("w") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(ROOT), "airflow", f"DEMO={demo}", f"AIRFLOW_PORT={port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    airflow = Airflow(demo / "airflow", {"AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port)}, logs=[output])
    try:
        airflow.wait("the api-server on the chosen port", lambda: answers(airflow, "/api/v2/dags/bds_daily"), timeout=300)
        run_id = "manual__make-airflow"
        airflow.api(
            "POST", "/api/v2/dags/bds_daily/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": {"date": "2026-03-29"}}
        )
        airflow.api("PATCH", "/api/v2/dags/bds_daily", {"is_paused": False})
        run = f"/api/v2/dags/bds_daily/dagRuns/{quote(run_id)}"
        airflow.wait("the run", lambda: airflow.api("GET", run)["state"] in ("success", "failed"), timeout=600)
        assert airflow.api("GET", run)["state"] == "success", airflow.tails()  # the tasks reached the execution API
        assert airflow.api("GET", run)["note"] == "Bills 2026-03-29 (3 tenants)"
        log = airflow.api("GET", f"{run}/taskInstances/plan/logs/1")
        assert "run note: Bills 2026-03-29 (3 tenants)" in json.dumps(log), log  # the plan task's own log, served by the UI
        # The configuration API is served behind the UI's login, its store seeded by the run's plan.
        assert [t["tenant_id"] for t in airflow.api("GET", "/bds/api/v1/tenants")][:2] == [101, 102]
        # The run's render tasks wrote the billing ledger, naming themselves; the console reads it.
        files = airflow.api("GET", "/bds/api/v1/ledger/tenants/101/files?period=2026-03-29")["files"]
        produced = {
            (v["dag_id"], v["run_id"], v["task_id"], v["map_index"] >= 0, v["state"]) for f in files for v in f["versions"]
        }
        assert files and produced == {("bds_daily", run_id, "bill_tenant.render", True, "archived")}
        northwind = next(t for t in airflow.api("GET", "/bds/api/v1/console/tenants") if t["tenant_id"] == 101)
        assert northwind["last_billed_day"] == "2026-03-29"
        assert northwind["last_run"] == {"dag_id": "bds_daily", "run_id": run_id, "state": "success"}
        anonymous = urllib.request.Request(f"http://127.0.0.1:{port}/bds/api/v1/tenants")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(anonymous, timeout=30)
        assert refused.value.code == 401
    finally:
        stop(make)
    printed = output.read_text()
    assert f"Airflow UI: http://127.0.0.1:{port}  user admin, password in {passwords_file(demo / 'airflow')}" in printed
    assert (
        f"Billing configuration API: http://127.0.0.1:{port}/bds/api/v1  Swagger UI: http://127.0.0.1:{port}/bds/docs" in printed
    )
    assert f"Billing console: Billing in the UI's navigation, or http://127.0.0.1:{port}/bds/console/tenants" in printed
    secrets = json.loads(passwords_file(demo / "airflow").read_text())
    assert passwords_file(demo / "airflow").stat().st_mode & 0o077 == 0  # the owner's alone
    assert not any(password in printed for password in secrets.values())
    assert "AIRFLOW_CONN" not in printed and "conn_type" not in printed


def answers(airflow: Airflow, path: str) -> bool:
    try:
        airflow.api("GET", path)
    except OSError:  # not listening yet, or the DAG not parsed yet (404)
        time.sleep(2)
        return False
    return True
