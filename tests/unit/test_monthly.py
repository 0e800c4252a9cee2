"""Monthly rollups against hand-computed months."""

from datetime import UTC, date, timedelta

import pandas as pd
import pytest

from bds.catalogue import METRICS
from bds.config import parse_billing_config
from bds.files import billing_rows, daily_dir, daily_file_name, render_csv, write_atomic
from bds.monthly import MissingDailyFilesError, Month, ReconciliationError, billed_days, read_daily, rollup

METRICS_ON = {"seats_chat": True, "gvp_asr_ports": True, "voicebot_interactions": True, "voicemail_boxes": True}


def make_tenant(raw_config, **changes):
    raw_config["tenants"][0] |= {"metrics": METRICS_ON} | changes
    return parse_billing_config(raw_config).tenants[0]


def days_of(month: Month):
    return [month.first + timedelta(days=n) for n in range((month.last - month.first).days + 1)]


def chat_agents(day: date) -> list[int]:
    """Agent 1 on the 1st..10th, agent 2 on the 5th and 6th, agent 3 on the 28th (US)."""
    return [a for a, on in ((1, day.day <= 10), (2, day.day in (5, 6)), (3, day.day == 28)) if on]


def build_store(data_dir, tenant, month, *, chat_peak=lambda d: min(len(chat_agents(d)), 1), asr=lambda d: d.day % 7):
    """Daily files and staged agent sets as bds_daily leaves them."""
    staged = []
    for day in days_of(month):
        values = {
            ("seats_chat", "US"): {"concurrent": chat_peak(day), "enabled": len(chat_agents(day))},
            ("seats_chat", "EU"): {"concurrent": 0, "enabled": 0},
            ("gvp_asr_ports", "US"): {"concurrent": asr(day)},
            ("gvp_asr_ports", "EU"): {"concurrent": 1},
            ("voicebot_interactions", "GLOBAL"): {"units": 2},
            ("voicemail_boxes", "GLOBAL"): {"concurrent": 40},
        }
        for (key, region), counts in values.items():
            rows = billing_rows(tenant, METRICS[key], region, day.isoformat(), counts)
            name = daily_file_name(tenant, METRICS[key], region, day)
            write_atomic(daily_dir(data_dir, tenant.tenant_id, day) / name, render_csv(rows))
        staged += [(day.isoformat(), "seats_chat", "US", a) for a in chat_agents(day)]
    return pd.DataFrame(staged, columns=["day", "metric", "region", "agent"])


def by_key(results):
    return {(r["metric"], r["region"]): r["counts"] for r in results}


def test_february_has_28_days_and_enabled_is_distinct_over_the_month(tmp_path, raw_config):
    tenant = make_tenant(raw_config)
    month = Month.parse("2026-02")
    agents = build_store(tmp_path, tenant, month)
    assert len(billed_days(tenant, month)) == 28
    results = by_key(rollup(tenant, month, read_daily(tenant, month, tmp_path), agents))
    # Daily Enabled: 1 (days 1-4, 7-10), 2 (days 5-6), 1 (day 28): summed 13, distinct 3.
    assert results[("seats_chat", "US")] == {"concurrent": 1, "enabled": 3}
    assert results[("seats_chat", "EU")] == {"concurrent": 0, "enabled": 0}
    assert results[("gvp_asr_ports", "US")] == {"concurrent": 6}  # highest daily peak (the 6th, 13th, ...)
    assert results[("gvp_asr_ports", "EU")] == {"concurrent": 1}
    assert results[("voicebot_interactions", "GLOBAL")] == {"units": 56}  # 28 days x 2
    assert ("voicemail_boxes", "GLOBAL") not in results  # no monthly characteristic


def test_march_across_the_dst_change_has_31_days(tmp_path, raw_config):
    tenant = make_tenant(raw_config, time_zone="America/New_York")
    month = Month.parse("2026-03")
    agents = build_store(tmp_path, tenant, month, asr=lambda d: 9 if d == date(2026, 3, 8) else 2)
    results = by_key(rollup(tenant, month, read_daily(tenant, month, tmp_path), agents))
    assert len(billed_days(tenant, month)) == 31
    assert results[("gvp_asr_ports", "US")] == {"concurrent": 9}  # the peak fell on the 23-hour day
    assert results[("voicebot_interactions", "GLOBAL")] == {"units": 62}


def test_tenant_starting_mid_month_is_billed_from_its_production_date(tmp_path, raw_config):
    tenant = make_tenant(raw_config, production_date="2026-02-06")
    month = Month.parse("2026-02")
    agents = build_store(tmp_path, tenant, month, asr=lambda d: 50 if d.day == 5 else 3)
    results = by_key(rollup(tenant, month, read_daily(tenant, month, tmp_path), agents))
    assert billed_days(tenant, month)[0] == date(2026, 2, 6)
    # The 5th (peak 50; agent 2) is before production: it counts for nothing.
    assert results[("gvp_asr_ports", "US")] == {"concurrent": 3}
    assert results[("seats_chat", "US")]["enabled"] == 3  # agents 1 and 2 (the 6th) and 3 (the 28th)
    assert results[("voicebot_interactions", "GLOBAL")] == {"units": 46}  # 23 days x 2


def test_missing_daily_files_name_tenant_metric_and_days(tmp_path, raw_config):
    tenant = make_tenant(raw_config)
    month = Month.parse("2026-02")
    build_store(tmp_path, tenant, month)
    for day in (date(2026, 2, 14), date(2026, 2, 15)):
        (daily_dir(tmp_path, 101, day) / daily_file_name(tenant, METRICS["seats_chat"], "EU", day)).unlink()
    with pytest.raises(MissingDailyFilesError) as info:
        read_daily(tenant, month, tmp_path)
    assert str(info.value).splitlines()[:2] == [
        "tenant 'Northwind Care' (101) month 2026-02: no daily file for",
        "  seats_chat EU: 2026-02-14, 2026-02-15",
    ]


def test_staged_agents_must_match_the_daily_file(tmp_path, raw_config):
    tenant = make_tenant(raw_config)
    month = Month.parse("2026-02")
    agents = build_store(tmp_path, tenant, month)
    agents = agents[~((agents["day"] == "2026-02-05") & (agents["agent"] == 2))]
    with pytest.raises(
        ReconciliationError, match=r"seats_chat US 2026-02-05: the daily file says enabled 2 but 1 agents are staged"
    ):
        rollup(tenant, month, read_daily(tenant, month, tmp_path), agents)


def test_month_parsing():
    assert Month.parse("2026-02").last == date(2026, 2, 28)
    assert Month.parse("2028-02").last == date(2028, 2, 29)
    assert Month.of(date(2026, 1, 15)).previous().label == "2025-12"
    with pytest.raises(ValueError, match="not a month"):
        Month.parse("March")


def test_which_month_a_run_bills():
    from datetime import datetime

    from bds.monthly import billing_month

    start = datetime(2026, 2, 3, 6, tzinfo=UTC)
    assert billing_month("2026-01", start, None).label == "2026-01"  # the Param wins
    assert billing_month(None, start, None).label == "2026-02"  # backfill: interval start
    assert billing_month(None, None, datetime(2026, 4, 1, 2, tzinfo=UTC)).label == "2026-03"


def test_plan_month_skips_tenants_not_yet_in_production(raw_config):
    from bds.pipeline import plan_month

    raw_config["tenants"].append(raw_config["tenants"][0] | {"tenant_id": 7, "name": "late", "production_date": "2026-03-01"})
    work, notes = plan_month(parse_billing_config(raw_config), Month.parse("2026-02"))
    assert [w["tenant"]["tenant_id"] for w in work] == [101]
    assert work[0]["month"] == "2026-02"
    assert notes == [
        "tenant 'Northwind Care' (101) 2026-02: billing 8 metric(s)",
        "tenant 'late' (7) 2026-02: 2026-02-28 is before the production date 2026-03-01; skipped",
    ]


def test_unreadable_daily_file_is_named(tmp_path, raw_config):
    tenant = make_tenant(raw_config)
    month = Month.parse("2026-02")
    build_store(tmp_path, tenant, month)
    broken = daily_dir(tmp_path, 101, date(2026, 2, 3)) / daily_file_name(tenant, METRICS["seats_chat"], "US", date(2026, 2, 3))
    broken.write_text(broken.read_text().splitlines()[0] + "\n" + broken.read_text().splitlines()[1] + "\n")
    with pytest.raises(
        ReconciliationError, match=r"month 2026-02: cannot read .*CNT_US_PES_seats_chat_GARN-0001_101_20260203.csv"
    ):
        read_daily(tenant, month, tmp_path)


def test_a_requested_month_after_this_one_is_refused():
    from datetime import datetime

    from bds.monthly import billing_month

    this = Month.of(datetime.now(UTC).date())
    assert billing_month(this.previous().label, None, None) == this.previous()
    following = Month.of(this.last + timedelta(days=1))
    with pytest.raises(ValueError, match=rf"month {following.label} is in the future"):
        billing_month(following.label, None, None)


def test_bds_daily_announcements_become_months_and_their_tenants():
    from bds.pipeline import announced_months

    assert announced_months([]) == {}
    assert announced_months([{"month": "2026-03"}]) == {"2026-03": None}  # a month-end: every tenant
    restated = [
        {"month": "2026-02", "tenant_id": 102, "day": "2026-02-11"},
        {"month": "2026-02", "tenant_id": 101, "day": "2026-02-03"},
    ]
    assert announced_months(restated) == {"2026-02": {101, 102}}
    # A month-end covers every tenant, whichever comes first; months come out in order.
    both = [{"month": "2026-03", "tenant_id": 101, "day": "2026-03-31"}, {"month": "2026-03"}, *restated]
    assert announced_months(both) == {"2026-02": {101, 102}, "2026-03": None}
    assert list(announced_months(both)) == ["2026-02", "2026-03"]
    assert announced_months([{"tenant_id": 101}, {}]) == {}  # no month: nothing to roll up


def test_a_month_records_what_it_was_rolled_up_from_and_knows_which_days_changed_since(raw_config, tmp_path):
    import hashlib

    from bds import manifest
    from bds.files import monthly_dir, monthly_file_name
    from bds.monthly import day_inputs, restated_days, rolled_up_from
    from tests.unit.billing_files import billing_file

    tenant = make_tenant(raw_config, production_date="2026-03-30")
    month = Month.parse("2026-03")
    chat, voicemail = METRICS["seats_chat"], METRICS["voicemail_boxes"]
    for day in (date(2026, 3, 30), date(2026, 3, 31)):
        write_atomic(daily_dir(tmp_path, 101, day) / daily_file_name(tenant, chat, "US", day), f"chat {day}\n".encode())
        write_atomic(daily_dir(tmp_path, 101, day) / daily_file_name(tenant, voicemail, "GLOBAL", day), b"boxes\n")
    assert restated_days(tmp_path, 101, month) is None  # not rolled up yet

    name = daily_file_name(tenant, chat, "US", date(2026, 3, 31))
    line = f"{name} {hashlib.sha256(b'chat 2026-03-31' + bytes([10])).hexdigest()}\n"
    # Only the files of monthly metrics count: voicemail_boxes has no monthly file.
    assert day_inputs(tmp_path, 101, date(2026, 3, 31)) == hashlib.sha256(line.encode()).hexdigest()
    assert day_inputs(tmp_path, 101, date(2026, 3, 29)) is None
    inputs = rolled_up_from(tenant, month, tmp_path)
    assert sorted(inputs["days"]) == ["2026-03-30", "2026-03-31"]  # billed from the production date
    assert "seats_chat" in inputs["metrics"] and "voicemail_boxes" not in inputs["metrics"]

    folder = monthly_dir(tmp_path, 101, month.first)
    monthly = monthly_file_name(tenant, chat, "US", month.first)
    write_atomic(folder / monthly, billing_file(monthly))
    manifest.record_rendered(folder, {monthly: billing_file(monthly)}, fields={"rolled_up_from": inputs})
    assert restated_days(tmp_path, 101, month) == []
    write_atomic(
        daily_dir(tmp_path, 101, date(2026, 3, 30)) / daily_file_name(tenant, voicemail, "GLOBAL", date(2026, 3, 30)),
        b"more boxes\n",
    )
    assert restated_days(tmp_path, 101, month) == []  # not an input of the month
    stray = daily_dir(tmp_path, 101, date(2026, 3, 31)) / "CNT_US_PES_retired_metric_G_101_20260331.csv"
    write_atomic(stray, b"a metric no longer in the catalogue\n")
    assert restated_days(tmp_path, 101, month) == []  # no billing file (python -m bds.manifest names it)
    write_atomic(daily_dir(tmp_path, 101, date(2026, 3, 31)) / name, b"chat restated\n")
    assert restated_days(tmp_path, 101, month) == ["2026-03-31"]
    (daily_dir(tmp_path, 101, date(2026, 3, 30)) / daily_file_name(tenant, chat, "US", date(2026, 3, 30))).unlink()
    assert restated_days(tmp_path, 101, month) == ["2026-03-30", "2026-03-31"]  # a file gone is a change too
