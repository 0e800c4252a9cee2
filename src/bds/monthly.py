"""Monthly rollups: a tenant's calendar month, from its daily files and daily agent sets.

A month is the tenant's local calendar month, billed from the later of its first day and
the tenant's production date. For every metric with a monthly characteristic and every
billed region, each count follows its catalogue rule:

* ``max``: the highest daily value (Concurrent agents, port peaks);
* ``sum``: the sum of the daily values (voicebot units);
* ``distinct``: the distinct agents over the whole month, from the staged per-day agent
  sets (Enabled); never a sum of daily counts.

Before anything is written the rollup is reconciled with the daily files of the same
month; a missing daily file stops it with the tenant, metric and days.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bds.catalogue import METRICS
from bds.config import Tenant
from bds.errors import PermanentError
from bds.files import (
    GLOBAL_REGION,
    daily_dir,
    daily_file_name,
    manifest_name,
    monthly_dir,
    parse_name,
    read_counts,
)
from bds.manifest import inputs_digest, sha256
from bds.manifest import read as read_manifest

if TYPE_CHECKING:
    import pandas as pd


class MissingDailyFilesError(PermanentError, RuntimeError):
    """Days of the month that should have a daily file have none."""


class ReconciliationError(PermanentError, RuntimeError):
    """The monthly values disagree with the daily files."""


@dataclass(frozen=True)
class Month:
    first: date

    @classmethod
    def parse(cls, value: str) -> Month:
        try:
            year, month = (int(p) for p in str(value).split("-")[:2])
            return cls(date(year, month, 1))
        except (TypeError, ValueError):
            raise ValueError(f"'{value}' is not a month (expected YYYY-MM)") from None

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.replace(day=1))

    @property
    def last(self) -> date:
        return self.first.replace(day=calendar.monthrange(self.first.year, self.first.month)[1])

    @property
    def label(self) -> str:
        return f"{self.first:%Y-%m}"

    def previous(self) -> Month:
        return Month.of(self.first - timedelta(days=1))


def billing_month(requested: str | None, interval_start, run_after) -> Month:
    """The month a bds_monthly run bills when bds_daily announced none (``pipeline.announced_months``).

    1. the ``month`` Param of a manual run;
    2. the month of the run's data interval start (scheduled runs and backfills);
    3. for a manual run without a logical date, the month before it was triggered.
    """
    if requested:
        month = Month.parse(requested)
        current = Month.of(datetime.now(UTC).date())
        if month.first > current.first:
            raise ValueError(
                f"month {month.label} is in the future (this is {current.label} UTC): a month is billed once it has ended"
            )
        return month
    if interval_start is not None:
        return Month.of(interval_start.date())
    if run_after is None:
        raise ValueError("the run has neither a data interval nor a run_after time; pass the 'month' Param")
    return Month.of(run_after.date()).previous()


def billed_days(tenant: Tenant, month: Month) -> list[date]:
    start = max(month.first, tenant.production_date or month.first)
    return [start + timedelta(days=n) for n in range((month.last - start).days + 1)]


def monthly_metrics(tenant: Tenant) -> list[str]:
    return [k for k in tenant.enabled_metrics if METRICS[k].monthly]


def regions_of(tenant: Tenant, metric_key: str) -> list[str]:
    return tenant.billed_regions if METRICS[metric_key].scope == "region" else [GLOBAL_REGION]


def read_daily(tenant: Tenant, month: Month, data_dir: Path) -> dict[tuple[str, str], dict[date, dict[str, int]]]:
    """Daily counts per (metric, region) and day; raises if a day that should have a file has none."""
    found: dict[tuple[str, str], dict[date, dict[str, int]]] = {}
    missing: dict[tuple[str, str], list[date]] = {}
    for key in monthly_metrics(tenant):
        for region in regions_of(tenant, key):
            for day in billed_days(tenant, month):
                path = daily_dir(data_dir, tenant.tenant_id, day) / daily_file_name(tenant, METRICS[key], region, day)
                if path.is_file():
                    try:
                        found.setdefault((key, region), {})[day] = read_counts(path)
                    except (ValueError, KeyError, IndexError) as exc:
                        raise ReconciliationError(f"{tenant.label} month {month.label}: cannot read {path}: {exc}") from None
                else:
                    missing.setdefault((key, region), []).append(day)
    if missing:
        lines = [f"{key} {region}: {', '.join(d.isoformat() for d in days)}" for (key, region), days in missing.items()]
        raise MissingDailyFilesError(
            f"{tenant.label} month {month.label}: no daily file for\n  "
            + "\n  ".join(lines)
            + "\nrun bds_daily for those days first (e.g. airflow backfill create --dag-id bds_daily ...)"
        )
    return found


def rollup(
    tenant: Tenant, month: Month, daily: dict[tuple[str, str], dict[date, dict[str, int]]], agents: pd.DataFrame
) -> list[dict]:
    """Monthly counts per (metric, region), reconciled with the daily values.

    ``agents`` holds the staged per-day agent sets: columns day, metric, region, agent.
    """
    results = []
    for (key, region), days in daily.items():
        counts = {}
        for count in METRICS[key].counts:
            values = [c[count.name] for c in days.values()]
            if count.monthly == "max":
                counts[count.name] = max(values)
            elif count.monthly == "sum":
                counts[count.name] = sum(values)
            else:
                mine = agents[(agents["metric"] == key) & (agents["region"] == region)]
                for day, daily_counts in days.items():
                    staged = int((mine["day"] == day.isoformat()).sum())
                    if staged != daily_counts[count.name]:
                        raise ReconciliationError(
                            f"{tenant.label} {key} {region} {day}: the daily file says {count.name} "
                            f"{daily_counts[count.name]} but {staged} agents are staged for that day; rerun bds_daily for it"
                        )
                counts[count.name] = int(mine["agent"].nunique())
                if not max(values) <= counts[count.name] <= sum(values):
                    raise ReconciliationError(
                        f"{tenant.label} month {month.label} {key} {region}: {count.name} {counts[count.name]} is "
                        f"outside [{max(values)}, {sum(values)}] (largest daily value, sum of daily values)"
                    )
        results.append({"metric": key, "region": region, "counts": counts})
    return results


def day_inputs(data_dir: Path, tenant_id: int, day: date) -> str | None:
    """What a month is rolled up from on ``day``: the ``inputs_digest`` of the day's current
    daily files of the metrics with a monthly characteristic (None if it has none). It
    follows from the archive alone, as a receiver's from the day's manifest."""
    folder = daily_dir(data_dir, tenant_id, day)
    files = {
        path.name: sha256(path.read_bytes())
        for path in folder.glob(f"CNT_*_{day:%Y%m%d}.csv")
        if (named := _billing_name(path.name)) and METRICS[named.metric].monthly
    }
    return inputs_digest(files) if files else None


def _billing_name(name: str):
    """What a file's name says, or None for a file that is no billing file (a stray, which
    ``python -m bds.manifest`` reports as such)."""
    try:
        return parse_name(name)
    except ValueError:
        return None


def rolled_up_from(tenant: Tenant, month: Month, data_dir: Path) -> dict:
    """The monthly manifest's ``rolled_up_from``: the metrics whose daily files a month is
    rolled up from (every metric with a monthly characteristic), and per billed day its
    ``day_inputs``: enough for a receiver to check the month against the days' manifests."""
    found = {day.isoformat(): day_inputs(data_dir, tenant.tenant_id, day) for day in billed_days(tenant, month)}
    return {
        "metrics": sorted(key for key, metric in METRICS.items() if metric.monthly),
        "days": {day: digest for day, digest in found.items() if digest},
    }


def monthly_manifest(data_dir: Path, tenant_id: int, month: Month) -> dict | None:
    return read_manifest(monthly_dir(data_dir, tenant_id, month.first) / manifest_name(tenant_id, f"{month.first:%Y%m}"))


def restated_days(data_dir: Path, tenant_id: int, month: Month) -> list[str] | None:
    """The days whose daily files changed since the month was rolled up (its manifest's
    ``rolled_up_from`` against the archive); None when the month has no monthly files or its
    manifest predates ``rolled_up_from``."""
    rolled = monthly_manifest(data_dir, tenant_id, month)
    if rolled is None or "rolled_up_from" not in rolled:
        return None
    recorded = rolled["rolled_up_from"]["days"]
    days = sorted({*recorded, *(d.isoformat() for d in _days_with_files(data_dir, tenant_id, month))})
    return [day for day in days if recorded.get(day) != day_inputs(data_dir, tenant_id, date.fromisoformat(day))]


def _days_with_files(data_dir: Path, tenant_id: int, month: Month) -> list[date]:
    folder = daily_dir(data_dir, tenant_id, month.first)
    stamps = {named.period for p in folder.glob("CNT_*.csv") if (named := _billing_name(p.name)) and len(named.period) == 8}
    return [date(int(s[:4]), int(s[4:6]), int(s[6:])) for s in sorted(stamps)]
