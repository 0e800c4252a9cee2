"""Print what the local archive holds: where the billing files are and their counts.

Usage: ``python -m bds.report [DATA_DIR] [--transmission | --changes]`` (default
``$BDS_DATA_DIR``); ``--transmission`` adds the outbox and the objects in the billing server's
bucket; ``--changes`` lists the restatements instead.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from bds.files import ARCHIVE, archived_files


def read_store(data_dir: Path) -> list[dict]:
    rows = []
    for path in archived_files(Path(data_dir) / ARCHIVE):
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                rows.append(record | {"_file": path})
    return rows


def table(rows: list[dict], last_days: int = 3) -> str:
    """One line per tenant, metric and region; a column for each of the last days and for each
    month (Concurrent/Enabled, or the count)."""
    dates = sorted({r["UsageDate"] for r in rows})
    days = [d for d in dates if len(d) == 10][-last_days:] + [d for d in dates if len(d) == 7]
    cells: dict[tuple, dict[str, list[str]]] = {}
    for r in rows:
        if r["UsageDate"] not in days:
            continue
        line = cells.setdefault((int(r["TenantID"]), r["Metric"], r["Region"]), {})
        line.setdefault(r["UsageDate"], []).append(r["MessageSize"])
    header = f"{'tenant':>6}  {'metric':<22}  {'region':<6}  " + "  ".join(f"{d:>10}" for d in days)
    body = [
        f"{tenant:>6}  {metric:<22}  {region:<6}  " + "  ".join(f"{'/'.join(line.get(d, ['-'])):>10}" for d in days)
        for (tenant, metric, region), line in sorted(cells.items())
    ]
    legend = "seats: Concurrent/Enabled agents; ports and mailboxes: peak; voicebot: 15-minute units; YYYY-MM: the month"
    return "\n".join([header, "-" * len(header), *body, "", legend])


def transmission_lines() -> list[str]:
    """The outbox, and what the billing server holds per tenant folder, with one example file."""
    from bds.config.store import current_config
    from bds.transmission import destination, outbox_dir, outbox_files, quiet_command_line

    quiet_command_line()
    server = current_config().billing_server
    outbox = outbox_dir()
    lines = [f"outbox {outbox}: {len(outbox_files(outbox))} file(s) waiting"]
    bucket = destination(server)
    try:
        keys = bucket.keys()
        head = (bucket.head(keys[0]) or {}) if keys else {}
    finally:
        bucket.close()
    prefix = f"{server.key_prefix}/" if server.key_prefix else ""
    lines.append(f"billing server {server.uri('')}: {len(keys)} file(s)")
    folders: dict[str, list[int]] = {}
    for key in keys:
        tenant, kind = key.removeprefix(prefix).split("/")[:2]
        counts = folders.setdefault(f"{tenant}/{kind}/", [0, 0])
        counts["/MANIFEST_" in key] += 1
    lines += [
        f"  {folder:<14} {files:>4} billing file(s), {manifests:>3} manifest(s)"
        for folder, (files, manifests) in sorted(folders.items())
    ]
    if keys:
        described = f"{head.get('ContentLength')} bytes"
        if server.kind == "s3":
            described += f", {head.get('ContentType')}, encryption {head.get('ServerSideEncryption', 'none')}"
        lines.append(f"e.g. {server.uri(keys[0].removeprefix(prefix))}: {described}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bds.report", description="Show the billing files in the local archive.")
    parser.add_argument("data_dir", nargs="?", default=os.environ.get("BDS_DATA_DIR", "."), type=Path)
    parser.add_argument("--transmission", action="store_true", help="also show the outbox and the bucket")
    parser.add_argument("--changes", action="store_true", help="only list the restatements (changes.jsonl)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.changes:
        from bds import changes

        entries = changes.read(args.data_dir)
        print(f"{len(entries)} restatement(s) in {(args.data_dir / changes.LOG_NAME).resolve()}")
        for entry in entries:
            print(f"{entry['at']} {entry['run_id'] or '-'}\n  {changes.describe(entry)}")
        return 0
    rows = read_store(args.data_dir)
    files = sorted({r["_file"] for r in rows})
    manifests = sorted((args.data_dir / ARCHIVE).glob("*/*/**/MANIFEST_*.json"))
    print(f"{len(files)} billing file(s) and {len(manifests)} manifest(s) under {(args.data_dir / ARCHIVE).resolve()}")
    if files:
        print(f"e.g. {files[0]}\n     {manifests[0] if manifests else ''}\n")
        print(table(rows))
    if args.transmission:
        print("\n" + "\n".join(transmission_lines()))
    return 0 if files else 1


if __name__ == "__main__":
    sys.exit(main())
