"""Print what the local store holds: where the billing files are and their counts.

Usage: ``python -m bds.report [DATA_DIR]`` (default ``$BDS_DATA_DIR``).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

from bds.catalogue import METRICS

COUNT_NAMES = {"1": "concurrent", "2": "enabled"}


def read_store(data_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((data_dir / "files").rglob("CNT_*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                rows.append(record | {"_file": path})
    return rows


def table(rows: list[dict]) -> str:
    """One line per file: day, tenant, region, metric and its counts."""
    lines: dict[Path, dict] = {}
    for r in rows:
        line = lines.setdefault(
            r["_file"],
            {"day": r["UsageDate"], "tenant": r["TenantID"], "region": r["Region"], "metric": r["Metric"], "counts": []},
        )
        name = "units" if METRICS[r["Metric"]].rule == "bot_units" else COUNT_NAMES.get(r["AgentGroupName"], "count")
        line["counts"].append(f"{name}={r['MessageSize']}")
    header = f"{'day':<10}  {'tenant':>6}  {'region':<6}  {'metric':<22}  counts"
    body = [
        f"{v['day']:<10}  {v['tenant']:>6}  {v['region']:<6}  {v['metric']:<22}  {' '.join(v['counts'])}"
        for v in sorted(lines.values(), key=lambda v: (v["day"], v["tenant"], v["metric"], v["region"]))
    ]
    return "\n".join([header, "-" * len(header), *body])


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
