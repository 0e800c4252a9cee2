from datetime import UTC, date, datetime

import pytest

from bds.config import parse_billing_config
from bds.pipeline import RunIncompleteError, finish_run, plan_day, ready_at, summarise, unfinished, unpack


def config_with(raw_config, **tenants):
    base = raw_config["tenants"][0]
    raw_config["tenants"] = [base | {"tenant_id": n, "name": name} | extra for n, (name, extra) in enumerate(tenants.items(), 1)]
    return parse_billing_config(raw_config)


def test_plan_bills_only_enabled_pureconnect_tenants_from_their_production_date(raw_config):
    config = config_with(
        raw_config,
        billed={},
        salesforce={"billable": "Salesforce"},
        none={"billable": "None"},
        disabled={"enabled": False},
        later={"production_date": "2026-03-09"},
        no_metrics={"metrics": {}},
        regions_off={
            "metrics": {"seats_chat": True},
            "regions": [
                {"code": "US", "enabled": False, "locations": [{"code": "HQ"}]},
                {"code": "EU", "locations": [{"code": "FRA", "enabled": False, "switches": ["SW_FR"]}]},
            ],
        },
        regions_off_but_global={
            "metrics": {"seats_chat": True, "voicebot_interactions": True},
            "regions": [
                {"code": "US", "enabled": False, "locations": [{"code": "HQ"}]},
            ],
        },
    )
    work, notes = plan_day(config, date(2026, 3, 8))
    assert [w["tenant"]["name"] for w in work] == ["billed", "regions_off_but_global"]
    assert work[0]["day"] == "2026-03-08"
    assert notes == [
        "tenant 'billed' (1) 2026-03-08: billing 9 metric(s)",
        "tenant 'salesforce' (2) 2026-03-08: Billable is Salesforce: billed through Salesforce, no PureConnect files; skipped",
        "tenant 'none' (3) 2026-03-08: Billable is None: not billed",
        "tenant 'disabled' (4) 2026-03-08: tenant is disabled; skipped",
        "tenant 'later' (5) 2026-03-08: 2026-03-08 is before the production date 2026-03-09; skipped",
        "tenant 'no_metrics' (6) 2026-03-08: no metric is enabled; skipped",
        "tenant 'regions_off' (7) 2026-03-08: every region (or every location of it) is switched off and only "
        "regional metrics are enabled: no file; skipped",
        "tenant 'regions_off_but_global' (8) 2026-03-08: billing 2 metric(s)",
    ]


def test_billing_process_switched_off_plans_nothing_and_says_why(raw_config):
    raw_config["billing_process_enabled"] = False
    work, notes = plan_day(parse_billing_config(raw_config), date(2026, 3, 8))
    assert work == []
    assert notes == ["2026-03-08: the billing process is disabled (billing_process_enabled: false); nothing is produced"]


def test_a_western_tenant_is_ready_after_its_own_midnight(raw_config):
    no_bots = {k: k != "voicebot_interactions" for k in raw_config["tenants"][0]["metrics"]}
    config = config_with(
        raw_config,
        west={"time_zone": "America/Los_Angeles", "metrics": no_bots},
        east={"time_zone": "Asia/Tokyo", "metrics": no_bots},
    )
    work, _ = plan_day(config, date(2026, 3, 8))
    # Los Angeles switches to PDT (UTC-7) on 2026-03-08: its day ends at 07:00 UTC on the 9th.
    assert ready_at(work[0]) == datetime(2026, 3, 9, 7, 15, tzinfo=UTC)
    # Tokyo (UTC+9) ends the 8th at 15:00 UTC the same day.
    assert ready_at(work[1]) == datetime(2026, 3, 8, 15, 15, tzinfo=UTC)
    # The plan carries the moment, which wait_for_day_end defers until.
    assert [w["billable_at"] for w in work] == ["2026-03-09T07:15:00+00:00", "2026-03-08T15:15:00+00:00"]


def test_a_tenant_billing_voicebots_is_ready_after_the_lookahead(raw_config):
    """Bot sessions that start up to voicebot_lookahead_minutes after midnight belong to the day:
    the day is billable (and Info Mart must have loaded it) only once they can have started."""
    raw_config["voicebot_lookahead_minutes"] = 90
    config = config_with(raw_config, west={"time_zone": "America/Los_Angeles"})
    [work], _ = plan_day(config, date(2026, 3, 8))
    assert ready_at(work) == datetime(2026, 3, 9, 8, 45, tzinfo=UTC)  # 07:00 + 90 min + 15 min settle
    assert unpack(work)[2].horizon == int(datetime(2026, 3, 9, 8, 30, tzinfo=UTC).timestamp())


def test_unfinished_and_summary(raw_config):
    config = config_with(raw_config, a={}, b={})
    work, notes = plan_day(config, date(2026, 3, 8))
    rendered = [{"label": work[0]["label"], "summary": "tenant 'a' (1) 2026-03-08: 1 created, 0 changed, 0 unchanged in /x"}]
    assert [w["label"] for w in work] == ["tenant 'a' (1) 2026-03-08", "tenant 'b' (2) 2026-03-08"]
    assert unfinished(work, rendered) == ["tenant 'b' (2) 2026-03-08"]
    assert summarise(notes, rendered).splitlines()[-1] == rendered[0]["summary"]
    with pytest.raises(RunIncompleteError, match="nothing done for tenant 'b' \\(2\\) 2026-03-08"):
        finish_run(work, notes, rendered)
    with pytest.raises(RunIncompleteError, match="outbox file x: bad name"):
        finish_run(work[:1], notes, rendered, rejected=["outbox file x: bad name"])
    assert finish_run(work[:1], notes, rendered).endswith(rendered[0]["summary"])
