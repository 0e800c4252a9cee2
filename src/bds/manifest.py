"""Manifests: per tenant and day (or month), what the archive holds and what was sent.

A manifest sits beside the files it lists (``MANIFEST_<tenant_id>_<YYYYMMDD|YYYYMM>.json``)
and is written after them: each file's name, bytes, data rows, SHA-256, and once the file
has been uploaded and verified, its S3 URI and upload time (the object's Last-Modified as
the server recorded it, so a manifest is the same bytes however often it is rewritten).
When transmission is on, the manifest itself is uploaded last, once every file it lists
is in the bucket.

Writers hold the period folder's lock (``files.folder_lock``) around a read-modify-write.

Verify an archive (and, with ``--s3``, the bucket) against its manifests::

    python -m bds.manifest [DATA_DIR] [--s3]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path

from bds.catalogue import METRICS
from bds.files import (
    ARCHIVE,
    NamedFile,
    archived_files,
    count_rows,
    is_temporary,
    manifest_name,
    parse_name,
    period_label,
    unversioned_name,
    version_path,
    write_atomic,
)

# 2: the period's revision, each file's ``supersedes``, control totals, and what produced the
# revision (configuration revision, bds version, dataset SQL). A format-1 manifest is revision 1.
FORMAT = 2


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(
    name: str,
    data: bytes,
    s3_uri: str | None = None,
    uploaded_at: str | None = None,
    config_revision: int | None = None,
    produced: dict | None = None,
    supersedes: str | None = None,
) -> dict:
    """A file's record. ``config_revision``: the configuration revision that produced these
    bytes (a file a later revision renders the same keeps it); absent before the store existed.
    ``produced``: the Airflow run and task that first wrote these bytes, and when
    (``bds.ledger.producer``; the billing ledger is rebuilt from it). ``supersedes``: the
    SHA-256 of the version of the file these bytes replaced (None for a first version)."""
    listed = {
        "name": name,
        "bytes": len(data),
        "rows": count_rows(data),
        "sha256": sha256(data),
        "s3_uri": s3_uri,
        "uploaded_at": uploaded_at,
        "supersedes": supersedes,
    }
    if config_revision is not None:
        listed["config_revision"] = config_revision
    if produced is not None:
        listed["produced"] = produced
    return listed


def read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable manifest ({exc})") from None


# What every manifest has; any other top-level field (a month's ``rolled_up_from``) is kept as
# it is by the writers that only record a send or a move.
_CORE_FIELDS = ("format", "tenant_id", "period", "files", "superseded")


def render(
    tenant_id: int, period: str, entries: dict[str, dict], superseded: dict[str, dict] | None = None, fields: dict | None = None
) -> bytes:
    payload = {
        **(fields or {}),
        "format": FORMAT,
        "tenant_id": tenant_id,
        "period": period,
        "files": [entries[name] for name in sorted(entries)],
    }
    if superseded:  # only present once a rerun superseded a file: other manifests stay as they were
        payload["superseded"] = [superseded[name] for name in sorted(superseded)]
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8")


def control_totals(files: dict[str, bytes]) -> dict:
    """What a receiver adds up to check a delivery: the number of files and data rows, and per
    metric and count (its AgentGroupName, as in the files) the sum of ``MessageSize``."""
    sums: dict[tuple[str, str, str], int] = {}
    rows = 0
    for name, data in files.items():
        metric = METRICS[parse_name(name).metric]
        for count, row in zip(metric.counts, csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")), strict=True):
            key = (metric.key, count.name, row["AgentGroupName"])
            sums[key] = sums.get(key, 0) + int(row["MessageSize"])
            rows += 1
    return {
        "files": len(files),
        "rows": rows,
        "message_size": [
            {"metric": metric, "count": count, "agent_group_name": group, "total": total}
            for (metric, count, group), total in sorted(sums.items())
        ],
    }


def bds_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bds-airflow")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


def other_fields(manifest: dict) -> dict:
    return {key: value for key, value in manifest.items() if key not in _CORE_FIELDS}


def inputs_digest(files: dict[str, str]) -> str:
    """One SHA-256 for a set of files, from their names and SHA-256s (``{name: sha256}``): the
    SHA-256 of their lines ``<name> <sha256>``, sorted by name, each ending in a line feed.
    A receiver computes it from a daily manifest's entries."""
    return sha256("".join(f"{name} {files[name]}\n" for name in sorted(files)).encode("ascii"))


def _period_of(names) -> tuple[int, str]:
    named = [parse_name(n) for n in names]
    periods = {(n.tenant_id, n.period) for n in named}
    if len(periods) != 1:
        raise ValueError(f"files of more than one tenant or period: {sorted(names)}")
    return periods.pop()


def superseded_entry(
    listed: dict | None, name: str, data: bytes, reason: str, previous_version: str, at: str | None = None
) -> dict:
    """What a manifest keeps of a superseded file: its identity, where it was sent (if it was),
    why it left the current set and when (``superseded_at``), where the archive keeps it, and
    (``moved_to``) where the billing server keeps it once transmission has moved it aside."""
    sent = listed if listed and listed["sha256"] == sha256(data) else {}
    kept = entry(
        name,
        data,
        sent.get("s3_uri"),
        sent.get("uploaded_at"),
        sent.get("config_revision"),
        sent.get("produced"),
        sent.get("supersedes"),
    )
    return (
        kept | {"reason": reason, "previous_version": previous_version, "moved_to": None} | ({"superseded_at": at} if at else {})
    )


def record_rendered(
    folder: Path,
    files: dict[str, bytes],
    superseded: list[tuple[str, bytes, str, str]] = (),
    config_revision: int | None = None,
    produced: dict | None = None,
    fields: dict | None = None,
    provenance: dict | None = None,
    whole_revisions: bool = False,
) -> tuple[str, Path]:
    """After a run has written ``files`` into ``folder`` (the period's whole current set) and
    superseded the others (name, bytes, reason, previous version): list them, keeping the
    upload record, configuration revision, producer and ``supersedes`` of every file whose
    bytes did not change; the others get ``config_revision``, ``produced`` and the SHA-256 of
    the version they replace. The period's ``revision`` is 1 for its first set of files and
    goes up by one whenever the set changes (a file's bytes, a file more or less); with it the
    run's ``provenance`` (configuration revision, bds version, dataset SQL: what produced this
    revision) is recorded. ``fields``: other top-level fields this run sets (a month's
    ``rolled_up_from``). With ``whole_revisions`` (delivery in revisions), a new revision is
    sent whole: no file keeps the upload record of an earlier one. Returns
    (created/changed/unchanged, path)."""
    tenant_id, period = _period_of(files)
    path = folder / manifest_name(tenant_id, period)
    manifest = read(path) or {}
    old = {e["name"]: e for e in manifest.get("files", [])}
    before = {e["name"]: e for e in manifest.get("superseded", [])}
    entries = {}
    for name, data in files.items():
        kept = old.get(name)
        if kept and kept["sha256"] == sha256(data):
            entries[name] = entry(
                name,
                data,
                kept["s3_uri"],
                kept["uploaded_at"],
                kept.get("config_revision", config_revision),
                kept.get("produced"),
                kept.get("supersedes"),
            )
        else:  # a new version: of the current file, or of one superseded earlier and back now
            replaced = kept or before.get(name)
            entries[name] = entry(
                name, data, config_revision=config_revision, produced=produced, supersedes=replaced and replaced["sha256"]
            )
    # Earlier supersessions stay on record, unless the name is current again.
    gone = {name: e for name, e in before.items() if name not in entries}
    for name, data, reason, previous_version in superseded:
        gone[name] = superseded_entry(old.get(name), name, data, reason, previous_version, (produced or {}).get("at"))
    kept_fields = other_fields(manifest) | (fields or {})
    changed = {n: e["sha256"] for n, e in entries.items()} != {n: e["sha256"] for n, e in old.items()}
    # Delivered in revisions, a manifest never changes once sent: a month rolled up again from
    # changed days (a new rolled_up_from) is a new revision even when its files come out the same.
    changed |= whole_revisions and bool(manifest) and any(manifest.get(k) != v for k, v in (fields or {}).items())
    if changed and whole_revisions:
        entries = {n: e | {"s3_uri": None, "uploaded_at": None} for n, e in entries.items()}
    if not manifest or changed:  # a new revision of the period, and what produced it
        kept_fields |= {"revision": manifest.get("revision", 1) + 1 if manifest else 1, "config_revision": config_revision}
        kept_fields |= {"bds_version": bds_version()} | (provenance or {})
    kept_fields["revision"] = kept_fields.get("revision", 1)  # a manifest written before revisions were recorded
    kept_fields["control_totals"] = control_totals(files)
    return write_atomic(path, render(tenant_id, period_label(period), entries, gone, kept_fields)), path


def to_move_aside(manifest: dict) -> list[dict]:
    """Superseded files that are still in the bucket under their old name."""
    return [e for e in manifest.get("superseded", []) if e["s3_uri"] and not e["moved_to"]]


def revision_with(manifest: dict | None, name: str, data: bytes) -> int:
    """The period's revision once ``data`` is its file ``name``: the manifest's, or the next
    one when the manifest does not list these bytes (a file dropped into the outbox by hand)."""
    if not manifest:
        return 1
    listed = {e["name"]: e["sha256"] for e in manifest.get("files", [])}
    revision = manifest.get("revision", 1)
    return revision if listed.get(name) == sha256(data) else revision + 1


def record_sent(
    folder: Path, named: NamedFile, data: bytes, s3_uri: str, uploaded_at: str, produced: dict | None = None
) -> tuple[str, Path]:
    """Record that ``data`` (the archived file ``named``) is in the bucket. A file the manifest
    did not list with these bytes (one dropped into the outbox by hand, now archived) gets
    ``produced``, and makes a new revision of the period."""
    path = folder / named.manifest
    manifest = read(path) or {}
    entries = {e["name"]: e for e in manifest.get("files", [])}
    listed = entries.get(named.name, {})
    same = listed.get("sha256") == sha256(data)
    origin = listed.get("produced") if same else produced
    supersedes = listed.get("supersedes") if same else listed.get("sha256")
    entries[named.name] = entry(named.name, data, s3_uri, uploaded_at, listed.get("config_revision"), origin, supersedes)
    superseded = {e["name"]: e for e in manifest.get("superseded", []) if e["name"] != named.name}
    fields = revision_fields(manifest, folder, entries)
    if not same:
        fields["revision"] = revision_with(manifest, named.name, data)
        fields["control_totals"] = control_totals({name: (folder / name).read_bytes() for name in entries})
    return write_atomic(path, render(named.tenant_id, named.period_label, entries, superseded, fields)), path


def revision_fields(manifest: dict, folder: Path, entries: dict[str, dict]) -> dict:
    """The manifest's other fields, for a writer that keeps its files: a manifest written before
    revisions were recorded gets revision 1 and the control totals of the files in ``folder``."""
    fields = other_fields(manifest)
    fields.setdefault("revision", 1)
    if "control_totals" not in fields:
        fields["control_totals"] = control_totals({name: (folder / name).read_bytes() for name in entries})
    return fields


def record_moved_aside(path: Path, name: str, moved_to: str) -> None:
    """Record that the billing server now keeps the superseded file ``name`` at ``moved_to``."""
    manifest = read(path)
    superseded = {e["name"]: e for e in manifest.get("superseded", [])}
    superseded[name] = superseded[name] | {"moved_to": moved_to}
    entries = {e["name"]: e for e in manifest["files"]}
    fields = revision_fields(manifest, path.parent, entries)
    write_atomic(path, render(manifest["tenant_id"], manifest["period"], entries, superseded, fields))


def record_decision(path: Path, decision: dict) -> None:
    """Add an operator's decision on a held revision (bds.holds) to the manifest's ``approvals``."""
    manifest = read(path)
    entries = {e["name"]: e for e in manifest["files"]}
    superseded = {e["name"]: e for e in manifest.get("superseded", [])}
    fields = revision_fields(manifest, path.parent, entries)
    fields["approvals"] = [*manifest.get("approvals", []), decision]
    write_atomic(path, render(manifest["tenant_id"], manifest["period"], entries, superseded, fields))


def unsent(manifest: dict) -> list[str]:
    """Names of the listed files that have no upload record."""
    return [e["name"] for e in manifest["files"] if not e["uploaded_at"]]


def verify_archive(data_dir: Path, bucket=None, read_back: bool = True) -> tuple[int, list[str]]:
    """Check every manifest under the archive against the files beside it (and, given the
    billing server, ``transmission.destination`` or ``Destinations``, against the objects it
    names, through the tenant's connection: read back, or without ``read_back`` by the
    SHA-256 the server keeps where it keeps one), look for stray files and for months whose
    days changed after they were rolled up. Returns (files checked, problems)."""
    root = Path(data_dir) / ARCHIVE
    problems: list[str] = []
    checked = 0
    listed: set[Path] = set()
    for path in sorted(root.glob("*/*/**/MANIFEST_*.json")):
        try:
            manifest = read(path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        present = {}
        for e in manifest["files"]:
            file = path.parent / e["name"]
            listed.add(file)
            checked += 1
            if not file.is_file():
                problems.append(f"{file}: listed in {path.name} but missing")
                continue
            data = file.read_bytes()
            actual = entry(e["name"], data)
            for field in ("bytes", "rows", "sha256"):
                if actual[field] != e[field]:
                    problems.append(f"{file}: {field} is {actual[field]}, {path.name} says {e[field]}")
            if actual["sha256"] == e["sha256"]:
                present[e["name"]] = data
            if e.get("supersedes"):
                problems.extend(_check_supersedes(root, path, e))
            if bucket is not None and e["s3_uri"]:
                server = bucket.for_tenant(manifest["tenant_id"])
                problems.extend(f"{e['s3_uri']}: {p}" for p in server.compare(e["s3_uri"], data, read_back)[0])
        problems.extend(_check_revision(path, manifest, present))
        for e in manifest.get("superseded", []):
            server = bucket.for_tenant(manifest["tenant_id"]) if bucket is not None else None
            problems.extend(_check_superseded(root, path, e, server, read_back))
        problems.extend(_check_month_inputs(data_dir, path, manifest))
    for file in archived_files(root):
        if file not in listed:
            problems.append(f"{file}: in the archive but in no manifest")
    problems.extend(f"{file}: {why}" for file, why in stray_files(root))
    return checked, problems


def _check_revision(path: Path, manifest: dict, present: dict[str, bytes]) -> list[str]:
    """A format-2 manifest's revision and control totals (those of the files beside it)."""
    if manifest.get("format", 1) < 2:
        return []
    problems = []
    revision = manifest.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        problems.append(f"{path}: revision is {revision!r}, not a number from 1")
    if len(present) == len(manifest["files"]):  # a missing or changed file is reported already
        try:
            totals = control_totals(present)
        except (ValueError, KeyError) as exc:  # listed as it is, but not a billing file
            return [*problems, f"{path}: cannot add up the files' control totals: {type(exc).__name__}: {exc}"]
        if totals != manifest.get("control_totals"):
            problems.append(
                f"{path}: control totals are {json.dumps(manifest.get('control_totals'))}, the files add up to {json.dumps(totals)}"
            )
    return problems


def _check_supersedes(root: Path, path: Path, e: dict) -> list[str]:
    """The version a file supersedes is kept under versions/ with the SHA-256 the manifest gives."""
    kept = version_path(root, parse_name(e["name"]), digest=e["supersedes"])
    if not kept.is_file() or sha256(kept.read_bytes()) != e["supersedes"]:
        return [f"{kept}: {path.name} says {e['name']} supersedes a version with SHA-256 {e['supersedes']}, not kept there"]
    return []


def _check_month_inputs(data_dir: Path, path: Path, manifest: dict) -> list[str]:
    """A month whose days changed after it was rolled up (``rolled_up_from``) is stale."""
    from bds.monthly import Month, restated_days

    if len(manifest["period"]) != len("YYYY-MM") or "rolled_up_from" not in manifest:
        return []
    days = restated_days(data_dir, manifest["tenant_id"], Month.parse(manifest["period"]))
    if not days:
        return []
    return [
        f"{path}: stale: day(s) {', '.join(days)} changed after the month was rolled up; its restated-month asset "
        f"starts bds_monthly for it (or trigger bds_monthly with month={manifest['period']})"
    ]


def _check_superseded(root: Path, manifest: Path, e: dict, bucket, read_back: bool = True) -> list[str]:
    problems = []
    if (manifest.parent / e["name"]).exists():
        problems.append(f"{manifest.parent / e['name']}: {manifest.name} says it was superseded, but it is still current")
    kept = root / e["previous_version"]
    if not kept.is_file() or sha256(kept.read_bytes()) != e["sha256"]:
        problems.append(f"{kept}: the superseded {e['name']} of {manifest.name} is not kept there with SHA-256 {e['sha256']}")
    elif bucket is not None and e["moved_to"]:
        problems.extend(f"{e['moved_to']}: {p}" for p in bucket.compare(e["moved_to"], kept.read_bytes(), read_back)[0])
        if bucket.head(bucket.key_of(e["s3_uri"])) is not None:
            problems.append(f"{e['s3_uri']}: superseded and moved aside, but still in the bucket")
    return problems


def stray_files(root: Path) -> list[tuple[Path, str]]:
    """Files under the archive that are neither billing files, manifests nor kept versions, with
    what they are: above all the temporary files of writers that died (the next writer of the
    folder removes them)."""
    found = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        if is_temporary(path.name):
            found.append((path, "temporary file of a writer that died; the next run of this period removes it"))
            continue
        try:
            parse_name(path.name if "versions" not in path.relative_to(root).parts else unversioned_name(path.name))
        except ValueError:
            found.append((path, "stray file: not a billing file, manifest or kept version"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bds.manifest", description="Verify the local archive against its manifests.")
    parser.add_argument("data_dir", nargs="?", default=os.environ.get("BDS_DATA_DIR", "."), type=Path)
    parser.add_argument(
        "--s3",
        "--server",
        dest="server",
        action="store_true",
        help="also read back every file sent to the billing server (S3 or SFTP) and compare its SHA-256",
    )
    args = parser.parse_args(argv)
    bucket = None
    if args.server:
        from bds.config.store import current_config
        from bds.transmission import Destinations, quiet_command_line

        quiet_command_line()
        bucket = Destinations(current_config())
    try:
        checked, problems = verify_archive(args.data_dir, bucket)
    finally:
        if bucket is not None:
            bucket.close()
    for problem in problems:
        print(f"MISMATCH {problem}")
    where = (args.data_dir / ARCHIVE).resolve()
    print(
        f"{checked} file(s) listed in the manifests under {where}{' and on the billing server' if bucket else ''}: "
        f"{'all match' if not problems else f'{len(problems)} problem(s)'}"
    )
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
