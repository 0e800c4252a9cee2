"""Operations end to end through dag.test(): reruns with unchanged and changed source rows
(restatements kept and logged), and the switch levels as files in the archive."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC
from urllib.parse import quote

import pytest
import yaml

from bds import changes
from bds.files import ARCHIVE, read_counts
from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, expected_names, files, run_day, summary_of, task_states, use


def test_rerun_unchanged_then_restated(bds_daily, own_sources, tmp_path, monkeypatch):
    connections, folder = own_sources
    data = tmp_path / "data"
    use(monkeypatch, data, connections)
    assert run_day(bds_daily).state == "success"
    first = files(data)
    assert run_day(bds_daily).state == "success"  # cleared and rerun with the same rows
    assert files(data) == first
    assert changes.read(data) == [] and not list((data / ARCHIVE).glob("*/versions"))

    # Info Mart corrects the day: every other voice and chat session of tenant 101 disappears.
    with sqlite3.connect(folder / "gim.db") as db:
        removed = db.execute(
            "DELETE FROM SM_RES_SESSION_FACT WHERE SM_RES_SESSION_FACT_KEY % 2 = 0 AND TENANT_KEY IN "
            "(SELECT TENANT_KEY FROM TENANT WHERE TENANT_CFG_DBID = 101)"
        ).rowcount
    assert removed > 0
    run = run_day(bds_daily)
    assert run.state == "success"
    second = files(data)
    changed = sorted(n for n in first if first[n] != second[n])
    assert changed and all("_101_" in n for n in changed)  # only tenant 101's files move
    log = changes.read(data)
    assert sorted(e["file"] for e in log) == changed
    summary = summary_of(run)  # the run's summary, in its log and as its XCom
    for entry in log:
        assert entry["tenant_id"] == 101 and entry["period"] == "2026-03-29" and entry["other_columns"] == []
        previous = data / ARCHIVE / entry["previous_version"]
        assert previous.read_bytes() == first[entry["file"]]  # the earlier version is kept, byte for byte
        old, new = read_counts(previous), read_counts(next((data / ARCHIVE).rglob(entry["file"])))
        groups = {"1": "concurrent", "2": "enabled"}
        assert {groups.get(r["AgentGroupName"], "concurrent"): (int(r["old"]), int(r["new"])) for r in entry["rows"]} == {
            name: (old[name], new[name]) for name in old if old[name] != new[name]
        }
        assert entry["config_revision"] == 1  # the configuration did not change: the sources did
        assert f"  RESTATED tenant 101 2026-03-29 {entry['file']} with configuration revision 1: " in summary
    assert run_day(bds_daily).state == "success"  # the restated day rerun: nothing more changes
    assert files(data) == second and len(changes.read(data)) == len(log)
    assert_ledger_follows(data, changed, first_run=run_id_of_first(data, changed), restating_run=run.run_id)


def run_id_of_first(data, names) -> str:
    """The run that first wrote the replaced versions, as the change log's records of them say."""
    return {e["previous"]["produced"]["run_id"] for e in changes.read(data) if e["file"] in names}.pop()


def assert_ledger_follows(data, changed, first_run: str, restating_run: str) -> None:
    """The billing ledger, written by the runs' render tasks: each restated file's two versions,
    each naming the task that wrote it, the restatement flagged; and equal to its rebuild."""
    import sqlalchemy as sa

    from bds.config.store import default_store
    from bds.ledger import files as ledger_files
    from bds.ledger import flags
    from bds.ledger.cli import main as ledger_cli

    store = default_store(data)
    with store.reading() as connection:
        versions = connection.execute(
            sa.select(
                ledger_files.c.name, ledger_files.c.current, ledger_files.c.dag_id, ledger_files.c.run_id, ledger_files.c.task_id
            ).where(ledger_files.c.name.in_(changed))
        ).all()
        restated = set(connection.execute(sa.select(flags.c.detail).where(flags.c.kind == "restated")).scalars())
    assert sorted((v.name, v.current, v.dag_id, v.run_id, v.task_id) for v in versions) == sorted(
        [(n, False, "bds_daily", first_run, "bill_tenant.render") for n in changed]
        + [(n, True, "bds_daily", restating_run, "bill_tenant.render") for n in changed]
    )
    assert first_run != restating_run and len(restated) == len(changed)
    assert ledger_cli(["check", str(data)]) == 0


def switched(tmp_path, change) -> str:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    change(raw)
    path = tmp_path / "billing.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def tenant(raw, tenant_id):
    return next(t for t in raw["tenants"] if t["tenant_id"] == tenant_id)


@pytest.mark.parametrize(
    ("level", "change", "gone"),
    [
        ("tenant", lambda raw: tenant(raw, 102).update(enabled=False), lambda n: "_102_" in n),
        (
            "region",
            lambda raw: tenant(raw, 102)["regions"][1].update(enabled=False),
            lambda n: n.startswith("CNT_US_") and "_102_" in n,
        ),
        # The demo's tenants share one metrics mapping (a YAML anchor): give 101 its own.
        (
            "metric",
            lambda raw: tenant(raw, 101).update(metrics={**tenant(raw, 101)["metrics"], "seats_chat": False}),
            lambda n: "_seats_chat_" in n and "_101_" in n,
        ),
        ("production date", lambda raw: tenant(raw, 105).update(production_date="2026-03-30"), lambda n: "_105_" in n),
    ],
)
def test_switches(bds_daily, sqlite_sources, tmp_path, monkeypatch, level, change, gone):
    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources, config=switched(tmp_path, change))
    assert run_day(bds_daily).state == "success"
    expected = {n for n in expected_names(BILLED_DAY) if not gone(n)}
    assert expected and set(files(data)) == expected, level


def test_switching_a_metric_off_supersedes_its_earlier_files(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    before = files(data)
    off = switched(tmp_path, lambda raw: tenant(raw, 101).update(metrics={**tenant(raw, 101)["metrics"], "seats_chat": False}))
    use(monkeypatch, data, sqlite_sources, config=off)
    run = run_day(bds_daily)
    assert run.state == "success"
    chat = sorted(n for n in before if "_seats_chat_" in n and "_101_" in n)
    assert len(chat) == 2 and files(data) == {n: v for n, v in before.items() if n not in chat}
    summary = summary_of(run)
    assert "2 earlier file(s) superseded (kept under versions/)" in summary
    for name in chat:
        assert (
            f"SUPERSEDED tenant 101 2026-03-29 {name}: metric seats_chat is no longer billed for the tenant (switched off)"
            in summary
        )
    superseded = {e["file"]: e for e in changes.read(data)}
    assert sorted(superseded) == chat
    for name, entry in superseded.items():
        assert (data / ARCHIVE / entry["previous_version"]).read_bytes() == before[name]  # nothing is lost
        assert all(r["new"] is None for r in entry["rows"]) and entry["rows"]


def test_a_changed_garn_leaves_one_set_of_files_for_the_day(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    """A rerun after a change of the file names: the day's files and manifest hold the new
    names only; each old file is superseded by its successor, kept, and logged."""
    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    before = {n: v for n, v in files(data).items() if "_101_" in n}
    old_garn = yaml.safe_load(DEMO_CONFIG.read_text())["tenants"][0]["garn"]
    renamed = switched(tmp_path, lambda raw: tenant(raw, 101).update(garn="GARN-NEW-1"))
    use(monkeypatch, data, sqlite_sources, config=renamed)
    run = run_day(bds_daily)
    assert run.state == "success"
    after = {n: v for n, v in files(data).items() if "_101_" in n}
    expected = {
        n.replace(f"_{old_garn}_", "_GARN-NEW-1_"): v.replace(old_garn.encode(), b"GARN-NEW-1") for n, v in before.items()
    }
    assert after == expected and len(after) == len(before)
    folder = next((data / ARCHIVE / "101" / "daily").rglob("MANIFEST_101_20260329.json"))
    manifest = json.loads(folder.read_bytes())
    assert sorted(e["name"] for e in manifest["files"]) == sorted(expected)
    assert sorted(e["name"] for e in manifest["superseded"]) == sorted(before)
    from bds.manifest import verify_archive

    assert verify_archive(data)[1] == []
    log = {e["file"]: e for e in changes.read(data)}
    assert sorted(log) == sorted(before)
    for name, entry in log.items():
        successor = name.replace(f"_{old_garn}_", "_GARN-NEW-1_")
        assert entry["superseded"] == f"replaced by {successor}: the file name changed (GARN '{old_garn}' is now 'GARN-NEW-1')"
        assert (data / ARCHIVE / entry["previous_version"]).read_bytes() == before[name]
    assert run_day(bds_daily).state == "success"  # rerun again: nothing more changes
    assert {n: v for n, v in files(data).items() if "_101_" in n} == after and len(changes.read(data)) == len(log)


def run_states(run) -> dict[str, set[str]]:
    states: dict[str, set[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, set()).add(ti.state)
    return states


def test_a_day_info_mart_has_not_loaded_waits_then_fails(bds_daily, own_sources, tmp_path, monkeypatch):
    from datetime import timedelta

    from bds.config import load_billing_config
    from bds.pipeline import plan_day, ready_at, sources_ready
    from bds.readiness import SourceNotReadyError

    connections, folder = own_sources
    with sqlite3.connect(folder / "gim.db") as db:  # Info Mart's ETL stopped at 2026-03-29 12:00 UTC
        db.execute("DELETE FROM CTL_AUDIT_LOG WHERE MAX_CHUNK_TS > 1774785600")
    config = switched(tmp_path, lambda raw: raw["sources"].update(timeout_minutes=120))
    use(monkeypatch, tmp_path / "data", connections, config=config)
    work = plan_day(load_billing_config(config), BILLED_DAY)[0][0]  # tenant 101, New York
    due = ready_at(work)
    assert sources_ready(work, now=due + timedelta(minutes=119)) == (
        False,
        [
            "tenant 'Northwind Care' (101) day 2026-03-29: Info Mart has loaded 2026-03-29 12:00 UTC "
            "(CTL_AUDIT_LOG.MAX_CHUNK_TS); the day ends 2026-03-30 04:00 UTC; with its look-ahead, 2026-03-30 06:00 UTC"
        ],
    )
    with pytest.raises(SourceNotReadyError) as late:
        sources_ready(work, now=due + timedelta(minutes=120))
    assert str(late.value) == (
        "tenant 'Northwind Care' (101) day 2026-03-29: Genesys Info Mart (bds_gim) has not loaded the day: Info Mart has loaded "
        "2026-03-29 12:00 UTC (CTL_AUDIT_LOG.MAX_CHUNK_TS); the day ends 2026-03-30 04:00 UTC; with its look-ahead, "
        "2026-03-30 06:00 UTC; gave up 120 minutes "
        "after the day became billable (sources.timeout_minutes)"
    )
    run = run_day(bds_daily)  # months later, far past the timeout: every tenant-day fails at its first look
    assert run.state == "failed"
    states = run_states(run)
    assert states["bill_tenant.wait_for_sources"] == {"failed"}
    assert states["bill_tenant.info_mart.extract_gim"] == {"upstream_failed"}
    assert files(tmp_path / "data") == {}  # never zero counts


def test_a_purged_day_fails_clearly_and_writes_nothing(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(
        monkeypatch,
        tmp_path / "data",
        sqlite_sources,
        config=switched(tmp_path, lambda raw: raw["sources"].update(gvp_retention_days=30)),
    )
    run = run_day(bds_daily)
    assert run.state == "failed"
    assert run_states(run)["bill_tenant.wait_for_sources"] == {"failed"}
    assert files(tmp_path / "data") == {}


def test_a_failed_task_alerts_the_configured_webhook(bds_daily, sqlite_sources, webhook, tmp_path, monkeypatch):
    """Through the http provider's notifier, with a connection in the earlier form (the path in
    an ``endpoint`` extra, the password as a bearer token), which still works."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BDS_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "schema": "http",
                "port": webhook.port,
                "password": "alert-token",
                "extra": {"endpoint": "/hooks/billing"},
            }
        ),
    )
    broken = dict(sqlite_sources, gvp=json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "missing" / "gvp.db")}))
    use(monkeypatch, tmp_path / "data", broken)
    run = run_day(bds_daily)
    assert run.state == "failed"
    alerts = {a["body"]["tenant"]: a for a in webhook.received}
    assert set(alerts) == {"Northwind Care (101)", "Contoso Health (102)", "=Tailspin Toys, Inc. (105)"}
    posted = alerts["Northwind Care (101)"]
    alert = posted["body"]
    assert posted["path"] == "/hooks/billing" and posted["headers"]["Authorization"] == "Bearer alert-token"
    assert alert["title"] == "bds: bds_daily bill_tenant.gvp.extract_gvp [Northwind Care (101)] failed"
    assert "tenant 'Northwind Care' (101) day 2026-03-29: GVP Reporting Server (bds_gvp)" in alert["text"]
    # The link to the failed task's log, in the alert and at the end of its text.
    mapped = f"/dags/bds_daily/runs/{quote(run.run_id)}/tasks/bill_tenant.gvp.extract_gvp/mapped/{alert['map_index']}?try_number="
    assert mapped in alert["log_url"] and alert["text"].endswith(f"log: {alert['log_url']}")
    kept = [json.loads(line) for line in (tmp_path / "data" / "alerts.jsonl").read_text().splitlines()]
    assert sorted(a["tenant"] for a in kept) == sorted(alerts)  # and kept beside the archive


def test_a_source_query_past_its_limit_fails_the_tenant_day_and_frees_its_pool_slot(
    bds_daily, sqlite_sources, tmp_path, monkeypatch
):
    from airflow.models import Pool

    from bds.limits import QUERY_TIMEOUT_ENV
    from tests.sql.test_query_timeout import sleeping_sql

    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources)
    monkeypatch.setenv("BDS_SQL_DIR", str(sleeping_sql(tmp_path, "sqlite", "rows")))  # Info Mart's agent sessions never end
    monkeypatch.setenv(QUERY_TIMEOUT_ENV, "0.02")
    run = run_day(bds_daily)
    assert run.state == "failed"
    extracts = {ti.rendered_map_index: ti for ti in run.get_task_instances() if ti.task_id == "bill_tenant.info_mart.extract_gim"}
    assert {ti.state for ti in extracts.values()} == {"failed"} and len(extracts) == 3
    assert set(extracts) == {"Northwind Care (101)", "Contoso Health (102)", "=Tailspin Toys, Inc. (105)"}
    assert run.get_task_instance("summary").state == "failed" and not files(data)
    assert all(ti.duration is not None and ti.duration < 60 for ti in extracts.values())  # cancelled at the limit
    pool = Pool.get_pool("bds_gim")
    assert pool.occupied_slots() == 0 and pool.open_slots() == pool.slots  # the failed extracts hold no slot


def test_housekeeping_verifies_the_archive_and_alerts_on_a_difference(
    bds_daily, bds_housekeeping, sqlite_sources, tmp_path, monkeypatch
):
    """A billed day leaves no extract behind (render removed them once the files were stored);
    bds_housekeeping keeps the day's results and agent set (its month is not rolled up), and
    verifies the archive: a file changed by hand fails the run at once, and the failure alerts."""
    from datetime import datetime

    data = tmp_path / "data"
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["housekeeping"] = {"staging_days": 3650}  # March 2026 is months before the clock's today
    config = tmp_path / "billing.yaml"
    config.write_text(yaml.safe_dump(raw))
    use(monkeypatch, data, sqlite_sources, config=config)
    assert run_day(bds_daily).state == "success"

    def shape(path) -> str:  # below the tenant-day's folder, the run's key left out
        parts = path.relative_to(data / "staging").parts[2:]
        return "/".join(("runs", "<run>", *parts[2:]) if parts[0] == "runs" else parts)

    staged = sorted(shape(p) for p in (data / "staging").rglob("*") if p.is_file())
    # For each of the three tenants: the run's results and agent set, and the published agent set.
    assert staged == sorted(["daily/agents.parquet", "runs/<run>/daily/agents.parquet", "runs/<run>/daily/results.json"] * 3)

    run = bds_housekeeping.test(logical_date=datetime(2026, 4, 1, 3, 30, tzinfo=UTC), run_conf={"verify": True})
    assert run.state == "success", task_states(run)
    assert len([p for p in (data / "staging").rglob("*") if p.is_file()]) == 9  # March is not rolled up: all kept

    monkeypatch.setattr("bds.housekeeping.RECHECK_SECONDS", 0)  # a difference is looked for again at once
    tampered = next((data / ARCHIVE).rglob("CNT_*_101_20260329.csv"))
    tampered.write_bytes(tampered.read_bytes() + b"a line added by hand\n")
    run = bds_housekeeping.test(logical_date=datetime(2026, 4, 2, 3, 30, tzinfo=UTC), run_conf={"verify": True})
    assert run.state == "failed" and task_states(run)["verify_archive"] == "failed"
    assert {k: v for k, v in task_states(run).items() if k != "verify_archive"} == {
        "clean_staging": "success",
        "prune_task_logs": "success",
        "prune_alerts": "success",
    }
    [alert] = [json.loads(line) for line in (data / "alerts.jsonl").read_text().splitlines()]
    assert alert["title"] == "bds: bds_housekeeping verify_archive failed"
    assert f"{tampered}: sha256 is " in alert["text"] and "difference(s) from the manifests" in alert["text"]
