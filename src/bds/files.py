"""Billing files: names, rows, CSV rendering and atomic writes into the local archive.

Layout of the local archive (under the data directory), the system of record::

    archive/<tenant_id>/daily/<YYYY>/<MM>/CNT_<REGION>_PES_<metric>_<GARN>_<tenant_id>_<YYYYMMDD>.csv
    archive/<tenant_id>/daily/<YYYY>/<MM>/MANIFEST_<tenant_id>_<YYYYMMDD>.json
    archive/<tenant_id>/monthly/<YYYY>/CNT_<REGION>_PES_<metric>_<GARN>_<tenant_id>_<YYYYMM>.csv
    archive/<tenant_id>/monthly/<YYYY>/MANIFEST_<tenant_id>_<YYYYMM>.json

The folder of a file below ``archive/`` follows from its name alone (``relative_path``), so
the outbox and the bucket use the same relative paths, and a file dropped into the outbox
by hand finds its place. A file is written to a temporary name in the same folder, flushed
to disk and renamed over the final name, so a reader never sees half a file; an unchanged
file is left alone.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from bds.catalogue import METRICS, Metric
from bds.config import Tenant

COLUMNS = (
    "UsageDate",
    "TenantID",
    "TenantName",
    "GARN",
    "Tier1AccountID",
    "Tier2AccountID",
    "Tier3AccountID",
    "Tier3AccountName",
    "ExternalID",
    "SourceID",
    "Region",
    "Metric",
    "AgentGroupName",
    "ChannelType",
    "ServiceClass",
    "ActivityType",
    "Status",
    "MessageSize",
)

log = logging.getLogger(__name__)

ARCHIVE = "archive"
GLOBAL_REGION = "GLOBAL"
BLANK_GARN = "NOGARN"
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def name_part(value: str, blank: str) -> str:
    """A file-name segment: runs of characters other than letters, digits, '.' and '-'
    (including '_', the segment separator) become one '-'; a blank value becomes ``blank``."""
    cleaned = _UNSAFE.sub("-", value.strip()).strip(".")
    return cleaned or blank


def file_name(region: str, metric_key: str, garn: str, tenant_id: int, period: str) -> str:
    return f"CNT_{name_part(region, GLOBAL_REGION)}_PES_{metric_key}_{name_part(garn, BLANK_GARN)}_{tenant_id}_{period}.csv"


NAME_MAX = 255  # bytes in a file name (ext4, xfs, btrfs, tmpfs)
# A kept version adds ".<16 hex digits>" to the name; while written, "." before and
# ".<8 random characters>.tmp" after.
VERSION_TEMPORARY_EXTRA = len(".0123456789abcdef") + len(".") + len(".abcdefgh.tmp")


def longest_file_name(tenant: Tenant) -> str:
    """The longest daily file name the tenant can get (any metric, any of its regions)."""
    regions = [r.code for r in tenant.regions] + [GLOBAL_REGION]
    names = [file_name(region, key, tenant.garn, tenant.tenant_id, "20260101") for region in regions for key in METRICS]
    return max(names, key=lambda n: len(n.encode()))


def daily_file_name(tenant: Tenant, metric: Metric, region: str, day: date) -> str:
    return file_name(region, metric.key, tenant.garn, tenant.tenant_id, day.strftime("%Y%m%d"))


def daily_dir(data_dir: Path, tenant_id: int, day: date) -> Path:
    return Path(data_dir) / ARCHIVE / _period_dir(tenant_id, day.strftime("%Y%m%d"))


def monthly_file_name(tenant: Tenant, metric: Metric, region: str, first_day: date) -> str:
    return file_name(region, metric.key, tenant.garn, tenant.tenant_id, first_day.strftime("%Y%m"))


def monthly_dir(data_dir: Path, tenant_id: int, first_day: date) -> Path:
    return Path(data_dir) / ARCHIVE / _period_dir(tenant_id, first_day.strftime("%Y%m"))


def archived_files(archive: Path) -> list[Path]:
    """The archive's current billing files (earlier versions under versions/ left out)."""
    return sorted([*Path(archive).glob("*/daily/**/CNT_*.csv"), *Path(archive).glob("*/monthly/**/CNT_*.csv")])


def manifest_name(tenant_id: int, period: str) -> str:
    """``period`` is YYYYMMDD for a day, YYYYMM for a month."""
    return f"MANIFEST_{tenant_id}_{period}.json"


def _period_dir(tenant_id: int, period: str) -> PurePosixPath:
    if len(period) == 8:
        return PurePosixPath(str(tenant_id), "daily", period[:4], period[4:6])
    return PurePosixPath(str(tenant_id), "monthly", period[:4])


_BILLING_NAME = re.compile(
    r"^CNT_(?P<region>[A-Za-z0-9.-]+)_PES_(?P<metric>[a-z0-9_]+)_(?P<garn>[A-Za-z0-9.-]+)_(?P<tenant>[1-9][0-9]*)_(?P<period>[0-9]{6}(?:[0-9]{2})?)\.csv$"
)
_MANIFEST_NAME = re.compile(r"^MANIFEST_(?P<tenant>[1-9][0-9]*)_(?P<period>[0-9]{6}(?:[0-9]{2})?)\.json$")


@dataclass(frozen=True)
class NamedFile:
    """What a billing file's or manifest's name says about it."""

    name: str
    kind: str  # "billing" or "manifest"
    tenant_id: int
    period: str  # YYYYMMDD (a day) or YYYYMM (a month)
    metric: str = ""
    region: str = ""  # the region segment of a billing file's name (GLOBAL for global metrics)
    garn: str = ""  # the GARN segment (NOGARN for a blank GARN)

    @property
    def folder(self) -> PurePosixPath:
        """Its folder below the archive, the outbox and the bucket prefix."""
        return _period_dir(self.tenant_id, self.period)

    @property
    def relative_path(self) -> PurePosixPath:
        return self.folder / self.name

    @property
    def manifest(self) -> str:
        return manifest_name(self.tenant_id, self.period)

    @property
    def period_label(self) -> str:
        return period_label(self.period)


def period_label(period: str) -> str:
    """YYYYMMDD -> YYYY-MM-DD, YYYYMM -> YYYY-MM (the UsageDate of the period's rows)."""
    return f"{period[:4]}-{period[4:6]}-{period[6:]}" if len(period) == 8 else f"{period[:4]}-{period[4:6]}"


def parse_name(name: str) -> NamedFile:
    """Read a billing file's or manifest's name; ValueError says what is wrong with it."""
    if match := _MANIFEST_NAME.match(name):
        named = NamedFile(name, "manifest", int(match["tenant"]), match["period"])
    elif match := _BILLING_NAME.match(name):
        if match["metric"] not in METRICS:
            raise ValueError(f"{name}: unknown metric '{match['metric']}'")
        named = NamedFile(name, "billing", int(match["tenant"]), match["period"], match["metric"], match["region"], match["garn"])
    else:
        raise ValueError(
            f"{name}: not a billing file name (CNT_<REGION>_PES_<metric>_<GARN>_<tenant_id>_<YYYYMMDD|YYYYMM>.csv) "
            f"nor a manifest name (MANIFEST_<tenant_id>_<YYYYMMDD|YYYYMM>.json)"
        )
    try:
        date(int(named.period[:4]), int(named.period[4:6]), int(named.period[6:] or 1))
    except ValueError:
        raise ValueError(f"{name}: '{named.period}' is not a date") from None
    return named


def read_counts(path: Path) -> dict[str, int]:
    """Counts of a billing file, by count name of its metric (the inverse of billing_rows)."""
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    metric = METRICS[records[0]["Metric"]]
    return {count.name: int(r["MessageSize"]) for count, r in zip(metric.counts, records, strict=True)}


def check_billing_file(named: NamedFile, data: bytes) -> int:
    """Check that a billing file's content matches its name (as a file dropped into the
    outbox by hand must); returns its number of data rows. ValueError says what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{named.name}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != list(COLUMNS):
        raise ValueError(f"{named.name}: the first line is not the billing file header ({','.join(COLUMNS)})")
    counts = METRICS[named.metric].counts
    rows = 0
    for number, row in enumerate(reader, start=2):
        record = dict(zip(COLUMNS, row, strict=False))
        if len(row) != len(COLUMNS):
            raise ValueError(f"{named.name} line {number}: {len(row)} fields, expected {len(COLUMNS)}")
        expected = {"UsageDate": named.period_label, "TenantID": str(named.tenant_id), "Metric": named.metric}
        wrong = [f"{k} '{record[k]}' (the name says '{v}')" for k, v in expected.items() if record[k] != v]
        if wrong:
            raise ValueError(f"{named.name} line {number}: " + ", ".join(wrong))
        if rows < len(counts) and record["AgentGroupName"] != counts[rows].agent_group_name:  # the counts in catalogue order
            raise ValueError(
                f"{named.name} line {number}: AgentGroupName '{record['AgentGroupName']}', but row {rows + 1} of a "
                f"{named.metric} file is its {counts[rows].name} count (AgentGroupName '{counts[rows].agent_group_name}')"
            )
        if not record["MessageSize"].isdigit():
            raise ValueError(f"{named.name} line {number}: MessageSize '{record['MessageSize']}' is not a count")
        rows += 1
    if rows != len(counts):
        raise ValueError(
            f"{named.name}: {rows} row(s); a {named.metric} file has one per count "
            f"({', '.join(f'{c.name}: AgentGroupName {c.agent_group_name}' for c in counts)})"
        )
    return rows


def count_rows(data: bytes) -> int:
    """Data rows of a rendered CSV (fields may hold quoted line breaks, so not a line count)."""
    return sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline=""))) - 1


def neutralise(value: str) -> str:
    """Keep text from being run as a spreadsheet formula (OWASP CSV injection advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def billing_rows(tenant: Tenant, metric: Metric, region: str, usage_date: str, counts: dict[str, int]) -> list[dict]:
    """One row per count the metric emits, in catalogue order; counts only, never prices."""
    identity = {
        "UsageDate": usage_date,
        "TenantID": str(tenant.tenant_id),
        "TenantName": tenant.name,
        "GARN": tenant.garn,
        "Tier1AccountID": tenant.tier1_account_id,
        "Tier2AccountID": tenant.tier2_account_id,
        "Tier3AccountID": tenant.tier3_account_id,
        "Tier3AccountName": tenant.tier3_account_name,
        "ExternalID": tenant.external_id,
        "SourceID": tenant.source_id,
        "Region": region,
        "Metric": metric.key,
    }
    rows = []
    for count in metric.counts:
        value = int(counts[count.name])
        if value < 0:
            raise ValueError(f"{tenant.label} {metric.key} {region}: negative {count.name} count {value}")
        rows.append(
            identity
            | {
                "AgentGroupName": count.agent_group_name,
                "ChannelType": metric.channel_type,
                "ServiceClass": metric.service_class,
                "ActivityType": metric.activity_type,
                "Status": metric.status,
                "MessageSize": str(value),
            }
        )
    return rows


def render_csv(rows: list[dict]) -> bytes:
    """UTF-8, comma-separated, header line first, '\\n' line ends, quoting only where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([neutralise(row[c]) for c in COLUMNS])
    return buffer.getvalue().encode("utf-8")


TEMPORARY_SUFFIX = ".tmp"


def is_temporary(name: str) -> bool:
    """A temporary file of ``write_atomic`` (``.<name>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically. Returns 'created', 'changed' or 'unchanged'."""
    path = Path(path)
    if path.exists():
        if path.read_bytes() == data:
            return "unchanged"
        status = "changed"
    else:
        status = "created"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a failed write() says which file it was writing
        raise
    return status


def version_path(archive: Path, named: NamedFile, data: bytes = b"", digest: str | None = None) -> Path:
    """Where an earlier version of an archived file is kept: ``<tenant_id>/versions/``, then
    the file's folder, named by its SHA-256 (of ``data``, or ``digest``)."""
    folder = Path(archive) / str(named.tenant_id) / "versions" / named.folder.relative_to(str(named.tenant_id))
    stem, suffix = os.path.splitext(named.name)
    return folder / f"{stem}.{(digest or hashlib.sha256(data).hexdigest())[:16]}{suffix}"


def unversioned_name(name: str) -> str:
    """The name of the file a kept version (``version_path``) is a version of."""
    stem, digest, suffix = (name.rsplit(".", 2) + ["", ""])[:3]
    return f"{stem}.{suffix}" if re.fullmatch(r"[0-9a-f]{16}", digest) else name


def replace_keeping_previous(archive: Path, named: NamedFile, data: bytes) -> tuple[str, Path | None]:
    """Write ``data`` as the archived file ``named``; a different earlier version is kept
    first under ``<tenant_id>/versions/`` (named by its SHA-256), never overwritten.
    Returns ('created', 'changed' or 'unchanged', the kept earlier version or None)."""
    path = Path(archive) / named.relative_path
    kept = None
    if path.exists():
        previous = path.read_bytes()
        if previous == data:
            return "unchanged", None
        kept = version_path(archive, named, previous)
        write_atomic(kept, previous)
    return write_atomic(path, data), kept


def supersede(archive: Path, named: NamedFile) -> tuple[bytes, Path]:
    """Take the archived file ``named`` out of the current set: it is kept under
    ``<tenant_id>/versions/`` (as a changed file's earlier version is), then removed.
    Returns its bytes and where it is kept."""
    path = Path(archive) / named.relative_path
    data = path.read_bytes()
    kept = version_path(archive, named, data)
    write_atomic(kept, data)
    path.unlink()
    return data, kept


@contextmanager
def folder_lock(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock on a period folder of the archive: the steps that write its
    files, its manifest or its outbox copies never interleave (flock; not re-entrant). Every
    writer of the folder (and of its ``versions/`` folder) holds the lock, so a temporary file
    found there once it is held was left by a writer that died: it is removed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for left in dead_temporaries(folder):
            log.warning("removed %s: a temporary file left by a writer that died", left)
            left.unlink(missing_ok=True)
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def dead_temporaries(folder: Path) -> list[Path]:
    """Temporary files in an archive period folder and in its ``versions/`` counterpart."""
    folders = [folder]
    parts = folder.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] in ("daily", "monthly") and parts[i - 1].isdigit():
            folders.append(Path(*parts[:i], "versions", *parts[i:]))
            break
    return [p for f in folders if f.is_dir() for p in sorted(f.iterdir()) if is_temporary(p.name) and p.is_file()]
