"""Billing days: which calendar day a run bills, and where a tenant's day begins and ends.

A billing day is a calendar date in the tenant's own time zone. Its window is
``[local midnight, next local midnight)``, expressed in UTC epoch seconds, so a DST
day lasts 23 or 25 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DayWindow:
    day: date
    time_zone: str
    start: int  # UTC epoch seconds of local midnight
    end: int  # UTC epoch seconds of the next local midnight
    # Seconds after ``end`` in which facts that belong to the day may still start (a voicebot
    # interaction's later bot sessions); 0 for a tenant with no metric that looks ahead.
    lookahead: int = 0

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600

    @property
    def horizon(self) -> int:
        """The end of what the day's billing reads: the day's end plus its look-ahead."""
        return self.end + self.lookahead

    @property
    def end_utc(self) -> datetime:
        return datetime.fromtimestamp(self.end, tz=UTC)

    @property
    def horizon_utc(self) -> datetime:
        return datetime.fromtimestamp(self.horizon, tz=UTC)

    def days_before(self, days: int) -> int:
        """Local midnight ``days`` calendar days before the day (UTC epoch seconds): a look-back
        of whole local days, 23 or 25 hours long across a change of the clocks."""
        return local_midnight(self.day - timedelta(days=days), self.time_zone)


def local_midnight(day: date, time_zone: str) -> int:
    return int(datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone)).timestamp())


def day_window(day: date, time_zone: str = "UTC", lookahead: int = 0) -> DayWindow:
    return DayWindow(
        day, time_zone, local_midnight(day, time_zone), local_midnight(day + timedelta(days=1), time_zone), lookahead
    )


def local_day(ts: int, time_zone: str) -> date:
    """The calendar day, in ``time_zone``, of the UTC epoch second ``ts``."""
    return datetime.fromtimestamp(ts, tz=ZoneInfo(time_zone)).date()


def parse_day(value: str | date) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a date (expected YYYY-MM-DD)") from exc


def billing_day(
    requested: str | date | None,
    data_interval_start: datetime | None,
    run_after: datetime | None,
    today: date | None = None,
) -> date:
    """The day a run bills.

    1. a date given explicitly (the ``date`` Param of a manual run), refused if it is after
       ``today`` (UTC): it has not ended in any time zone, and the run would wait for days;
    2. else the UTC date of the run's data interval start (scheduled runs and backfills);
    3. else, for a manual run without a logical date, the day before it was triggered.
    """
    if requested:
        day = parse_day(requested)
        today = today or datetime.now(UTC).date()
        if day > today:
            raise ValueError(f"date {day} is in the future (today is {today} UTC): a day is billed once it has ended")
        return day
    if data_interval_start is not None:
        return data_interval_start.astimezone(UTC).date()
    if run_after is None:
        raise ValueError("the run has neither a data interval nor a run_after time; pass the 'date' Param")
    return run_after.astimezone(UTC).date() - timedelta(days=1)
