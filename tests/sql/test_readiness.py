"""Info Mart's load status, read from CTL_AUDIT_LOG (or, without it, the facts), on SQLite
and on a real PostgreSQL, with hand-placed rows around the end of the billing day."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from bds.calendar import day_window
from bds.demo import create_schema, load
from bds.readiness import check_info_mart, info_mart_loaded_until

WINDOW = day_window(date(2026, 3, 10), "America/New_York")  # ends 2026-03-11 04:00 UTC
END = WINDOW.end


def audit(n, created, max_chunk):
    return dict(AUDIT_KEY=n, JOB_ID="Job_TransformGIM", CREATED_TS=created, MAX_CHUNK_TS=max_chunk)


def session(n, start):
    return dict(
        SM_RES_SESSION_FACT_KEY=n,
        START_DATE_TIME_KEY=start - start % 900,
        END_DATE_TIME_KEY=start - start % 900,
        TENANT_KEY=1,
        MEDIA_TYPE_KEY=1,
        RESOURCE_KEY=1,
        START_TS=start,
        END_TS=start + 60,
        ACTIVE_FLAG=0,
    )


@pytest.fixture
def gim(query_url):
    engine = sa.create_engine(query_url)
    create_schema(engine, "gim")
    yield engine
    engine.dispose()


def test_loaded_past_the_end_of_the_day(gim):
    load(
        gim,
        "gim",
        {
            "CTL_AUDIT_LOG": [
                audit(1, WINDOW.start - 3_600, END + 7_200),  # created before the day began: not read
                audit(2, END - 600, END - 900),
                audit(3, END + 300, END + 120),  # the newest chunk reaches 2 minutes past the end
            ]
        },
    )
    assert info_mart_loaded_until(gim, WINDOW) == (END + 120, "CTL_AUDIT_LOG.MAX_CHUNK_TS")
    verdict = check_info_mart(gim, WINDOW)
    assert verdict.ready
    assert (
        verdict.detail
        == "Info Mart has loaded up to 2026-03-11 04:02 UTC (CTL_AUDIT_LOG.MAX_CHUNK_TS); the day ends 2026-03-11 04:00 UTC"
    )


def test_a_day_with_a_lookahead_waits_for_it(gim):
    """A tenant billing voicebots needs Info Mart loaded past the day's end plus the look-ahead."""
    ahead = day_window(date(2026, 3, 10), "America/New_York", lookahead=7_200)
    load(gim, "gim", {"CTL_AUDIT_LOG": [audit(1, END + 300, END + 7_199)]})
    verdict = check_info_mart(gim, ahead)
    assert not verdict.ready
    assert verdict.detail == (
        "Info Mart has loaded 2026-03-11 05:59 UTC (CTL_AUDIT_LOG.MAX_CHUNK_TS); "
        "the day ends 2026-03-11 04:00 UTC; with its look-ahead, 2026-03-11 06:00 UTC"
    )
    assert check_info_mart(gim, WINDOW).ready  # without a look-ahead the day is there
    load(gim, "gim", {"CTL_AUDIT_LOG": [audit(2, END + 7_300, END + 7_200)]})
    assert check_info_mart(gim, ahead).ready


def test_not_loaded_yet(gim):
    load(gim, "gim", {"CTL_AUDIT_LOG": [audit(1, END - 3_000, END - 3_600)]})
    verdict = check_info_mart(gim, WINDOW)
    assert not verdict.ready
    assert verdict.detail.startswith("Info Mart has loaded 2026-03-11 03:00 UTC (CTL_AUDIT_LOG")
    with gim.begin() as conn:
        conn.execute(sa.text("DELETE FROM CTL_AUDIT_LOG"))
    assert not check_info_mart(gim, WINDOW).ready  # nothing committed since the day began
    assert "nothing since the day began" in check_info_mart(gim, WINDOW).detail


def test_without_an_audit_table_the_facts_tell(gim):
    with gim.begin() as conn:
        conn.execute(sa.text("DROP TABLE CTL_AUDIT_LOG"))
    load(gim, "gim", {"SM_RES_SESSION_FACT": [session(1, WINDOW.start - 86_400 * 3), session(2, END - 60)]})
    assert info_mart_loaded_until(gim, WINDOW) == (END - 60, "the facts' high-water mark (no CTL_AUDIT_LOG)")
    assert not check_info_mart(gim, WINDOW).ready
    load(gim, "gim", {"SM_RES_SESSION_FACT": [session(3, END + 5)]})
    assert check_info_mart(gim, WINDOW).ready
