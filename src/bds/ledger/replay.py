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
from bds.ledger import DERIVED, PeriodEvent, Version, apply, attempts, files

log = logging.getLogger(__name__)


def _versions(archive: Path, listed: dict, restated: list[dict]) -> tuple[list[Version], list[Version]]:
    """(current, non-current) versions of one period: the manifest's files and superseded
    files, and the versions the change log says were replaced."""
    folder = archive / parse_name(listed["files"][0]["name"] if listed["files"] else listed["superseded"][0]["name"]).folder
    current = [Version.of(e, (folder / e["name"]).read_bytes()) for e in listed["files"]]
    gone = [
        Version.of(e, (archive / e["previous_version"]).read_bytes(), superseded_at=e.get("superseded_at"),
                   superseded_reason=e["reason"], previous_version=e["previous_version"])
        for e in listed.get("superseded", [])
    ]  # fmt: skip
    for change in restated:
        previous = change.get("previous")
        if previous is None or "superseded" in change:  # a superseded file is in the manifest's list
            continue
        kept = change["previous_version"]
        gone.append(Version.of(previous, (archive / kept).read_bytes(), superseded_at=previous.get("superseded_at"),
                               superseded_reason=f"restated: replaced by a new version of {change['file']}", previous_version=kept))  # fmt: skip
    return current, gone


def events_of(archive: Path, listed: dict, restated: list[dict], settings_of, queued: set[str] = frozenset()) -> list[PeriodEvent]:
    """The period's events in time order: at each moment a version became current or left."""
    current, gone = _versions(archive, listed, restated)
    everything = current + gone
    moments = sorted({v.produced["at"] for v in everything} | {v.superseded_at for v in gone if v.superseded_at})
    events = []
    for at in moments:
        then = [v for v in everything if v.produced["at"] <= at and not (v.superseded_at and v.superseded_at <= at)]
        left = [v for v in gone if v.superseded_at == at]
        revision = next((v.config_revision for v in then if v.produced["at"] == at), None)
        events.append(PeriodEvent(listed["tenant_id"], listed["period"], at, then, left, set(queued), settings_of(revision)))
    if not events or any(not v.superseded_at for v in gone):  # versions of unknown time: the manifest as it is, last
        events.append(PeriodEvent(listed["tenant_id"], listed["period"], moments[-1] if moments else "", current, gone,
                                  set(queued), settings_of(current[0].config_revision if current else None)))  # fmt: skip
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


def record_period(store, archive: Path, manifest_path: Path, restated: list[dict], at: str, queued: set[str]) -> None:
    """Apply what a run just did to a period (its manifest written, ``restated`` its change log
    entries) to the ledger: the event at ``at``."""
    listed = manifest.read(manifest_path)
    every = events_of(archive, listed, restated, settings_for(store), queued)
    events = [e for e in every if e.at == at] or every[-1:]  # nothing new: the period as it stands (idempotent)
    with store.writing(f"cannot record tenant {listed['tenant_id']} {listed['period']} in the billing ledger") as connection:
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
            events.extend(events_of(archive, listed, by_period.get((listed["tenant_id"], listed["period"]), []), settings_of, queued))
    events.sort(key=lambda e: (e.at, e.tenant_id, e.period))
    with store.writing("cannot rebuild the billing ledger") as connection:
        for table in DERIVED:
            connection.execute(table.delete())
        for event in events:
            apply(connection, event)
        _failed_sends(connection)
    log.info("billing ledger rebuilt from %s: %d period event(s)", archive, len(events))
    return len(events)


def _failed_sends(connection) -> None:
    """An unsent file whose last send failed is failed, as the live ledger keeps it."""
    latest = sa.select(attempts.c.name, attempts.c.sha256, sa.func.max(attempts.c.id).label("id")).group_by(attempts.c.name, attempts.c.sha256).subquery()
    rows = connection.execute(sa.select(attempts).join(latest, attempts.c.id == latest.c.id).where(attempts.c.outcome == "failed")).all()
    for row in rows:
        key = (files.c.name == row.name) & (files.c.sha256 == row.sha256) & (files.c.state != "sent")
        connection.execute(files.update().where(key).values(state="failed", failure=row.detail))
