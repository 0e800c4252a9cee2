import pytest

from tests.api_server import config_api
from tests.conftest import ROOT, fresh_pg_database

DEMO_CONFIG = ROOT / "include" / "config" / "demo.yaml"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The configuration API through a real api-server, its store on PostgreSQL, seeded with
    the demo's configuration."""
    with fresh_pg_database() as url:
        folder = tmp_path_factory.mktemp("config-api")
        with config_api(folder / "airflow", url, folder / "data", DEMO_CONFIG) as server:
            server.store_url = url
            yield server
