"""Check a delivered folder of billing files on the receiving side, with nothing but Python.

The billing server's folder (or a copy of it) is all it needs: no configuration, no database,
no bds installation. The file uses the standard library only, so a receiver can copy it and
run it as ``python receiver.py FOLDER``; with bds installed it is ``python -m bds.receiver``.

For every manifest (``MANIFEST_<tenant_id>_<YYYYMMDD|YYYYMM>.json``) under the folder:

- every file it lists is beside it, with the bytes, data rows and SHA-256 it gives, and
  carries the manifest's tenant and period in every row;
- no other billing file of that tenant and period is beside it, and no superseded one;
- its control totals are what the files add up to: the number of files and rows, and the sum
  of ``MessageSize`` per ``Metric`` and ``AgentGroupName``;
- a month's ``rolled_up_from`` matches the manifests of its days, where those were delivered
  under the same folder (``<tenant_id>/daily/YYYY/MM/``);
- against the period's earlier delivery (``--previous``: the receiver's copy of it; or, in a
  delivery that keeps every revision, the latest earlier ``r<revision>/`` folder beside it): a
  period whose files changed has a higher revision and, when it is the next one, each changed
  file ``supersedes`` the SHA-256 of the version delivered before.

Exit status 0 when every check passes, 1 otherwise (or when the folder holds no manifest).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from pathlib import Path

MANIFEST = re.compile(r"^MANIFEST_(?P<tenant>[1-9][0-9]*)_(?P<period>[0-9]{6}(?:[0-9]{2})?)\.json$")
BILLING = re.compile(
    r"^CNT_[A-Za-z0-9.-]+_PES_(?P<metric>[a-z0-9_]+)_[A-Za-z0-9.-]+_(?P<tenant>[1-9][0-9]*)_(?P<period>[0-9]{6}(?:[0-9]{2})?)\.csv$"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows_of(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def digest(files: dict[str, str]) -> str:
    """The SHA-256 of the lines ``<name> <sha256>``, sorted by name (a month's ``rolled_up_from``)."""
    return sha256("".join(f"{name} {files[name]}\n" for name in sorted(files)).encode("ascii"))


def totals(files: dict[str, bytes]) -> dict:
    """Files, rows, and the sum of MessageSize per Metric and AgentGroupName."""
    sums: dict[tuple[str, str], int] = {}
    rows = 0
    for data in files.values():
        for row in rows_of(data):
            key = (row["Metric"], row["AgentGroupName"])
            sums[key] = sums.get(key, 0) + (int(row["MessageSize"]) if row["MessageSize"].isdigit() else 0)
            rows += 1
    return {"files": len(files), "rows": rows, "message_size": sums}


def check_manifest(path: Path, root: Path, previous: Path | None = None) -> list[str]:
    """What is wrong with one delivered manifest and the files beside it."""
    match = MANIFEST.match(path.name)
    tenant, period = int(match["tenant"]), match["period"]
    label = f"{period[:4]}-{period[4:6]}" + (f"-{period[6:]}" if len(period) == 8 else "")
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{path}: not a readable manifest ({exc})"]
    if (manifest.get("tenant_id"), manifest.get("period")) != (tenant, label):
        return [f"{path}: names tenant {manifest.get('tenant_id')} {manifest.get('period')}, its name says {tenant} {label}"]
    problems, present = [], {}
    if re.fullmatch(r"r[0-9]+", path.parent.name) and path.parent.name != f"r{manifest.get('revision')}":
        problems.append(f"{path}: delivered in {path.parent.name}/, but it is revision {manifest.get('revision')}")
    for e in manifest.get("files", []):
        file = path.parent / e["name"]
        if not file.is_file():
            problems.append(f"{file}: listed in {path.name} but not delivered")
            continue
        data = file.read_bytes()
        actual = {"bytes": len(data), "sha256": sha256(data)}
        try:
            rows = rows_of(data)
            actual["rows"] = len(rows)
        except (UnicodeDecodeError, csv.Error) as exc:
            problems.append(f"{file}: not a readable CSV file ({exc})")
            continue
        wrong = [f"{k} is {actual[k]}, {path.name} says {e[k]}" for k in ("bytes", "rows", "sha256") if actual[k] != e.get(k)]
        problems.extend(f"{file}: {w}" for w in wrong)
        others = {(r.get("TenantID"), r.get("UsageDate")) for r in rows} - {(str(tenant), label)}
        if others:
            problems.append(f"{file}: rows of tenant/day {sorted(others)}, not of {tenant} {label}")
        if not wrong and not others:
            present[e["name"]] = data
    listed = {e["name"] for e in manifest.get("files", [])}
    for file in sorted(path.parent.glob("CNT_*.csv")):
        named = BILLING.match(file.name)
        if named and (int(named["tenant"]), named["period"]) == (tenant, period) and file.name not in listed:
            gone = any(s["name"] == file.name for s in manifest.get("superseded", []))
            problems.append(f"{file}: {'superseded' if gone else 'not listed'} in {path.name}, but delivered as current")
    if "control_totals" in manifest and len(present) == len(listed):
        problems.extend(_check_totals(path, manifest["control_totals"], totals(present)))
    if "rolled_up_from" in manifest:
        problems.extend(_check_month(path, root, tenant, manifest["rolled_up_from"]))
    if previous is not None and (previous / path.relative_to(root)).is_file():
        problems.extend(_check_revision(path, manifest, previous / path.relative_to(root)))
    elif (earlier := _earlier_revision(path, manifest)) is not None:
        problems.extend(_check_revision(path, manifest, earlier))
    return problems


def _earlier_revision(path: Path, manifest: dict) -> Path | None:
    """In a delivery that keeps every revision (``<period>/r<revision>/``), the manifest of the
    latest earlier revision delivered beside it."""
    revision = manifest.get("revision")
    if not isinstance(revision, int) or path.parent.name != f"r{revision}":
        return None
    earlier = [
        (int(folder.name[1:]), folder / path.name)
        for folder in path.parent.parent.glob("r*")
        if folder.name[1:].isdigit() and int(folder.name[1:]) < revision and (folder / path.name).is_file()
    ]
    return max(earlier)[1] if earlier else None


def _check_totals(path: Path, recorded: dict, actual: dict) -> list[str]:
    problems = [
        f"{path}: control totals say {recorded.get(k)} {k}, the files hold {actual[k]}"
        for k in ("files", "rows")
        if recorded.get(k) != actual[k]
    ]
    sums = {(t["metric"], t["agent_group_name"]): t["total"] for t in recorded.get("message_size", [])}
    for key in sorted(set(sums) | set(actual["message_size"])):
        if sums.get(key) != actual["message_size"].get(key):
            problems.append(
                f"{path}: control totals say MessageSize {sums.get(key)} for {key[0]} AgentGroupName {key[1]}, "
                f"the files add up to {actual['message_size'].get(key)}"
            )
    return problems


def _day_manifest(daily: Path, tenant: int, stamp: str) -> Path:
    """A day's manifest below the tenant's ``daily/`` folder: beside its files, or (a delivery
    that keeps every revision) in its highest ``<YYYYMMDD>/r<revision>/`` folder."""
    folder, name = daily / stamp[:4] / stamp[4:6], f"MANIFEST_{tenant}_{stamp}.json"
    revisions = [
        (int(r.name[1:]), r / name) for r in (folder / stamp).glob("r*") if r.name[1:].isdigit() and (r / name).is_file()
    ]
    return max(revisions)[1] if revisions else folder / name


def _check_month(path: Path, root: Path, tenant: int, rolled: dict) -> list[str]:
    """The month's days, as delivered under ``<tenant_id>/daily/``, are those it was rolled up from."""
    parts = path.parts
    if "monthly" not in parts:
        return []
    daily = Path(*parts[: len(parts) - 1 - parts[::-1].index("monthly")]) / "daily"
    if not daily.is_dir():  # the days were not delivered here: nothing to compare
        return []
    problems = []
    metrics = set(rolled.get("metrics", []))
    for day, expected in sorted(rolled.get("days", {}).items()):
        day_manifest = _day_manifest(daily, tenant, day.replace("-", ""))
        if not day_manifest.is_file():
            problems.append(f"{path}: rolled up from day {day}, whose manifest {day_manifest} was not delivered")
            continue
        try:
            entries = json.loads(day_manifest.read_bytes()).get("files", [])
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{day_manifest}: not a readable manifest ({exc})")
            continue
        files = {e["name"]: e["sha256"] for e in entries if (m := BILLING.match(e["name"])) and m["metric"] in metrics}
        if digest(files) != expected:
            problems.append(f"{path}: rolled up from another version of day {day} than {day_manifest.name} lists")
    return problems


def _check_revision(path: Path, manifest: dict, before_path: Path) -> list[str]:
    """Against the receiver's copy of the period's earlier delivery, if it has one."""
    if not before_path.is_file():
        return []
    try:
        before = json.loads(before_path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{before_path}: not a readable manifest ({exc})"]
    old = {e["name"]: e["sha256"] for e in before.get("files", [])}
    new = {e["name"]: e for e in manifest.get("files", [])}
    if old == {name: e["sha256"] for name, e in new.items()}:  # restated and restored since, perhaps: not lower
        if manifest.get("revision", 1) < before.get("revision", 1):
            return [f"{path}: revision {manifest.get('revision')} is below the {before.get('revision')} delivered before"]
        return []
    problems = []
    if not manifest.get("revision", 0) > before.get("revision", 1):
        problems.append(
            f"{path}: the files changed, but revision {manifest.get('revision')} is not above {before.get('revision', 1)}"
        )
    if manifest.get("revision") != before.get("revision", 1) + 1:
        return problems  # revisions in between were not delivered: a file may supersede one of those
    for name, e in sorted(new.items()):
        if name in old and old[name] != e["sha256"] and e.get("supersedes") != old[name]:
            problems.append(f"{path}: {name} supersedes {e.get('supersedes')}, but the version delivered before was {old[name]}")
    return problems


def check_folder(root: Path, previous: Path | None = None) -> tuple[int, list[str]]:
    """Every manifest under ``root``: (manifests checked, problems)."""
    manifests = sorted(p for p in Path(root).rglob("MANIFEST_*.json") if MANIFEST.match(p.name))
    problems = [problem for path in manifests for problem in check_manifest(path, Path(root), previous)]
    return len(manifests), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a delivered folder of billing files against its manifests.")
    parser.add_argument("folder", type=Path, help="the delivered folder (the billing server's, or a copy of it)")
    parser.add_argument("--previous", type=Path, help="the receiver's copy of an earlier delivery, to check revisions against")
    args = parser.parse_args(argv)
    checked, problems = check_folder(args.folder, args.previous)
    for problem in problems:
        print(f"PROBLEM {problem}")
    verdict = "all match" if not problems else f"{len(problems)} problem(s)"
    print(f"{checked} manifest(s) under {args.folder}: {verdict}" if checked else f"no manifest under {args.folder}")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
