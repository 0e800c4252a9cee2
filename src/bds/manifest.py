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
import hashlib
import json
import os
import sys
from pathlib import Path

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
    write_atomic,
)

FORMAT = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(
    name: str,
    data: bytes,
    s3_uri: str | None = None,
    uploaded_at: str | None = None,
    config_revision: int | None = None,
    produced: dict | None = None,
) -> dict:
    """A file's record. ``config_revision``: the configuration revision that produced these
    bytes (a file a later revision renders the same keeps it); absent before the store existed.
    ``produced``: the Airflow run and task that first wrote these bytes, and when
    (``bds.ledger.producer``; the billing ledger is rebuilt from it)."""
    listed = {
        "name": name,
        "bytes": len(data),
        "rows": count_rows(data),
        "sha256": sha256(data),
        "s3_uri": s3_uri,
        "uploaded_at": uploaded_at,
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


def render(tenant_id: int, period: str, entries: dict[str, dict], superseded: dict[str, dict] | None = None) -> bytes:
    payload = {
        "format": FORMAT,
        "tenant_id": tenant_id,
        "period": period,
        "files": [entries[name] for name in sorted(entries)],
    }
    if superseded:  # only present once a rerun superseded a file: other manifests stay as they were
        payload["superseded"] = [superseded[name] for name in sorted(superseded)]
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8")


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
    kept = entry(name, data, sent.get("s3_uri"), sent.get("uploaded_at"), sent.get("config_revision"), sent.get("produced"))
    return (
        kept | {"reason": reason, "previous_version": previous_version, "moved_to": None} | ({"superseded_at": at} if at else {})
    )


def record_rendered(
    folder: Path,
    files: dict[str, bytes],
    superseded: list[tuple[str, bytes, str, str]] = (),
    config_revision: int | None = None,
    produced: dict | None = None,
) -> tuple[str, Path]:
    """After a run has written ``files`` into ``folder`` (the period's whole current set) and
    superseded the others (name, bytes, reason, previous version): list them, keeping the
    upload record, configuration revision and producer of every file whose bytes did not
    change; the others get ``config_revision`` and ``produced``. Returns (created/changed/unchanged, path)."""
    tenant_id, period = _period_of(files)
    path = folder / manifest_name(tenant_id, period)
    manifest = read(path) or {}
    old = {e["name"]: e for e in manifest.get("files", [])}
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
            )
        else:
            entries[name] = entry(name, data, config_revision=config_revision, produced=produced)
    # Earlier supersessions stay on record, unless the name is current again.
    gone = {e["name"]: e for e in manifest.get("superseded", []) if e["name"] not in entries}
    for name, data, reason, previous_version in superseded:
        gone[name] = superseded_entry(old.get(name), name, data, reason, previous_version, (produced or {}).get("at"))
    return write_atomic(path, render(tenant_id, period_label(period), entries, gone)), path


def to_move_aside(manifest: dict) -> list[dict]:
    """Superseded files that are still in the bucket under their old name."""
    return [e for e in manifest.get("superseded", []) if e["s3_uri"] and not e["moved_to"]]


def record_sent(
    folder: Path, named: NamedFile, data: bytes, s3_uri: str, uploaded_at: str, produced: dict | None = None
) -> tuple[str, Path]:
    """Record that ``data`` (the archived file ``named``) is in the bucket. A file the manifest
    did not list with these bytes (one dropped into the outbox by hand) gets ``produced``."""
    path = folder / named.manifest
    manifest = read(path) or {}
    entries = {e["name"]: e for e in manifest.get("files", [])}
    listed = entries.get(named.name, {})
    origin = listed.get("produced") if listed.get("sha256") == sha256(data) else produced
    entries[named.name] = entry(named.name, data, s3_uri, uploaded_at, listed.get("config_revision"), origin)
    superseded = {e["name"]: e for e in manifest.get("superseded", []) if e["name"] != named.name}
    return write_atomic(path, render(named.tenant_id, named.period_label, entries, superseded)), path


def record_moved_aside(path: Path, name: str, moved_to: str) -> None:
    """Record that the billing server now keeps the superseded file ``name`` at ``moved_to``."""
    manifest = read(path)
    superseded = {e["name"]: e for e in manifest.get("superseded", [])}
    superseded[name] = superseded[name] | {"moved_to": moved_to}
    entries = {e["name"]: e for e in manifest["files"]}
    write_atomic(path, render(manifest["tenant_id"], manifest["period"], entries, superseded))


def unsent(manifest: dict) -> list[str]:
    """Names of the listed files that have no upload record."""
    return [e["name"] for e in manifest["files"] if not e["uploaded_at"]]


def verify_archive(data_dir: Path, bucket=None, read_back: bool = True) -> tuple[int, list[str]]:
    """Check every manifest under the archive against the files beside it (and, given the
    billing server, ``transmission.destination`` or ``Destinations``, against the objects it
    names, through the tenant's connection: read back, or without ``read_back`` by the
    SHA-256 the server keeps where it keeps one), and look for stray files. Returns (files
    checked, problems)."""
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
            if bucket is not None and e["s3_uri"]:
                server = bucket.for_tenant(manifest["tenant_id"])
                problems.extend(f"{e['s3_uri']}: {p}" for p in server.compare(e["s3_uri"], data, read_back)[0])
        for e in manifest.get("superseded", []):
            server = bucket.for_tenant(manifest["tenant_id"]) if bucket is not None else None
            problems.extend(_check_superseded(root, path, e, server, read_back))
    for file in archived_files(root):
        if file not in listed:
            problems.append(f"{file}: in the archive but in no manifest")
    problems.extend(f"{file}: {why}" for file, why in stray_files(root))
    return checked, problems


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
