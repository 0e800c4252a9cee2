"""The demo's month, billed in-process with the pipeline's own steps into an archive and a
billing ledger (PostgreSQL), with what the console must show: a restated day, files sent to
a bucket and verified, files waiting in the outbox, and a send that failed."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from bds.config import load_billing_config, parse_billing_config
from bds.config.store import Store
from bds.monthly import Month
from bds.pipeline import aggregate, extract_source, plan_day, plan_month, render, render_month
from bds.transmission import TransmissionError, plan_outbox, send_tenant
from bds_tools.airflow_local import postgres_connection
from tests.conftest import aws_connection
from tests.e2e.conftest import DAYS, DEMO_CONFIG, SCALE, SOURCES, sqlite_connections

RESTATED_DAY = DAYS[2]  # 2026-03-27: Info Mart reloaded with fewer sessions, billed again
MISSING = (105, DAYS[5])  # tenant 105's 2026-03-30: never billed (its run failed), a missing day
MONTH = Month.parse("2026-03")


@contextmanager
def environment(data: Path, store_url: str, s3_endpoint: str):
    connections = sqlite_connections(data / "sources")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BDS_DATA_DIR", str(data))
        patch.setenv("BDS_CONFIG_SOURCE", "store")
        patch.delenv("BDS_CONFIG", raising=False)
        patch.setenv("AIRFLOW_CONN_BDS_DB", postgres_connection(store_url))
        patch.setenv("AIRFLOW_CONN_BDS_S3", aws_connection(s3_endpoint))
        patch.setenv("AIRFLOW_CONN_BDS_OUTBOX", json.dumps({"conn_type": "fs", "extra": {"path": str(data / "outbox")}}))
        for source, value in connections.items():
            patch.setenv(f"AIRFLOW_CONN_BDS_{source.upper()}", value)
        yield connections


def bill_day(config, day, revision: int) -> None:
    for work in plan_day(config, day, revision=revision)[0]:
        if (work["tenant"]["tenant_id"], day) == MISSING:
            continue
        for source in SOURCES:
            extract_source(work, source)
        aggregate(work)
        render(work)


def bill_demo_month(data: Path, store_url: str, s3_endpoint: str, bucket: str) -> Store:
    """Bill the demo's days (revision 1, transmission off), but for one tenant-day; restate the
    27th with transmission on (revision 2) and send its files; roll the month up (queued) for
    the tenants whose days are all there; fail one tenant's send."""
    from bds.demo import seed_sources

    (data / "outbox").mkdir(parents=True, exist_ok=True)
    with environment(data, store_url, s3_endpoint) as connections:
        store = Store(store_url)
        raw = json.loads(json.dumps(load_billing_config(DEMO_CONFIG).model_dump(mode="json")))
        raw["billing_server"] |= {"bucket": bucket, "transmit": False}
        # Sent as it is, whatever the checks find: the hold has its own tests (tests/sql/test_holds.py).
        raw["approvals"] = {"hold": False}
        first = parse_billing_config(raw)
        store.commit(first, 0, "demo", "the demo's tenants", "seed")
        seed_sources(
            {s: json.loads(c)["host"] and f"sqlite:///{json.loads(c)['host']}" for s, c in connections.items()},
            first,
            DAYS,
            seed=11,
            scale=SCALE,
        )
        for day in DAYS:
            bill_day(first, day, 1)
        gim = sa.create_engine(f"sqlite:///{json.loads(connections['gim'])['host']}")
        with gim.begin() as connection:  # Info Mart reloaded: a third of the login sessions are gone
            connection.execute(sa.text("DELETE FROM SM_RES_SESSION_FACT WHERE rowid % 3 = 0"))
        gim.dispose()
        raw["billing_server"]["transmit"] = True
        second = parse_billing_config(raw)
        store.commit(second, 1, "operator", "transmission on", "api")
        bill_day(second, RESTATED_DAY, 2)
        work, _, rejected = plan_outbox(second, data / "outbox")
        assert rejected == []
        for item in work:
            send_tenant(item, data, data / "outbox")
        for item in plan_month(second, MONTH, revision=2)[0]:
            if item["tenant"]["tenant_id"] != MISSING[0]:  # its month waits for the missing day
                render_month(item, data)
        wrong = parse_billing_config(raw | {"billing_server": raw["billing_server"] | {"bucket": "bds-no-such-bucket"}})
        work, _, _ = plan_outbox(wrong, data / "outbox")
        with pytest.raises(TransmissionError):  # tenant 102's month refused by the billing server; 101's stays queued
            send_tenant(next(w for w in work if w["tenant"]["tenant_id"] == 102), data, data / "outbox")
    return store
