"""Shared by the end-to-end tests: the DAGs, demo sources and helpers to run them.

The demo generator seeds March 2026, in which the demo tenants go live (101 and 102 on
the 25th, 105 on the 28th).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pendulum
import pytest

from bds.catalogue import METRICS
from bds.config import Billable, load_billing_config
from bds.demo import day_range, seed_sources
from bds.files import daily_file_name
from tests.conftest import ROOT

DEMO_CONFIG = ROOT / "include" / "config" / "demo.yaml"
DAYS = day_range(pendulum.date(2026, 3, 25), pendulum.date(2026, 3, 31))
BILLED_DAY = pendulum.date(2026, 3, 29)  # Berlin springs forward: a 23-hour day for tenant 102
SOURCES = ("gim", "gvp", "cme")
SCALE = 0.3


@pytest.fixture(scope="session")
def dags():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags")).dags
    for dag in bag.values():
        for task in dag.tasks:  # a failure must show at once, not after the production retry delays
            task.retries = 0
    return bag


@pytest.fixture(scope="session")
def bds_daily(dags):
    return dags["bds_daily"]


@pytest.fixture(scope="session")
def bds_monthly(dags):
    return dags["bds_monthly"]


@pytest.fixture(scope="session")
def bds_transmit(dags):
    return dags["bds_transmit"]


@pytest.fixture(scope="session")
def bds_housekeeping(dags):
    return dags["bds_housekeeping"]


def sqlite_connections(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return {s: json.dumps({"conn_type": "sqlite", "host": str(folder / f"{s}.db")}) for s in SOURCES}


def seed(urls: dict[str, str], config_path=DEMO_CONFIG):
    seed_sources(urls, load_billing_config(config_path), DAYS, seed=11, scale=SCALE)


def use(monkeypatch, data_dir: Path, connections: dict[str, str], config=DEMO_CONFIG):
    """Bill with the YAML file ``config`` as the source of truth (the tests change it between
    runs), recorded in a configuration store under ``data_dir``."""
    monkeypatch.setenv("BDS_CONFIG", str(config))
    monkeypatch.setenv("BDS_CONFIG_SOURCE", "file")
    monkeypatch.setenv("BDS_DATA_DIR", str(data_dir))
    for source, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_BDS_{source.upper()}", value)


def run_day(dag, day=BILLED_DAY):
    logical = pendulum.datetime(day.year, day.month, day.day, tz="UTC")
    return dag.test(logical_date=logical, run_conf={"date": day.isoformat()})


def files(data_dir: Path, kind: str = "daily") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((data_dir / "archive").glob(f"*/{kind}/**/*.csv"))}


def run_month(dag, month="2026-03"):
    return dag.test(logical_date=pendulum.datetime(2026, 4, 3, 6, tz="UTC"), run_conf={"month": month})


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances() if ti.map_index in (-1, 0)}


def expected_names(day) -> set[str]:
    config = load_billing_config(DEMO_CONFIG)
    names = set()
    for tenant in config.tenants:
        if tenant.billable is not Billable.PURECONNECT or (tenant.production_date and day < tenant.production_date):
            continue
        for key in tenant.enabled_metrics:
            metric = METRICS[key]
            for region in tenant.billed_regions if metric.scope == "region" else ["GLOBAL"]:
                names.add(daily_file_name(tenant, metric, region, day))
    return names


@pytest.fixture(scope="session")
def sqlite_sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlite-sources")
    connections = sqlite_connections(folder)
    seed({s: f"sqlite:///{folder / f'{s}.db'}" for s in SOURCES})
    return connections


@pytest.fixture
def own_sources(sqlite_sources, tmp_path):
    """A private copy of the demo sources, so a test may change their rows."""
    folder = tmp_path / "sources"
    connections = {}
    for source, value in sqlite_sources.items():
        conn = json.loads(value)
        folder.mkdir(exist_ok=True)
        copy = shutil.copy(conn["host"], folder / f"{source}.db")
        connections[source] = json.dumps(conn | {"host": str(copy)})
    return connections, folder


def drop_sessions_of_day(gim: Path, tenant_id: int, day: date, zone: str) -> int:
    """Info Mart reloads ``day``: every agent session of the tenant touching it (in ``zone``) is
    gone from the SQLite Info Mart ``gim``. Returns how many went."""
    start = int(datetime.combine(day, time(), ZoneInfo(zone)).timestamp())
    end = int(datetime.combine(day + timedelta(days=1), time(), ZoneInfo(zone)).timestamp())
    with sqlite3.connect(gim) as db:
        return db.execute(
            "DELETE FROM SM_RES_SESSION_FACT WHERE START_TS < ? AND (END_TS IS NULL OR END_TS > ?) AND TENANT_KEY IN "
            "(SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = ?)",
            (end, start, tenant_id),
        ).rowcount


def summary_of(run) -> str:
    """What the run's ``summary`` task returned (its XCom, as the UI shows it)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == "summary",
                XComModel.key == "return_value",
            )
        ).one()
        return XComModel.deserialize_value(row)
