"""Print what the local store holds: where the billing files are and their counts.

Usage: ``python -m bds.report [DATA_DIR]`` (default ``$BDS_DATA_DIR``).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path



def read_store(data_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((data_dir / "files").rglob("CNT_*.csv")):
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data_dir = Path(argv[0] if argv else os.environ.get("BDS_DATA_DIR", "."))
    rows = read_store(data_dir)
    files = sorted({r["_file"] for r in rows})
    print(f"{len(files)} billing file(s) under {(data_dir / 'files').resolve()}")
    if files:
        print(f"e.g. {files[0]}\n")
        print(table(rows))
    return 0 if files else 1


if __name__ == "__main__":
    sys.exit(main())
