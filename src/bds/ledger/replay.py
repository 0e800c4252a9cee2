"""From the archive to the ledger: the period events a manifest, its kept versions and the
change log tell, applied live (``record_period``, by render and roll_up) or all over again
(``rebuild``, by ``python -m bds.ledger rebuild``)."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

from bds import changes, manifest
from bds.config import AnomalyChecks
from bds.files import ARCHIVE, parse_name
from bds.holds import open_holds
from bds.ledger import DERIVED, PeriodEvent, Version, apply, attempts, files, lock_tenant, set_state

log = logging.getLogger(__name__)


def _versions(archive: Path, listed: dict, restated: list[dict]) -> tuple[list[Version], list[Version]]:
    """(current, non-current) versions of one period: the manifest's files and superseded
    files, and the versions the change log says were replaced."""
    folder = archive / parse_name(listed["files"][0]["name"] if listed["files"] else listed["superseded"][0]["name"]).folder
    current = [Version.of(e, (folder / e["name"]).read_bytes()) for e in listed["files"]]
    gone = [
        Version.of(
            e,
            (archive / e["previous_version"]).read_bytes(),
            superseded_at=e.get("superseded_at"),
            superseded_reason=e["reason"],
            previous_version=e["previous_version"],
        )
        for e in listed.get("superseded", [])
    ]
    listed_gone = {(v.name, v.sha256, v.superseded_at) for v in gone}
    for change in restated:
        previous = change.get("previous")
        if previous is None:  # written before the change log kept it: the manifest's list is all there is
            continue
        kept = change["previous_version"]
        reason = (
            f"restated: replaced by a new version of {change['file']}" if "superseded" not in change else change["superseded"]
        )
        version = Version.of(
            previous,
            (archive / kept).read_bytes(),
            superseded_at=previous.get("superseded_at"),
            superseded_reason=reason,
            previous_version=kept,
        )
        # A superseded file is in the manifest's list too, unless its name became current again.
        if (version.name, version.sha256, version.superseded_at) not in listed_gone:
            gone.append(version)
    return current, gone


def events_of(
    archive: Path, listed: dict, restated: list[dict], settings_of, queued: set[str] = frozenset()
) -> list[PeriodEvent]:
    """The period's events in time order: at each moment a version became current or left."""
    current, gone = _versions(archive, listed, restated)
    everything = current + gone
    moments = sorted({v.produced["at"] for v in everything} | {v.superseded_at for v in gone if v.superseded_at})
    events = []
    for at in moments:
        then = [v for v in everything if v.produced["at"] <= at and not (v.superseded_at and v.superseded_at <= at)]
        left = [v for v in gone if v.superseded_at == at]
        # The thresholds of the revision that produced the files: those written now, else the newest current one.
        revision = next((v.config_revision for v in then if v.produced["at"] == at), None)
        if revision is None and then:
            revision = max(then, key=lambda v: v.produced["at"]).config_revision
        events.append(PeriodEvent(listed["tenant_id"], listed["period"], at, then, left, set(queued), settings_of(revision)))
    if not events or any(not v.superseded_at for v in gone):  # versions of unknown time: the manifest as it is, last
        events.append(
            PeriodEvent(
                listed["tenant_id"],
                listed["period"],
                moments[-1] if moments else "",
                current,
                gone,
                set(queued),
                settings_of(current[0].config_revision if current else None),
            )
        )
    return events


def settings_for(store):
    """The anomaly thresholds of a configuration revision (the defaults for none)."""

    @lru_cache(maxsize=64)
    def settings_of(revision: int | None) -> AnomalyChecks:
        if revision is None:
            return AnomalyChecks()
        try:
            return store.get(revision).config.anomalies
        except LookupError:
            return AnomalyChecks()

    return settings_of


def record_period(store, archive: Path, manifest_path: Path, at: str, queued: set[str]) -> None:
    """Apply what a run just did to a period (its manifest and change log written) to the
    ledger: the event at ``at``, or, when a retry finds nothing new (the first attempt wrote the
    files, then failed to reach the ledger), the period as the archive says it stands."""
    listed = manifest.read(manifest_path)
    period_changes = [
        c for c in changes.read(archive.parent) if (c["tenant_id"], c["period"]) == (listed["tenant_id"], listed["period"])
    ]
    every = events_of(archive, listed, period_changes, settings_for(store), queued)
    events = [e for e in every if e.at == at] or every[-1:]
    with store.writing(f"cannot record tenant {listed['tenant_id']} {listed['period']} in the billing ledger") as connection:
        lock_tenant(connection, listed["tenant_id"])
        for event in events:
            apply(connection, event)


def rebuild(store, data_dir: Path, outbox: Path | None = None, revisions=None) -> int:
    """Replace the ledger's files, counts and flags with what the archive says, replaying
    every period's events in time order (each with the anomaly thresholds of its configuration
    revision, read from ``revisions``: the store itself by default). Returns the number of events applied."""
    archive = Path(data_dir) / ARCHIVE
    by_period: dict[tuple[int, str], list[dict]] = {}
    for change in changes.read(data_dir):
        by_period.setdefault((change["tenant_id"], change["period"]), []).append(change)
    queued = {p.name for p in outbox.rglob("CNT_*.csv")} if outbox and outbox.is_dir() else set()
    settings_of = settings_for(revisions or store)
    events = []
    for path in sorted(archive.glob("*/*/**/MANIFEST_*.json")):
        if "versions" in path.relative_to(archive).parts:
            continue
        listed = manifest.read(path)
        if listed["files"] or listed.get("superseded"):
            events.extend(
                events_of(archive, listed, by_period.get((listed["tenant_id"], listed["period"]), []), settings_of, queued)
            )
    events.sort(key=lambda e: (e.at, e.tenant_id, e.period))
    with store.writing("cannot rebuild the billing ledger") as connection:
        if (
            connection.dialect.name == "postgresql"
        ):  # live writers wait for the rebuilt ledger (SQLite: one writer at a time anyway)
            connection.exec_driver_sql("LOCK TABLE bds_ledger_file, bds_ledger_count, bds_ledger_flag IN EXCLUSIVE MODE")
        for table in DERIVED:
            connection.execute(table.delete())
        for event in events:
            apply(connection, event)
        _failed_sends(connection)
        for hold in open_holds(data_dir):  # files held for an approval (bds.holds), as the live ledger marks them
            set_state(connection, hold["files"], "held")
    log.info("billing ledger rebuilt from %s: %d period event(s)", archive, len(events))
    return len(events)


def _failed_sends(connection) -> None:
    """A current, unsent file whose last send failed is failed, as the live ledger keeps it
    (an earlier version that was never sent is archived)."""
    latest = (
        sa.select(attempts.c.name, attempts.c.sha256, sa.func.max(attempts.c.id).label("id"))
        .group_by(attempts.c.name, attempts.c.sha256)
        .subquery()
    )
    rows = connection.execute(
        sa.select(attempts).join(latest, attempts.c.id == latest.c.id).where(attempts.c.outcome == "failed")
    ).all()
    for row in rows:
        key = (files.c.name == row.name) & (files.c.sha256 == row.sha256) & (files.c.state != "sent") & files.c.current
        connection.execute(files.update().where(key).values(state="failed", failure=row.detail))
