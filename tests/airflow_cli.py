"""Airflow installations of their own for the tests that need a real scheduler and executors:
each process gets its own home, driven through Airflow's command line (``bds.airflow_local``)."""

from __future__ import annotations

from bds.airflow_local import Airflow, free_port, stop

__all__ = ["Airflow", "backfilled", "free_port", "stop"]


def backfilled(runs, days) -> bool:
    wanted = {f"{d}T00:00:00+00:00" for d in days}
    got = {r["logical_date"]: r for r in runs if r["run_id"].startswith("backfill__")}
    return wanted <= set(got) and all(got[w]["state"] == "success" for w in wanted)
