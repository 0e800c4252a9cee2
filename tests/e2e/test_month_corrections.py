"""A day restated after its month was rolled up reaches the month, through dag.test().

Info Mart reloads the day that carried the month's peak of Concurrent voice agents: the day's
rerun says the month is restated and emits the restated-month asset for that tenant; the
month's manifest shows which day changed since its rollup; bds_monthly plans that tenant's
month alone and rolls it up again from the days as they are now; a second rerun changes
nothing and announces nothing.
"""

from __future__ import annotations

import pendulum

from bds import changes, manifest
from bds.catalogue import SOURCES, datasets_for
from bds.config import load_billing_config
from bds.files import read_counts
from bds.manifest import verify_archive
from bds.monthly import Month, restated_days
from bds.pipeline import plan_monthly_run
from bds.sources import read_sql
from tests.e2e.conftest import DAYS, DEMO_CONFIG, drop_sessions_of_day, files, run_day, run_month, summary_of, task_states, use
from tests.e2e.test_tenant_counts import only
from tests.e2e.test_transmit import asset_events

MARCH = Month.parse("2026-03")
RESTATED = "bds://billing/daily/restated-month"
VOICE = "seats_inbound_voice"


def counts_by_day(data, metric: str) -> dict[str, dict[str, int]]:
    """Tenant 101's daily counts of ``metric`` in region US, by day (YYYYMMDD), from the archive."""
    paths = sorted((data / "archive" / "101" / "daily").rglob(f"CNT_US_PES_{metric}_*.csv"))
    return {p.stem.rsplit("_", 1)[1]: read_counts(p) for p in paths}


def monthly_counts_of(data, name: str) -> dict[str, int]:
    return read_counts(next((data / "archive" / "101" / "monthly").rglob(name)))


def monthly_counts(data, metric: str) -> dict[str, int]:
    return read_counts(next((data / "archive" / "101" / "monthly").rglob(f"CNT_US_PES_{metric}_*_202603.csv")))


def test_a_day_restated_after_its_month_was_rolled_up_rolls_the_month_up_again(
    bds_daily, bds_monthly, own_sources, tmp_path, monkeypatch
):
    connections, folder = own_sources
    data = tmp_path / "data"
    use(monkeypatch, data, connections, config=only(tmp_path, {101}))
    monthly_manifest = data / "archive" / "101" / "monthly" / "2026" / "MANIFEST_101_202603.json"
    for day in DAYS:  # tenant 101 is live from the 25th
        assert run_day(bds_daily, day).state == "success"
    assert run_month(bds_monthly).state == "success"
    month_before = files(data, "monthly")
    assert restated_days(data, 101, MARCH) == []

    voice = counts_by_day(data, VOICE)
    peak = max(c["concurrent"] for c in voice.values())
    peak_days = [day for day, c in voice.items() if c["concurrent"] == peak]
    assert len(peak_days) == 1 and monthly_counts(data, VOICE)["concurrent"] == peak  # the seeded month's one peak day
    day = pendulum.parse(peak_days[0]).date()

    # Info Mart reloads that day: every session of tenant 101 touching it (in New York time) is gone.
    removed = drop_sessions_of_day(folder / "gim.db", 101, day, "America/New_York")
    assert removed > 0
    events = len(asset_events(RESTATED))
    run = run_day(bds_daily, day)
    assert run.state == "success", task_states(run)
    assert counts_by_day(data, VOICE)[peak_days[0]] == {"concurrent": 0, "enabled": 0}
    assert asset_events(RESTATED)[events:] == [{"month": "2026-03", "tenant_id": 101, "day": day.isoformat()}]
    assert (
        f"tenant 'Northwind Care' (101) day {day}: restated after month 2026-03 was rolled up (its files changed); "
        "bds_monthly rolls it up again" in summary_of(run)
    )
    assert restated_days(data, 101, MARCH) == [day.isoformat()]  # the month is stale until it is rolled up again
    assert verify_archive(data)[1] == [
        f"{monthly_manifest}: stale: day(s) {day} changed after the month was rolled up; its restated-month asset "
        "starts bds_monthly for it (or trigger bds_monthly with month=2026-03)"
    ]
    assert files(data, "monthly") == month_before

    period, work, notes = plan_monthly_run(None, asset_events(RESTATED)[events:], None, None)
    assert (period, [w["label"] for w in work]) == ("2026-03", ["tenant 'Northwind Care' (101) 2026-03"])
    assert "month 2026-03: rolled up again for tenant(s) 101: a day was restated after the month was rolled up" in notes

    assert run_month(bds_monthly).state == "success"
    voice = counts_by_day(data, VOICE)
    assert monthly_counts(data, VOICE)["concurrent"] == max(c["concurrent"] for c in voice.values()) < peak
    month_after = files(data, "monthly")
    changed = sorted(name for name in month_before if month_after[name] != month_before[name])
    assert f"CNT_US_PES_{VOICE}_GARN-NW-0101_101_202603.csv" in changed
    assert sorted(e["file"] for e in changes.read(data) if e["period"] == "2026-03") == changed
    assert restated_days(data, 101, MARCH) == [] and verify_archive(data)[1] == []
    # The month's manifest: its second revision, each restated file naming the version it supersedes.
    month = manifest.read(monthly_manifest)
    assert month["revision"] == 2 and month["config_revision"] == 1
    superseding = {e["name"]: e["supersedes"] for e in month["files"]}
    assert superseding == {name: manifest.sha256(month_before[name]) if name in changed else None for name in month_before}
    voice_total = sum(monthly_counts_of(data, name)["concurrent"] for name in month_after if f"_PES_{VOICE}_" in name)
    assert {"metric": VOICE, "count": "concurrent", "agent_group_name": "1", "total": voice_total} in month["control_totals"][
        "message_size"
    ]
    assert month["control_totals"]["files"] == len(month_after)
    # The restated day's manifest: its second revision, with the SQL that produced it.
    restated_day = manifest.read(data / "archive" / "101" / "daily" / "2026" / "03" / f"MANIFEST_101_{day:%Y%m%d}.json")
    tenant = load_billing_config(DEMO_CONFIG).tenant(101)
    assert restated_day["revision"] == 2 and restated_day["bds_version"] == manifest.bds_version()
    assert restated_day["dataset_sql"] == {
        f"{source}/{dataset}": manifest.sha256(read_sql(source, dataset, "sqlite").encode())
        for source in SOURCES
        for dataset in datasets_for(source, tenant.enabled_metrics)
    }

    events = len(asset_events(RESTATED))
    assert run_day(bds_daily, day).state == "success"  # rerun with the same rows: nothing changes
    assert asset_events(RESTATED)[events:] == [] and files(data, "monthly") == month_after


def test_a_day_restated_while_its_month_is_first_rolled_up_rolls_it_up_once_more(
    bds_daily, bds_monthly, sqlite_sources, tmp_path, monkeypatch
):
    """The render of a day restated while bds_monthly reads the month finds no monthly files yet,
    and announces nothing: the rollup sees that the day moved under it and announces it itself."""
    from bds import pipeline

    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources, config=only(tmp_path, {101}))
    for day in DAYS:
        assert run_day(bds_daily, day).state == "success"
    last = next((data / "archive" / "101" / "daily").rglob(f"CNT_US_PES_{VOICE}_*_20260331.csv"))
    read_daily = pipeline.read_daily

    def restated_meanwhile(tenant, month, data_dir):
        found = read_daily(tenant, month, data_dir)
        # A rerun of the 31st rewrites it while the month is being read.
        last.write_bytes(last.read_bytes().replace(b",Northwind Care,", b",Northwind Care (restated),"))
        return found

    monkeypatch.setattr(pipeline, "read_daily", restated_meanwhile)
    events = len(asset_events(RESTATED))
    run = run_month(bds_monthly)
    assert run.state == "success", task_states(run)
    assert asset_events(RESTATED)[events:] == [{"month": "2026-03", "tenant_id": 101, "day": "2026-03-31"}]
    assert "day(s) 2026-03-31 changed while it was rolled up; bds_monthly rolls it up again" in summary_of(run)
    assert restated_days(data, 101, MARCH) == ["2026-03-31"]
