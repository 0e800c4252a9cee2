"""One api-server on the demo's month for the console's tests (browser and API)."""

from __future__ import annotations

import json
import uuid

import pytest

from bds_tools.airflow_local import passwords_file
from tests.api_server import config_api
from tests.conftest import fresh_pg_database, s3_client
from tests.console.demo_month import bill_demo_month


@pytest.fixture(scope="package")
def console(tmp_path_factory, s3_endpoint):
    """The demo's month billed into an archive and a ledger (PostgreSQL), and a real api-server
    on them with a user of every role; ``data``: the data directory; ``passwords``: by role."""
    root = tmp_path_factory.mktemp("console")
    bucket = f"bds-console-{uuid.uuid4().hex[:8]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    with fresh_pg_database() as url:
        bill_demo_month(root / "data", url, s3_endpoint, bucket)
        with config_api(root / "home", url, root / "data") as api:
            api.data = root / "data"
            api.passwords = json.loads(passwords_file(api.airflow.home).read_text())
            yield api
