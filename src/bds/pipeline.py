"""The billing runs, step by step; the DAG files wire these functions into tasks.

bds_daily: plan -> (per tenant) wait for the day to end -> extract each source -> aggregate
-> render -> summary. bds_monthly: plan -> (per tenant) render_month -> summary.
Steps hand each other a small JSON work item through XCom; rows go through the
staging location.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bds import changes, holds, manifest, readiness, staging
from bds.calendar import DayWindow, billing_day, day_window
from bds.catalogue import METRICS, SOURCES, datasets_for
from bds.config import Approvals, Billable, BillingConfig, SourceReadiness, Tenant
from bds.config.store import StoreUnavailable, default_store, for_runs
from bds.datasets import to_frame
from bds.errors import PermanentError, writing_for
from bds.files import (
    ARCHIVE,
    NamedFile,
    billing_rows,
    daily_dir,
    daily_file_name,
    folder_lock,
    manifest_name,
    monthly_dir,
    monthly_file_name,
    parse_name,
    render_csv,
    replace_keeping_previous,
    supersede,
)
from bds.ledger import producer, set_state
from bds.ledger.replay import record_period
from bds.monthly import (
    Month,
    billed_days,
    billing_month,
    day_inputs,
    monthly_manifest,
    monthly_metrics,
    read_daily,
    restated_days,
    rolled_up_from,
    rollup,
)
from bds.sources import (
    MALFORMED_NAMED,
    MalformedRowsError,
    SourceError,
    connection_name,
    dataset_queries,
    malformed_failure,
    malformed_listing,
    malformed_rows,
    query_parameters,
    source_engine,
    stage_dataset,
)
from bds.transmission import outbox_dir, queue

if TYPE_CHECKING:  # pandas and the metrics are imported by the steps that compute: the others start faster
    import pandas as pd

log = logging.getLogger(__name__)


class StageMissingError(PermanentError, RuntimeError):
    """An upstream step left nothing in the staging location for this tenant-day."""


class RunIncompleteError(RuntimeError):
    """The plan or some tenant failed: the run must show as failed."""


def _skip_reason(tenant: Tenant, last_day: date, metrics: list[str]) -> str | None:
    if tenant.billable is Billable.NONE:
        return "Billable is None: not billed"
    if tenant.billable is Billable.SALESFORCE:
        return "Billable is Salesforce: billed through Salesforce, no PureConnect files; skipped"
    if not tenant.enabled:
        return "tenant is disabled; skipped"
    if tenant.production_date and last_day < tenant.production_date:
        return f"{last_day} is before the production date {tenant.production_date}; skipped"
    if not metrics:
        return "no metric is enabled; skipped"
    if not tenant.billed_regions and all(METRICS[k].scope == "region" for k in metrics):
        return "every region (or every location of it) is switched off and only regional metrics are enabled: no file; skipped"
    return None


def _plan(
    config: BillingConfig, period: str, last_day: date, metrics_of, item: dict, revision: int | None
) -> tuple[list[dict], list[str]]:
    if not config.billing_process_enabled:
        return [], [f"{period}: the billing process is disabled (billing_process_enabled: false); nothing is produced"]
    work, notes = [], []
    item = item | {
        "transmit": config.billing_server.transmit,
        "delivery": config.billing_server.delivery,
        "approvals": config.approvals.model_dump(mode="json"),
    }
    if revision is not None:  # the configuration revision its files are produced with (manifests, change log)
        item["config_revision"] = revision
    for tenant in config.tenants:
        reason = _skip_reason(tenant, last_day, metrics_of(tenant))
        if reason:
            notes.append(f"{tenant.label} {period}: {reason}")
            continue
        notes.append(f"{tenant.label} {period}: billing {len(metrics_of(tenant))} metric(s)")
        work.append(item | {"tenant": tenant.model_dump(mode="json"), "label": f"{tenant.label} {period}"})
    return work, notes


def plan_day(config: BillingConfig, day: date, run_id: str = "", revision: int | None = None) -> tuple[list[dict], list[str]]:
    """Work items for the tenants to bill on ``day``, and a line for each decision. A run's
    items carry its staging key: two runs of one day stage apart and never mix."""
    item = {
        "day": day.isoformat(),
        **({"run": staging.run_key(run_id)} if run_id else {}),
        "settle_minutes": config.settle_minutes,
        "lookback_days": config.session_lookback_days,
        "lookahead_minutes": config.voicebot_lookahead_minutes,
        "readiness": config.sources.model_dump(mode="json"),
    }
    work, notes = _plan(config, day.isoformat(), day, lambda t: t.enabled_metrics, item, revision)
    # The moment each tenant's day becomes billable: what wait_for_day_end defers until.
    return [w | {"billable_at": ready_at(w).isoformat()} for w in work], notes


def plan_month(config: BillingConfig, month: Month, revision: int | None = None) -> tuple[list[dict], list[str]]:
    """Work items for the tenants whose ``month`` gets monthly files (metrics with a monthly characteristic)."""
    return _plan(config, month.label, month.last, monthly_metrics, {"month": month.label}, revision)


def configuration_for(period: str):
    """The configuration revision a run of ``period`` plans with, and its notes; a store that
    cannot be read fails the plan naming the period (and is retried: it may come back)."""
    try:
        return for_runs()
    except StoreUnavailable as exc:
        raise StoreUnavailable(f"{period}: {exc}") from None


def plan_daily_run(requested: str | None, interval_start, run_after, run_id: str = "") -> tuple[str, list[dict], list[str]]:
    """The day a bds_daily run bills, its work items and notes, with the current configuration
    revision (bds.config.store): a change made later touches only runs planned later."""
    day = billing_day(requested, interval_start, run_after)
    revision, notes = configuration_for(f"day {day}")
    work, planned = plan_day(revision.config, day, run_id, revision.number)
    return day.isoformat(), work, [*notes, *planned]


def announced_months(announced: list[dict]) -> dict[str, set[int] | None]:
    """The months bds_daily's asset events ask bds_monthly to roll up: a month-end
    (``{"month"}``) for every tenant (None), a restatement (``{"month", "tenant_id", "day"}``)
    for the tenants restated."""
    months: dict[str, set[int] | None] = {}
    for extra in sorted(announced, key=lambda e: "tenant_id" in e):  # month-ends first: they cover every tenant
        month = extra.get("month")
        if not month:
            continue
        label = Month.parse(month).label
        if "tenant_id" not in extra:
            months[label] = None
        elif months.get(label, set()) is not None:
            months[label] = {*months.get(label, set()), int(extra["tenant_id"])}
    return dict(sorted(months.items()))


def plan_monthly_run(
    requested: str | None, announced: list[dict], interval_start, run_after
) -> tuple[str, list[dict], list[str]]:
    """The months a bds_monthly run rolls up, its work items and notes (see ``plan_daily_run``):
    the ``month`` Param's for every tenant; else those bds_daily announced (``announced_months``);
    else the month of the run's data interval (or the month before a manual run's)."""
    months = {} if requested else announced_months(announced)
    if not months:
        months = {billing_month(requested, interval_start, run_after).label: None}
    period = ", ".join(months)
    revision, notes = configuration_for(f"month {period}")
    work, planned = [], []
    for label, restated in months.items():
        config = revision.config
        if restated is not None:
            config = config.model_copy(update={"tenants": tuple(t for t in config.tenants if t.tenant_id in restated)})
            ids = ", ".join(map(str, sorted(restated)))
            planned.append(
                f"month {label}: rolled up again for tenant(s) {ids}: a day was restated after the month was rolled up"
            )
        items, lines = plan_month(config, Month.parse(label), revision.number)
        work += items
        planned += lines
    return period, work, [*notes, *planned]


def unpack(work: dict) -> tuple[Tenant, date, DayWindow]:
    """The tenant, its billing day, and the day's window: with the look-ahead when one of the
    tenant's metrics reads facts that start after the day's end (voicebot_interactions)."""
    tenant = Tenant.model_validate(work["tenant"])
    day = date.fromisoformat(work["day"])
    looks_ahead = any(METRICS[k].looks_ahead for k in tenant.enabled_metrics)
    # A work item planned before the look-ahead existed (a task of an older run, cleared) has
    # none: it gets the setting's default.
    minutes = work.get("lookahead_minutes", BillingConfig.model_fields["voicebot_lookahead_minutes"].default)
    return tenant, day, day_window(day, tenant.time_zone, minutes * 60 if looks_ahead else 0)


def stage(work: dict):
    """The staging folder of the tenant-day for the run that planned ``work``."""
    tenant, day, _ = unpack(work)
    folder = staging.tenant_day(day, tenant.tenant_id)
    return folder / "runs" / work["run"] if "run" in work else folder  # items planned before runs staged apart: none


def label(work: dict) -> str:
    tenant, day, _ = unpack(work)
    return f"{tenant.label} day {day}"


def ready_at(work: dict) -> datetime:
    """When the tenant's day may be billed: its local day has ended, plus its look-ahead (if a
    metric reads past the day's end), plus the settle time."""
    _, _, window = unpack(work)
    return window.horizon_utc + timedelta(minutes=work["settle_minutes"])


def sources_ready(work: dict, now: datetime | None = None) -> tuple[bool, list[str]]:
    """Whether every source the tenant-day needs has the day: (ready, what was found).
    Raises SourceNotReadyError when a source has purged the day, or has not loaded it
    within ``sources.timeout_minutes`` of the day becoming billable."""
    tenant, day, window = unpack(work)
    settings = SourceReadiness.model_validate(work["readiness"])
    now = now or datetime.now(UTC)
    context = f"{tenant.label} day {day}"
    needed = [source for source in SOURCES if datasets_for(source, tenant.enabled_metrics)]
    for source in needed:
        reason = readiness.purged(source, day, now.date(), settings)
        if reason:
            raise readiness.SourceNotReadyError(
                f"{context}: {reason}; it is not billed again (its archived files stay as they are)"
            )
    if "gim" not in needed:
        return True, [f"{context}: no Info Mart data needed"]
    engine = source_engine("gim", context, tenant.info_mart_conn_id)
    try:
        verdict = readiness.check_info_mart(engine, window)
    except readiness.SourceNotReadyError as exc:  # unreadable for now: keep asking until the timeout
        verdict = readiness.Verdict("gim", False, str(exc))
    finally:
        engine.dispose()
    if not verdict.ready and readiness.overdue(int(ready_at(work).timestamp()), int(now.timestamp()), settings):
        raise readiness.SourceNotReadyError(
            f"{context}: {connection_name('gim', tenant.info_mart_conn_id)} has not loaded the day: {verdict.detail}; "
            f"gave up {settings.timeout_minutes} minutes after the day became billable (sources.timeout_minutes)"
        )
    return verdict.ready, [f"{context}: {verdict.detail}"]


def extract_pool(work: dict, source: str, pools: tuple[str, ...]) -> str:
    """The pool of the tenant's extract from ``source``, of ``pools`` (the source's shared pool,
    then the connections' own, as ``dag_common.source_pools`` lists them): the pool of its
    connection (for GVP, its first location's Reporting Server), else the shared one."""
    conn_id = unpack(work)[0].connections(source)[0]
    return conn_id if conn_id in pools else pools[0]


def extract_queries(work: dict, source: str, dialect: str | None) -> tuple[dict[str, str], dict]:
    """What the tenant-day's extract from ``source`` runs on a database of ``dialect``: the SQL of
    each dataset its metrics need and of their malformed-row checks, by name, and the bound
    parameters (none of either when its metrics need nothing from the source)."""
    tenant, day, window = unpack(work)
    needed = datasets_for(source, tenant.enabled_metrics)
    if not needed:
        return {}, {}
    try:
        queries = dataset_queries(source, needed, dialect)
    except OSError as exc:
        raise SourceError(f"{tenant.label} day {day}: cannot read the SQL of {source}: {exc}") from None
    return queries, query_parameters(tenant.tenant_id, window, work["lookback_days"], dialect)


def extract_source(
    work: dict, source: str, hook_for=None, queries: tuple[str | None, dict[str, str], dict] | None = None
) -> dict:
    """Run the source's dataset queries for one tenant-day into the staging location, through
    each of the tenant's connections to the source (``Tenant.connections``): the ``queries``
    its extract task rendered (dialect, SQL by name, bound parameters) on a connection of that
    dialect, else those of ``extract_queries``; through ``hook_for(conn_id)`` (the task's
    ``get_hook``), else the connection's own hook."""
    tenant, day, window = unpack(work)
    context = f"{tenant.label} day {day}"
    with writing_for(context):
        return _extract(work, source, tenant, context, hook_for, queries)


def _extract(work: dict, source: str, tenant: Tenant, context: str, hook_for, queries) -> dict:
    folder = stage(work) / source
    marker = folder / staging.MARKER
    if staging.exists(marker):
        staging.remove(marker)  # a rerun: the old extract no longer counts until this one completes
    needed = datasets_for(source, tenant.enabled_metrics)
    rows, malformed, elsewhere, ran = {}, {}, {}, {}
    as_of = int(time.time())
    if needed:
        with ExitStack() as opened:
            readers = []
            for conn_id in tenant.connections(source):
                engine = source_engine(source, context, conn_id, hook_for)
                opened.callback(engine.dispose)
                dialect = engine.dialect.name
                sql, parameters = queries[1:] if queries and queries[0] == dialect else extract_queries(work, source, dialect)
                readers.append((conn_id, engine, sql, parameters))

            # Every connection is checked before anything is staged from any of them; of several,
            # each for the records billed from it.
            def billed_from(conn_id: str):
                return None if len(readers) == 1 else lambda component: tenant.gvp_billed_from(component, conn_id) == conn_id

            found = [
                (conn_id, check_rows(engine, source, needed, parameters, work, context, sql, conn_id, billed_from(conn_id)))
                for conn_id, engine, sql, parameters in readers
            ]
            malformed = merged_malformed(found)
            for dataset in needed:
                with staging.writing(folder / f"{dataset}.parquet") as parquet:
                    if len(readers) == 1:
                        conn_id, engine, sql, parameters = readers[0]
                        rows[dataset] = stage_dataset(
                            engine, source, dataset, parameters, context, parquet, sql[dataset], conn_id
                        )
                    else:
                        rows[dataset], elsewhere[dataset] = stage_combined(tenant, source, dataset, readers, context, parquet)
                log.info("%s: %s/%s staged %d rows", context, source, dataset, rows[dataset])
            ran = run_sql(source, needed, readers)
    staging.write_json(marker, {"as_of": as_of, "rows": rows, "malformed": malformed, "elsewhere": elsewhere, "sql": ran})
    for dataset, left in elsewhere.items():
        for line in left:
            log.warning("%s: %s/%s: %s", context, source, dataset, line)
    return {"source": source, "rows": rows, "malformed": {dataset: found["count"] for dataset, found in malformed.items()}}


def run_sql(source: str, datasets: list[str], readers: list) -> dict[str, str]:
    """The SHA-256 of each dataset query an extract ran (its text, comment lines left out), by
    ``<source>/<dataset>``; of several connections whose queries differ (other dialects), by
    ``<source>/<dataset>@<conn_id>``: what the day's manifest records as ``dataset_sql``."""
    found = {}
    for dataset in datasets:
        texts = {conn_id: sql[dataset] for conn_id, _, sql, _ in readers}
        if len(set(texts.values())) == 1:
            found[f"{source}/{dataset}"] = manifest.sha256(next(iter(texts.values())).encode("utf-8"))
        else:
            found |= {f"{source}/{dataset}@{c}": manifest.sha256(text.encode("utf-8")) for c, text in texts.items()}
    return found


def stage_combined(tenant: Tenant, source: str, dataset: str, readers: list, context: str, target: Path) -> tuple[int, list[str]]:
    """Stage ``dataset`` from each of several connections into ``target``, one connection after
    the other, keeping of each only the rows it is the tenant's source of: a GVP record is
    billed from the Reporting Server of its component's location (``Tenant.gvp_billed_from``).
    Returns the rows staged and, for the rows left out, a line per connection and component
    saying where they are billed from instead."""
    import tempfile

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from bds.datasets import arrow_schema

    staged, left_out = 0, {}
    with (
        tempfile.TemporaryDirectory(prefix="bds-parts-") as parts,
        pq.ParquetWriter(target, arrow_schema(source, dataset)) as writer,
    ):
        for conn_id, engine, sql, parameters in readers:
            part = Path(parts) / f"{conn_id}.parquet"
            stage_dataset(engine, source, dataset, parameters, context, part, sql[dataset], conn_id)
            for batch in pq.ParquetFile(part).iter_batches():
                names = pc.fill_null(batch.column("component"), "")
                elsewhere = [n for n in pc.unique(names).to_pylist() if tenant.gvp_billed_from(n, conn_id) != conn_id]
                left = pc.is_in(names, value_set=pa.array(elsewhere, pa.string()))
                kept = batch.filter(pc.invert(left))
                writer.write_batch(kept)
                staged += kept.num_rows
                for found in pc.value_counts(names.filter(left)).to_pylist():
                    key = (conn_id, found["values"])
                    left_out[key] = left_out.get(key, 0) + found["counts"]
    return staged, [
        f"{count} record(s) of component {name or '(none)'} read through {conn_id} are left out: "
        f"they are billed from {tenant.gvp_billed_from(name, conn_id)}, the Reporting Server of the component's location"
        for (conn_id, name), count in sorted(left_out.items())
    ]


def merged_malformed(found: list[tuple[str, dict[str, dict]]]) -> dict[str, dict]:
    """The malformed rows of each dataset over several connections (``check_rows``'s, by
    connection): their count, and the first few named, with the connection where there are several."""
    merged: dict[str, dict] = {}
    for conn_id, by_dataset in found:
        for dataset, kept in by_dataset.items():
            named = kept["named"] if len(found) == 1 else [f"{conn_id}: {line}" for line in kept["named"]]
            entry = merged.setdefault(dataset, {"count": 0, "named": []})
            entry["count"] += kept["count"]
            entry["named"] = (entry["named"] + named)[:MALFORMED_NAMED]
    return merged


def check_rows(
    engine,
    source: str,
    datasets: list[str],
    parameters: dict,
    work: dict,
    context: str,
    sql: dict[str, str] | None = None,
    conn_id: str | None = None,
    billed_here=None,
) -> dict[str, dict]:
    """The malformed rows each dataset reads (and leaves out), by dataset: their count and the
    first few named. Under ``sources.malformed_rows: fail`` any of them fails the tenant-day
    before anything is staged; under ``tolerate`` they are logged here, and aggregate names
    them in the run's summary. ``conn_id``: the connection ``engine`` reaches; ``billed_here``:
    of a row that names its component, whether it is billed from there (``malformed_rows``)."""
    queries = sql or {}
    found = {
        d: lines
        for d in datasets
        if (lines := malformed_rows(engine, source, d, parameters, context, queries.get(f"malformed/{d}"), conn_id, billed_here))
    }
    if found and SourceReadiness.model_validate(work["readiness"]).malformed_rows == "fail":
        raise MalformedRowsError(
            "\n".join(str(malformed_failure(source, d, lines, context, conn_id)) for d, lines in found.items())
        )
    kept = {d: {"count": len(lines), "named": lines[:MALFORMED_NAMED]} for d, lines in found.items()}
    for dataset, malformed in kept.items():
        log.warning("%s", tolerated(source, dataset, malformed, context))
    return kept


def tolerated(source: str, dataset: str, malformed: dict, context: str) -> str:
    return (
        f"{context}: {source}/{dataset}: {malformed['count']} malformed value(s) in source rows left out of the counts "
        f"(sources.malformed_rows: tolerate): {malformed_listing(malformed['named'], malformed['count'])}"
    )


def _staged(work: dict, source: str) -> tuple[dict, object]:
    tenant, day, _ = unpack(work)
    folder = stage(work) / source
    marker = folder / staging.MARKER
    if not staging.exists(marker):
        raise StageMissingError(
            f"{tenant.label} day {day}: nothing staged from {', '.join(connection_name(source, c) for c in tenant.connections(source))} by this run; "
            f"its extract task failed or has not run (see its log), or the day was rendered and its extracts removed; "
            f"clear the tenant's extract tasks with this one"
        )
    return staging.read_json(marker), folder


def aggregate(work: dict) -> dict:
    """Compute the tenant-day's metrics from the staged datasets."""
    tenant, day, _ = unpack(work)
    with writing_for(f"{tenant.label} day {day}"):
        return _aggregate(work)


def _aggregate(work: dict) -> dict:
    import pandas as pd

    from bds.metrics import compute_metric, sessions_before_lookback

    tenant, day, window = unpack(work)
    folders, as_of, warnings, sql = {}, None, [], {}
    context = f"{tenant.label} day {day}"
    for source in dict.fromkeys(METRICS[k].source for k in tenant.enabled_metrics):
        marker, folders[source] = _staged(work, source)
        sql |= marker.get("sql", {})
        as_of = marker["as_of"] if as_of is None else min(as_of, marker["as_of"])
        warnings.extend(tolerated(source, d, found, context) for d, found in marker.get("malformed", {}).items())
        warnings.extend(f"{context}: {source}/{d}: {line}" for d, lines in marker.get("elsewhere", {}).items() for line in lines)
    computed: dict[str, list] = {}
    # One dataset in memory at a time: read it, compute its metrics, let it go.
    for source, dataset in dict.fromkeys((METRICS[k].source, METRICS[k].dataset) for k in tenant.enabled_metrics):
        rows = to_frame(source, dataset, staging.read_table(folders[source] / f"{dataset}.parquet"))
        for key in tenant.enabled_metrics:
            if (METRICS[key].source, METRICS[key].dataset) == (source, dataset):
                computed[key] = compute_metric(tenant, key, rows, window, as_of)
        if (source, dataset) == ("gim", "agent_sessions"):
            warnings.extend(sessions_before_lookback(tenant, rows, window, work["lookback_days"]))
        del rows
    results, agents = [], []
    for key in tenant.enabled_metrics:
        for result in computed[key]:
            results.append({"metric": key, "region": result.region, "counts": result.counts, "peak_at": result.peak_at})
            agents.extend((key, result.region, agent) for agent in result.agents)
            warnings.extend(result.warnings)
    out = stage(work) / "daily"
    staging.write_frame(out / "agents.parquet", pd.DataFrame(agents, columns=["metric", "region", "agent"]))
    staging.write_json(
        out / "results.json",
        {
            "day": day.isoformat(),
            "as_of": as_of,
            "results": results,
            "warnings": warnings,
            "dataset_sql": dict(sorted(sql.items())),
        },
    )
    for warning in warnings:
        log.warning("%s", warning)
    for r in results:
        peak = ""
        if r["peak_at"] is not None:
            peak = " (first peak " + datetime.fromtimestamp(r["peak_at"], UTC).isoformat() + ")"
        log.info("%s day %s: %s %s %s%s", tenant.label, day, r["metric"], r["region"], r["counts"], peak)
    return {"results": len(results), "warnings": len(warnings)}


def store_files(
    tenant: Tenant,
    period: str,
    data_dir: Path,
    folder: Path,
    files: dict[str, bytes],
    transmit: bool,
    with_files=None,
    revision: int | None = None,
    fields: dict | None = None,
    provenance: dict | None = None,
    delivery: str = "overwrite",
    approvals: Approvals | None = None,
) -> dict:
    """Write rendered billing files atomically into the archive, then their manifest (last).

    ``files`` is the period's whole current set. A file that changes is a restatement: its
    earlier version is kept under ``versions/`` and the change is logged (task log and
    ``changes.jsonl``). A file of the period that this run did not render (its name changed,
    or its metric or region is no longer billed) is superseded: kept under ``versions/``,
    taken out of the folder, the manifest and the outbox, and logged with the reason; the
    manifest keeps a record of it, so transmission moves it aside on the billing server. With
    transmission on, every file not yet sent, and the manifest, go into the outbox.
    ``with_files`` is called under the folder's lock once the files are written, before the
    manifest: what must change together with them. ``revision`` is the configuration revision
    the files were produced with: the manifest and the change log name it. ``fields``: the
    manifest's other top-level fields (a month's ``rolled_up_from``); ``provenance``: what a new
    revision of the period records of what produced it, besides the configuration revision and
    the bds version (a day's ``dataset_sql``). ``delivery`` is the billing server's: in
    ``revisions``, a new revision goes into the outbox whole. ``approvals``: when files that
    would be queued are held for an approval instead (bds.holds)."""
    outbox = outbox_dir() if transmit else None  # a missing outbox stops the run before any write
    archive = Path(data_dir) / ARCHIVE
    label = f"{tenant.label} {period}"
    outcome: dict[str, list[str]] = {"created": [], "changed": [], "unchanged": [], "queued": [], "superseded": []}
    restated = []
    period_code = period.replace("-", "")  # as in the file names: YYYYMMDD or YYYYMM
    approvals = approvals or Approvals()
    store = default_store(data_dir)
    held, ask = None, False
    with folder_lock(folder):
        # This run and task, and the moment of this write (in the manifest and the ledger): taken
        # under the lock, so the period's events are in the order they happened.
        produced = producer()
        closed = None
        if approvals.close_after_days is not None:
            with store.reading() as connection:
                closed = holds.closed_at(connection, tenant.tenant_id, period[:7], approvals)
        listed = {
            e["name"]: e for e in (manifest.read(folder / manifest_name(tenant.tenant_id, period_code)) or {}).get("files", [])
        }
        for name, data in files.items():
            named = parse_name(name)
            status, kept = replace_keeping_previous(archive, named, data)
            outcome[status].append(name)
            if kept is not None:  # the earlier version, now under versions/
                old = kept.read_bytes()
                previous = listed.get(name) if listed.get(name, {}).get("sha256") == manifest.sha256(old) else None
                restated.append(
                    changes.restatement(
                        named,
                        old,
                        data,
                        kept,
                        archive,
                        revision=revision,
                        previous=previous and previous | {"superseded_at": produced["at"]},
                    )
                )
        superseded = []
        for path in sorted(folder.glob("CNT_*.csv")):
            named = parse_name(path.name)
            if path.name in files or named.period != period_code:
                continue
            reason = superseded_because(tenant, named, files)
            data, kept = supersede(archive, named)
            superseded.append((named.name, data, reason, kept.relative_to(archive).as_posix()))
            previous = listed.get(named.name) if listed.get(named.name, {}).get("sha256") == manifest.sha256(data) else None
            restated.append(
                changes.restatement(
                    named, data, None, kept, archive, reason, revision, previous and previous | {"superseded_at": produced["at"]}
                )
            )
            outcome["superseded"].append(named.name)
            if outbox is not None:
                (outbox / named.relative_path).unlink(missing_ok=True)  # queued but not sent: never send it
        if with_files is not None:
            with_files()
        if closed and (outcome["created"] or outcome["changed"] or superseded):
            fields = (fields or {}) | {"correction_of_closed_period": {"month": period[:7], "closed_at": closed}}
        manifest_status, manifest_path = manifest.record_rendered(
            folder, files, superseded, revision, produced, fields, provenance, whole_revisions=delivery == "revisions"
        )
        written = manifest.read(manifest_path)
        waiting = sorted(set(manifest.unsent(written)) & set(files)) if outbox is not None else []
        waiting_files = {n: manifest.sha256(files[n]) for n in waiting}
        # Anything for the billing server: files not sent yet, or a changed manifest (a file superseded).
        to_send = outbox is not None and bool(waiting or manifest_status != "unchanged")
        decision = holds.decided(data_dir, tenant.tenant_id, period, written["revision"], waiting_files) if to_send else None
        correction = written.get("correction_of_closed_period") if approvals.close_after_days is not None else None
        changes.append(data_dir, restated)  # before the lock is released: no restatement goes unlogged
        found = []
        # The ledger before the outbox: the checks that may hold the files read its flags. A
        # failed ledger write (a retried task) finds the files in place and records them then.
        try:
            record_period(store, archive, manifest_path, produced["at"], set(waiting))
            if to_send and decision != "approved":  # an approval of these very files stands
                with store.writing(f"cannot check {label} for an approval hold") as connection:
                    closed_at = correction and correction["closed_at"]
                    found = holds.reasons(connection, data_dir, tenant.tenant_id, period, approvals, closed_at)
                    if found or decision == "rejected":
                        set_state(connection, waiting_files, "held")
        except StoreUnavailable as exc:  # retried: the files are in place, and the retry records them
            raise StoreUnavailable(f"{label}: the files and their manifest are written, but {exc}") from None
        to_outbox = False
        if found or decision == "rejected":
            held, ask = holds.hold(data_dir, tenant.tenant_id, period, written["revision"], waiting_files, found, produced)
            # Nothing of a held period waits in the outbox (copies an earlier run queued included).
            for name in [*files, manifest_path.name]:
                (outbox / parse_name(name).relative_path).unlink(missing_ok=True)
        elif outbox is not None:
            if decision is None:
                holds.clear(data_dir, tenant.tenant_id, period, produced)
            for name in waiting:
                queue(outbox, parse_name(name), files[name])
                outcome["queued"].append(name)
            if outcome["queued"] or manifest_status != "unchanged":
                queue(outbox, parse_name(manifest_path.name), manifest_path.read_bytes())
                to_outbox = True
    released = []
    if outbox is not None and len(period) == 10:
        # A day billed now may be what held a later day (missing): those holds are checked again.
        released = holds.recheck(store, data_dir, tenant.tenant_id, period, approvals, outbox)
        to_outbox |= bool(released)
    for entry in restated:
        log.warning("%s", changes.describe(entry))
    counts = ", ".join(f"{len(outcome[k])} {k}" for k in ("created", "changed", "unchanged"))
    summary = f"{label}: {counts} in {folder}; manifest {manifest_status} (revision {written['revision']})"
    if held:
        summary += (
            f"; HELD for approval, {len(held['files'])} file(s) stay in the archive ({holds.describe(held['reasons'])}): "
            + ("bds_approvals asks for a decision" if ask else f"held since {held['held_at']} ({held['state']})")
        )
    elif transmit:
        summary += f"; {len(outcome['queued'])} file(s) queued for transmission"
        if not tenant.online:
            summary += " (the tenant is offline: they wait in the outbox until it is online again)"
    if outcome["superseded"]:
        summary += f"; {len(outcome['superseded'])} earlier file(s) superseded (kept under versions/)"
    summary += "".join(f"\n  {line}" for line in released)
    log.info("%s", summary)
    summary += "".join(f"\n  {changes.describe(entry)}" for entry in restated)
    return {
        "label": label,
        "summary": summary,
        "folder": str(folder),
        "restated": restated,
        "tenant_id": tenant.tenant_id,
        "period": period,
        "to_outbox": to_outbox,  # anything, files or manifest, went into the outbox
        "held": [r["kind"] for r in held["reasons"]] if held else [],
        "ask": bool(held) and ask,  # a new hold: bds_approvals asks about it
        **outcome,
    }


def superseded_because(tenant: Tenant, named: NamedFile, files: dict[str, bytes]) -> str:
    """Why the archived file ``named`` is not in the current set ``files`` of its period."""
    successors = [n for n in map(parse_name, files) if (n.metric, n.region) == (named.metric, named.region)]
    if successors:
        renamed = f"replaced by {successors[0].name}: the file name changed"
        return renamed + (f" (GARN '{named.garn}' is now '{successors[0].garn}')" if successors[0].garn != named.garn else "")
    if named.metric not in tenant.enabled_metrics:
        return f"metric {named.metric} is no longer billed for the tenant (switched off)"
    return f"region {named.region} is no longer billed for metric {named.metric} (switched off, renamed or removed)"


def render(work: dict, data_dir=None) -> dict:
    """Write the tenant-day's billing files into the local store; publish the day's agent
    sets (what the monthly Enabled counts read) with them."""
    tenant, day, _ = unpack(work)
    with writing_for(f"{tenant.label} day {day}"):
        return _render(work, data_dir)


def _render(work: dict, data_dir=None) -> dict:
    tenant, day, _ = unpack(work)
    computed = staging.read_json(stage(work) / "daily" / "results.json")
    results = computed["results"]
    files = {
        daily_file_name(tenant, METRICS[r["metric"]], r["region"], day): render_csv(
            billing_rows(tenant, METRICS[r["metric"]], r["region"], day.isoformat(), r["counts"])
        )
        for r in results
    }
    data_dir = data_dir or staging.data_dir()
    folder = daily_dir(data_dir, tenant.tenant_id, day)
    agents = stage(work) / "daily" / "agents.parquet"
    published = staging.tenant_day(day, tenant.tenant_id) / "daily" / "agents.parquet"

    agents_changed = False

    def publish_agents():
        nonlocal agents_changed
        if agents != published:
            agents_changed = staging.exists(published) and not same_agents(staging.read_frame(published), agents)
            staging.write_bytes(published, staging.read_bytes(agents))

    stored = store_files(
        tenant,
        day.isoformat(),
        data_dir,
        folder,
        files,
        work.get("transmit", False),
        publish_agents,
        work.get("config_revision"),
        provenance={"dataset_sql": computed["dataset_sql"]} if "dataset_sql" in computed else None,
        delivery=work.get("delivery", "overwrite"),
        approvals=Approvals.model_validate(work.get("approvals", {})),
    )
    try:
        stored |= month_restatement(tenant, day, data_dir, stored, agents_changed)
    except ValueError as exc:  # an unreadable monthly manifest: the day is billed all the same
        note = f"{tenant.label} day {day}: cannot tell whether month {Month.of(day).label} must be rolled up again: {exc}"
        log.warning("%s", note)
        stored["summary"] += f"\n  WARNING {note}"
    # The files are stored: the extracts have served (what render reads, daily/, stays for a rerun
    # of it). A removal that fails is left to bds_housekeeping: the day is billed all the same.
    for source in SOURCES:
        try:
            staging.remove_tree(stage(work) / source)
        except staging.StagingError as exc:
            log.warning("%s: %s; bds_housekeeping removes it later", label(work), exc)
    stored["warnings"] = computed.get("warnings", [])  # what aggregate logged: into the run's summary too
    stored["summary"] += "".join(f"\n  WARNING {warning}" for warning in stored["warnings"])
    return stored


def same_agents(published: pd.DataFrame, staged: Path) -> bool:
    """Whether a day's published agent set (what its month's Enabled counts read) equals the one
    just staged, whatever the order of their rows."""
    columns = ["metric", "region", "agent"]
    old, new = (
        frame[columns].astype(str).sort_values(columns).reset_index(drop=True)
        for frame in (published, staging.read_frame(staged))
    )
    return old.equals(new)


def month_restatement(tenant: Tenant, day: date, data_dir: Path, stored: dict, agents_changed: bool) -> dict:
    """Whether this render restated a day of a month that already has monthly files, so that
    bds_monthly must roll the month up again (``render`` emits the restated-month asset): the
    day's files differ from those the month was rolled up from (its manifest's
    ``rolled_up_from``), or its agent set changed. A month rolled up before manifests recorded
    their inputs counts as restated when a file of a monthly metric changed."""
    month = Month.of(day)
    if monthly_manifest(data_dir, tenant.tenant_id, month) is None:
        return {}
    days = restated_days(data_dir, tenant.tenant_id, month)
    if days is None:
        touched = [*stored["created"], *stored["changed"], *stored["superseded"]]
        restated = any(METRICS[parse_name(name).metric].monthly for name in touched)
    else:
        restated = day.isoformat() in days
    if not (restated or agents_changed):
        return {}
    why = "its files changed" if restated else "its agent set changed"
    note = f"{tenant.label} day {day}: restated after month {month.label} was rolled up ({why}); bds_monthly rolls it up again"
    log.warning("%s", note)
    return {"month_restated": month.label, "summary": f"{stored['summary']}\n  {note}"}


def staged_agents(tenant: Tenant, days: list[date]) -> pd.DataFrame:
    """The per-day agent sets that aggregate staged, with their day."""
    import pandas as pd

    frames = []
    for day in days:
        path = staging.tenant_day(day, tenant.tenant_id) / "daily" / "agents.parquet"
        if not staging.exists(path):
            raise StageMissingError(f"{tenant.label} day {day}: no staged agent set; rerun bds_daily for that day")
        frames.append(staging.read_frame(path).assign(day=day.isoformat()))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["metric", "region", "agent", "day"])


def render_month(work: dict, data_dir=None) -> dict:
    """Roll the tenant's month up from its daily files, reconcile, then write the monthly files."""
    tenant = Tenant.model_validate(work["tenant"])
    month = Month.parse(work["month"])
    with writing_for(f"{tenant.label} month {month.label}"):
        return _render_month(tenant, month, work, data_dir)


def _render_month(tenant: Tenant, month: Month, work: dict, data_dir=None) -> dict:
    data_dir = data_dir or staging.data_dir()
    # Taken before the daily files are read: a day restated meanwhile shows as restated.
    inputs = rolled_up_from(tenant, month, data_dir)
    daily = read_daily(tenant, month, data_dir)
    results = rollup(tenant, month, daily, staged_agents(tenant, billed_days(tenant, month)))
    files = {
        monthly_file_name(tenant, METRICS[r["metric"]], r["region"], month.first): render_csv(
            billing_rows(tenant, METRICS[r["metric"]], r["region"], month.label, r["counts"])
        )
        for r in results
    }  # every file is rendered and reconciled before the first is written
    for r in results:
        log.info("%s month %s: %s %s %s", tenant.label, month.label, r["metric"], r["region"], r["counts"])
    folder = monthly_dir(data_dir, tenant.tenant_id, month.first)
    stored = store_files(
        tenant,
        month.label,
        data_dir,
        folder,
        files,
        work.get("transmit", False),
        revision=work.get("config_revision"),
        fields={"rolled_up_from": inputs},
        delivery=work.get("delivery", "overwrite"),
        approvals=Approvals.model_validate(work.get("approvals", {})),
    )
    # A day restated while this rollup read the days (a render that found no monthly files yet,
    # or the earlier ones) is rolled up again: roll_up emits the restated-month asset itself.
    moved = [
        d for d in billed_days(tenant, month) if day_inputs(data_dir, tenant.tenant_id, d) != inputs["days"].get(d.isoformat())
    ]
    if moved:
        note = f"{tenant.label} month {month.label}: day(s) {', '.join(map(str, moved))} changed while it was rolled up; bds_monthly rolls it up again"
        log.warning("%s", note)
        stored |= {
            "month_restated": month.label,
            "restated_day": moved[0].isoformat(),
            "summary": f"{stored['summary']}\n  {note}",
        }
    return stored


def unfinished(work: list[dict], results: list[dict]) -> list[str]:
    """Labels of the planned work items (tenant-days, tenant-months, tenants) with no result."""
    finished = {r["label"] for r in results}
    return [w["label"] for w in work if w["label"] not in finished]


def summarise(notes: list[str], results: list[dict]) -> str:
    return "\n".join([*notes, *(r["summary"] for r in results)])


def finish_run(planned: list[dict] | None, notes: list[str], results: list[dict] | None, rejected: list[str] = ()) -> str:
    """The run's summary; raises when the plan failed, a planned item produced nothing, or
    the plan set something aside (``rejected``)."""
    done = [r for r in results or [] if r]
    text = summarise(notes, done)
    if planned is None:
        raise RunIncompleteError(f"{text}\nthe plan failed (see the plan task's log); nothing was done")
    missing = unfinished(planned, done)
    problems = [f"nothing done for {', '.join(missing)}; see their failed tasks"] if missing else []
    problems += list(rejected)
    if problems:
        raise RunIncompleteError("\n".join([text, *problems]))
    return text
