"""bds_housekeeping's work: nothing grows for ever, and the archive is what its manifests say.

- **Staging.** A tenant-day's extracts are removed by its own ``render`` once the files are
  stored. What its month needs (the day's agent set, and its run's results) stays until the
  month has been rolled up, after the day was last rendered, ``month_inputs_days`` ago; what
  was not written for ``staging_days`` goes whatever it is (failed runs never rerun).
- **Task logs** on this machine's disk and **alerts** in ``alerts.jsonl``: kept ``log_days`` and
  ``alert_days``.
- **The archive**, weekly: every manifest against its files (and, with transmission on, the
  bucket's objects); a difference found twice, a minute apart, fails the task, which alerts.

Every removal is logged with what and why. Settings: ``BillingConfig.housekeeping``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bds import manifest, staging
from bds.alerts import LOG_NAME, kept_alerts
from bds.config import BillingConfig, Housekeeping
from bds.errors import PermanentError
from bds.files import daily_dir, manifest_name, monthly_dir

log = logging.getLogger(__name__)


class ArchiveMismatchError(PermanentError, RuntimeError):
    """The archive (or the bucket) differs from what its manifests record; the message lists each difference."""


def _newest_production(path: Path) -> datetime | None:
    """When the newest of a manifest's current files was produced (the manifest's own time
    for files listed without a producer); None without a manifest."""
    found = manifest.read(path)
    if found is None:
        return None
    moments = [entry["produced"]["at"] for entry in found.get("files", []) if entry.get("produced")]
    if moments:
        return max(datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) for at in moments)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def month_inputs_done(data_dir: Path, tenant_id: int, day: date, written: datetime, now: datetime, keep_days: int) -> bool:
    """Whether the day's month was rolled up after the day was last rendered and after its
    staged files were last ``written`` (no rerun of the day is under way), ``keep_days`` ago or more."""
    rendered = _newest_production(daily_dir(data_dir, tenant_id, day) / manifest_name(tenant_id, f"{day:%Y%m%d}"))
    first = day.replace(day=1)
    rolled_up = _newest_production(monthly_dir(data_dir, tenant_id, first) / manifest_name(tenant_id, f"{first:%Y%m}"))
    if rendered is None or rolled_up is None:
        return False
    return max(rendered, written) < rolled_up <= now - timedelta(days=keep_days)


def _last_written(folder) -> datetime | None:
    """When the newest file below a staging folder was written (None when it holds none)."""
    moments = [path.stat().st_mtime for path in folder.rglob("*") if path.is_file()]
    return datetime.fromtimestamp(max(moments), UTC) if moments else None


def clean_staging(settings: Housekeeping, data_dir: Path, now: datetime) -> list[str]:
    """Remove from the staging location what no task needs any more; what was removed, and why.
    Ages count from when the files were written, not from the day they are for: a backfill of
    an old day stages anew, and keeps what it staged."""
    root = staging.staging_root()
    if not staging.exists(root):
        return []
    oldest = now - timedelta(days=settings.staging_days)
    removed = []
    for day_folder in sorted(root.iterdir(), key=lambda p: p.name):
        try:
            day = date.fromisoformat(day_folder.name)
        except ValueError:  # not a day's folder: not ours to remove
            continue
        for tenant_folder in sorted(day_folder.iterdir(), key=lambda p: p.name):
            written = _last_written(tenant_folder)
            if not tenant_folder.name.isdigit() or written is None:
                continue
            if written < oldest:
                reason = f"nothing written for staging_days ({settings.staging_days})"
            elif month_inputs_done(data_dir, int(tenant_folder.name), day, written, now, settings.month_inputs_days):
                reason = f"its month was rolled up after the day, more than month_inputs_days ({settings.month_inputs_days}) ago"
            else:
                continue
            staging.remove_tree(tenant_folder)
            removed.append(f"{day}: tenant {tenant_folder.name}'s staged files ({reason})")
        if staging.is_local(day_folder) and day_folder.exists() and not any(day_folder.iterdir()):
            day_folder.rmdir()  # an object store keeps no empty folder
    for line in removed:
        log.info("staging: removed %s", line)
    return removed


def prune_task_logs(folder: Path, keep_days: int, now: datetime) -> int:
    """Remove task log files not written for ``keep_days`` under ``folder`` (Airflow's local
    ``base_log_folder``), then the folders left empty; how many files were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = (now - timedelta(days=keep_days)).timestamp()
    removed = 0
    for path in folder.rglob("*"):
        try:  # a log being written (or removed) meanwhile is left alone
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()  # only an empty folder goes
        except OSError:
            continue
    log.info("task logs: removed %d file(s) older than %d days under %s", removed, keep_days, folder)
    return removed


def prune_alerts(data_dir: Path, keep_days: int, now: datetime) -> int:
    """Keep the alerts of the last ``keep_days`` in alerts.jsonl (rewritten atomically; a line
    that cannot be read is kept); how many were removed."""
    if not (Path(data_dir) / LOG_NAME).is_file():
        return 0
    cutoff = (now - timedelta(days=keep_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kept, removed = [], 0
    with kept_alerts(data_dir) as path:  # no alert is appended while it is rewritten
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                old = json.loads(line)["at"] < cutoff
            except (ValueError, KeyError, TypeError):
                old = False
            if old:
                removed += 1
            else:
                kept.append(line)
        if removed:
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text("".join(kept), encoding="utf-8")
            os.replace(temporary, path)
    log.info("alerts: removed %d older than %d days from %s", removed, keep_days, path)
    return removed


# A difference found is looked for again this long after: a render or a send under way (a file
# replaced, its manifest not yet) is not one.
RECHECK_SECONDS = 60


def verify(config: BillingConfig, data_dir: Path, recheck_seconds: float | None = None) -> str:
    """The archive against its manifests and, with transmission on, the bucket (by the SHA-256
    the server keeps, read back where it keeps none); raises ArchiveMismatchError listing every
    difference found twice, ``recheck_seconds`` apart."""
    bucket = None
    if config.billing_server.transmit:
        from bds.transmission import Destinations

        bucket = Destinations(config)
    try:
        checked, problems = manifest.verify_archive(data_dir, bucket, read_back=False)
        recheck_seconds = RECHECK_SECONDS if recheck_seconds is None else recheck_seconds
        if problems:
            log.warning("%d difference(s) found; looking again in %g s: %s", len(problems), recheck_seconds, problems[:5])
            time.sleep(recheck_seconds)
            checked, again = manifest.verify_archive(data_dir, bucket, read_back=False)
            problems = [p for p in again if p in set(problems)]
    finally:
        if bucket is not None:
            bucket.close()
    where = f"the archive and {config.billing_server.uri('')}" if bucket else "the archive"
    if problems:
        raise ArchiveMismatchError(f"{where}: {len(problems)} difference(s) from the manifests:\n  " + "\n  ".join(problems))
    return f"{checked} file(s) in {where} match their manifests"


def is_verify_day(settings: Housekeeping, day: date) -> bool:
    return day.strftime("%A").lower() == settings.verify_weekday


def now_utc() -> datetime:
    return datetime.now(UTC)
