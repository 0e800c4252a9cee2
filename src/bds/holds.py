"""The approval hold and the period close (docs/operations.md, "Approval hold and period close").

Before ``render`` or ``roll_up`` queue a tenant-period's files for transmission, the period's
anomaly flags are read from the billing ledger (just written for this very version of the
files): a jump against the previous weeks, a zero after non-zero, Concurrent above Enabled, a
missing day before it, a restatement of a month already sent (a sent file of the month, or of
a day of it, replaced); for a month, also a day of it that is held. If one is raised and not acknowledged (``approvals.hold_on``), the files
stay in the archive and are not queued: the period is *held*, its hold is recorded in
``$BDS_DATA_DIR/holds/<tenant_id>/<period>.json`` and ``bds_approvals`` asks for a decision.

A month is *closed* ``approvals.close_after_days`` after its monthly files were first sent;
any later change of it (a day restated, the month rolled up again) is a correction of a closed
period: marked so in its manifest, and held whatever ``approvals.hold`` says.

An approval (user, time, comment, the reasons it answered) is recorded in the change log and
in the period's manifest (``approvals``), acknowledges the flags it answered, and queues the
files; a rejection is recorded the same way and leaves them held.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bds import changes, manifest
from bds.config import Approvals
from bds.files import daily_dir, folder_lock, manifest_name, monthly_dir, parse_name, write_atomic
from bds.ledger import MISSING_LOOKBACK_DAYS, UNACKNOWLEDGED, acknowledge, files, flags, period_of, producer, set_state, stamp

log = logging.getLogger(__name__)

HOLDS = "holds"
OPEN = ("waiting", "rejected")  # a hold whose files are not queued


def hold_path(data_dir: Path, tenant_id: int, period: str) -> Path:
    """Where the hold of a tenant-period is kept (``period``: YYYY-MM-DD or YYYY-MM, checked)."""
    kind, first = period_of(period)
    return (
        Path(data_dir) / HOLDS / str(int(tenant_id)) / f"{first:%Y-%m-%d}.json"
        if kind == "day"
        else (Path(data_dir) / HOLDS / str(int(tenant_id)) / f"{first:%Y-%m}.json")
    )


def read_hold(path: Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def write_hold(path: Path, hold: dict) -> None:
    write_atomic(path, (json.dumps(hold, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def open_holds(data_dir: Path) -> list[dict]:
    """Every hold whose files are not queued (waiting for a decision, or rejected), by tenant and period."""
    found = []
    for path in sorted((Path(data_dir) / HOLDS).glob("*/*.json")):
        hold = read_hold(path)
        if hold and hold["state"] in OPEN:
            found.append(hold)
    return found


def period_folder(data_dir: Path, tenant_id: int, period: str) -> Path:
    """The archive folder of a tenant-period."""
    kind, first = period_of(period)
    return (daily_dir if kind == "day" else monthly_dir)(Path(data_dir), tenant_id, first)


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def closed_at(connection, tenant_id: int, month: str, approvals: Approvals, now: datetime | None = None) -> str | None:
    """When the tenant's ``month`` (YYYY-MM) closed: ``close_after_days`` after its monthly
    files were first sent (the ledger keeps every version's upload); None if it is open
    (never closed, not sent, or not yet that long ago)."""
    if approvals.close_after_days is None:
        return None
    first = date.fromisoformat(month + "-01")
    firsts = connection.execute(
        sa.select(files.c.name, sa.func.min(files.c.uploaded_at))
        .where(
            (files.c.tenant_id == tenant_id)
            & (files.c.period_kind == "month")
            & (files.c.period == first)
            & files.c.uploaded_at.is_not(None)
        )
        .group_by(files.c.name)
    ).all()
    if not firsts:
        return None
    sent = min(_parse(at) for _, at in firsts)  # its first delivery: a file added by a correction does not reopen it
    closing = sent + timedelta(days=approvals.close_after_days)
    return closing.strftime("%Y-%m-%dT%H:%M:%SZ") if closing <= (now or datetime.now(UTC)) else None


def reasons(connection, data_dir: Path, tenant_id: int, period: str, approvals: Approvals, closed: str | None) -> list[dict]:
    """Why the tenant-period's files must wait for an approval before they are queued: each
    ``{"kind", "detail", "flag_id"}`` (flag_id: the ledger flag it answers, acknowledged by
    an approval). Empty: they may go."""
    kind, first = period_of(period)
    found = []
    if closed:
        found.append({"kind": "closed", "detail": f"month {period[:7]} closed on {closed}", "flag_id": None})
    if not approvals.hold:
        return found
    checks = set(approvals.hold_on)
    same_period = (flags.c.tenant_id == tenant_id) & (flags.c.period_kind == kind) & (flags.c.period == first)
    computed = [k for k in ("jump", "zero", "concurrent_above_enabled") if k in checks]
    wanted = same_period & flags.c.kind.in_(computed)
    # A restatement of a month already sent: of its monthly files, or of a day of it (a sent file replaced).
    month_sent = _sent(connection, tenant_id, "month", first.replace(day=1))
    if "restated" in checks and month_sent and _sent(connection, tenant_id, kind, first, current=False):
        wanted |= same_period & (flags.c.kind == "restated")
    if "missing" in checks and kind == "day":
        wanted |= (
            (flags.c.tenant_id == tenant_id)
            & (flags.c.kind == "missing")
            & (flags.c.period < first)
            & (flags.c.period >= first - timedelta(days=MISSING_LOOKBACK_DAYS))
        )
    rows = connection.execute(sa.select(flags).where(wanted & UNACKNOWLEDGED).order_by(flags.c.period, flags.c.kind)).all()
    found += [{"kind": r.kind, "detail": r.detail, "flag_id": r.id} for r in rows]
    if kind == "month":
        for hold in open_holds(data_dir):
            if hold["tenant_id"] == tenant_id and hold["period"][:7] == period and len(hold["period"]) == 10:
                found.append({"kind": "held_day", "detail": f"day {hold['period']} is {hold['state']}", "flag_id": None})
    return found


def _sent(connection, tenant_id: int, kind: str, first: date, current: bool | None = None) -> bool:
    """Whether a version of the period was sent (with ``current=False``: one no longer current)."""
    query = sa.select(files.c.name).where(
        (files.c.tenant_id == tenant_id)
        & (files.c.period_kind == kind)
        & (files.c.period == first)
        & files.c.uploaded_at.is_not(None)
    )
    if current is not None:
        query = query.where(files.c.current == current)
    return connection.execute(query.limit(1)).first() is not None


def describe(found: list[dict]) -> str:
    return "; ".join(f"{r['kind']}: {r['detail']}" for r in found)


def hold(
    data_dir: Path, tenant_id: int, period: str, revision: int, waiting: dict[str, str], found: list[dict], produced: dict
) -> tuple[dict, bool]:
    """Record that revision ``revision`` of the period is held for ``found``, with its files
    waiting to be sent (name -> SHA-256). Returns the hold and whether bds_approvals must be
    told to ask about it: the same revision already held (a rerun that changed nothing, a
    retried task) keeps its hold as it is, asked about or rejected, and is told again only if
    no run has asked about it yet."""
    path = hold_path(data_dir, tenant_id, period)
    before = read_hold(path) or {}
    files = dict(sorted(waiting.items()))
    if before.get("state") in OPEN and (before["revision"], before["files"]) == (revision, files):
        return before, before["state"] == "waiting" and not before.get("asked_in")
    record = {
        "tenant_id": tenant_id,
        "period": period,
        "state": "waiting",
        "revision": revision,
        "files": files,
        "reasons": found,
        "held_at": produced["at"],
        "held_by_run": produced["run_id"],
        "decisions": before.get("decisions", []),
    }
    write_hold(path, record)
    return record, True


def decided(data_dir: Path, tenant_id: int, period: str, revision: int, waiting: dict[str, str]) -> str | None:
    """'approved' or 'rejected' if an operator decided on exactly this revision and these
    waiting files: the same files rendered again are not asked about a second time."""
    before = read_hold(hold_path(data_dir, tenant_id, period)) or {}
    same = (before.get("revision"), before.get("files")) == (revision, dict(sorted(waiting.items())))
    return before["state"] if same and before.get("state") in ("approved", "rejected") else None


def clear(data_dir: Path, tenant_id: int, period: str, produced: dict) -> None:
    """The period was rendered again, to other files, and nothing holds them: its open hold
    (of the files before) is over. A rejection of these very files is kept (``decided``)."""
    path = hold_path(data_dir, tenant_id, period)
    record = read_hold(path)
    if record and record["state"] in OPEN:
        write_hold(path, record | {"state": "cleared", "cleared_at": produced["at"], "cleared_by_run": produced["run_id"]})


def _archived(folder: Path, expected: dict[str, str]) -> bool:
    """Whether the archive holds exactly the files asked about (name -> SHA-256)."""
    return {n: manifest.sha256((folder / n).read_bytes()) for n in expected if (folder / n).is_file()} == expected


def _queue(outbox: Path, folder: Path, tenant_id: int, period: str, names) -> list[str]:
    """Queue the held files and then the period's manifest for transmission; the names queued."""
    from bds.transmission import queue

    for name in names:
        queue(outbox, parse_name(name), (folder / name).read_bytes())
    manifest_path = folder / manifest_name(tenant_id, period.replace("-", ""))
    queue(outbox, parse_name(manifest_path.name), manifest_path.read_bytes())
    return list(names)


def recheck(store, data_dir: Path, tenant_id: int, day: str, approvals: Approvals, outbox: Path) -> list[str]:
    """After ``day`` was billed: the tenant's later days held for a missing day only (within
    the look-back), waiting for an answer, are checked again; those nothing holds any more
    (the missing day is billed now) are released: their files and manifest queued, their
    question, if asked, then answered as no longer open. Returns a line per released day."""
    billed = date.fromisoformat(day)
    released = []
    for record in open_holds(data_dir):
        period = record["period"]
        if record["tenant_id"] != tenant_id or record["state"] != "waiting" or len(period) != 10:
            continue
        if not billed < date.fromisoformat(period) <= billed + timedelta(days=MISSING_LOOKBACK_DAYS):
            continue
        if not any(r["kind"] == "missing" for r in record["reasons"]) or any(not r["flag_id"] for r in record["reasons"]):
            continue
        folder = period_folder(data_dir, tenant_id, period)
        path = hold_path(data_dir, tenant_id, period)
        with folder_lock(folder):
            if read_hold(path) != record:  # rendered again or decided meanwhile
                continue
            if not _archived(folder, record["files"]):
                continue
            with store.writing(f"cannot release tenant {tenant_id} {period} in the billing ledger") as connection:
                if reasons(connection, data_dir, tenant_id, period, approvals, None):
                    continue
                _queue(outbox, folder, tenant_id, period, record["files"])
                set_state(connection, record["files"], "queued")
            why = f"day {day} is billed now: nothing holds it any more"
            produced = producer()
            write_hold(
                path,
                record
                | {
                    "state": "cleared",
                    "cleared_at": produced["at"],
                    "cleared_by_run": produced["run_id"],
                    "cleared_because": why,
                },
            )
        released.append(f"tenant {tenant_id} {period}: released ({why}); {len(record['files'])} file(s) queued for transmission")
        log.info("%s", released[-1])
    return released


def decide(
    store,
    data_dir: Path,
    asked: dict,
    label: str,
    approved: bool,
    by: str,
    comment: str,
    outbox: Path | None,
    decision_id: str = "",
) -> dict:
    """Apply an operator's decision on the hold ``asked`` (as it was when the question was put):
    recorded in the hold, the change log and the manifest; approved, the flags it answered are
    acknowledged and the files (and manifest) go into the outbox. A period rendered again since
    (other files, or no hold any more) is left as it is: its newer hold asks again. Each step
    is done once, whatever retries: ``decision_id`` (the deciding task's run and map index)
    names the decision in the hold, the manifest and the change log."""
    tenant_id, period = asked["tenant_id"], asked["period"]
    folder = period_folder(data_dir, tenant_id, period)
    path = hold_path(data_dir, tenant_id, period)
    choice = "approved" if approved else "rejected"
    manifest_path = folder / manifest_name(tenant_id, period.replace("-", ""))

    def nothing(why: str) -> dict:
        note = f"{label}: {choice} by {by}, but {why}; nothing done"
        log.warning("%s", note)
        return {"label": label, "summary": note, "tenant_id": tenant_id, "period": period, "to_outbox": False, "queued": []}

    with folder_lock(folder):
        current = read_hold(path) or {}
        decision = current.get("deciding")
        if decision is None or decision.get("id") != decision_id or not decision_id:  # not a retry of this decision
            same = (current.get("revision"), current.get("files")) == (asked["revision"], asked["files"])
            if current.get("state") in OPEN and not same:
                return nothing("it was rendered again since: other files are held now, and their own question is asked")
            if current.get("state") not in OPEN:
                return nothing(f"its hold is no longer open ({current.get('state', 'gone')})")
            if not _archived(folder, current["files"]):  # never send bytes nobody was asked about
                return nothing("the archive no longer holds the files it was asked about (rerun the period)")
            decision = {
                "id": decision_id,
                "decision": choice,
                "by": by,
                "at": stamp(),
                "comment": comment,
                "revision": current["revision"],
                "reasons": [r["kind"] for r in current["reasons"]],
            }
            current = current | {"deciding": decision}
            write_hold(path, current)
        if not decision_id or decision_id not in {a.get("id") for a in (manifest.read(manifest_path) or {}).get("approvals", [])}:
            manifest.record_decision(manifest_path, decision)
        if not decision_id or decision_id not in {c.get("id") for c in changes.read(data_dir) if "decision" in c}:
            changes.append(data_dir, [{"tenant_id": tenant_id, "period": period, "run_id": producer()["run_id"], **decision}])
        queued = []
        with store.writing(f"cannot record the decision on {label} in the billing ledger") as connection:
            if approved:
                for r in current["reasons"]:
                    if r["flag_id"]:
                        acknowledge(connection, r["flag_id"], by, comment or f"approved for transmission ({label})")
                queued = _queue(outbox, folder, tenant_id, period, current["files"])
            set_state(connection, current["files"], "queued" if approved else "held")
        done = {k: v for k, v in current.items() if k not in ("deciding", "asked_in", "asked_as")}
        write_hold(path, done | {"state": choice, "decisions": [*current.get("decisions", []), decision]})
    summary = f"{label}: {choice} by {by}" + (f" ({comment})" if comment else "")
    summary += f"; {len(queued)} file(s) queued for transmission" if approved else "; its files stay held in the archive"
    log.info("%s", summary)
    return {"label": label, "summary": summary, "tenant_id": tenant_id, "period": period, "to_outbox": approved, "queued": queued}


# Whether the question a run put about a hold still stands: (run id, map index of its
# decide group, None if unknown) -> its ask or apply is not finished yet.
StillAsking = Callable[[str, int | None], bool]


def _always_asking(run_id: str, map_index: int | None) -> bool:
    return True


def to_ask(
    data_dir: Path,
    run_id: str,
    tenant_id: int | None = None,
    period: str | None = None,
    still_asking: StillAsking = _always_asking,
    askable: Callable[[dict], bool] = lambda record: True,
) -> list[dict]:
    """The holds a bds_approvals run asks about, in the order of its decide group: those
    waiting, or the one named (``tenant_id`` and ``period``: asked again, even if rejected),
    that ``askable`` accepts and whose question (if one was put) no longer stands
    (``still_asking``: answered, timed out, its run ended or deleted). Each is marked, under the
    period's lock, as asked by ``run_id`` and its place in the group: two runs never ask the
    same question. Naming a hold whose question stands is refused."""
    asked = []
    for record in open_holds(data_dir):
        named = tenant_id is not None and (record["tenant_id"], record["period"]) == (tenant_id, period)
        if not (named or (tenant_id is None and record["state"] == "waiting")) or not askable(record):
            continue
        path = hold_path(data_dir, record["tenant_id"], record["period"])
        with folder_lock(period_folder(data_dir, record["tenant_id"], record["period"])):
            if read_hold(path) != record:  # rendered again or decided meanwhile
                continue
            if record.get("asked_in") and still_asking(record["asked_in"], record.get("asked_as")):
                if named:
                    raise ValueError(
                        f"tenant {tenant_id} {period} is asked about already: its question waits in bds_approvals "
                        f"run {record['asked_in']}; answer it there (Required Actions)"
                    )
                continue
            write_hold(path, record | {"asked_in": run_id, "asked_as": len(asked)})
            asked.append(record)
    return asked


PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


def plan_approvals_run(
    tenant_id: int | None, period: str | None, run_id: str, still_asking: StillAsking = _always_asking
) -> tuple[str, list[dict], list[str]]:
    """What a bds_approvals run asks about: the waiting holds whose question no longer stands
    (or was never put), or the one named (a rejected hold asked again). One work item per
    hold, with its tenant; ``still_asking`` as for ``to_ask``."""
    from bds.config.store import for_runs
    from bds.staging import data_dir

    if (tenant_id is None) != (period is None):
        raise ValueError("name both tenant_id and period to ask about one hold again, or neither")
    if period is not None and not PERIOD.match(period):
        raise ValueError(f"period {period!r} is neither YYYY-MM-DD nor YYYY-MM")
    revision, notes = for_runs()
    root = data_dir()
    if tenant_id is not None:
        record = read_hold(hold_path(root, tenant_id, period))
        if not record or record["state"] not in OPEN:
            state = record["state"] if record else "never held"
            raise ValueError(f"tenant {tenant_id} {period} has no open hold to ask about ({state})")

    def askable(record: dict) -> bool:  # not marked as asked: a tenant configured again is asked about then
        try:
            revision.config.tenant(record["tenant_id"])
        except KeyError:
            notes.append(f"tenant {record['tenant_id']} {record['period']}: held, but the tenant is no longer configured")
            return False
        return True

    work = []
    for record in to_ask(root, run_id, tenant_id, period, still_asking, askable):
        tenant = revision.config.tenant(record["tenant_id"])
        label = f"{tenant.label} {record['period']}"
        again = f" again (its question in run {record['asked_in']} no longer stands)" if record.get("asked_in") else ""
        notes.append(f"{label}: held ({describe(record['reasons'])}); asking for a decision{again}")
        work.append({"tenant": tenant.model_dump(mode="json"), "label": label, "hold": record})
    return (period or "held periods"), work, notes


def unanswered(work: dict, run_id: str) -> str:
    """No answer came in run ``run_id`` (the question timed out, or failed): the hold may be asked about again."""
    from bds.staging import data_dir

    record = work["hold"]
    path = hold_path(data_dir(), record["tenant_id"], record["period"])
    with folder_lock(period_folder(data_dir(), record["tenant_id"], record["period"])):
        current = read_hold(path)
        if current and current.get("asked_in") == run_id:  # asked since by another run: that question stands
            write_hold(path, {k: v for k, v in current.items() if k not in ("asked_in", "asked_as")})
    by_name = f"trigger bds_approvals with tenant_id {record['tenant_id']} and period {record['period']}"
    if record["state"] == "waiting":
        then = f"the next bds_approvals run (07:00 UTC at the latest) asks again, or {by_name} now"
    else:  # a rejected hold asked again: only an operator asks once more
        then = f"{by_name} to ask again"
    return f"{work['label']}: no decision came; its files stay held ({record['state']}): {then}"


def decide_run(work: dict, answer: dict, decision_id: str) -> dict:
    """Apply the answer of the approval task (its XCom: chosen_options, params_input,
    responded_by_user) to the work item's hold; ``decision_id`` names the deciding task."""
    from bds.config.store import default_store, for_runs
    from bds.staging import data_dir
    from bds.transmission import outbox_dir

    root = data_dir()
    user = answer.get("responded_by_user") or {}
    by = user.get("name") or user.get("id") or "unknown"
    comment = str((answer.get("params_input") or {}).get("comment") or "").strip()
    approved = answer["chosen_options"] == ["Approve"]
    outbox = None
    if approved:
        if not for_runs()[0].config.billing_server.transmit:
            raise ValueError(
                f"{work['label']}: approved by {by}, but transmission is off now (billing_server.transmit): "
                "nothing can be queued; the files stay held. Switch it on and ask again"
            )
        outbox = outbox_dir()
    return decide(default_store(root), root, work["hold"], work["label"], approved, by, comment, outbox, decision_id)
