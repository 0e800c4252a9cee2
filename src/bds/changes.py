"""Restatements: when a rerun changes a billing file that was already produced.

A file that a rerun no longer produces (its name changed, e.g. with the tenant's GARN, or its
metric or region is no longer billed) is superseded: it leaves the period's current set and
its manifest, is kept the same way, and is logged with the reason.

The earlier version stays in the archive (``archive/<tenant_id>/versions/...``, named by its
SHA-256), the new one becomes current (and, with transmission on, is queued again), and the
change is recorded, row by row with the old and new ``MessageSize``, in the task log and in
the change log beside the archive: ``$BDS_DATA_DIR/changes.jsonl``, one JSON object per line,
appended, never rewritten. ``python -m bds.report --changes`` prints it. The operators' decisions on files held for an
approval (bds.holds) are recorded there too, with who decided, when and why.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from bds.files import COLUMNS

LOG_NAME = "changes.jsonl"
IDENTITY = ("AgentGroupName",)  # what tells the rows of one file apart


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def row_changes(old: bytes, new: bytes) -> tuple[list[dict], list[str]]:
    """The rows whose MessageSize differs (matched on AgentGroupName), and the other columns
    that changed anywhere in the file (e.g. an account id corrected in the configuration)."""
    before = {tuple(r[k] for k in IDENTITY): r for r in _rows(old)}
    after = {tuple(r[k] for k in IDENTITY): r for r in _rows(new)}
    rows, other = [], set()
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        old_size, new_size = (b or {}).get("MessageSize"), (a or {}).get("MessageSize")
        if old_size != new_size:
            rows.append({"AgentGroupName": key[0], "old": old_size, "new": new_size})
        if a and b:
            other.update(c for c in COLUMNS if c != "MessageSize" and a[c] != b[c])
    return rows, sorted(other, key=COLUMNS.index)


def restatement(
    named,
    old: bytes,
    new: bytes | None,
    kept: Path,
    archive: Path,
    superseded_by: str = "",
    revision: int | None = None,
    previous: dict | None = None,
) -> dict:
    """A change log entry. ``new`` is None when the file was superseded: no longer part of the
    period's current set (its name changed, or its metric or region is no longer billed);
    ``superseded_by`` then says why. ``revision``: the configuration revision of the new set.
    ``previous``: the manifest's record of the replaced version, with when it was replaced
    (``superseded_at``): what the billing ledger is rebuilt from."""
    if new is None:
        rows, other = [{"AgentGroupName": r["AgentGroupName"], "old": r["MessageSize"], "new": None} for r in _rows(old)], []
    else:
        rows, other = row_changes(old, new)
    entry = {
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_id": os.environ.get("AIRFLOW_CTX_DAG_RUN_ID", ""),
        "tenant_id": named.tenant_id,
        "period": named.period_label,
        "file": named.name,
        "rows": rows,
        "other_columns": other,
        "previous_version": kept.relative_to(archive).as_posix(),
        "config_revision": revision,
    }
    if new is None:
        entry["superseded"] = superseded_by
    if previous is not None:
        entry["previous"] = previous
    return entry


def describe(entry: dict) -> str:
    """One line for the task log and the report."""
    if "decision" in entry:  # an operator's decision on files held for an approval (bds.holds)
        comment = f": {entry['comment']}" if entry.get("comment") else ""
        return (
            f"{entry['decision'].upper()} tenant {entry['tenant_id']} {entry['period']} revision {entry['revision']} "
            f"by {entry['by']} (held for {', '.join(entry['reasons'])}){comment}"
        )
    revision = f" with configuration revision {entry['config_revision']}" if entry.get("config_revision") is not None else ""
    if "superseded" in entry:
        return (
            f"SUPERSEDED tenant {entry['tenant_id']} {entry['period']} {entry['file']}: {entry['superseded']} "
            f"(no longer current{revision}; kept as {entry['previous_version']})"
        )
    rows = ", ".join(f"AgentGroupName {r['AgentGroupName']}: {r['old']} -> {r['new']}" for r in entry["rows"])
    parts = [rows or "counts unchanged"]
    if entry["other_columns"]:
        parts.append("also changed: " + ", ".join(entry["other_columns"]))
    return (
        f"RESTATED tenant {entry['tenant_id']} {entry['period']} {entry['file']}{revision}: {'; '.join(parts)} "
        f"(previous version kept as {entry['previous_version']})"
    )


def append(data_dir: Path, entries: list[dict]) -> None:
    """Append to the change log under an exclusive lock (runs of several days may finish together)."""
    if not entries:
        return
    path = Path(data_dir) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode("utf-8")
    with path.open("ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


def read(data_dir: Path) -> list[dict]:
    path = Path(data_dir) / LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
