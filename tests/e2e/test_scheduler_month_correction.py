"""A restated day corrects its month by itself, under a real scheduler and executor, and the
correction of a month already sent waits for an operator's approval, given through the REST API.

Tenant 101 goes live on 30 March. Its two days are billed, the month-end asset rolls the
month up and bds_transmit sends it all to a real S3 API on loopback (a versioned bucket, so
that every upload of a key is counted). Then Info Mart reloads the 30th: a rerun of that day
restates it, its restated-month asset starts bds_monthly for tenant 101 with no one asking.
Both the day and the month are held (a restatement of a month already sent), and bds_approvals
asks about each: the day is rejected, asked about again and approved, the month approved; what
changed then goes out once as a correction.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bds import changes, holds, manifest
from bds.manifest import sha256
from bds.receiver import check_folder
from bds.transmission import outbox_files
from tests.airflow_cli import backfilled, standalone
from tests.conftest import aws_connection, s3_client
from tests.e2e.conftest import drop_sessions_of_day, files
from tests.e2e.test_tenant_counts import MONTH_END, only
from tests.e2e.test_transmit import bucket_objects

LIVE = MONTH_END.subtract(days=1)


def uploads(endpoint: str, bucket: str) -> Counter:
    """How many times each key was uploaded (its versions in the versioned bucket)."""
    pages = s3_client(endpoint).get_paginator("list_object_versions").paginate(Bucket=bucket)
    return Counter(v["Key"].rsplit("/", 1)[1] for page in pages for v in page.get("Versions", []))


def download(endpoint: str, bucket: str, folder):
    """The billing server's files, as a receiver copies them."""
    for key, body in bucket_objects(endpoint, bucket).items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(body)
    return folder


def month_sent(data, outbox) -> bool:
    """The month's manifest lists every monthly file as uploaded, and the outbox is empty."""
    listed = manifest.read(data / "archive" / "101" / "monthly" / "2026" / "MANIFEST_101_202603.json")
    return bool(listed) and not manifest.unsent(listed) and not outbox_files(outbox)


def questions(airflow) -> dict[str, dict]:
    """The approvals bds_approvals waits for, by the period they ask about (from the subject:
    "Send the held billing files of <tenant> <period> (revision N)?")."""
    waiting = airflow.api("GET", "/api/v2/dags/bds_approvals/dagRuns/~/hitlDetails?response_received=false")
    return {d["subject"].split(") ", 1)[1].split(" ")[0]: d for d in waiting["hitl_details"]}


def run_state(airflow, run_id: str) -> str:
    return airflow.api("GET", f"/api/v2/dags/bds_approvals/dagRuns/{quote(run_id)}")["state"]


ANSWER_AFTER = timedelta(seconds=15)


def answer(airflow, question: dict, choice: str, comment: str) -> None:
    """Answer as an operator does through the REST API (the UI's Required Actions does the same),
    not within seconds of the question: an answer that reaches the scheduler before it has taken
    in the asking task's own pause makes Airflow 3.3 fail that task ("state changed externally")."""
    asked_at = datetime.fromisoformat(question["created_at"].replace("Z", "+00:00"))
    time.sleep(max(0.0, (asked_at + ANSWER_AFTER - datetime.now(UTC)).total_seconds()))
    ti = question["task_instance"]
    path = f"/api/v2/dags/bds_approvals/dagRuns/{quote(ti['dag_run_id'])}/taskInstances/{ti['task_id']}/{ti['map_index']}/hitlDetails"
    airflow.api("PATCH", path, {"chosen_options": [choice], "params_input": {"comment": comment}})


def test_a_restated_day_rolls_its_month_up_again_and_sends_the_correction_once(own_sources, s3_endpoint, s3_bucket, tmp_path):
    connections, sources = own_sources

    def live_on_the_30th(raw):
        raw["tenants"][0]["production_date"] = LIVE.isoformat()
        raw["billing_server"] |= {"transmit": True, "bucket": s3_bucket}

    s3_client(s3_endpoint).put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    data, outbox = tmp_path / "data", tmp_path / "outbox"
    outbox.mkdir()
    airflow = standalone(
        tmp_path / "airflow",
        only(tmp_path, {101}, live_on_the_30th),
        data,
        connections,
        AIRFLOW_CONN_BDS_S3=aws_connection(s3_endpoint),
        AIRFLOW_CONN_BDS_OUTBOX=json.dumps({"conn_type": "fs", "extra": {"path": str(outbox)}}),
    )
    with airflow.running("standalone", "standalone"):
        airflow.wait("the DAGs to be parsed", lambda: "bds_transmit" in airflow.cli("dags", "list", "-o", "plain", check=False))
        airflow.cli("dags", "unpause", "bds_monthly")  # its safety-net run for last month is not what this is about
        airflow.wait(
            "the safety-net run", lambda: [r for r in airflow.runs("bds_monthly") if r["run_id"].startswith("scheduled__")]
        )
        for run in airflow.runs("bds_monthly"):
            airflow.api("PATCH", f"/api/v2/dags/bds_monthly/dagRuns/{quote(run['run_id'])}", {"state": "failed"})
        airflow.cli("dags", "unpause", "bds_transmit")
        airflow.cli("dags", "unpause", "bds_approvals")

        def rolled_up(count: int) -> bool:
            done = [r for r in airflow.runs("bds_monthly") if r["run_id"].startswith("asset_triggered__")]
            assert "failed" not in [r["state"] for r in done], airflow.tails()
            return len(done) == count and all(r["state"] == "success" for r in done)

        airflow.cli("backfill", "create", "--dag-id", "bds_daily", "--from-date", str(LIVE), "--to-date", str(MONTH_END))
        airflow.cli("dags", "unpause", "bds_daily")
        airflow.wait("the backfill", lambda: backfilled(airflow.runs(), [LIVE, MONTH_END]))
        airflow.wait("the month, rolled up on its month-end", lambda: rolled_up(1))
        airflow.wait("the month, sent", lambda: month_sent(data, outbox))
        daily, monthly = files(data), files(data, "monthly")
        first = download(s3_endpoint, s3_bucket, tmp_path / "delivered-first")
        assert check_folder(first) == (3, [])  # what the receiver got checks out on its own
        assert uploads(s3_endpoint, s3_bucket) == Counter({name: 1 for name in [*daily, *monthly]}) + Counter(
            {"MANIFEST_101_20260330.json": 1, "MANIFEST_101_20260331.json": 1, "MANIFEST_101_202603.json": 1}
        )

        # Info Mart reloads the 30th: every session of tenant 101 touching it (New York time) is gone.
        assert drop_sessions_of_day(sources / "gim.db", 101, LIVE, "America/New_York") > 0
        rerun = "manual__restates-2026-03-30"
        body = {"dag_run_id": rerun, "logical_date": None, "conf": {"date": str(LIVE)}}
        airflow.api("POST", "/api/v2/dags/bds_daily/dagRuns", body)
        airflow.wait(
            "the rerun", lambda: airflow.api("GET", f"/api/v2/dags/bds_daily/dagRuns/{rerun}")["state"] in ("success", "failed")
        )
        assert airflow.api("GET", f"/api/v2/dags/bds_daily/dagRuns/{rerun}")["state"] == "success", airflow.tails()
        airflow.wait("the month, rolled up again through the restated-month asset", lambda: rolled_up(2))

        # A restatement of a month already sent: the day and the month are held, nothing queued.
        airflow.wait("the questions about the day and the month", lambda: set(questions(airflow)) == {"2026-03-30", "2026-03"})
        assert outbox_files(outbox) == []
        day_hold = holds.read_hold(holds.hold_path(data, 101, "2026-03-30"))
        assert day_hold["state"] == "waiting" and "restated" in [r["kind"] for r in day_hold["reasons"]]
        month_hold = holds.read_hold(holds.hold_path(data, 101, "2026-03"))
        assert {"restated", "held_day"} <= {r["kind"] for r in month_hold["reasons"]}
        asked = questions(airflow)
        assert "**restated**" in asked["2026-03"]["body"] and "day 2026-03-30 is waiting" in asked["2026-03"]["body"]
        # Another run (the daily safety net's, or one by hand) asks nothing while those questions wait;
        # naming a hold still asked about fails at once.
        quiet, naming = "manual__nothing-new", "manual__names-2026-03"
        for run_id, conf in ((quiet, {}), (naming, {"tenant_id": 101, "period": "2026-03"})):
            airflow.api("POST", "/api/v2/dags/bds_approvals/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf})
        airflow.wait(
            "the runs that ask nothing", lambda: {run_state(airflow, quiet), run_state(airflow, naming)} <= {"success", "failed"}
        )
        assert (run_state(airflow, quiet), run_state(airflow, naming)) == ("success", "failed")
        waiting = airflow.api("GET", "/api/v2/dags/bds_approvals/dagRuns/~/hitlDetails?response_received=false")
        assert waiting["total_entries"] == 2
        log = json.dumps(airflow.api("GET", f"/api/v2/dags/bds_approvals/dagRuns/{naming}/taskInstances/plan/logs/1"))
        assert "tenant 101 2026-03 is asked about already: its question waits in bds_approvals run" in log

        # The day rejected: it stays held. Asked about again by name, approved; the month approved.
        answer(airflow, asked["2026-03-30"], "Reject", "Info Mart is still reloading the 30th")
        airflow.wait(
            "the rejection applied", lambda: holds.read_hold(holds.hold_path(data, 101, "2026-03-30"))["state"] == "rejected"
        )
        assert outbox_files(outbox) == []
        again = {
            "dag_run_id": "manual__ask-again-2026-03-30",
            "logical_date": None,
            "conf": {"tenant_id": 101, "period": "2026-03-30"},
        }
        airflow.api("POST", "/api/v2/dags/bds_approvals/dagRuns", again)
        airflow.wait("the day asked about again", lambda: "2026-03-30" in questions(airflow))
        answer(airflow, questions(airflow)["2026-03-30"], "Approve", "reload confirmed by the Info Mart team")
        answer(airflow, questions(airflow)["2026-03"], "Approve", "follows the 30th")
        airflow.wait("the correction, sent", lambda: month_sent(data, outbox) and not holds.open_holds(data))
        day_manifest = manifest.read(data / "archive" / "101" / "daily" / "2026" / "03" / "MANIFEST_101_20260330.json")
        assert [(d["decision"], d["by"], d["comment"]) for d in day_manifest["approvals"]] == [
            ("rejected", "admin", "Info Mart is still reloading the 30th"),
            ("approved", "admin", "reload confirmed by the Info Mart team"),
        ]
        assert [
            d["decision"]
            for d in manifest.read(data / "archive" / "101" / "monthly" / "2026" / "MANIFEST_101_202603.json")["approvals"]
        ] == ["approved"]
        decided = [(c["period"], c["decision"]) for c in changes.read(data) if "decision" in c]
        assert [d for d in decided if d[0] == "2026-03-30"] == [("2026-03-30", "rejected"), ("2026-03-30", "approved")]
        assert [d for d in decided if d[0] == "2026-03"] == [("2026-03", "approved")]  # applied by its own run, in any order
        airflow.wait(
            "bds_approvals' runs to finish",
            lambda: all(r["state"] in ("success", "failed") for r in airflow.runs("bds_approvals")),
        )
        assert all(r["state"] == "success" for r in airflow.runs("bds_approvals") if r["run_id"] != naming), airflow.tails()

        restated_daily = {n for n, b in files(data).items() if b != daily[n]}
        restated_monthly = {n for n, b in files(data, "monthly").items() if b != monthly[n]}
        assert restated_daily and all(n.endswith("_20260330.csv") for n in restated_daily)
        assert restated_monthly  # the 30th carried some of the month's counts
        # Each restated file went out once more, with its day's and its month's manifests; nothing else.
        assert uploads(s3_endpoint, s3_bucket) == Counter({name: 1 for name in [*daily, *monthly]}) + Counter(
            {"MANIFEST_101_20260330.json": 2, "MANIFEST_101_20260331.json": 1, "MANIFEST_101_202603.json": 2}
        ) + Counter(restated_daily | restated_monthly)
        sent = {key.rsplit("/", 1)[1]: body for key, body in bucket_objects(s3_endpoint, s3_bucket).items()}
        assert {name: sent[name] for name in monthly} == files(data, "monthly")  # the bucket holds the corrected month
        assert rolled_up(2)  # and bds_monthly ran no more

        # The receiver checks the correction against what it got before: revision 2 of the day and
        # the month, each changed file superseding the version delivered first; then a file
        # tampered with and one lost on the way.
        second = download(s3_endpoint, s3_bucket, tmp_path / "delivered-second")
        assert check_folder(second, previous=first) == (3, [])
        month = json.loads(next(second.rglob("MANIFEST_101_202603.json")).read_bytes())
        assert month["revision"] == 2
        assert {e["name"] for e in month["files"] if e["supersedes"]} == restated_monthly
        unchanged = sorted(set(monthly) - restated_monthly)
        tampered, lost = sorted(restated_monthly)[0], (unchanged or sorted(restated_monthly))[-1]
        next(second.rglob(tampered)).write_bytes(monthly[tampered])
        next(second.rglob(lost)).unlink()
        problems = check_folder(second, previous=first)[1]
        assert any(
            p.endswith(
                f"{tampered}: sha256 is {sha256(monthly[tampered])}, MANIFEST_101_202603.json says {sha256(files(data, 'monthly')[tampered])}"
            )
            for p in problems
        )
        assert any(p.endswith(f"{lost}: listed in MANIFEST_101_202603.json but not delivered") for p in problems)
