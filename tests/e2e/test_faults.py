"""Bad input and faults end to end: what no retry can fix fails at once, naming tenant, period
and cause; nothing is half-written; the alert reaches the log."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import run_day, use


def test_a_missing_sqlite_source_fails_at_once_and_creates_nothing(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    missing = tmp_path / "moved" / "gvp.db"
    connections = sqlite_sources | {"gvp": json.dumps({"conn_type": "sqlite", "host": str(missing)})}
    use(monkeypatch, tmp_path / "data", connections)
    monkeypatch.setattr(bds_daily.get_task("bill_tenant.gvp.extract_gvp"), "retries", 2)  # production's (the suite sets 0)
    started = time.monotonic()
    run = run_day(bds_daily)
    elapsed = time.monotonic() - started
    assert run.state == "failed"
    extracts = [ti for ti in run.get_task_instances() if ti.task_id == "bill_tenant.gvp.extract_gvp"]
    assert extracts and {(ti.state, ti.try_number) for ti in extracts} == {("failed", 1)}  # not up_for_retry
    assert elapsed < 120, elapsed  # the first retry alone would have waited 2 minutes
    assert not missing.exists() and not missing.parent.exists()  # no empty database left in its place
    alerts = [json.loads(line) for line in (tmp_path / "data" / "alerts.jsonl").read_text().splitlines()]
    tenants = [ti.rendered_map_index for ti in extracts]
    assert sorted(a["tenant"] for a in alerts if a["task_id"] == "bill_tenant.gvp.extract_gvp") == sorted(tenants)
    for alert in alerts:
        if alert["task_id"] == "bill_tenant.gvp.extract_gvp":
            assert (
                f"day 2026-03-29: GVP Reporting Server (bds_gvp): the connection's SQLite database {missing} does not exist"
            ) in alert["text"]


RENDER_ON_A_FULL_DISK = r"""
import json, logging, os, subprocess, sys
data, free_pages, work = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", data], check=True)
with open(os.path.join(data, "ballast"), "wb") as ballast:  # leave free_pages pages of 4 KiB
    try:
        ballast.write(b"x" * (256 * 1024 - free_pages * 4096))
    except OSError:
        pass
import airflow.sdk  # Airflow sets up its logging on import, as it has in a task: then ours
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)
from bds import alerts
from bds.errors import PermanentError
from bds.pipeline import render
try:
    render(work)
    outcome = {"error": None}
except Exception as exc:
    outcome = {"error": str(exc), "permanent": isinstance(exc, PermanentError), "type": type(exc).__name__}
    alerts.send("bds: bds_daily render failed", str(exc), {})
outcome["files"] = sorted(
    (os.path.relpath(os.path.join(folder, n), data), os.path.getsize(os.path.join(folder, n)))
    for folder, _, names in os.walk(data) for n in names if n != "ballast"
)
print(json.dumps(outcome))
"""


def test_a_full_disk_fails_render_naming_tenant_day_file_and_cause_and_leaves_no_half_file(sqlite_sources, tmp_path, monkeypatch):
    """render on a 256 KiB file system that fills up half-way: the error names the tenant, day,
    file and cause (and the space left); every file written is whole, no temporary file and no
    manifest are left; the alert is in the log though alerts.jsonl cannot be written; once there
    is room, a rerun completes the day."""
    import subprocess
    import sys

    from bds.config import load_billing_config
    from bds.manifest import verify_archive
    from bds.pipeline import aggregate, extract_source, plan_day
    from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, expected_names

    data = tmp_path / "data"
    data.mkdir()
    use(monkeypatch, data, sqlite_sources)
    monkeypatch.setenv("BDS_STAGING_URL", (tmp_path / "staging").as_uri())  # staging on the roomy disk
    work = next(w for w in plan_day(load_billing_config(DEMO_CONFIG), BILLED_DAY, "run-1")[0] if w["tenant"]["tenant_id"] == 101)
    for source in ("gim", "gvp", "cme"):
        extract_source(work, source)
    aggregate(work)

    namespace = ["unshare", "--user", "--map-root-user", "--mount"]  # a private mount, as any user
    done = subprocess.run(
        [*namespace, sys.executable, "-c", RENDER_ON_A_FULL_DISK, str(data), "3", json.dumps(work)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["permanent"] and outcome["type"] == "StorageError", outcome
    assert outcome["error"].startswith(f"tenant 'Northwind Care' (101) day 2026-03-29: cannot write {data}/archive/101/")
    assert ": no space left on the device (0.0 MiB free of 0.2 MiB under " in outcome["error"]
    assert "Errno" not in outcome["error"]
    written = {name: size for name, size in outcome["files"] if name.startswith("archive/")}
    assert written and not any(name.endswith(".tmp") or "MANIFEST" in name for name in written)  # no half file, no manifest
    assert all(size > 0 for size in written.values()), written
    assert "ALERT bds: bds_daily render failed: tenant 'Northwind Care' (101) day 2026-03-29: cannot write" in done.stderr
    assert f"the alert could not be kept in {data}/alerts.jsonl" in done.stderr and "it is in this log only" in done.stderr

    # With room again (the namespace and its full file system are gone), the day completes.
    from bds.pipeline import render

    render(work)
    names = {n for n in expected_names(BILLED_DAY) if "_101_" in n}
    assert {p.name for p in (data / "archive").rglob("CNT_*.csv")} == names
    assert verify_archive(data) == (len(names), [])


def test_two_runs_of_one_tenant_day_at_once_stage_apart_and_agree(sqlite_sources, tmp_path, monkeypatch):
    """Two runs of the same day (a scheduled run and a manual one) interleaved step by step as
    two workers may run them: each reads its own stage, both succeed, and the second render
    finds the files the first wrote, byte for byte. (Before runs staged apart, the second
    extract took the first run's stage away and its aggregate failed with 'nothing staged'.)"""
    from bds.config import load_billing_config
    from bds.pipeline import aggregate, extract_source, plan_day, render
    from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, files

    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources)
    config = load_billing_config(DEMO_CONFIG)
    first, second = (
        next(w for w in plan_day(config, BILLED_DAY, run_id)[0] if w["tenant"]["tenant_id"] == 101)
        for run_id in ("scheduled__2026-03-29T00:00:00+00:00", "manual__2026-03-30T08:00:00+00:00")
    )
    assert first["run"] != second["run"]
    for source in ("gim", "gvp", "cme"):
        extract_source(first, source)
    extract_source(second, "gim")  # the second run starts while the first aggregates
    aggregate(first)
    for source in ("gvp", "cme"):
        extract_source(second, source)
    aggregate(second)
    done = render(first)
    written = files(data)
    again = render(second)
    assert sorted(again["unchanged"]) == sorted(done["created"]) == sorted(written)
    assert files(data) == written


def test_a_mistyped_run_parameter_is_refused_not_ignored(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    import pendulum

    use(monkeypatch, tmp_path / "data", sqlite_sources)
    run = bds_daily.test(logical_date=pendulum.datetime(2026, 3, 29, tz="UTC"), run_conf={"dte": "2026-03-29"})
    assert run.state == "failed"
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert (plan.state, plan.try_number) == ("failed", 1)
    assert not (tmp_path / "data" / "archive").exists()  # nothing was billed, not even "yesterday"


def test_run_parameters_that_would_do_the_wrong_thing_quietly():
    from types import SimpleNamespace

    import pytest
    from airflow.sdk.exceptions import AirflowFailException
    from airflow.utils.types import DagRunType

    from bds.dag_common import refuse_quiet_mistakes

    def refused(run_type, conf, accepted=("date",)) -> str:
        with pytest.raises(AirflowFailException) as info:
            refuse_quiet_mistakes(SimpleNamespace(run_type=run_type, conf=conf), accepted)
        return str(info.value)

    assert refused(DagRunType.MANUAL, {"dte": "2026-03-29"}) == (
        "refused run parameters: unknown run parameter 'dte' (did you mean 'date'?); it takes 'date'"
    )
    assert refused(DagRunType.BACKFILL_JOB, {"date": "2026-03-29"}) == (
        "refused run parameters: a backfill bills each run's own period: date='2026-03-29' would make every run of it "
        "bill that one; start the backfill again without 'date'"
    )
    assert (
        refused(DagRunType.MANUAL, {"month": "2026-03"}, ())
        == "refused run parameters: unknown run parameter 'month'; it takes none"
    )
    for run_type in DagRunType:  # what is right passes: the parameter in a manual run, nothing in a backfill
        refuse_quiet_mistakes(
            SimpleNamespace(run_type=run_type, conf={} if run_type is DagRunType.BACKFILL_JOB else {"date": "2026-03-29"}),
            ("date",),
        )
        refuse_quiet_mistakes(SimpleNamespace(run_type=run_type, conf={"date": None}), ("date",))


def test_malformed_source_rows_fail_the_tenant_day_or_are_tolerated_counted_and_named(sqlite_sources, tmp_path, monkeypatch):
    """Two of tenant 101's login sessions of the day are corrupted: one start is text (before,
    the query dropped the session without a word), one end lies before its start (before, it
    was billed as a session running backwards). By default the extract fails at once naming
    both; tolerated, the day is billed with exactly the files it gets without the two rows,
    and the summary names and counts them."""
    import shutil
    import sqlite3

    import pytest

    from bds.config import load_billing_config
    from bds.errors import PermanentError
    from bds.pipeline import aggregate, extract_source, plan_day, render, unpack
    from bds.sources import MalformedRowsError
    from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, SOURCES, files, sqlite_connections

    connections = sqlite_connections(tmp_path / "sources")
    for source in SOURCES:
        shutil.copy(json.loads(sqlite_sources[source])["host"], json.loads(connections[source])["host"])
    gim = json.loads(connections["gim"])["host"]
    config = load_billing_config(DEMO_CONFIG)
    work = next(w for w in plan_day(config, BILLED_DAY, "run-1")[0] if w["tenant"]["tenant_id"] == 101)
    window = unpack(work)[2]
    with sqlite3.connect(gim) as db:
        (start_key,), (end_key,) = db.execute(
            "SELECT s.SM_RES_SESSION_FACT_KEY FROM SM_RES_SESSION_FACT s JOIN TENANT t ON t.TENANT_KEY = s.TENANT_KEY "
            "WHERE t.TENANT_CFG_DBID = 101 AND s.ACTIVE_FLAG = 0 AND s.START_TS >= ? AND s.END_TS < ? "
            "ORDER BY s.SM_RES_SESSION_FACT_KEY LIMIT 2",
            (window.start, window.end),
        ).fetchall()
        db.execute("UPDATE SM_RES_SESSION_FACT SET START_TS = '2026-03-29 08:00' WHERE SM_RES_SESSION_FACT_KEY = ?", (start_key,))
        db.execute("UPDATE SM_RES_SESSION_FACT SET END_TS = START_TS - 60 WHERE SM_RES_SESSION_FACT_KEY = ?", (end_key,))

    def bill(data, item):
        use(monkeypatch, data, connections)
        for source in SOURCES:
            extract_source(item, source)
        aggregate(item)
        return render(item)

    context = "tenant 'Northwind Care' (101) day 2026-03-29"
    with pytest.raises(MalformedRowsError) as failed:
        bill(tmp_path / "failing", work)
    assert isinstance(failed.value, PermanentError)
    message = str(failed.value)
    assert message.startswith(
        f"{context}: Genesys Info Mart (bds_gim) has 2 malformed value(s) in rows that gim/agent_sessions reads: "
    )
    assert f"SM_RES_SESSION_FACT_KEY {start_key}: START_TS is '2026-03-29 08:00': not a number of seconds" in message
    assert f"SM_RES_SESSION_FACT_KEY {end_key}: END_TS is '" in message and "ends before it starts (START_TS " in message
    assert not (tmp_path / "failing" / "archive").exists()

    tolerant = bill(tmp_path / "tolerant", work | {"readiness": work["readiness"] | {"malformed_rows": "tolerate"}})
    assert (
        f"WARNING {context}: gim/agent_sessions: 2 malformed value(s) in source rows left out of the counts"
        in tolerant["summary"]
    )

    with sqlite3.connect(gim) as db:
        db.execute("DELETE FROM SM_RES_SESSION_FACT WHERE SM_RES_SESSION_FACT_KEY IN (?, ?)", (start_key, end_key))
    bill(tmp_path / "without", work)
    assert files(tmp_path / "tolerant") == files(tmp_path / "without") and files(tmp_path / "without")


def test_two_runs_of_one_day_in_two_processes_at_once_both_succeed_with_one_set(sqlite_sources, tmp_path):
    """Two ``airflow dags test`` processes bill 2026-03-29 at the same moment into one data
    folder, as two workers would run a scheduled and a manual run of the day: each run stages
    apart, both succeed, and the archive holds one set of the day's files, whole, in its
    manifest, with no restatement (both rendered the same bytes) and no temporary file left."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from bds.manifest import verify_archive
    from tests.airflow_cli import standalone
    from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, expected_names, files

    data = tmp_path / "data"
    with ThreadPoolExecutor(2) as pool:  # two installations: the runs share only the data folder
        homes = list(pool.map(lambda n: standalone(tmp_path / f"airflow-{n}", DEMO_CONFIG, data, sqlite_sources), (1, 2)))
    runs = {"2026-03-29": BILLED_DAY, "2026-03-30": BILLED_DAY}  # logical date (so run id) -> the day it bills
    processes = []
    for home, (logical, day) in zip(homes, runs.items(), strict=True):
        log = (tmp_path / f"run-{logical}.log").open("w")
        processes.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "airflow", "dags", "test", "bds_daily", logical, "-c", json.dumps({"date": str(day)})],
                    env=home.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
    for process, log in processes:
        process.wait(timeout=600)
        log.close()
    for logical in runs:
        output = (tmp_path / f"run-{logical}.log").read_text()
        assert "state=success" in output and "state=failed" not in output, output[-4000:]
    names = expected_names(BILLED_DAY)
    assert set(files(data)) == names
    assert verify_archive(data) == (len(names), [])
    assert not list(data.rglob("*.tmp")) and not (data / "changes.jsonl").exists()
