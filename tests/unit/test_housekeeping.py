"""bds_housekeeping's rules, on hand-made staging folders, manifests, logs and alerts."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

import pytest

from bds import housekeeping, manifest
from bds.config import BillingConfig, Housekeeping
from bds.files import ARCHIVE, daily_dir, monthly_dir

NOW = datetime(2026, 6, 15, 3, 30, tzinfo=UTC)
SETTINGS = Housekeeping(staging_days=62, month_inputs_days=35)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BDS_STAGING_URL", raising=False)
    return tmp_path


def produced_at(moment: datetime) -> dict:
    return {"dag_id": "bds_daily", "run_id": "r", "task_id": "t", "map_index": 0, "at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def stored(data, tenant_id: int, period: date, at: datetime, monthly: bool = False) -> None:
    """A day's (or, ``monthly``, a month's) file in the archive and its manifest, produced ``at``."""
    name = f"CNT_GLOBAL_PES_seats_chat_G1_{tenant_id}_{period:%Y%m}{'' if monthly else f'{period:%d}'}.csv"
    folder = (monthly_dir if monthly else daily_dir)(data, tenant_id, period)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"x\n")
    manifest.record_rendered(folder, {name: b"x\n"}, config_revision=1, produced=produced_at(at))


def staged(data, day: date, tenant_id: int) -> None:
    folder = data / "staging" / day.isoformat() / str(tenant_id)
    for part in ("daily/agents.parquet", "runs/run-1/daily/results.json"):
        (folder / part).parent.mkdir(parents=True, exist_ok=True)
        (folder / part).write_bytes(b"x")


def test_staging_keeps_what_a_month_still_needs_and_removes_the_rest(data):
    # April, rolled up on 1 May (45 days before NOW): its inputs have served their 35 days.
    april = date(2026, 4, 20)
    stored(data, 101, april, datetime(2026, 4, 21, 6, tzinfo=UTC))
    stored(data, 101, date(2026, 4, 1), datetime(2026, 5, 1, 6, tzinfo=UTC), monthly=True)
    staged(data, april, 101)
    # A day of April restated after the rollup (its month not rolled up again): kept.
    restated = date(2026, 4, 25)
    stored(data, 101, restated, datetime(2026, 5, 20, 6, tzinfo=UTC))
    staged(data, restated, 101)
    # May, rolled up on 1 June (14 days ago): kept for a correction until 6 July.
    may = date(2026, 5, 10)
    stored(data, 101, may, datetime(2026, 5, 11, 6, tzinfo=UTC))
    stored(data, 101, date(2026, 5, 1), datetime(2026, 6, 1, 6, tzinfo=UTC), monthly=True)
    staged(data, may, 101)
    # June, not rolled up yet; a tenant with no files at all (its run failed): kept, for now.
    june = date(2026, 6, 14)
    stored(data, 102, june, datetime(2026, 6, 15, 1, tzinfo=UTC))
    staged(data, june, 102)
    staged(data, june, 103)
    # Staged for a day older than staging_days (62: before 14 April), whatever it holds: removed.
    staged(data, date(2026, 4, 13), 104)
    (data / "staging" / "not-a-day").mkdir()

    removed = housekeeping.clean_staging(SETTINGS, data, NOW)

    left = sorted(str(p.relative_to(data / "staging")) for p in (data / "staging").rglob("*") if p.is_file())
    assert left == [
        f"{d}/{t}/{part}"
        for d, t in ((restated, 101), (may, 101), (june, 102), (june, 103))
        for part in ("daily/agents.parquet", "runs/run-1/daily/results.json")
    ]
    assert (data / "staging" / "not-a-day").is_dir()  # not ours
    assert removed == [
        "2026-04-13: everything staged for the day (older than staging_days, 62)",
        "2026-04-20: tenant 101's agent set and results (its month was rolled up after the day, more than month_inputs_days, 35, ago)",
    ]
    assert housekeeping.clean_staging(SETTINGS, data, NOW) == []  # nothing more to do
    # A month later, May's inputs have served too.
    assert housekeeping.clean_staging(SETTINGS, data, NOW + timedelta(days=21))[0].startswith("2026-04-25: everything staged")


def test_task_logs_older_than_the_setting_are_removed_with_their_empty_folders(tmp_path):
    old = tmp_path / "dag_id=bds_daily" / "run_id=old" / "task_id=plan" / "attempt=1.log"
    new = tmp_path / "dag_id=bds_daily" / "run_id=new" / "task_id=plan" / "attempt=1.log"
    for path, age in ((old, 91), (new, 89)):
        path.parent.mkdir(parents=True)
        path.write_text("log")
        moment = (NOW - timedelta(days=age)).timestamp()
        os.utime(path, (moment, moment))
    assert housekeeping.prune_task_logs(tmp_path, 90, NOW) == 1
    assert not old.exists() and not (tmp_path / "dag_id=bds_daily" / "run_id=old").exists()
    assert new.read_text() == "log"


def test_alerts_older_than_the_setting_are_removed_and_the_rest_kept_as_they_were(data):
    lines = [
        json.dumps({"at": "2025-06-14T03:29:59Z", "title": "a year and a second ago"}) + "\n",
        json.dumps({"at": "2025-06-15T03:30:00Z", "title": "a year ago"}) + "\n",
        "not json, kept\n",
        json.dumps({"at": "2026-06-01T00:00:00Z", "title": "recent"}) + "\n",
    ]
    (data / "alerts.jsonl").write_text("".join(lines))
    assert housekeeping.prune_alerts(data, 365, NOW) == 1
    assert (data / "alerts.jsonl").read_text() == "".join(lines[1:])
    assert housekeeping.prune_alerts(data, 365, NOW) == 0


def test_the_archive_is_verified_against_its_manifests_and_a_difference_fails(data):
    stored(data, 101, date(2026, 6, 1), NOW)
    config = BillingConfig()
    assert housekeeping.verify(config, data) == "1 file(s) in the archive match their manifests"
    next((data / ARCHIVE).rglob("CNT_*.csv")).write_bytes(b"tampered\n")
    with pytest.raises(
        housekeeping.ArchiveMismatchError,
        match=r"the archive: 2 difference\(s\) from the manifests:\n.*bytes is 9, MANIFEST_101_20260601.json says 2",
    ):
        housekeeping.verify(config, data)


def test_the_archive_is_verified_on_the_configured_weekday():
    assert housekeeping.is_verify_day(Housekeeping(), date(2026, 6, 14))  # a Sunday, the default
    assert not housekeeping.is_verify_day(Housekeeping(), date(2026, 6, 15))
    assert housekeeping.is_verify_day(Housekeeping(verify_weekday="monday"), date(2026, 6, 15))
