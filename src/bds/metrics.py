"""Daily metric rules: from staged source rows to the counts of one tenant-day.

Every rule takes the rows of the metric's dataset (already limited to the tenant and to
rows that can touch the day), the tenant's day window and ``as_of`` (the time the run
looks at the sources; an open session counts until the earlier of ``as_of`` and the end
of the day) and returns one :class:`MetricResult` per file the metric produces: one per
billed region for regional metrics, one ``GLOBAL`` result for global ones.

Dataset columns (what the SQL under include/sql returns):

* ``agent_sessions``: agent, media, switch, start_ts, end_ts (NULL while open),
  handled_chat, handled_callback, handled_outbound (0/1)
* ``media_sessions``: resource (ASR/TTS), component, start_ms, end_ms (NULL while open)
* ``voicemail_boxes``: object_type, object_id, mailbox, start_ts, end_ts (NULL while configured)
* ``bot_sessions``: interaction_id, media, start_ms, duration_ms

Times in milliseconds are widened to whole seconds (start rounded down, end up), so
a session active during any part of a second is active in that second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from bds.calendar import DayWindow, day_window, local_day
from bds.catalogue import METRICS, Metric
from bds.config import Tenant
from bds.errors import PermanentError
from bds.files import GLOBAL_REGION
from bds.sweep import clip, distinct_active, peak_concurrency, peak_distinct

BOT_UNIT_SECONDS = 15 * 60


class UnplacedRowsError(PermanentError, ValueError):
    """Rows on a switch or component that no location of the tenant takes."""


@dataclass(frozen=True)
class MetricResult:
    metric: str
    region: str
    counts: dict[str, int]
    peak_at: int | None = None  # epoch second of the first peak, for the run summary
    agents: tuple = field(default=(), repr=False)  # distinct agents behind an Enabled count
    warnings: tuple[str, ...] = ()  # what the count leaves out and an operator must know, by name


def select(metric: Metric, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the metric's dataset that qualify for it."""
    mask = np.ones(len(rows), dtype=bool)
    for column, accepted in metric.where.items():
        mask &= rows[column].isin(list(accepted)).to_numpy()
    return rows[mask]


def effective_ends(rows: pd.DataFrame, as_of: int) -> np.ndarray:
    """End seconds, with open rows (NULL end) running until ``as_of``."""
    return rows["end_ts"].astype("Int64").fillna(as_of).to_numpy(dtype=np.int64)


def in_seconds(rows: pd.DataFrame) -> pd.DataFrame:
    """start_ms/end_ms -> start_ts (rounded down) and end_ts (rounded up, NULL kept)."""
    end_ms = rows["end_ms"].astype("Int64")
    return rows.assign(start_ts=rows["start_ms"].astype("int64") // 1000, end_ts=-(-end_ms // 1000))


def place(tenant: Tenant, names: pd.Series, attribute: str, metric: Metric, day) -> np.ndarray:
    """Region code of each row's switch or component (None where its location is switched off)."""
    table = tenant.placements(attribute)
    codes, uniques = pd.factorize(names.fillna(""))  # each distinct name is looked up once
    uniques = [str(u) for u in uniques]
    unknown = sorted(set(uniques) - set(table))
    if unknown and "" not in table:
        shown = ", ".join(repr(u) if u else "(none)" for u in unknown)
        raise UnplacedRowsError(
            f"{tenant.label} day {day} {metric.key}: rows on {attribute.replace('_', ' ')} {shown} belong to no location "
            f"and the tenant has no default location (a location without switches); add them to a location "
            f"in the billing configuration"
        )
    placements = [table.get(name) or table[""] for name in uniques]
    return np.array([p.region if p.billed else None for p in placements] + [None], dtype=object)[codes]


def _regional(tenant, metric, rows, window, as_of, column, attribute, measure) -> list[MetricResult]:
    """``measure(region, keys, starts, ends)`` per billed region, over the rows active in the day.
    ``rows`` are the metric's rows (see ``select``); keys are agents, where the rows have them."""
    starts, ends, keep = clip(rows["start_ts"].to_numpy(np.int64), effective_ends(rows, as_of), window.start, window.end)
    regions = place(tenant, rows[column][keep], attribute, metric, window.day)  # only rows active in the day are placed
    keys = rows["agent"].to_numpy()[keep] if "agent" in rows else None
    starts, ends = starts[keep], ends[keep]
    results = []
    for region in tenant.billed_regions:
        mask = regions == region
        results.append(measure(region, None if keys is None else keys[mask], starts[mask], ends[mask]))
    return results


def seats(tenant: Tenant, metric: Metric, rows: pd.DataFrame, window: DayWindow, as_of: int) -> list[MetricResult]:
    """Concurrent: peak distinct agents in one second. Enabled: distinct agents in the day."""

    def measure(region, agents, starts, ends):
        peak = peak_distinct(agents, starts, ends)
        counts = {"concurrent": peak.count, "enabled": distinct_active(agents, starts, ends)}
        return MetricResult(metric.key, region, counts, peak.at, tuple(int(a) for a in np.unique(agents)))

    rows = select(metric, rows)[["agent", "switch", "start_ts", "end_ts"]]
    return _regional(tenant, metric, rows, window, as_of, "switch", "switches", measure)


def peak(tenant: Tenant, metric: Metric, rows: pd.DataFrame, window: DayWindow, as_of: int) -> list[MetricResult]:
    """Peak number of simultaneous sessions (ports) in one second, per region."""

    def measure(region, _, starts, ends):
        result = peak_concurrency(starts, ends)
        return MetricResult(metric.key, region, {"concurrent": result.count}, result.at)

    rows = in_seconds(select(metric, rows)[["component", "start_ms", "end_ms"]])
    return _regional(tenant, metric, rows, window, as_of, "component", "gvp_components", measure)


def max_configured(tenant: Tenant, metric: Metric, rows: pd.DataFrame, window: DayWindow, as_of: int) -> list[MetricResult]:
    """Highest number of objects configured at the same moment of the day (global).

    Only a positive whole mailbox number makes a box; other values are not counted.
    """
    rows = select(metric, rows)
    rows = rows[rows["mailbox"].fillna("").str.strip().str.fullmatch(r"0*[1-9][0-9]*")]
    starts, ends, keep = clip(rows["start_ts"].to_numpy(np.int64), effective_ends(rows, window.end), window.start, window.end)
    result = peak_concurrency(starts[keep], ends[keep])
    return [MetricResult(metric.key, GLOBAL_REGION, {"concurrent": result.count}, result.at)]


def bot_units(tenant: Tenant, metric: Metric, rows: pd.DataFrame, window: DayWindow, as_of: int) -> list[MetricResult]:
    """Per voice interaction, ceil(total bot seconds / 900); summed over interactions of the day.

    An interaction belongs to the day in which its first bot session started; its bot time
    is SDR_BOTS_FACT.DURATION_MS summed over its bot sessions that start before the day's end
    plus the look-ahead (``window.horizon``), never clipped at midnight, because the unit is
    per interaction. A bot session of an earlier day's interaction that starts in this day
    but after that day's horizon is billed on no day: each is named in a warning, by the day
    it starts in (so exactly once).
    """
    rows = select(metric, rows)
    rows = rows.loc[(rows["media"] == "VOICE").to_numpy(), ["interaction_id", "start_ms", "duration_ms"]]
    rows = rows[(rows["start_ms"] < window.horizon * 1000).to_numpy()]
    per_interaction = rows.groupby("interaction_id").agg(first=("start_ms", "min"), ms=("duration_ms", "sum"))
    first = per_interaction["first"] // 1000
    in_day = per_interaction[(first >= window.start) & (first < window.end)]
    units = -(-in_day["ms"].to_numpy(np.int64) // (BOT_UNIT_SECONDS * 1000))  # ceiling division
    late = late_bot_sessions(tenant, rows, rows["interaction_id"].map(per_interaction["first"]), window)
    return [MetricResult(metric.key, GLOBAL_REGION, {"units": int(units.sum())}, warnings=late)]


def late_bot_sessions(tenant: Tenant, rows: pd.DataFrame, first: pd.Series, window: DayWindow) -> tuple[str, ...]:
    """The bot sessions starting in this day whose interaction's first bot session (``first``,
    per row) started on an earlier day, after that day's end plus the look-ahead (today's
    setting): billed on no day, so named."""
    starts = rows["start_ms"]
    candidates = rows[((first < window.start * 1000) & (starts >= window.start * 1000) & (starts < window.end * 1000)).to_numpy()]
    found = []
    for row, first_ms in zip(candidates.itertuples(index=False), first[candidates.index], strict=True):
        first_day = day_window(local_day(int(first_ms) // 1000, window.time_zone), window.time_zone, window.lookahead)
        if row.start_ms >= first_day.horizon * 1000:
            started = datetime.fromtimestamp(row.start_ms / 1000, UTC).isoformat(timespec="milliseconds")
            found.append(
                f"{tenant.label} day {window.day} voicebot_interactions: interaction {row.interaction_id}'s bot session "
                f"starting {started} ({row.duration_ms} ms) began after its first day {first_day.day} had ended plus the "
                f"look-ahead ({window.lookahead // 60} minutes, voicebot_lookahead_minutes): it is billed on no day; "
                f"raise the look-ahead and rebill {first_day.day} to include it"
            )
    return tuple(found)


def sessions_before_lookback(tenant: Tenant, rows: pd.DataFrame, window: DayWindow, lookback_days: int) -> tuple[str, ...]:
    """The login sessions (``agent_sessions`` rows) that count on this day although they started
    before the look-back (local midnight ``lookback_days`` days before the day): right to count
    (an agent logged in for days), but worth a look, since a session Info Mart never closed
    would be billed every day. Named, one warning each."""
    old = rows[(rows["start_ts"] < window.days_before(lookback_days)).to_numpy()]
    old = old.drop_duplicates(["agent", "media", "start_ts", "end_ts"]).sort_values(["agent", "start_ts", "media"])
    found = []
    for row in old.itertuples(index=False):
        started = datetime.fromtimestamp(int(row.start_ts), UTC).isoformat()
        state = "still open" if pd.isna(row.end_ts) else f"ended {datetime.fromtimestamp(int(row.end_ts), UTC).isoformat()}"
        found.append(
            f"{tenant.label} day {window.day} seats: agent {row.agent}'s {row.media} session that started {started}, "
            f"{(window.start - int(row.start_ts)) // 86_400} days before the day ({state}), counts on this day as on every day "
            f"it touches; it is older than the look-back (session_lookback_days: {lookback_days}): check in Info Mart that it is real"
        )
    return tuple(found)


RULES = {"seats": seats, "peak": peak, "max_configured": max_configured, "bot_units": bot_units}


def compute_metric(tenant: Tenant, metric_key: str, rows: pd.DataFrame, window: DayWindow, as_of: int) -> list[MetricResult]:
    metric = METRICS[metric_key]
    return RULES[metric.rule](tenant, metric, rows, window, as_of)
