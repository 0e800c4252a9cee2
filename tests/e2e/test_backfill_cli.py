"""Backfills through the Airflow CLI, run by a real scheduler and executor.

A private Airflow home runs ``airflow standalone`` (api-server, scheduler, dag-processor,
triggerer, LocalExecutor) on a free loopback port. ``airflow backfill create`` rebuilds a
range of days; with ``--reprocess-behavior completed`` the same range again, which must leave
every file byte-identical and untouched.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pendulum

from bds.demo import day_range
from tests.airflow_cli import Airflow, backfilled, free_port
from tests.conftest import ROOT
from tests.e2e.conftest import DEMO_CONFIG, files

FIRST, LAST = pendulum.date(2026, 3, 27), pendulum.date(2026, 3, 29)


def test_backfill_a_range_then_reprocess_it_unchanged(sqlite_sources, tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BDS_"))} | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow ...`
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "BDS_DAILY_DEADLINE": "06:00 UTC",  # deadlines work under the scheduler (dag.test() cannot run them)
        "BDS_CONFIG": str(DEMO_CONFIG),
        "BDS_DATA_DIR": str(data),
        **{f"AIRFLOW_CONN_BDS_{s.upper()}": v for s, v in sqlite_sources.items()},
    }
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/execution/"
    airflow = Airflow(home, env)
    airflow.cli("db", "migrate")
    airflow.cli("pools", "import", str(ROOT / "include" / "airflow" / "pools.json"))
    with airflow.running("standalone", "standalone"):
        airflow.wait("bds_daily to be parsed", lambda: "bds_daily" in airflow.cli("dags", "list", "-o", "plain", check=False))
        dry = airflow.cli("backfill", "create", "--dag-id", "bds_daily", "--from-date", str(FIRST), "--to-date", str(LAST), "--dry-run")
        assert all(str(d) in dry for d in day_range(FIRST, LAST))
        airflow.cli("backfill", "create", "--dag-id", "bds_daily", "--from-date", str(FIRST), "--to-date", str(LAST))
        airflow.cli("dags", "unpause", "bds_daily")  # backfill runs start once the DAG is unpaused
        airflow.wait("the backfill", lambda: backfilled(airflow.runs(), day_range(FIRST, LAST)))
        built = files(data)
        assert {name[-12:-4] for name in built} == {f"{d:%Y%m%d}" for d in day_range(FIRST, LAST)}  # exactly those days
        mtimes = {p: p.stat().st_mtime_ns for p in (data / "archive").rglob("*") if p.is_file()}

        # Rebuild the last two days again: the same inputs change nothing.
        started = time.time()
        again = ("backfill", "create", "--dag-id", "bds_daily", "--from-date", str(LAST.subtract(days=1)),
                 "--to-date", str(LAST), "--reprocess-behavior", "completed")  # fmt: skip
        # The scheduler closes a finished backfill on a later loop; until then a new one is refused.
        airflow.wait("the first backfill to close", lambda: "AlreadyRunningBackfill" not in airflow.cli(*again, tolerate="AlreadyRunningBackfill"))

        def rerun() -> bool:
            runs = [r for r in airflow.runs() if r["run_id"].startswith("backfill__") and r["logical_date"][:10] >= str(LAST.subtract(days=1))]
            return len(runs) == 2 and all(r["state"] == "success" and pendulum.parse(r["end_date"]).timestamp() > started for r in runs)

        airflow.wait("the reprocessed backfill", rerun)
        assert files(data) == built
        assert {p: p.stat().st_mtime_ns for p in (data / "archive").rglob("*") if p.is_file()} == mtimes
        assert not (data / "changes.jsonl").exists()
