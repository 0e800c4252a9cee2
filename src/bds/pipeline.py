"""The daily billing run, step by step; the DAG wires these functions into tasks.

plan -> (per tenant) wait for the day to end -> extract each source -> aggregate -> render.
Steps hand each other a small JSON work item through XCom; rows go through the
staging location.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from bds import staging
from bds.calendar import DayWindow, day_window
from bds.catalogue import METRICS, SOURCES, datasets_for
from bds.config import Billable, BillingConfig, Tenant
from bds.files import billing_rows, daily_dir, daily_file_name, render_csv, write_atomic
from bds.metrics import compute_metric
from bds.sources import extract_dataset, query_parameters, source_engine

log = logging.getLogger(__name__)


class StageMissingError(RuntimeError):
    """An upstream step left nothing in the staging location for this tenant-day."""


def plan_day(config: BillingConfig, day: date) -> tuple[list[dict], list[str]]:
    """Work items for the tenants to bill on ``day``, and a line for each decision."""
    if not config.billing_process_enabled:
        return [], [f"{day}: the billing process is disabled (billing_process_enabled: false); nothing is produced"]
    work, notes = [], []
    for tenant in config.tenants:
        reason = None
        if tenant.billable is Billable.NONE:
            reason = "Billable is None: not billed"
        elif tenant.billable is Billable.SALESFORCE:
            reason = "Billable is Salesforce: billed through Salesforce, no PureConnect files; skipped"
        elif not tenant.enabled:
            reason = "tenant is disabled; skipped"
        elif tenant.production_date and day < tenant.production_date:
            reason = f"{day} is before the production date {tenant.production_date}; skipped"
        elif not tenant.enabled_metrics:
            reason = "no metric is enabled; skipped"
        if reason:
            notes.append(f"{tenant.label} {day}: {reason}")
            continue
        notes.append(f"{tenant.label} {day}: billing {len(tenant.enabled_metrics)} metric(s)")
        work.append(
            {
                "day": day.isoformat(),
                "tenant": tenant.model_dump(mode="json"),
                "settle_minutes": config.settle_minutes,
                "lookback_days": config.session_lookback_days,
            }
        )
    return work, notes


def unpack(work: dict) -> tuple[Tenant, date, DayWindow]:
    tenant = Tenant.model_validate(work["tenant"])
    day = date.fromisoformat(work["day"])
    return tenant, day, day_window(day, tenant.time_zone)


def label(work: dict) -> str:
    tenant, day, _ = unpack(work)
    return f"{tenant.label} day {day}"


def ready_at(work: dict) -> datetime:
    """When the tenant's day may be billed: its local day has ended, plus the settle time."""
    _, _, window = unpack(work)
    return window.end_utc + timedelta(minutes=work["settle_minutes"])


def extract_source(work: dict, source: str) -> dict:
    """Run the source's dataset queries for one tenant-day into the staging location."""
    tenant, day, window = unpack(work)
    context = f"{tenant.label} day {day}"
    folder = staging.tenant_day(day, tenant.tenant_id) / source
    marker = folder / staging.MARKER
    if marker.exists():
        marker.unlink()  # a rerun: the old extract no longer counts until this one completes
    needed = datasets_for(source, tenant.enabled_metrics)
    rows = {}
    as_of = int(time.time())
    if needed:
        engine = source_engine(source, context)
        parameters = query_parameters(tenant.tenant_id, window.start, window.end, work["lookback_days"])
        try:
            for dataset in needed:
                frame = extract_dataset(engine, source, dataset, parameters, context)
                staging.write_frame(folder / f"{dataset}.parquet", frame)
                rows[dataset] = len(frame)
                log.info("%s: %s/%s staged %d rows", context, source, dataset, len(frame))
        finally:
            engine.dispose()
    staging.write_json(marker, {"as_of": as_of, "rows": rows})
    return {"source": source, "rows": rows}


def _staged(work: dict, source: str) -> tuple[dict, object]:
    tenant, day, _ = unpack(work)
    folder = staging.tenant_day(day, tenant.tenant_id) / source
    marker = folder / staging.MARKER
    if not marker.exists():
        raise StageMissingError(
            f"{tenant.label} day {day}: nothing staged from {SOURCES[source][1]} ({SOURCES[source][0]}); "
            f"its extract task failed or has not run; see that task's log"
        )
    return staging.read_json(marker), folder


def aggregate(work: dict) -> dict:
    """Compute the tenant-day's metrics from the staged datasets."""
    tenant, day, window = unpack(work)
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    as_of = None
    for source in dict.fromkeys(METRICS[k].source for k in tenant.enabled_metrics):
        marker, folder = _staged(work, source)
        as_of = marker["as_of"] if as_of is None else min(as_of, marker["as_of"])
        for dataset in marker["rows"]:
            frames[(source, dataset)] = staging.read_frame(folder / f"{dataset}.parquet")
    results, agents = [], []
    for key in tenant.enabled_metrics:
        metric = METRICS[key]
        for result in compute_metric(tenant, key, frames[(metric.source, metric.dataset)], window, as_of):
            results.append({"metric": key, "region": result.region, "counts": result.counts, "peak_at": result.peak_at})
            agents.extend((key, result.region, agent) for agent in result.agents)
    out = staging.tenant_day(day, tenant.tenant_id) / "daily"
    staging.write_frame(out / "agents.parquet", pd.DataFrame(agents, columns=["metric", "region", "agent"]))
    staging.write_json(out / "results.json", {"day": day.isoformat(), "as_of": as_of, "results": results})
    for r in results:
        peak = ""
        if r["peak_at"] is not None:
            peak = " (first peak " + datetime.fromtimestamp(r["peak_at"], timezone.utc).isoformat() + ")"
        log.info("%s day %s: %s %s %s%s", tenant.label, day, r["metric"], r["region"], r["counts"], peak)
    return {"results": len(results)}


def render(work: dict, data_dir=None) -> dict:
    """Write the tenant-day's billing files into the local store."""
    tenant, day, _ = unpack(work)
    results = staging.read_json(staging.tenant_day(day, tenant.tenant_id) / "daily" / "results.json")["results"]
    folder = daily_dir(data_dir or staging.data_dir(), tenant.tenant_id, day)
    outcome: dict[str, list[str]] = {"created": [], "changed": [], "unchanged": []}
    for r in results:
        metric = METRICS[r["metric"]]
        name = daily_file_name(tenant, metric, r["region"], day)
        data = render_csv(billing_rows(tenant, metric, r["region"], day.isoformat(), r["counts"]))
        outcome[write_atomic(folder / name, data)].append(name)
    log.info(
        "%s day %s: %d file(s) in %s: %d created, %d changed, %d unchanged",
        tenant.label, day, len(results), folder, *(len(outcome[k]) for k in ("created", "changed", "unchanged")),
    )  # fmt: skip
    return {"tenant": tenant.label, "day": day.isoformat(), "folder": str(folder), **outcome}


def unfinished(work: list[dict], rendered: list[dict]) -> list[str]:
    """Labels of the planned tenant-days that wrote no files."""
    finished = {(r["tenant"], r["day"]) for r in rendered}
    labels = [(Tenant.model_validate(w["tenant"]).label, w["day"]) for w in work]
    return [f"{t} day {d}" for t, d in labels if (t, d) not in finished]


def summarise(notes: list[str], rendered: list[dict]) -> str:
    lines = list(notes)
    for r in rendered:
        counts = ", ".join(f"{len(r[k])} {k}" for k in ("created", "changed", "unchanged"))
        lines.append(f"{r['tenant']} {r['day']}: {counts} in {r['folder']}")
    return "\n".join(lines)
