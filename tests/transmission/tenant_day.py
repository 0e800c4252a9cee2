"""One tenant-day of billing files, produced and sent as the pipeline and bds_transmit do:
shared by the transmission tests of each kind of billing server."""

from __future__ import annotations

from datetime import date

from bds import manifest
from bds.catalogue import METRICS
from bds.files import billing_rows, daily_dir, daily_file_name, render_csv
from bds.pipeline import store_files
from bds.transmission import plan_outbox, send_tenant

DAY = date(2026, 3, 29)
TENANT = {
    "tenant_id": 101,
    "name": "Northwind Care",
    "garn": "GARN-NW-0101",
    "billable": "PureConnect",
    "time_zone": "America/New_York",
    "production_date": "2026-03-01",
    "regions": [{"code": "US", "locations": [{"code": "NYC", "switches": ["SW_NYC_1"]}, {"code": "HQ", "switches": []}]}],
    "metrics": {"seats_chat": True, "voicemail_boxes": True},
}


def rendered(tenant, day=DAY, concurrent=3) -> dict[str, bytes]:
    """The two files of a tenant-day, as render writes them."""
    counts = {"seats_chat": ("US", {"concurrent": concurrent, "enabled": 7}), "voicemail_boxes": ("GLOBAL", {"concurrent": 12})}
    return {
        daily_file_name(tenant, METRICS[key], region, day): render_csv(
            billing_rows(tenant, METRICS[key], region, day.isoformat(), c)
        )
        for key, (region, c) in counts.items()
    }


def produce(config, data_dir, day=DAY, concurrent=3) -> dict:
    tenant = config.tenants[0]
    folder = daily_dir(data_dir, tenant.tenant_id, day)
    return store_files(
        tenant,
        day.isoformat(),
        data_dir,
        folder,
        rendered(tenant, day, concurrent),
        config.billing_server.transmit,
        delivery=config.billing_server.delivery,
    )


def transmit(config, data_dir, outbox) -> list[dict]:
    work, _, rejected = plan_outbox(config, outbox)
    assert rejected == []
    return [send_tenant(item, data_dir, outbox) for item in work]


def archive_manifest(data_dir, day=DAY) -> dict:
    return manifest.read(daily_dir(data_dir, 101, day) / f"MANIFEST_101_{day:%Y%m%d}.json")


def unsent_names(data_dir) -> list[str]:
    return sorted(manifest.unsent(archive_manifest(data_dir)))
