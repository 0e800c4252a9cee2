"""Backfills through the Airflow CLI, run by a real scheduler and executor.

A private Airflow home runs ``airflow standalone`` (api-server, scheduler, dag-processor,
triggerer, LocalExecutor) on a free loopback port. ``airflow backfill create`` rebuilds a
range of days; with ``--reprocess-behavior completed`` the same range again, which must leave
every file byte-identical and untouched.
"""

from __future__ import annotations

import time

import pendulum

from bds.config import load_billing_config
from bds.demo import day_range
from bds.pipeline import plan_day
from tests.airflow_cli import backfilled, standalone
from tests.e2e.conftest import DEMO_CONFIG, files

FIRST, LAST = pendulum.date(2026, 3, 27), pendulum.date(2026, 3, 29)


def test_backfill_a_range_then_reprocess_it_unchanged(sqlite_sources, tmp_path):
    data = tmp_path / "data"
    # Deadlines work under the scheduler (dag.test() cannot run them).
    airflow = standalone(tmp_path / "airflow", DEMO_CONFIG, data, sqlite_sources, BDS_DAILY_DEADLINE="06:00 UTC")
    with airflow.running("standalone", "standalone"):
        airflow.wait("bds_daily to be parsed", lambda: "bds_daily" in airflow.cli("dags", "list", "-o", "plain", check=False))
        dry = airflow.cli(
            "backfill", "create", "--dag-id", "bds_daily", "--from-date", str(FIRST), "--to-date", str(LAST), "--dry-run"
        )
        assert all(str(d) in dry for d in day_range(FIRST, LAST))
        airflow.cli("backfill", "create", "--dag-id", "bds_daily", "--from-date", str(FIRST), "--to-date", str(LAST))
        airflow.cli("dags", "unpause", "bds_daily")  # backfill runs start once the DAG is unpaused
        airflow.wait("the backfill", lambda: backfilled(airflow.runs(), day_range(FIRST, LAST)))
        built = files(data)
        assert {name[-12:-4] for name in built} == {f"{d:%Y%m%d}" for d in day_range(FIRST, LAST)}  # exactly those days
        # Each run's note says the day it bills (its run id names its data interval's end).
        config = load_billing_config(DEMO_CONFIG)
        runs = airflow.api("GET", "/api/v2/dags/bds_daily/dagRuns?limit=100")["dag_runs"]
        notes = {r["logical_date"][:10]: r["note"] for r in runs if r["dag_run_id"].startswith("backfill__")}
        assert notes == {str(d): f"Bills {d} ({len(plan_day(config, d)[0])} tenants)" for d in day_range(FIRST, LAST)}
        mtimes = {p: p.stat().st_mtime_ns for p in (data / "archive").rglob("*") if p.is_file()}

        # Rebuild the last two days again: the same inputs change nothing.
        started = time.time()
        again = (
            "backfill",
            "create",
            "--dag-id",
            "bds_daily",
            "--from-date",
            str(LAST.subtract(days=1)),
            "--to-date",
            str(LAST),
            "--reprocess-behavior",
            "completed",
        )
        # The scheduler closes a finished backfill on a later loop; until then a new one is refused.
        airflow.wait(
            "the first backfill to close",
            lambda: "AlreadyRunningBackfill" not in airflow.cli(*again, tolerate="AlreadyRunningBackfill"),
        )

        def rerun() -> bool:
            runs = [
                r
                for r in airflow.runs()
                if r["run_id"].startswith("backfill__") and r["logical_date"][:10] >= str(LAST.subtract(days=1))
            ]
            return len(runs) == 2 and all(
                r["state"] == "success" and pendulum.parse(r["end_date"]).timestamp() > started for r in runs
            )

        airflow.wait("the reprocessed backfill", rerun)
        assert files(data) == built
        assert {p: p.stat().st_mtime_ns for p in (data / "archive").rglob("*") if p.is_file()} == mtimes
        assert not (data / "changes.jsonl").exists()
