"""Billing files: names, rows, CSV rendering and atomic writes into the local store.

Layout of the local store (under the data directory)::

    files/<tenant_id>/daily/<YYYY>/<MM>/CNT_<REGION>_PES_<metric>_<GARN>_<tenant_id>_<YYYYMMDD>.csv
    files/<tenant_id>/monthly/<YYYY>/CNT_<REGION>_PES_<metric>_<GARN>_<tenant_id>_<YYYYMM>.csv

A file is written to a temporary name in the same folder, flushed to disk and renamed
over the final name, so a reader never sees half a file; an unchanged file is left alone.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from datetime import date
from pathlib import Path

from bds.catalogue import METRICS, Metric
from bds.config import Tenant

COLUMNS = (
    "UsageDate", "TenantID", "TenantName", "GARN", "Tier1AccountID", "Tier2AccountID", "Tier3AccountID",
    "Tier3AccountName", "ExternalID", "SourceID", "Region", "Metric", "AgentGroupName", "ChannelType",
    "ServiceClass", "ActivityType", "Status", "MessageSize",
)  # fmt: skip

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


def daily_file_name(tenant: Tenant, metric: Metric, region: str, day: date) -> str:
    return file_name(region, metric.key, tenant.garn, tenant.tenant_id, day.strftime("%Y%m%d"))


def daily_dir(data_dir: Path, tenant_id: int, day: date) -> Path:
    return Path(data_dir) / "files" / str(tenant_id) / "daily" / f"{day:%Y}" / f"{day:%m}"


def monthly_file_name(tenant: Tenant, metric: Metric, region: str, first_day: date) -> str:
    return file_name(region, metric.key, tenant.garn, tenant.tenant_id, first_day.strftime("%Y%m"))


def monthly_dir(data_dir: Path, tenant_id: int, first_day: date) -> Path:
    return Path(data_dir) / "files" / str(tenant_id) / "monthly" / f"{first_day:%Y}"


def read_counts(path: Path) -> dict[str, int]:
    """Counts of a billing file, by count name of its metric (the inverse of billing_rows)."""
    with path.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    metric = METRICS[records[0]["Metric"]]
    return {count.name: int(r["MessageSize"]) for count, r in zip(metric.counts, records, strict=True)}


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return status
