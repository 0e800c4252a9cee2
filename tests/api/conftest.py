from datetime import date

import pytest

from tests.api_server import config_api
from tests.conftest import ROOT, fresh_pg_database

DEMO_CONFIG = ROOT / "include" / "config" / "demo.yaml"


def fill_ledger(store_url: str, data) -> None:
    """A few billed days of tenant 101 (one restated), so the console's operations answer with
    data, not only with empty lists."""
    from bds.catalogue import METRICS
    from bds.config import load_billing_config
    from bds.files import billing_rows, daily_dir, daily_file_name, render_csv
    from bds.pipeline import store_files
    from bds_tools.airflow_local import postgres_connection

    tenant = load_billing_config(DEMO_CONFIG).tenant(101)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_BDS_DB", postgres_connection(store_url))
        for day, concurrent in ((25, 3), (26, 4), (27, 12), (27, 5)):
            billed = date(2026, 3, day)
            files = {
                daily_file_name(tenant, METRICS[key], region, billed): render_csv(
                    billing_rows(tenant, METRICS[key], region, billed.isoformat(), counts)
                )
                for key, region, counts in (
                    ("seats_chat", "US", {"concurrent": concurrent, "enabled": 10}),
                    ("voicemail_boxes", "GLOBAL", {"concurrent": 7}),
                )
            }
            store_files(tenant, billed.isoformat(), data, daily_dir(data, 101, billed), files, False)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The configuration API through a real api-server, its store on PostgreSQL, seeded with
    the demo's configuration, and a billing ledger with a few days of tenant 101."""
    with fresh_pg_database() as url:
        folder = tmp_path_factory.mktemp("config-api")
        with config_api(folder / "airflow", url, folder / "data", DEMO_CONFIG) as server:
            server.store_url = url
            fill_ledger(url, folder / "data")
            yield server
