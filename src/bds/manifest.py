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

from bds.files import ARCHIVE, NamedFile, archived_files, count_rows, manifest_name, parse_name, period_label, write_atomic

FORMAT = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(name: str, data: bytes, s3_uri: str | None = None, uploaded_at: str | None = None) -> dict:
    return {
        "name": name,
        "bytes": len(data),
        "rows": count_rows(data),
        "sha256": sha256(data),
        "s3_uri": s3_uri,
        "uploaded_at": uploaded_at,
    }


def read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable manifest ({exc})") from None


def render(tenant_id: int, period: str, entries: dict[str, dict]) -> bytes:
    payload = {
        "format": FORMAT,
        "tenant_id": tenant_id,
        "period": period,
        "files": [entries[name] for name in sorted(entries)],
    }
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _period_of(names) -> tuple[int, str]:
    named = [parse_name(n) for n in names]
    periods = {(n.tenant_id, n.period) for n in named}
    if len(periods) != 1:
        raise ValueError(f"files of more than one tenant or period: {sorted(names)}")
    return periods.pop()


def record_rendered(folder: Path, files: dict[str, bytes]) -> tuple[str, Path]:
    """After a run has written ``files`` into ``folder``: list them, keeping the upload
    record of every file whose bytes did not change. Entries of other files stay while
    the archive still holds them unchanged. Returns (created/changed/unchanged, path)."""
    tenant_id, period = _period_of(files)
    path = folder / manifest_name(tenant_id, period)
    old = {e["name"]: e for e in (read(path) or {}).get("files", [])}
    entries = {}
    for name, data in files.items():
        kept = old.get(name)
        if kept and kept["sha256"] == sha256(data):
            entries[name] = entry(name, data, kept["s3_uri"], kept["uploaded_at"])
        else:
            entries[name] = entry(name, data)
    for name, kept in old.items():
        other = folder / name
        if name not in entries and other.is_file() and sha256(other.read_bytes()) == kept["sha256"]:
            entries[name] = kept
    return write_atomic(path, render(tenant_id, period_label(period), entries)), path


def record_sent(folder: Path, named: NamedFile, data: bytes, s3_uri: str, uploaded_at: str) -> tuple[str, Path]:
    """Record that ``data`` (the archived file ``named``) is in the bucket."""
    path = folder / named.manifest
    manifest = read(path) or {}
    entries = {e["name"]: e for e in manifest.get("files", [])}
    entries[named.name] = entry(named.name, data, s3_uri, uploaded_at)
    return write_atomic(path, render(named.tenant_id, named.period_label, entries)), path


def unsent(manifest: dict) -> list[str]:
    """Names of the listed files that have no upload record."""
    return [e["name"] for e in manifest["files"] if not e["uploaded_at"]]


def verify_archive(data_dir: Path, bucket=None) -> tuple[int, list[str]]:
    """Check every manifest under the archive against the files beside it (and, given a
    ``transmission.Bucket``, against the objects it names). Returns (files checked, problems)."""
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
                problems.extend(f"{e['s3_uri']}: {p}" for p in bucket.compare(e["s3_uri"], data)[0])
    for file in archived_files(root):
        if file not in listed:
            problems.append(f"{file}: in the archive but in no manifest")
    return checked, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bds.manifest", description="Verify the local archive against its manifests.")
    parser.add_argument("data_dir", nargs="?", default=os.environ.get("BDS_DATA_DIR", "."), type=Path)
    parser.add_argument("--s3", action="store_true", help="also read back every uploaded object and compare its SHA-256")
    args = parser.parse_args(argv)
    bucket = None
    if args.s3:
        from bds.config import load_billing_config
        from bds.transmission import Bucket, quiet_command_line

        quiet_command_line()
        bucket = Bucket(load_billing_config().billing_server)
    checked, problems = verify_archive(args.data_dir, bucket)
    for problem in problems:
        print(f"MISMATCH {problem}")
    where = (args.data_dir / ARCHIVE).resolve()
    print(f"{checked} file(s) listed in the manifests under {where}{' and in the bucket' if bucket else ''}: "
          f"{'all match' if not problems else f'{len(problems)} problem(s)'}")  # fmt: skip
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
