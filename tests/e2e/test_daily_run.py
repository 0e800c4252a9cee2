"""bds_daily end to end through Airflow's dag.test(), on SQLite and on PostgreSQL sources.

The demo generator seeds the same days into both; the billing files must be the same
bytes whichever database served them, and a rerun must not change a byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa
import yaml

from bds.catalogue import METRICS
from bds.config import Billable, load_billing_config
from bds.demo import day_range, seed_sources
from bds.files import COLUMNS, daily_file_name
from tests.conftest import ROOT

DEMO_CONFIG = ROOT / "include" / "config" / "demo.yaml"
DAYS = day_range(pendulum.date(2026, 3, 7), pendulum.date(2026, 3, 9))
BILLED_DAY = pendulum.date(2026, 3, 8)  # New York springs forward; tenant 105 starts production
SOURCES = ("gim", "gvp", "cme")
SCALE = 0.3


@pytest.fixture(scope="session")
def bds_daily():
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["bds_daily"]
    for task in dag.tasks:  # a failure must show at once, not after the production retry delays
        task.retries = 0
    return dag


def sqlite_connections(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    return {s: json.dumps({"conn_type": "sqlite", "host": str(folder / f"{s}.db")}) for s in SOURCES}


def seed(urls: dict[str, str], config_path=DEMO_CONFIG):
    seed_sources(urls, load_billing_config(config_path), DAYS, seed=11, scale=SCALE)


def use(monkeypatch, data_dir: Path, connections: dict[str, str], config=DEMO_CONFIG):
    monkeypatch.setenv("BDS_CONFIG", str(config))
    monkeypatch.setenv("BDS_DATA_DIR", str(data_dir))
    for source, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_BDS_{source.upper()}", value)


def run_day(dag, day=BILLED_DAY):
    logical = pendulum.datetime(day.year, day.month, day.day, tz="UTC")
    return dag.test(logical_date=logical, run_conf={"date": day.isoformat()})


def files(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((data_dir / "files").rglob("*.csv"))}


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


@pytest.fixture(scope="module")
def sqlite_sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlite-sources")
    connections = sqlite_connections(folder)
    seed({s: f"sqlite:///{folder / f'{s}.db'}" for s in SOURCES})
    return connections


def test_daily_run_writes_every_file_and_reruns_byte_identical(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    first = files(tmp_path)
    assert set(first) == expected_names(BILLED_DAY)
    assert len(first) == 16 + 16 + 9  # 7 regional metrics x regions (2, 2, 1) + 2 global, per tenant
    for name, data in first.items():
        lines = data.decode().splitlines()
        assert lines[0] == ",".join(COLUMNS)
        assert all(line.startswith("2026-03-08,") for line in lines[1:]), name
    tailspin = first["CNT_GLOBAL_PES_voicemail_boxes_NOGARN_105_20260308.csv"].decode()
    assert ',"\'=Tailspin Toys, Inc.",,,,,,,,GLOBAL,voicemail_boxes,1,0,26,5,MAILBOXES,' in tailspin
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "files").rglob("*.csv")}

    assert run_day(bds_daily).state == "success"
    assert files(tmp_path) == first
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "files").rglob("*.csv")} == mtimes


def test_seat_counts_are_consistent(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    for name, data in files(tmp_path).items():
        rows = [line.split(",") for line in data.decode().splitlines()[1:]]
        if "_PES_seats_" in name:
            concurrent, enabled = (int(r[-1]) for r in rows)
            assert 0 <= concurrent <= enabled, name
    voice_us = files(tmp_path)["CNT_US_PES_seats_inbound_voice_GARN-NW-0101_101_20260308.csv"].decode()
    assert int(voice_us.splitlines()[1].rsplit(",", 1)[1]) > 0


def test_postgres_sources_give_the_same_bytes(bds_daily, sqlite_sources, pg_url, tmp_path, monkeypatch):
    admin = sa.engine.make_url(pg_url)
    schemas = {}
    for source in SOURCES:  # one database per source, as in a real installation
        name = f"{admin.database}_{source}"
        with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        schemas[source] = name
    try:
        seed({s: admin.set(database=schemas[s]).render_as_string(hide_password=False) for s in SOURCES})
        pg_connections = {
            s: json.dumps({"conn_type": "postgres", "host": admin.host, "port": admin.port or 5432,
                           "login": admin.username, "password": admin.password or "", "schema": schemas[s]})
            for s in SOURCES
        }  # fmt: skip
        use(monkeypatch, tmp_path / "pg", pg_connections)
        assert run_day(bds_daily).state == "success"
        use(monkeypatch, tmp_path / "sqlite", sqlite_sources)
        assert run_day(bds_daily).state == "success"
        assert files(tmp_path / "pg") == files(tmp_path / "sqlite")
        assert len(files(tmp_path / "pg")) == len(expected_names(BILLED_DAY))
    finally:
        with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
            for name in schemas.values():
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_bad_configuration_fails_before_anything_is_written(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["tenants"][1]["time_zone"] = "Europe/Atlantis"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    use(monkeypatch, tmp_path / "data", sqlite_sources, config=bad)
    run = run_day(bds_daily)
    assert run.state == "failed"
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert plan.state == "failed"
    assert not (tmp_path / "data" / "files").exists()


def test_billing_process_switched_off_produces_nothing(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["billing_process_enabled"] = False
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump(raw))
    use(monkeypatch, tmp_path / "data", sqlite_sources, config=off)
    assert run_day(bds_daily).state == "success"
    assert not (tmp_path / "data" / "files").exists()


def test_failed_source_keeps_other_tenants_and_earlier_files(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    before = files(tmp_path)
    broken = dict(sqlite_sources, gvp=json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "missing" / "gvp.db")}))
    use(monkeypatch, tmp_path, broken)
    run = run_day(bds_daily)
    assert run.state == "failed"
    assert files(tmp_path) == before  # nothing lost, nothing half-written
    assert not list((tmp_path / "files").rglob(".*.tmp"))
