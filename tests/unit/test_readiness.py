from datetime import UTC, date, datetime

import pytest

from bds.config import SourceReadiness
from bds.pipeline import plan_day, sources_ready
from bds.readiness import SourceNotReadyError, overdue, purged

SETTINGS = SourceReadiness(timeout_minutes=90, gim_retention_days=400, gvp_retention_days=30)


def test_purged_days_are_named_with_the_setting():
    assert purged("gvp", date(2026, 3, 1), date(2026, 3, 31), SETTINGS) is None  # 30 days old: still kept
    assert purged("gvp", date(2026, 2, 28), date(2026, 3, 31), SETTINGS) == (
        "2026-02-28 is 31 days old and GVP Reporting Server keeps 30 (sources.gvp_retention_days): its data has been purged"
    )
    assert purged("gim", date(2025, 2, 23), date(2026, 3, 31), SETTINGS).startswith(
        "2025-02-23 is 401 days old and Genesys Info Mart keeps 400"
    )
    assert purged("cme", date(2000, 1, 1), date(2026, 3, 31), SETTINGS) is None  # configuration has no retention


def test_the_wait_ends_timeout_minutes_after_the_day_became_billable():
    assert not overdue(ready_at=1_000, now=1_000 + 90 * 60 - 1, settings=SETTINGS)
    assert overdue(ready_at=1_000, now=1_000 + 90 * 60, settings=SETTINGS)


def test_a_purged_day_fails_before_any_source_is_read(raw_config):
    raw_config["sources"] = {"gvp_retention_days": 30}
    from bds.config import parse_billing_config

    [work], _ = plan_day(parse_billing_config(raw_config), date(2026, 1, 15))
    with pytest.raises(
        SourceNotReadyError, match=r"^tenant 'Northwind Care' \(101\) day 2026-01-15: 2026-01-15 is 46 days old and GVP"
    ):
        sources_ready(work, now=datetime(2026, 3, 2, tzinfo=UTC))
