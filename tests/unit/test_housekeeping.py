"""bds_housekeeping's rules, on hand-made staging folders, manifests, logs and alerts."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

import pytest

from bds import housekeeping, manifest
from bds.config import BillingConfig, Housekeeping
from bds.files import ARCHIVE, daily_dir, monthly_dir
from tests.unit.billing_files import billing_file

NOW = datetime(2026, 6, 15, 3, 30, tzinfo=UTC)
SETTINGS = Housekeeping(staging_days=75, month_inputs_days=35)


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
    (folder / name).write_bytes(billing_file(name))
    manifest.record_rendered(folder, {name: billing_file(name)}, config_revision=1, produced=produced_at(at))


def staged(data, day: date, tenant_id: int, written: datetime) -> None:
    """What a run of the day leaves staged once rendered (its results, its agent set, the published agent set)."""
    folder = data / "staging" / day.isoformat() / str(tenant_id)
    for part in ("daily/agents.parquet", "runs/run-1/daily/agents.parquet", "runs/run-1/daily/results.json"):
        (folder / part).parent.mkdir(parents=True, exist_ok=True)
        (folder / part).write_bytes(b"x")
        os.utime(folder / part, (written.timestamp(), written.timestamp()))


def at(month: int, day: int, hour: int = 6) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_staging_keeps_what_a_month_still_needs_and_removes_the_rest(data):
    # April, rolled up on 1 May (45 days before NOW): the inputs of its days have served their 35 days.
    stored(data, 101, date(2026, 4, 1), at(5, 1), monthly=True)
    stored(data, 101, date(2026, 4, 20), at(4, 21))
    staged(data, date(2026, 4, 20), 101, written=at(4, 21))
    # A day of April restated after the rollup (its month not rolled up again): kept.
    stored(data, 101, date(2026, 4, 25), at(5, 20))
    staged(data, date(2026, 4, 25), 101, written=at(5, 20))
    # A day of April rendered before the rollup, being rerun now (staged anew): kept.
    stored(data, 101, date(2026, 4, 22), at(4, 23))
    staged(data, date(2026, 4, 22), 101, written=at(6, 15, 1))
    # May, rolled up on 1 June (14 days ago): kept for a correction until 6 July.
    stored(data, 101, date(2026, 5, 1), at(6, 1), monthly=True)
    stored(data, 101, date(2026, 5, 10), at(5, 11))
    staged(data, date(2026, 5, 10), 101, written=at(5, 11))
    # June, not rolled up yet; a tenant with no files at all (its run failed): kept, for now.
    stored(data, 102, date(2026, 6, 14), at(6, 15, 1))
    staged(data, date(2026, 6, 14), 102, written=at(6, 15, 1))
    staged(data, date(2026, 6, 14), 103, written=at(6, 14))
    # Written 86 days ago (more than staging_days, 75), whatever it holds: removed.
    staged(data, date(2026, 3, 20), 104, written=at(3, 21))
    # An old day backfilled yesterday: staged anew, kept.
    staged(data, date(2026, 1, 5), 105, written=at(6, 14))
    (data / "staging" / "not-a-day").mkdir()

    removed = housekeeping.clean_staging(SETTINGS, data, NOW)

    assert removed == [
        "2026-03-20: tenant 104's staged files (nothing written for staging_days (75))",
        "2026-04-20: tenant 101's staged files (its month was rolled up after the day, more than month_inputs_days (35) ago)",
    ]
    left = {p.relative_to(data / "staging").parts[:2] for p in (data / "staging").rglob("*") if p.is_file()}
    assert left == {
        ("2026-01-05", "105"),
        ("2026-04-22", "101"),
        ("2026-04-25", "101"),
        ("2026-05-10", "101"),
        ("2026-06-14", "102"),
        ("2026-06-14", "103"),
    }
    assert not (data / "staging" / "2026-03-20").exists()  # the emptied day's folder too
    assert (data / "staging" / "not-a-day").is_dir()  # not ours
    assert housekeeping.clean_staging(SETTINGS, data, NOW) == []  # nothing more to do
    # Three weeks later, May's rollup is 36 days old: its day's inputs have served too.
    assert housekeeping.clean_staging(SETTINGS, data, NOW + timedelta(days=22)) == [
        "2026-05-10: tenant 101's staged files (its month was rolled up after the day, more than month_inputs_days (35) ago)"
    ]


def test_staging_days_outlast_a_month_and_its_keeping():
    assert Housekeeping(staging_days=70, month_inputs_days=35).staging_days == 70
    with pytest.raises(ValueError, match=r"staging_days \(69\) must be at least month_inputs_days \(35\) \+ 35"):
        Housekeeping(staging_days=69, month_inputs_days=35)


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
    assert housekeeping.verify(config, data, recheck_seconds=0) == "1 file(s) in the archive match their manifests"
    stored_bytes = next((data / ARCHIVE).rglob("CNT_*.csv")).read_bytes()
    next((data / ARCHIVE).rglob("CNT_*.csv")).write_bytes(b"tampered\n")
    with pytest.raises(
        housekeeping.ArchiveMismatchError,
        match=rf"the archive: 3 difference\(s\) from the manifests:\n.*bytes is 9, MANIFEST_101_20260601.json says {len(stored_bytes)}\n.*rows is 0, MANIFEST_101_20260601.json says 2",
    ):
        housekeeping.verify(config, data, recheck_seconds=0)


def test_the_archive_is_verified_on_the_configured_weekday():
    assert housekeeping.is_verify_day(Housekeeping(), date(2026, 6, 14))  # a Sunday, the default
    assert not housekeeping.is_verify_day(Housekeeping(), date(2026, 6, 15))
    assert housekeeping.is_verify_day(Housekeeping(verify_weekday="monday"), date(2026, 6, 15))


def test_a_difference_gone_when_looked_for_again_is_no_difference(data, monkeypatch):
    """A render under way: the file replaced, its manifest not yet rewritten; a minute later both agree."""
    stored(data, 101, date(2026, 6, 1), NOW)
    path = next((data / ARCHIVE).rglob("CNT_*.csv"))
    good = path.read_bytes()
    path.write_bytes(b"being replaced\n")
    monkeypatch.setattr("bds.housekeeping.time.sleep", lambda seconds: path.write_bytes(good))
    assert housekeeping.verify(BillingConfig(), data) == "1 file(s) in the archive match their manifests"
