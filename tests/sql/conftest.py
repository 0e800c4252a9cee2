"""The billing ledger's database for the tests that write billing files: SQLite beside the
files (the embedded default) and PostgreSQL."""

from __future__ import annotations

import pytest

from bds.config.store import Store
from bds_tools.airflow_local import postgres_connection
from tests.sql.ledger_days import CONFIG


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request, tmp_path, monkeypatch):
    """The ledger in the store's database: SQLite beside the files (the embedded default), or
    PostgreSQL through the ``bds_db`` connection."""
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    if request.param == "sqlite":
        monkeypatch.delenv("AIRFLOW_CONN_BDS_DB", raising=False)
        url = f"sqlite:///{tmp_path / 'bds.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("AIRFLOW_CONN_BDS_DB", postgres_connection(url))
    store = Store(url)
    store.commit(CONFIG, 0, "test", "the tenant", "cli")
    return store
