"""Airflow installations of their own for the tests that need a real scheduler and executors:
each process gets its own home, driven through Airflow's command line (``bds_tools.airflow_local``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bds_tools.airflow_local import POOLS, Airflow, api_server_env, free_port, stop
from tests.conftest import ROOT

__all__ = ["Airflow", "backfilled", "free_port", "standalone", "stop"]


def backfilled(runs, days) -> bool:
    wanted = {f"{d}T00:00:00+00:00" for d in days}
    got = {r["logical_date"]: r for r in runs if r["run_id"].startswith("backfill__")}
    return wanted <= set(got) and all(got[w]["state"] == "success" for w in wanted)


def standalone(home: Path, config: Path, data: Path, sources: dict[str, str], **extra: str) -> Airflow:
    """A migrated Airflow home of its own with the bds pools, for ``airflow standalone``
    (api-server, scheduler, dag-processor, triggerer, LocalExecutor) on a free loopback port
    (its plan tasks set each run's note through the REST API),
    billing with ``config`` into ``data`` from ``sources`` (``AIRFLOW_CONN_BDS_*`` by source);
    ``extra`` adds or overrides environment variables."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BDS_"))} | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow ...`
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH": "65536",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        **api_server_env(home, port),
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "BDS_CONFIG": str(config),
        "BDS_CONFIG_SOURCE": "file",  # the tests change the file between runs
        "BDS_DATA_DIR": str(data),
        **{f"AIRFLOW_CONN_BDS_{s.upper()}": v for s, v in sources.items()},
        **extra,
    }
    airflow = Airflow(home, env)
    airflow.cli("db", "migrate")
    airflow.cli("pools", "import", str(POOLS))
    return airflow
