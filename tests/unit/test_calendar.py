from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bds.calendar import billing_day, day_window

UTC = UTC


def epoch(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_utc_day():
    window = day_window(date(2026, 3, 7))
    assert (window.start, window.end) == (epoch(2026, 3, 7), epoch(2026, 3, 8))
    assert window.hours == 24


def test_spring_forward_day_has_23_hours():
    # New York: EST (UTC-5) until 2026-03-08 02:00, then EDT (UTC-4).
    window = day_window(date(2026, 3, 8), "America/New_York")
    assert window.start == epoch(2026, 3, 8, 5)
    assert window.end == epoch(2026, 3, 9, 4)
    assert window.hours == 23


def test_the_lookback_and_lookahead_are_counted_on_the_local_clock():
    """The look-back is whole local days (a 25-hour day inside it counts as one day); the
    look-ahead is elapsed time after the day's end (on the eve of a change, 02:00 becomes 03:00)."""
    from bds.sources import query_parameters

    monday = day_window(date(2026, 10, 26), "Europe/Berlin", lookahead=7_200)
    parameters = query_parameters(101, monday, lookback_days=1)
    assert parameters["lookback_start"] == epoch(2026, 10, 24, 22)  # Sunday 00:00 CEST: 25 hours before Monday
    assert (
        parameters["lookahead_end"] == epoch(2026, 10, 27, 1) and parameters["lookahead_end_ms"] == epoch(2026, 10, 27, 1) * 1000
    )
    eve = day_window(date(2026, 3, 7), "America/New_York", lookahead=7_200)
    assert eve.horizon == epoch(2026, 3, 8, 7)  # 03:00 EDT: two hours after midnight, clocks sprang forward at 02:00


def test_fall_back_day_has_25_hours():
    # Berlin: CEST (UTC+2) until 2026-10-25 03:00, then CET (UTC+1).
    window = day_window(date(2026, 10, 25), "Europe/Berlin")
    assert window.start == epoch(2026, 10, 24, 22)
    assert window.end == epoch(2026, 10, 25, 23)
    assert window.hours == 25


def test_explicit_date_wins():
    assert billing_day("2026-03-05", datetime(2026, 1, 1, tzinfo=UTC), None) == date(2026, 3, 5)


def test_scheduled_and_backfill_runs_bill_their_interval_start():
    assert billing_day(None, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)) == date(2026, 3, 1)


def test_manual_run_without_logical_date_bills_previous_day():
    assert billing_day(None, None, datetime(2026, 11, 22, 9, 30, tzinfo=UTC)) == date(2026, 11, 21)


def test_interval_start_is_read_in_utc():
    start = datetime(2026, 3, 1, tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert billing_day(None, start, None) == date(2026, 3, 1)


def test_bad_requested_date():
    with pytest.raises(ValueError, match="not a date"):
        billing_day("yesterday", None, None)


def test_a_requested_day_after_today_is_refused():
    assert billing_day("2026-12-01", None, None, today=date(2026, 12, 1)) == date(2026, 12, 1)  # may end soon east of UTC
    with pytest.raises(
        ValueError, match=r"date 2026-12-02 is in the future \(today is 2026-12-01 UTC\): a day is billed once it has ended"
    ):
        billing_day("2026-12-02", None, None, today=date(2026, 12, 1))
