"""What the console's pages show, read from the billing ledger (bds.ledger) and the
configuration: one indexed query per page, never a walk over the archive's files."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from bds.catalogue import METRICS
from bds.config import BillingConfig
from bds.files import ARCHIVE, parse_name
from bds.ledger import FLAG_KINDS, acks, attempts, counts, files, flags, period_of

RANGE_MAX_DAYS = 400  # what one Results page may ask for
ANOMALIES_MAX = 500


def _date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # SQLite gives aggregates as text


def last_billed_days(connection, tenant_ids: list[int]) -> dict[int, date]:
    """Each tenant's latest day with a current file: one index probe per tenant."""
    if not tenant_ids:
        return {}
    # A common table expression of VALUES: PostgreSQL and SQLite both take it.
    ids = sa.values(sa.column("tenant_id", sa.Integer), name="tenant_ids").data([(i,) for i in tenant_ids]).cte("tenant_ids")
    latest = (
        sa.select(sa.func.max(files.c.period))
        .where((files.c.tenant_id == ids.c.tenant_id) & (files.c.period_kind == "day") & files.c.current)
        .scalar_subquery()
    )
    return {row[0]: _date(row[1]) for row in connection.execute(sa.select(ids.c.tenant_id, latest)) if row[1] is not None}


def open_flag_counts(connection) -> dict[int, int]:
    query = (
        sa.select(flags.c.tenant_id, sa.func.count())
        .select_from(flags.outerjoin(acks, acks.c.flag_id == flags.c.id))
        .where(acks.c.flag_id.is_(None))
        .group_by(flags.c.tenant_id)
    )
    return dict(connection.execute(query).all())


def held_periods(connection) -> dict[int, list[str]]:
    """Each tenant's periods whose current files are held for an approval (bds.holds), oldest first."""
    query = (
        sa.select(files.c.tenant_id, files.c.period_kind, files.c.period)
        .where(files.c.current & (files.c.state == "held"))
        .distinct()
        .order_by(files.c.tenant_id, files.c.period, files.c.period_kind)
    )
    found: dict[int, list[str]] = {}
    for row in connection.execute(query):
        found.setdefault(row.tenant_id, []).append(_period_label(row.period_kind, _date(row.period)))
    return found


def tenants(connection, config: BillingConfig, run_states: dict[str, dict] | None = None) -> list[dict]:
    """The Tenants page: every configured tenant with its last billed day, open flags, periods
    held for an approval and the state of the last run that billed it."""
    last = last_billed_days(connection, [t.tenant_id for t in config.tenants])
    flagged = open_flag_counts(connection)
    held = held_periods(connection)
    run_states = run_states or {}
    return [
        {
            "tenant_id": t.tenant_id,
            "name": t.name,
            "billable": t.billable.value,
            "enabled": t.enabled,
            "online": t.online,
            "production_date": t.production_date.isoformat() if t.production_date else None,
            "time_zone": t.time_zone,
            "last_billed_day": last[t.tenant_id].isoformat() if t.tenant_id in last else None,
            "open_flags": flagged.get(t.tenant_id, 0),
            "held": held.get(t.tenant_id, []),
            "last_run": run_states.get(t.task_label),
        }
        for t in config.tenants
    ]


def due_days(
    config: BillingConfig, tenant_id: int, start: date, end: date, first_billed: date | None, last: date | None
) -> list[date]:
    """Days of [start, end] on which a daily file was due: from the production date (or the
    tenant's first billed day) to its last billed day."""
    tenant = next((t for t in config.tenants if t.tenant_id == tenant_id), None)
    if tenant is None or last is None:
        return []
    first = tenant.production_date or first_billed or last
    return _days(max(start, first), min(end, last))


def first_billed_day(connection, tenant_id: int) -> date | None:
    billed = (files.c.tenant_id == tenant_id) & (files.c.period_kind == "day") & files.c.current
    found = connection.execute(sa.select(sa.func.min(files.c.period)).where(billed)).scalar()
    return _date(found) if found is not None else None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)] if first <= last else []


def results(connection, config: BillingConfig, tenant_id: int, start: date, end: date) -> dict:
    """The Results page: the tenant's current daily counts in [start, end] by metric, region and
    count, the monthly values of the months it touches, the days a file was due but none is,
    and each month's peak day."""
    daily = connection.execute(
        sa.select(counts.c.period, counts.c.metric, counts.c.region, counts.c.count_name, counts.c.value)
        .where(
            (counts.c.tenant_id == tenant_id)
            & (counts.c.period_kind == "day")
            & counts.c.current
            & (counts.c.period >= start)
            & (counts.c.period <= end)
        )
        .order_by(counts.c.period)  # the month's first day of its peak is the first such day
    ).all()
    months = connection.execute(
        sa.select(counts.c.period, counts.c.metric, counts.c.region, counts.c.count_name, counts.c.value).where(
            (counts.c.tenant_id == tenant_id)
            & (counts.c.period_kind == "month")
            & counts.c.current
            & (counts.c.period >= start.replace(day=1))
            & (counts.c.period <= end)
        )
    ).all()
    last = last_billed_days(connection, [tenant_id]).get(tenant_id)
    billed = {_date(r.period) for r in daily}
    series: dict[tuple, dict] = {}
    for r in daily:
        key = (r.metric, r.region, r.count_name)
        series.setdefault(key, {"days": {}, "months": {}})["days"][_date(r.period).isoformat()] = r.value
    for r in months:
        key = (r.metric, r.region, r.count_name)
        series.setdefault(key, {"days": {}, "months": {}})["months"][_date(r.period).isoformat()[:7]] = r.value
    first = first_billed_day(connection, tenant_id)
    missing = [d.isoformat() for d in due_days(config, tenant_id, start, end, first, last) if d not in billed]
    order = list(METRICS)
    listed = []
    for (metric, region, count), values in sorted(
        series.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99, kv[0][1], kv[0][2])
    ):
        peaks = {}
        for day, value in values["days"].items():
            month = day[:7]
            if month not in peaks or value > values["days"][peaks[month]]:
                peaks[month] = day  # the first day of the month's highest value
        listed.append(
            {
                "metric": metric,
                "title": METRICS[metric].title if metric in METRICS else metric,
                "region": region,
                "count": count,
                "days": values["days"],
                "months": values["months"],
                "peak_days": peaks,
            }
        )
    return {
        "tenant_id": tenant_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": [d.isoformat() for d in _days(start, end)],
        "last_billed_day": last.isoformat() if last else None,
        "missing_days": missing,
        "series": listed,
    }


def anomalies(connection, state: str = "open", tenant_id: int | None = None, limit: int = 100) -> list[dict]:
    """The Anomalies page: flags newest first (by period, then when raised), with their acknowledgement."""
    query = sa.select(flags, acks.c.acked_by, acks.c.acked_at, acks.c.comment).select_from(
        flags.outerjoin(acks, acks.c.flag_id == flags.c.id)
    )
    if state == "open":
        query = query.where(acks.c.flag_id.is_(None))
    elif state == "acknowledged":
        query = query.where(acks.c.flag_id.is_not(None))
    if tenant_id is not None:
        query = query.where(flags.c.tenant_id == tenant_id)
    rows = connection.execute(
        query.order_by(flags.c.period.desc(), flags.c.tenant_id, flags.c.raised_at.desc(), flags.c.id).limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "tenant_id": r.tenant_id,
            "period_kind": r.period_kind,
            "period": _period_label(r.period_kind, _date(r.period)),
            "kind": r.kind,
            "about": FLAG_KINDS[r.kind],
            "metric": r.metric,
            "region": r.region,
            "count": r.count_name,
            "value": r.value,
            "baseline": r.baseline,
            "detail": r.detail,
            "raised_at": r.raised_at,
            "run_id": r.run_id,
            "acknowledged": None if r.acked_by is None else {"by": r.acked_by, "at": r.acked_at, "comment": r.comment},
        }
        for r in rows
    ]


def _period_label(kind: str, period: date) -> str:
    return period.isoformat() if kind == "day" else period.isoformat()[:7]


def period_files(connection, tenant_id: int, period: str) -> dict:
    """The Files page: every version of every file of a tenant-period, current first, with its
    counts, its transmission state and attempts, and what changed from the version before."""
    kind, first = period_of(period)
    rows = connection.execute(
        sa.select(files)
        .where((files.c.tenant_id == tenant_id) & (files.c.period_kind == kind) & (files.c.period == first))
        .order_by(files.c.name, files.c.written_at.desc())
    ).all()
    keys = [(r.name, r.sha256) for r in rows]
    values: dict[tuple, dict[str, int]] = {}
    tried: dict[tuple, list[dict]] = {}
    if keys:
        names = sorted({k[0] for k in keys})
        for c in connection.execute(
            sa.select(counts.c.name, counts.c.sha256, counts.c.count_name, counts.c.value).where(
                (counts.c.tenant_id == tenant_id) & (counts.c.period_kind == kind) & (counts.c.period == first)
            )
        ):
            values.setdefault((c.name, c.sha256), {})[c.count_name] = c.value
        for a in connection.execute(sa.select(attempts).where(attempts.c.name.in_(names)).order_by(attempts.c.id)):
            tried.setdefault((a.name, a.sha256), []).append(
                {"at": a.at, "outcome": a.outcome, "detail": a.detail, "run_id": a.run_id}
            )
    by_name: dict[str, list] = {}
    for r in rows:
        by_name.setdefault(r.name, []).append(r)
    listed = []
    for name, versions in by_name.items():
        versions = [v for v in versions if v.current] + sorted(
            [v for v in versions if not v.current], key=lambda r: r.written_at, reverse=True
        )
        entries = []
        for i, v in enumerate(versions):
            mine = values.get((v.name, v.sha256), {})
            before = values.get((versions[i + 1].name, versions[i + 1].sha256), {}) if i + 1 < len(versions) else None
            entries.append(
                {
                    "name": v.name,
                    "sha256": v.sha256,
                    "metric": v.metric,
                    "region": v.region,
                    "rows": v.rows,
                    "bytes": v.bytes,
                    "counts": mine,
                    "config_revision": v.config_revision,
                    "dag_id": v.dag_id,
                    "run_id": v.run_id,
                    "task_id": v.task_id,
                    "map_index": v.map_index,
                    "written_at": v.written_at,
                    "current": v.current,
                    "superseded_at": v.superseded_at,
                    "superseded_reason": v.superseded_reason,
                    "state": v.state,
                    "s3_uri": v.s3_uri,
                    "uploaded_at": v.uploaded_at,
                    "failure": v.failure,
                    "attempts": tried.get((v.name, v.sha256), []),
                    "changes": None
                    if before is None
                    else [
                        {"count": c, "old": before.get(c), "new": mine.get(c)}
                        for c in sorted(set(before) | set(mine))
                        if before.get(c) != mine.get(c)
                    ],
                }
            )
        listed.append({"name": name, "versions": entries})
    listed.sort(
        key=lambda f: (
            not f["versions"][0]["current"],
            list(METRICS).index(f["versions"][0]["metric"]) if f["versions"][0]["metric"] in METRICS else 99,
            f["name"],
        )
    )
    return {"tenant_id": tenant_id, "period": period, "files": listed}


def periods_of(connection, tenant_id: int, limit: int = 62) -> list[str]:
    """The tenant's latest periods with files (days and months), newest first."""
    query = (
        sa.select(files.c.period_kind, files.c.period)
        .where(files.c.tenant_id == tenant_id)
        .group_by(files.c.period_kind, files.c.period)
        .order_by(files.c.period.desc(), files.c.period_kind)
        .limit(limit)
    )
    return [_period_label(k, _date(p)) for k, p in connection.execute(query)]


def archived_path(connection, data_dir, name: str, sha: str):
    """Where the archive keeps the version (name, SHA-256) of a file: the period's folder for the
    current version, ``versions/`` for an earlier one. None when the ledger has no such version.
    The path is made from the ledger's own record and the parsed name, never from the request."""
    from pathlib import Path

    row = connection.execute(sa.select(files).where((files.c.name == name) & (files.c.sha256 == sha))).first()
    if row is None:
        return None, None
    named = parse_name(row.name)
    archive = Path(data_dir) / ARCHIVE
    path = archive / named.relative_path if row.current else archive / (row.previous_version or "")
    if not row.current and not row.previous_version:
        return row, None
    resolved = path.resolve()
    if archive.resolve() not in resolved.parents:
        return row, None
    return row, resolved
