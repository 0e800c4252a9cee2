"""One tenant's hand-made days, for the tests of the billing ledger and of the approval hold."""

from __future__ import annotations

from datetime import date, timedelta

from bds.catalogue import METRICS
from bds.config import parse_billing_config
from bds.files import billing_rows, daily_file_name, render_csv

MARCH = date(2026, 3, 1)  # a Sunday: the 5th, 12th, 19th and 26th are Thursdays
CONFIG = parse_billing_config(
    {
        "billing_process_enabled": True,
        "tenants": [
            {
                "tenant_id": 101,
                "name": "Northwind",
                "garn": "G1",
                "billable": "PureConnect",
                "production_date": "2026-03-01",
                "regions": [{"code": "US", "locations": [{"code": "NYC", "switches": ["SW1"]}, {"code": "HQ"}]}],
                "metrics": {"seats_chat": True, "voicemail_boxes": True},
            }
        ],
    }
)
TENANT = CONFIG.tenants[0]
CHAT, VOICEMAIL = METRICS["seats_chat"], METRICS["voicemail_boxes"]


def day_files(day: date, chat: tuple[int, int] | None = (4, 10), voicemail: int | None = 7) -> dict[str, bytes]:
    """Tenant 101's files of ``day``: seats_chat in US (Concurrent, Enabled) and voicemail boxes."""
    produced = {}
    if chat is not None:
        produced[daily_file_name(TENANT, CHAT, "US", day)] = render_csv(
            billing_rows(TENANT, CHAT, "US", day.isoformat(), {"concurrent": chat[0], "enabled": chat[1]})
        )
    if voicemail is not None:
        produced[daily_file_name(TENANT, VOICEMAIL, "GLOBAL", day)] = render_csv(
            billing_rows(TENANT, VOICEMAIL, "GLOBAL", day.isoformat(), {"concurrent": voicemail})
        )
    return produced


def march(day: int) -> date:
    return MARCH + timedelta(days=day - 1)
