"""Tenants on their own source databases: the demo's rows split the way a hosting provider's
installation holds them, billed through per-tenant and per-location connections, give the
files a single database gives; one tenant's unreachable Info Mart fails that tenant alone.

The split (each a copy of the demo's SQLite sources, less what is not there):
- Info Mart: 101 on bds_gim_a, 102 on bds_gim_b, 105 on the shared bds_gim. A database holds
  the TENANT rows of its own tenants only; every Info Mart query joins TENANT, so a tenant read
  from the wrong database would bill zeros.
- Configuration: 101 on bds_cme_a (its annex rows only), the others on bds_cme (without 101's).
- GVP: 101's New York location (MCP_NYC_1) on bds_gvp_nyc, which records only that component;
  the others on bds_gvp, which records every other. New York and Chicago are one region: its
  peaks combine the two servers' sessions.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import yaml

from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, files, run_day, summary_of, use

INFO_MART = {"bds_gim_a": (101,), "bds_gim_b": (102,)}
CONFIGURATION = {"bds_cme_a": (101,)}


def topology_config(folder: Path) -> Path:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    tenants = {t["tenant_id"]: t for t in raw["tenants"]}
    tenants[101] |= {"info_mart_conn_id": "bds_gim_a", "configuration_conn_id": "bds_cme_a"}
    tenants[102] |= {"info_mart_conn_id": "bds_gim_b"}
    tenants[101]["regions"] = [dict(r) for r in tenants[101]["regions"]]  # the YAML anchors share nothing here
    us = tenants[101]["regions"][0]
    us["locations"] = [dict(loc, gvp_conn_id="bds_gvp_nyc") if loc["code"] == "NYC" else loc for loc in us["locations"]]
    path = folder / "topology.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def split_sources(single: dict[str, str], folder: Path) -> dict[str, str]:
    """Copies of the single-database sources, each keeping what its connection holds; the
    connections by Airflow connection id (the shared ones too)."""
    folder.mkdir(parents=True, exist_ok=True)
    databases: dict[str, Path] = {}

    def copy(source: str, conn_id: str, *statements: tuple[str, tuple]) -> None:
        databases[conn_id] = folder / f"{conn_id}.db"
        shutil.copy(json.loads(single[source])["host"], databases[conn_id])
        with sqlite3.connect(databases[conn_id]) as db:
            for statement, values in statements:
                db.execute(statement, values)

    own = [t for tenants in INFO_MART.values() for t in tenants]
    for conn_id, tenants in INFO_MART.items():
        copy("gim", conn_id, (f"DELETE FROM TENANT WHERE TENANT_CFG_DBID NOT IN ({marks(tenants)})", tenants))
    copy("gim", "bds_gim", (f"DELETE FROM TENANT WHERE TENANT_CFG_DBID IN ({marks(own)})", tuple(own)))
    own = [t for tenants in CONFIGURATION.values() for t in tenants]
    for conn_id, tenants in CONFIGURATION.items():
        copy("cme", conn_id, (f"DELETE FROM GC_ANNEX WHERE TENANTID NOT IN ({marks(tenants)})", tenants))
    copy("cme", "bds_cme", (f"DELETE FROM GC_ANNEX WHERE TENANTID IN ({marks(own)})", tuple(own)))
    for conn_id, kept in (("bds_gvp_nyc", "="), ("bds_gvp", "<>")):
        copy(
            "gvp",
            conn_id,
            (f"DELETE FROM GVP_CDR WHERE NOT COMPONENT_NAME {kept} ?", ("MCP_NYC_1",)),
            ("DELETE FROM GVP_SPEECH_SESSION WHERE CDR_ID NOT IN (SELECT CDR_ID FROM GVP_CDR)", ()),
        )
    return {conn_id: json.dumps({"conn_type": "sqlite", "host": str(path)}) for conn_id, path in databases.items()}


def marks(values) -> str:
    return ", ".join("?" for _ in values)


def use_topology(monkeypatch, data_dir: Path, connections: dict[str, str], config: Path) -> None:
    use(monkeypatch, data_dir, {}, config=config)
    for conn_id, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def bill_once_then_split(dag, sqlite_sources, tmp_path, monkeypatch, broken: dict[str, str] | None = None):
    """Bill the day from the single databases (files under single/), then from the split ones
    with the ``broken`` connections in place of theirs (under split-data/); the second run."""
    use(monkeypatch, tmp_path / "single", sqlite_sources)
    assert run_day(dag).state == "success"
    connections = split_sources(sqlite_sources, tmp_path / "split") | (broken or {})
    use_topology(monkeypatch, tmp_path / "split-data", connections, topology_config(tmp_path))
    return run_day(dag)


def test_tenants_and_locations_on_their_own_databases_bill_what_one_database_bills(
    bds_daily, sqlite_sources, tmp_path, monkeypatch
):
    run = bill_once_then_split(bds_daily, sqlite_sources, tmp_path, monkeypatch)
    assert run.state == "success"
    expected = files(tmp_path / "single")
    assert files(tmp_path / "split-data") == expected
    assert {name.split("_")[-2] for name in expected} == {"101", "102", "105"}
    # Each server recorded only its own components: nothing was read that belonged elsewhere.
    assert "left out" not in summary_of(run)


def test_one_tenants_unreachable_info_mart_fails_that_tenant_alone_naming_its_connection(
    bds_daily, sqlite_sources, tmp_path, monkeypatch
):
    # Nothing listens on port 1 of the loopback: the connection is refused.
    unreachable = json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "bds", "schema": "gim"})
    run = bill_once_then_split(bds_daily, sqlite_sources, tmp_path, monkeypatch, {"bds_gim_b": unreachable})
    data = tmp_path / "split-data"
    assert run.state == "failed"
    single = files(tmp_path / "single")
    assert files(data) == {name: body for name, body in single.items() if "_102_" not in name}
    failed = {(ti.task_id, ti.rendered_map_index) for ti in run.get_task_instances() if ti.state == "failed"}
    assert failed == {
        ("bill_tenant.wait_for_sources", "Contoso Health (102)"),
        ("summary", None),
    }
    alerts = [json.loads(line) for line in (data / "alerts.jsonl").read_text().splitlines()]
    (alert,) = [a for a in alerts if a["task_id"] == "bill_tenant.wait_for_sources"]
    assert alert["tenant"] == "Contoso Health (102)"
    assert (
        alert["text"].count(
            "tenant 'Contoso Health' (102) day 2026-03-29: Genesys Info Mart (bds_gim_b) has not loaded the day: "
        )
        == 1
    )
    assert "127.0.0.1" in alert["text"] and "port 1" in alert["text"]
    assert BILLED_DAY.isoformat() in alert["text"]


def test_connections_with_pools_of_their_own_extract_in_them(sqlite_sources, tmp_path, monkeypatch):
    """bds_gim_a and bds_gvp_nyc get pools of their own: the DAG has an extract task for each,
    the tenants whose connection it is extract there, and every other tenant in its source's
    shared pool (bds_gim_b and bds_cme_a have none); the files are the same."""
    import subprocess
    import sys

    from airflow.models import DagBag

    from bds_tools.airflow_local import POOLS
    from tests.conftest import ROOT

    pools = json.loads(POOLS.read_text()) | {
        conn_id: {"slots": 1, "description": f"bds: queries on {conn_id}", "include_deferred": False, "source": source}
        for conn_id, source in (("bds_gim_a", "gim"), ("bds_gvp_nyc", "gvp"))
    }
    (tmp_path / "pools.json").write_text(json.dumps(pools))
    subprocess.run(
        [sys.executable, "-m", "airflow", "pools", "import", str(tmp_path / "pools.json")], check=True, capture_output=True
    )
    monkeypatch.setenv("BDS_POOLS", str(tmp_path / "pools.json"))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "bds_daily.py")).dags["bds_daily"]
    for task in dag.tasks:
        task.retries = 0
    extracts = {task.task_id: task.pool for task in dag.tasks if ".extract_" in task.task_id}
    assert extracts == {
        "bill_tenant.info_mart.extract_gim": "bds_gim",
        "bill_tenant.info_mart.extract_gim_via_bds_gim_a": "bds_gim_a",
        "bill_tenant.gvp.extract_gvp": "bds_gvp",
        "bill_tenant.gvp.extract_gvp_via_bds_gvp_nyc": "bds_gvp_nyc",
        "bill_tenant.configuration.extract_cme": "bds_cme",
    }
    for task_id, pool in extracts.items():
        if "_cme" not in task_id:  # one pool for the configuration: no gate
            gate = f"{task_id.rsplit('.', 1)[0]}.in_{pool}"
            assert dag.get_task(task_id).upstream_task_ids == {"plan", gate}
            assert dag.get_task(gate).pool == "default_pool"

    run = bill_once_then_split(dag, sqlite_sources, tmp_path, monkeypatch)
    assert run.state == "success"
    assert files(tmp_path / "split-data") == files(tmp_path / "single")
    ran = {
        (ti.rendered_map_index, ti.task_id.rsplit(".", 1)[1]): ti.pool
        for ti in run.get_task_instances()
        if ".extract_" in ti.task_id and ti.state == "success"
    }
    assert ran == {
        ("Northwind Care (101)", "extract_gim_via_bds_gim_a"): "bds_gim_a",
        ("Northwind Care (101)", "extract_gvp_via_bds_gvp_nyc"): "bds_gvp_nyc",  # its first location's server
        ("Northwind Care (101)", "extract_cme"): "bds_cme",
        **{
            (tenant, f"extract_{source}"): f"bds_{source}"
            for tenant in ("Contoso Health (102)", "=Tailspin Toys, Inc. (105)")
            for source in ("gim", "gvp", "cme")
        },
    }
    # A task skipped before it ran has no rendered label: its tenant is its map index's.
    tenants = {ti.map_index: ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "bill_tenant.render"}
    skipped = {
        (tenants[ti.map_index], ti.task_id.rsplit(".", 1)[1])
        for ti in run.get_task_instances()
        if ti.state == "skipped" and ti.task_id.startswith("bill_tenant.")
    }
    other_tenants = ("Contoso Health (102)", "=Tailspin Toys, Inc. (105)")
    assert skipped == {
        *(("Northwind Care (101)", task_id) for task_id in ("in_bds_gim", "extract_gim", "in_bds_gvp", "extract_gvp")),
        *(
            (tenant, task_id)
            for tenant in other_tenants
            for task_id in ("in_bds_gim_a", "extract_gim_via_bds_gim_a", "in_bds_gvp_nyc", "extract_gvp_via_bds_gvp_nyc")
        ),
    }
