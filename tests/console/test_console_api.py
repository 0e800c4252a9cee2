"""The console's data through a real api-server, as the pages call it: who may do what, a
download that is exactly the archived version, and requests that are refused with their
problem named."""

from __future__ import annotations

import hashlib

import pytest

from tests.console.demo_month import MISSING, RESTATED_DAY

pytestmark = pytest.mark.postgres


def versions_of(console, tenant_id: int, period: str) -> list[dict]:
    answer = console.call("GET", f"/ledger/tenants/{tenant_id}/files", params={"period": period})
    assert answer.status_code == 200, answer.text
    return [v for f in answer.json()["files"] for v in f["versions"]]


def test_every_role_reads_and_only_op_and_admin_may_acknowledge(console):
    for role in ("viewer", "user", "op", "admin"):
        assert console.call("GET", "/console/tenants", role=role).status_code == 200
    flag = console.call("GET", "/ledger/anomalies", role="viewer").json()[0]
    for role in ("viewer", "user"):
        answer = console.call("POST", f"/ledger/anomalies/{flag['id']}/acknowledge", role=role, json={"comment": "seen"})
        assert answer.status_code == 403 and "Op or Admin" in answer.json()["detail"]
    assert console.call("GET", "/ledger/anomalies", params={"state": "acknowledged"}).json() == []  # nothing was recorded
    unknown = console.call("POST", f"/ledger/anomalies/{'0' * 32}/acknowledge", role="op", json={"comment": "seen"})
    assert unknown.status_code == 404 and unknown.json()["detail"] == f"there is no flag {'0' * 32}"
    blank = console.call("POST", f"/ledger/anomalies/{flag['id']}/acknowledge", role="op", json={"comment": "   "})
    assert blank.status_code == 422 and [p["path"] for p in blank.json()["problems"]] == ["comment"]
    # Not JSON (what a form of another site could send with the login cookie): refused
    form = console.call(
        "POST",
        f"/ledger/anomalies/{flag['id']}/acknowledge",
        role="op",
        content='{"comment": "seen"}',
        headers={"Content-Type": "text/plain"},
    )
    assert form.status_code == 415 and "as JSON" in form.json()["detail"]
    assert console.call("GET", "/ledger/anomalies", params={"state": "acknowledged"}).json() == []


def test_a_download_is_the_archived_version_current_or_earlier(console):
    versions = versions_of(console, 101, RESTATED_DAY.isoformat())
    current = next(v for v in versions if v["current"] and v["changes"])
    earlier = next(v for v in versions if not v["current"] and v["name"] == current["name"])
    for version in (current, earlier):
        answer = console.call("GET", f"/ledger/files/{version['name']}/{version['sha256']}", role="viewer")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["content-disposition"] == f'attachment; filename="{version["name"]}"'
        assert hashlib.sha256(answer.content).hexdigest() == version["sha256"]
    assert console.call("GET", f"/ledger/files/{current['name']}/{current['sha256']}", role=None).status_code == 401
    assert console.call("GET", f"/ledger/files/{current['name']}/{'0' * 64}").status_code == 404


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fbds.db",
        "CNT_US_PES_x_G_1_20260327.csv%2F..",
        "MANIFEST_101_20260327.json",
        "CNT_US_PES_seats_chat_G_101_20260327.csv.tmp",
    ],
)
def test_a_download_never_reaches_a_path_the_ledger_did_not_record(console, name):
    answer = console.call("GET", f"/ledger/files/{name}/{'a' * 64}")
    assert answer.status_code in (404, 422) and "bds.db" not in answer.text.replace(name, "")


def test_transmission_states_and_the_restatement_diff_are_in_the_data(console):
    versions = versions_of(console, 101, RESTATED_DAY.isoformat())
    current = [v for v in versions if v["current"]]
    assert {v["state"] for v in current} == {"sent"} and all(v["s3_uri"].startswith("s3://bds-console-") for v in current)
    restated = [v for v in current if v["changes"]]
    assert restated and all(v["config_revision"] == 2 for v in restated)
    for v in restated:
        earlier = next(e for e in versions if e["name"] == v["name"] and not e["current"])
        assert v["changes"] == [
            {"count": c, "old": earlier["counts"][c], "new": v["counts"][c]}
            for c in sorted(v["counts"])
            if earlier["counts"][c] != v["counts"][c]
        ]
        assert earlier["state"] == "archived" and earlier["superseded_reason"].startswith("restated")
    month = versions_of(console, 102, "2026-03")
    failed = [v for v in month if v["state"] == "failed"]
    assert len(failed) == 1 and "bds-no-such-bucket" in failed[0]["failure"] and failed[0]["attempts"][-1]["outcome"] == "failed"
    assert {v["state"] for v in month} - {"failed"} == {"queued"}


def test_results_name_a_missing_day_and_refuse_a_range_they_cannot_show(console):
    tenant, day = MISSING
    results = console.call("GET", f"/ledger/tenants/{tenant}/results", params={"start": "2026-03-25", "end": "2026-03-31"}).json()
    assert results["missing_days"] == [day.isoformat()]  # 105 went live on the 28th: the 25th to 27th were not due
    assert all(day.isoformat() not in s["days"] for s in results["series"]) and results["series"]
    backwards = console.call("GET", f"/ledger/tenants/{tenant}/results", params={"start": "2026-03-31", "end": "2026-03-01"})
    assert backwards.status_code == 422 and backwards.json()["problems"][0]["path"] == "query.start"
    impossible = console.call("GET", f"/ledger/tenants/{tenant}/files", params={"period": "2026-02-30"})
    assert impossible.status_code == 422 and impossible.json()["problems"][0]["path"] == "query.period"
