"""Waiting costs nothing: under a real scheduler, triggerer and executor, tenants whose day has
not ended wait in the triggerer, holding no pool slot and no process, while another run bills
its day through the single slot of the default pool."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import psutil

from tests.airflow_cli import standalone
from tests.e2e.test_tenant_counts import only

WAIT = "bill_tenant.wait_for_day_end"


def test_tenants_waiting_for_their_day_end_hold_no_slot_and_no_process(sqlite_sources, tmp_path):
    def far_west(raw):  # UTC-12: today ends at noon UTC tomorrow, whenever the test runs
        for tenant in raw["tenants"]:
            tenant["time_zone"] = "Etc/GMT+12"

    config = only(tmp_path, {101, 102}, far_west)
    airflow = standalone(tmp_path / "airflow", config, tmp_path / "data", sqlite_sources)
    airflow.cli("pools", "set", "default_pool", "1", "one task at a time")
    today = datetime.now(UTC).date().isoformat()
    with airflow.running("standalone", "standalone"):
        airflow.wait("the DAGs to be parsed", lambda: "bds_daily" in airflow.cli("dags", "list", "-o", "plain", check=False))
        waiting, billing = "manual__waits-for-today", "manual__bills-2026-03-29"
        for run_id, day in ((waiting, today), (billing, "2026-03-29")):
            airflow.api(
                "POST", "/api/v2/dags/bds_daily/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": {"date": day}}
            )
        airflow.api("PATCH", "/api/v2/dags/bds_daily", {"is_paused": False})

        def waits() -> list[dict]:
            path = f"/api/v2/dags/bds_daily/dagRuns/{quote(waiting)}/taskInstances/{WAIT}/listMapped"
            return airflow.api("GET", path)["task_instances"]

        airflow.wait("both tenants to defer", lambda: [ti["state"] for ti in waits()] == ["deferred", "deferred"])
        run = f"/api/v2/dags/bds_daily/dagRuns/{quote(billing)}"
        airflow.wait("the other run", lambda: airflow.api("GET", run)["state"] in ("success", "failed"))
        # Its every task went through the default pool's one slot while both tenants waited.
        assert airflow.api("GET", run)["state"] == "success", airflow.tails()

        deferred = waits()
        assert [ti["state"] for ti in deferred] == ["deferred", "deferred"]
        assert sorted(ti["rendered_map_index"] for ti in deferred) == ["Contoso Health (102)", "Northwind Care (101)"]
        for ti in deferred:
            trigger = ti["trigger"]
            assert trigger["classpath"] == "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
            assert trigger["triggerer_id"] is not None  # a triggerer holds it
        # Unpausing also starts the scheduled run of yesterday, whose tenants wait too until noon UTC.
        everywhere = airflow.api("GET", "/api/v2/dags/bds_daily/dagRuns/~/taskInstances?state=deferred")["task_instances"]
        assert {ti["task_id"] for ti in everywhere} == {WAIT}
        assert {ti["id"] for ti in deferred} <= {ti["id"] for ti in everywhere}
        assert len(everywhere) in (2, 4)
        pool = airflow.api("GET", "/api/v2/pools/default_pool")
        assert (pool["deferred_slots"], pool["occupied_slots"], pool["running_slots"], pool["open_slots"]) == (
            len(everywhere),
            0,
            0,
            1,
        )
        ids = {ti["id"] for ti in everywhere}
        processes = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"]]
        assert not [c for c in processes if any(i in " ".join(c) for i in ids)]  # a task process is titled by its id
        assert airflow.api("GET", f"/api/v2/dags/bds_daily/dagRuns/{quote(waiting)}")["state"] == "running"
        assert not list((tmp_path / "data").rglob(f"*_{today.replace('-', '')}.csv"))  # nothing billed for a day not ended
