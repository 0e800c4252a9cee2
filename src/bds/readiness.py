"""Source readiness: is a tenant's billing day complete in its sources, or already gone?

- **Info Mart** has the day once the newest data its ETL has committed reaches past the
  day's end. That is read from Info Mart's own audit of its loads (``CTL_AUDIT_LOG``,
  ``MAX_CHUNK_TS``); an Info Mart without that table is judged by the high-water mark of the
  facts bds reads (the newest session or interaction start). A day older than
  ``gim_retention_days`` (Info Mart's ``days-to-keep-gim-facts``) has been purged.
- **GVP Reporting Server** writes call records as calls end; a day older than
  ``gvp_retention_days`` (its retention) has been purged.
- **Configuration** is read as it stands, with its history; it is always ready.

A day not yet loaded makes the sensor wait (reschedule mode) until ``timeout_minutes`` after
the day became billable, then fail; a purged day fails at once. Neither ever yields zero counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from bds.calendar import DayWindow
from bds.catalogue import SOURCES
from bds.config import SourceReadiness
from bds.errors import PermanentError
from bds.sources import database_cause, read_sql, scalar_query


class SourceNotReadyError(PermanentError, RuntimeError):
    """A source has not loaded the day in time, or no longer has it."""


@dataclass(frozen=True)
class Verdict:
    source: str
    ready: bool
    detail: str


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def purged(source: str, day: date, today: date, settings: SourceReadiness) -> str | None:
    """Why the day is no longer in the source, or None."""
    keep = {"gim": settings.gim_retention_days, "gvp": settings.gvp_retention_days}.get(source)
    if keep is not None and (today - day).days > keep:
        option = {"gim": "gim_retention_days", "gvp": "gvp_retention_days"}[source]
        return f"{day} is {(today - day).days} days old and {SOURCES[source][1]} keeps {keep} (sources.{option}): its data has been purged"
    return None


def info_mart_loaded_until(engine, window: DayWindow) -> tuple[int | None, str]:
    """The newest time Info Mart has loaded (UTC epoch seconds), and where that was read."""
    parameters = {"day_start": window.start}
    try:
        value = scalar_query(engine, read_sql("gim", "load_status", engine.dialect.name), parameters)
        how = "CTL_AUDIT_LOG.MAX_CHUNK_TS"
    except Exception as audit_error:  # no audit table (or no access to it): use the facts
        try:
            value = scalar_query(engine, read_sql("gim", "facts_high_water_mark", engine.dialect.name), parameters)
        except Exception as exc:
            raise SourceNotReadyError(
                f"cannot read Info Mart's load status: {database_cause(audit_error)}; nor its facts: {database_cause(exc)}"
            ) from exc
        how = "the facts' high-water mark (no CTL_AUDIT_LOG)"
    return (None if value is None or value != value else int(value)), how


def check_info_mart(engine, window: DayWindow) -> Verdict:
    """Info Mart has the day once it has loaded past the day's end, and past its look-ahead
    when the tenant bills a metric that reads facts starting after the day's end."""
    loaded, how = info_mart_loaded_until(engine, window)
    needed = f"the day ends {_utc(window.end)}"
    if window.lookahead:
        needed += f"; with its look-ahead, {_utc(window.horizon)}"
    if loaded is not None and loaded >= window.horizon:
        return Verdict("gim", True, f"Info Mart has loaded up to {_utc(loaded)} ({how}); {needed}")
    reached = _utc(loaded) if loaded is not None else "nothing since the day began"
    return Verdict("gim", False, f"Info Mart has loaded {reached} ({how}); {needed}")


def overdue(ready_at: int, now: int, settings: SourceReadiness) -> bool:
    return now >= ready_at + settings.timeout_minutes * 60
