"""The billing ledger: what the archive holds, in the database of the configuration store,
indexed for the console's pages (bds.console).

One row per version of every produced billing file (``bds_ledger_file``: tenant, period,
metric, region, SHA-256, configuration revision, the Airflow run and task that wrote it,
when, current or superseded, transmission state) and one per count in it
(``bds_ledger_count``), the anomaly flags of each tenant-day (``bds_ledger_flag``), the
operators' acknowledgements (``bds_ledger_ack``) and the transmission attempts
(``bds_ledger_attempt``).

The archive stays the system of record. Every change reaches the ledger as one *period
event*: the period's manifest as it stands once a run wrote it (its current files, each with
the run and time that first produced it) and the versions that left the current set at that
moment. ``render`` and ``roll_up`` apply that event under the period's lock, right after the
manifest; ``send`` records each upload. ``python -m bds.ledger rebuild`` replays the same
events, in the order of their times, from the manifests, the kept versions and the change log,
so a rebuilt ledger equals the live one (acknowledgements and attempts, which no file holds,
are kept as they are).
"""

from __future__ import annotations

import csv
import hashlib
import io
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from bds.catalogue import METRICS
from bds.config import AnomalyChecks
from bds.files import parse_name

metadata = sa.MetaData()
files = sa.Table(
    "bds_ledger_file",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.Integer),
    sa.Column("period_kind", sa.String(5)),
    sa.Column("period", sa.Date),
    sa.Column("metric", sa.String(64)),
    sa.Column("region", sa.String(32)),
    sa.Column("bytes", sa.Integer),
    sa.Column("rows", sa.Integer),
    sa.Column("config_revision", sa.Integer),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("task_id", sa.String(250)),
    sa.Column("map_index", sa.Integer),
    sa.Column("written_at", sa.String(27)),
    sa.Column("current", sa.Boolean),
    sa.Column("superseded_at", sa.String(27)),
    sa.Column("superseded_reason", sa.Text),
    sa.Column("previous_version", sa.Text),
    sa.Column("state", sa.String(8)),
    sa.Column("s3_uri", sa.Text),
    sa.Column("uploaded_at", sa.String(20)),
    sa.Column("failure", sa.Text),
)
counts = sa.Table(
    "bds_ledger_count",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("count_name", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.Integer),
    sa.Column("period_kind", sa.String(5)),
    sa.Column("period", sa.Date),
    sa.Column("metric", sa.String(64)),
    sa.Column("region", sa.String(32)),
    sa.Column("value", sa.BigInteger),
    sa.Column("config_revision", sa.Integer),
    sa.Column("run_id", sa.String(250)),
    sa.Column("written_at", sa.String(27)),
    sa.Column("current", sa.Boolean),
)
flags = sa.Table(
    "bds_ledger_flag",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.Integer),
    sa.Column("period_kind", sa.String(5)),
    sa.Column("period", sa.Date),
    sa.Column("kind", sa.String(24)),
    sa.Column("metric", sa.String(64)),
    sa.Column("region", sa.String(32)),
    sa.Column("count_name", sa.String(32)),
    sa.Column("value", sa.BigInteger),
    sa.Column("baseline", sa.Float),
    sa.Column("detail", sa.Text),
    sa.Column("file_sha256", sa.String(64)),
    sa.Column("raised_at", sa.String(27)),
    sa.Column("run_id", sa.String(250)),
)
acks = sa.Table(
    "bds_ledger_ack",
    metadata,
    sa.Column("flag_id", sa.String(64), primary_key=True),
    sa.Column("acked_by", sa.String(256)),
    sa.Column("acked_at", sa.String(27)),
    sa.Column("comment", sa.Text),
)
attempts = sa.Table(
    "bds_ledger_attempt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("at", sa.String(27)),
    sa.Column("outcome", sa.String(8)),
    sa.Column("detail", sa.Text),
    sa.Column("run_id", sa.String(250)),
)
DERIVED = (flags, counts, files)  # what a rebuild writes anew (acks and attempts stay)

FLAG_KINDS = {
    "jump": "a count moved by more than the ratio from the median of the previous days of the same weekday",
    "zero": "a count is zero after a day with at least zero_min_before",
    "concurrent_above_enabled": "Concurrent is above Enabled (more agents at once than in the whole period)",
    "missing": "a day with no file where one was due",
    "restated": "a file of the period was restated (changed or superseded after it was produced)",
}
COMPUTED = ("jump", "zero", "concurrent_above_enabled")  # recomputed each time the period changes
MISSING_LOOKBACK_DAYS = 31  # a gap longer than this before a rendered day is flagged only for its last days


def stamp(moment: datetime | None = None) -> str:
    """A time as the ledger and the manifests keep it: UTC, microseconds (events order by it)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def producer() -> dict:
    """Which Airflow task is writing (empty outside a task), and when: what a manifest entry
    keeps of the run that first produced a file's bytes."""
    found = {"dag_id": "", "run_id": "", "task_id": "", "map_index": -1}
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        found = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index}
    except Exception:  # not in a task (a command, a test): nothing to name
        pass
    return found | {"at": stamp()}


def period_of(label: str) -> tuple[str, date]:
    """'2026-03-07' -> ('day', 2026-03-07); '2026-03' -> ('month', 2026-03-01)."""
    if len(label) == 10:
        return "day", date.fromisoformat(label)
    return "month", date.fromisoformat(label + "-01")


def counts_of(data: bytes) -> dict[str, int]:
    """A billing file's counts by count name (its rows in catalogue order)."""
    records = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    metric = METRICS[records[0]["Metric"]]
    by_code = {r["AgentGroupName"]: int(r["MessageSize"]) for r in records}
    return {count.name: by_code[count.agent_group_name] for count in metric.counts}


@dataclass
class Version:
    """One version of a billing file, as a manifest entry (and the file's bytes) tell it."""

    name: str
    sha256: str
    bytes: int
    rows: int
    counts: dict[str, int]
    config_revision: int | None
    produced: dict
    s3_uri: str | None = None
    uploaded_at: str | None = None
    superseded_at: str | None = None
    superseded_reason: str | None = None
    previous_version: str | None = None

    @classmethod
    def of(cls, entry: dict, data: bytes, **extra) -> Version:
        produced = {"dag_id": "", "run_id": "", "task_id": "", "map_index": -1, "at": ""} | (entry.get("produced") or {})
        return cls(
            entry["name"],
            entry["sha256"],
            entry["bytes"],
            entry["rows"],
            counts_of(data),
            entry.get("config_revision"),
            produced,
            entry.get("s3_uri"),
            entry.get("uploaded_at"),
            **extra,
        )


@dataclass
class PeriodEvent:
    """What a run did to one tenant-period at one moment: its current files afterwards, and
    the versions that left the current set then."""

    tenant_id: int
    period: str  # YYYY-MM-DD or YYYY-MM
    at: str
    current: list[Version]
    gone: list[Version] = field(default_factory=list)
    queued: set[str] = field(default_factory=set)
    settings: AnomalyChecks = AnomalyChecks()


# A flag someone acknowledged stays, as the record of what they looked at, when the period
# changes again; an open one that no longer holds goes.
UNACKNOWLEDGED = flags.c.id.not_in(sa.select(acks.c.flag_id))


def flag_id(tenant_id: int, period: date, kind: str, metric: str = "", region: str = "", count: str = "", sha: str = "") -> str:
    return hashlib.sha256(f"{tenant_id}|{period}|{kind}|{metric}|{region}|{count}|{sha}".encode()).hexdigest()[:32]


def _version_row(event: PeriodEvent, v: Version, current: bool, state: str) -> dict:
    named = parse_name(v.name)
    kind, period = period_of(event.period)
    return {
        "name": v.name,
        "sha256": v.sha256,
        "tenant_id": event.tenant_id,
        "period_kind": kind,
        "period": period,
        "metric": named.metric,
        "region": named.region,
        "bytes": v.bytes,
        "rows": v.rows,
        "config_revision": v.config_revision,
        "dag_id": v.produced["dag_id"],
        "run_id": v.produced["run_id"],
        "task_id": v.produced["task_id"],
        "map_index": v.produced["map_index"],
        "written_at": v.produced["at"] or event.at,
        "current": current,
        "superseded_at": v.superseded_at,
        "superseded_reason": v.superseded_reason,
        "previous_version": v.previous_version,
        "state": state,
        "s3_uri": v.s3_uri,
        "uploaded_at": v.uploaded_at,
        "failure": None,
    }


def apply(connection, event: PeriodEvent) -> bool:
    """Bring the ledger's rows of one tenant-period to ``event``; recompute the period's flags
    if anything changed. Idempotent. Returns whether anything changed."""
    kind, period = period_of(event.period)
    of_period = (files.c.tenant_id == event.tenant_id) & (files.c.period_kind == kind) & (files.c.period == period)
    known = {(r.name, r.sha256): r for r in connection.execute(sa.select(files).where(of_period))}
    changed = False
    for v in event.gone:
        state = "sent" if v.uploaded_at else "archived"
        row = known.get((v.name, v.sha256))
        values = {
            "current": False,
            "superseded_at": v.superseded_at,
            "superseded_reason": v.superseded_reason,
            "previous_version": v.previous_version,
            "state": state,
            "s3_uri": v.s3_uri,
            "uploaded_at": v.uploaded_at,
            "failure": None,
        }
        if row is None:
            _insert(connection, _version_row(event, v, False, state), v)
        elif row.current:
            _update(connection, v.name, v.sha256, values)
        else:
            continue
        changed = True
    current = {(v.name, v.sha256) for v in event.current}
    for v in event.current:
        row = known.get((v.name, v.sha256))
        state = "sent" if v.uploaded_at else "queued" if v.name in event.queued else None
        if row is None:
            _insert(connection, _version_row(event, v, True, state or "archived"), v)
            changed = True
        elif not row.current:
            _update(
                connection,
                v.name,
                v.sha256,
                {"current": True, "superseded_at": None, "superseded_reason": None, "previous_version": None},
            )
            changed = True
        # A failed send stays failed, queued again or not, until a send succeeds.
        if row is not None and state and row.state != state and not (state == "queued" and row.state == "failed"):
            _update(
                connection, v.name, v.sha256, {"state": state, "s3_uri": v.s3_uri, "uploaded_at": v.uploaded_at, "failure": None}
            )
    for (name, sha), row in known.items():  # current in the ledger but in neither list: out of the set now
        if row.current and (name, sha) not in current and not any((v.name, v.sha256) == (name, sha) for v in event.gone):
            _update(
                connection,
                name,
                sha,
                {
                    "current": False,
                    "superseded_at": event.at,
                    "state": "sent" if row.uploaded_at else "archived",
                    "failure": None,
                },
            )
            changed = True
    if changed:
        raise_flags(connection, event)
    return changed


def lock_tenant(connection, tenant_id: int) -> None:
    """One writer of a tenant's ledger at a time (PostgreSQL: until the transaction ends; the
    days of a tenant read each other for the flags). SQLite writers are one at a time anyway."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('bds_ledger'), :tenant)"), {"tenant": tenant_id})


def _insert(connection, row: dict, v: Version) -> None:
    connection.execute(files.insert().values(**row))
    connection.execute(
        counts.insert(),
        [
            {
                "name": v.name,
                "sha256": v.sha256,
                "count_name": name,
                "tenant_id": row["tenant_id"],
                "period_kind": row["period_kind"],
                "period": row["period"],
                "metric": row["metric"],
                "region": row["region"],
                "value": value,
                "config_revision": row["config_revision"],
                "run_id": row["run_id"],
                "written_at": row["written_at"],
                "current": row["current"],
            }
            for name, value in v.counts.items()
        ],
    )


def _update(connection, name: str, sha: str, values: dict) -> None:
    key = (files.c.name == name) & (files.c.sha256 == sha)
    connection.execute(files.update().where(key).values(**values))
    if "current" in values:
        connection.execute(
            counts.update().where((counts.c.name == name) & (counts.c.sha256 == sha)).values(current=values["current"])
        )


# --- anomaly flags ---


def raise_flags(connection, event: PeriodEvent) -> None:
    """The flags of a tenant-period, as of ``event``: the computed ones replaced, a restated
    file flagged, and for a day the missing days before it flagged (and its own cleared)."""
    kind, period = period_of(event.period)
    tenant = event.tenant_id
    raised = []
    run_id = next((v.produced["run_id"] for v in event.current if v.produced["at"] == event.at), "")

    def flag(kind_of: str, day: date, metric="", region="", count="", sha="", value=None, baseline=None, detail=""):
        raised.append(
            {
                "id": flag_id(tenant, day, kind_of, metric, region, count, sha),
                "tenant_id": tenant,
                "period_kind": kind if day == period else "day",
                "period": day,
                "kind": kind_of,
                "metric": metric,
                "region": region,
                "count_name": count,
                "value": value,
                "baseline": baseline,
                "detail": detail,
                "file_sha256": sha,
                "raised_at": event.at,
                "run_id": run_id,
            }
        )

    same_period = (flags.c.tenant_id == tenant) & (flags.c.period_kind == kind) & (flags.c.period == period)
    connection.execute(flags.delete().where(same_period & flags.c.kind.in_([*COMPUTED, "missing"]) & UNACKNOWLEDGED))
    for v in event.gone:
        named = parse_name(v.name)
        successor = next((c for c in event.current if c.name == v.name), None)
        if successor is not None:
            moved = ", ".join(
                f"{c} {v.counts[c]} -> {successor.counts.get(c)}" for c in v.counts if v.counts[c] != successor.counts.get(c)
            )
            detail = f"{v.name} restated: {moved or 'counts unchanged, other columns changed'}"
            flag("restated", period, named.metric, named.region, "", successor.sha256, detail=detail)
        else:
            flag(
                "restated",
                period,
                named.metric,
                named.region,
                "",
                v.sha256,
                detail=f"{v.name} superseded: {v.superseded_reason or ''}",
            )
    for v in event.current:
        if set(v.counts) >= {"concurrent", "enabled"} and v.counts["concurrent"] > v.counts["enabled"]:
            named = parse_name(v.name)
            flag(
                "concurrent_above_enabled",
                period,
                named.metric,
                named.region,
                "concurrent",
                v.sha256,
                v.counts["concurrent"],
                v.counts["enabled"],
                f"{named.metric} {named.region}: Concurrent {v.counts['concurrent']} is above Enabled {v.counts['enabled']}",
            )
    if kind == "day":
        _compare_with_history(connection, event, period, flag)
        _missing_days(connection, tenant, period, flag)
    existing = (
        set(connection.execute(sa.select(flags.c.id).where(flags.c.id.in_([f["id"] for f in raised]))).scalars())
        if raised
        else set()
    )
    fresh = [f for f in raised if f["id"] not in existing]
    if fresh:
        connection.execute(flags.insert(), fresh)


def _compare_with_history(connection, event: PeriodEvent, day: date, flag) -> None:
    settings = event.settings
    weeks = settings.same_weekday_days
    first = day - timedelta(days=max(7 * weeks, settings.zero_after_days))
    rows = connection.execute(
        sa.select(counts.c.period, counts.c.metric, counts.c.region, counts.c.count_name, counts.c.value).where(
            (counts.c.tenant_id == event.tenant_id)
            & (counts.c.period_kind == "day")
            & counts.c.current
            & (counts.c.period >= first)
            & (counts.c.period < day)
        )
    ).all()
    history: dict[tuple, dict[date, int]] = {}
    for r in rows:
        history.setdefault((r.metric, r.region, r.count_name), {})[r.period] = r.value
    for v in event.current:
        named = parse_name(v.name)
        for count, value in v.counts.items():
            known = history.get((named.metric, named.region, count), {})
            same_weekday = [known[d] for k in range(1, weeks + 1) if (d := day - timedelta(days=7 * k)) in known]
            what = f"{named.metric} {named.region} {count}"
            if same_weekday:
                median = statistics.median(same_weekday)
                if median > 0 and abs(value - median) / median > settings.jump_ratio:
                    change = (value - median) / median
                    flag(
                        "jump",
                        day,
                        named.metric,
                        named.region,
                        count,
                        v.sha256,
                        value,
                        float(median),
                        f"{what}: {value}, {change:+.0%} from the median {median:g} of the previous "
                        f"{len(same_weekday)} {day:%A}(s) (more than {settings.jump_ratio:.0%})",
                    )
            recent = [d for d in known if d >= day - timedelta(days=settings.zero_after_days)]
            if value == 0 and recent and known[max(recent)] >= settings.zero_min_before:
                previous = max(recent)
                flag(
                    "zero",
                    day,
                    named.metric,
                    named.region,
                    count,
                    v.sha256,
                    0,
                    float(known[previous]),
                    f"{what}: 0 after {known[previous]} on {previous}",
                )


def _missing_days(connection, tenant_id: int, day: date, flag) -> None:
    """Days between the tenant's previous billed day and ``day`` with no file: each flagged;
    ``day`` itself, billed now, is no longer missing."""
    connection.execute(
        flags.delete().where(
            (flags.c.tenant_id == tenant_id) & (flags.c.period == day) & (flags.c.kind == "missing") & UNACKNOWLEDGED
        )
    )
    billed = (files.c.tenant_id == tenant_id) & (files.c.period_kind == "day") & files.c.current
    previous = connection.execute(sa.select(sa.func.max(files.c.period)).where(billed & (files.c.period < day))).scalar()
    if previous is None:
        return
    if isinstance(previous, str):  # SQLite returns an aggregate's date as text
        previous = date.fromisoformat(previous)
    gap = (day - previous).days - 1
    for k in range(min(gap, MISSING_LOOKBACK_DAYS), 0, -1):
        missing = day - timedelta(days=k)
        flag("missing", missing, detail=f"no billing file for {missing}: days before and after it were billed")


def acknowledge(connection, flag: str, user: str, comment: str) -> dict | None:
    """Record that ``user`` looked at the flag, and what they said; None if there is no such flag."""
    if connection.execute(sa.select(flags.c.id).where(flags.c.id == flag)).first() is None:
        return None
    at = stamp()
    done = connection.execute(sa.select(acks).where(acks.c.flag_id == flag)).first()
    if done is None:
        try:
            with connection.begin_nested():
                connection.execute(acks.insert().values(flag_id=flag, acked_by=user[:256], acked_at=at, comment=comment))
            return {"by": user[:256], "at": at, "comment": comment}
        except sa.exc.IntegrityError:  # someone acknowledged it a moment before: theirs stands
            done = connection.execute(sa.select(acks).where(acks.c.flag_id == flag)).one()
    return {"by": done.acked_by, "at": done.acked_at, "comment": done.comment}


def set_state(connection, versions: dict[str, str], state: str) -> None:
    """Set the transmission state of file versions (name -> SHA-256) not sent yet: 'queued' or 'held'."""
    for name, sha in versions.items():
        key = (files.c.name == name) & (files.c.sha256 == sha) & (files.c.state != "sent")
        connection.execute(files.update().where(key).values(state=state))


# --- transmission ---


def record_attempt(
    connection,
    name: str,
    sha: str,
    outcome: str,
    detail: str,
    s3_uri: str | None = None,
    uploaded_at: str | None = None,
    produced: dict | None = None,
) -> None:
    """A send of one file version: 'sent' (with where and when) or 'failed' (with why)."""
    produced = produced or producer()
    lock_tenant(connection, parse_name(name).tenant_id)
    connection.execute(
        attempts.insert().values(
            name=name, sha256=sha, at=produced["at"], outcome=outcome, detail=detail, run_id=produced["run_id"]
        )
    )
    key = (files.c.name == name) & (files.c.sha256 == sha)
    if outcome == "sent":
        connection.execute(files.update().where(key).values(state="sent", s3_uri=s3_uri, uploaded_at=uploaded_at, failure=None))
    else:
        connection.execute(files.update().where(key & (files.c.state != "sent")).values(state="failed", failure=detail))
