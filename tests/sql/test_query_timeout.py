"""Nothing hangs forever: a source query that runs past ``$BDS_QUERY_TIMEOUT_MINUTES`` is
cancelled by the database itself (PostgreSQL's statement_timeout, SQLite interrupted) and
fails the tenant-day naming the tenant, day, source, query and limit; on PostgreSQL nothing
of it is left running on the server. Every task has an execution timeout."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import sqlalchemy as sa

from bds.config import load_billing_config
from bds.demo import create_schema
from bds.limits import QUERIES_PER_EXTRACT, QUERY_TIMEOUT_ENV, LimitSettingError, query_timeout_minutes
from bds.pipeline import extract_source, plan_day
from bds.sources import QueryTimeoutError
from bds_tools.airflow_local import postgres_connection
from tests.conftest import ROOT
from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG

pytestmark = pytest.mark.postgres
LIMIT_MINUTES = 0.02  # 1.2 s
SLEEPS = {  # a query that would run for a minute, or for ever
    "postgresql": "SELECT pg_sleep(60) AS slept WHERE :tenant_id > 0",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n WHERE :tenant_id > 0",
}


def sleeping_sql(tmp_path, dialect: str, query: str):
    """A copy of include/sql in which one of Info Mart's queries sleeps: the rows
    (``agent_sessions``, read through COPY on PostgreSQL) or the malformed-row check before them
    (read through SQLAlchemy)."""
    folder = tmp_path / "sql"
    shutil.copytree(ROOT / "include" / "sql", folder)
    target = folder / "gim" / ("agent_sessions.sql" if query == "rows" else "malformed/agent_sessions.sql")
    target.write_text(SLEEPS[dialect] + "\n")
    for variant in target.parent.glob("agent_sessions.*.sql"):
        variant.unlink()  # no dialect's own version takes precedence
    return folder


@pytest.mark.parametrize("query", ["rows", "malformed-row check"])
def test_a_query_past_the_limit_is_cancelled_and_fails_naming_everything(source_url, tmp_path, monkeypatch, query):
    engine = sa.create_engine(source_url)
    create_schema(engine, "gim")
    dialect = engine.dialect.name
    engine.dispose()
    database = sa.make_url(source_url)
    connection = (
        postgres_connection(source_url)
        if dialect == "postgresql"
        else json.dumps({"conn_type": "sqlite", "host": database.database})
    )
    monkeypatch.setenv("AIRFLOW_CONN_BDS_GIM", connection)
    monkeypatch.setenv("BDS_SQL_DIR", str(sleeping_sql(tmp_path, dialect, query)))
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(QUERY_TIMEOUT_ENV, str(LIMIT_MINUTES))
    work = next(w for w in plan_day(load_billing_config(DEMO_CONFIG), BILLED_DAY)[0] if w["tenant"]["tenant_id"] == 101)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError) as failed:
        extract_source(work, "gim")
    took = time.monotonic() - started
    dataset = "agent_sessions" if query == "rows" else "malformed/agent_sessions"
    assert str(failed.value).startswith(
        f"tenant 'Northwind Care' (101) day {BILLED_DAY}: Genesys Info Mart (bds_gim) query gim/{dataset} ran past the limit "
        f"of {LIMIT_MINUTES:g} minute(s) ({QUERY_TIMEOUT_ENV}) and was cancelled by the database: "
    )
    assert 1.2 <= took < 20, took  # cancelled at the limit, not after the minute the query wanted
    if dialect == "postgresql":  # nothing of it runs on: the server cancelled it
        admin = sa.create_engine(source_url)
        with admin.connect() as check:
            running = check.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
                    "AND pid <> pg_backend_pid() AND state = 'active'"
                )
            ).scalar()
        admin.dispose()
        assert running == 0


@pytest.mark.parametrize("value", ["0", "-5", "nan", "1441", "an hour"])
def test_a_limit_that_is_not_minutes_is_refused(monkeypatch, value):
    monkeypatch.setenv(QUERY_TIMEOUT_ENV, value)
    with pytest.raises(LimitSettingError, match=f"{QUERY_TIMEOUT_ENV}='{value}': expected the minutes a source query may run"):
        query_timeout_minutes()


def test_every_task_has_an_execution_timeout_and_the_extracts_outlast_their_queries(monkeypatch):
    from datetime import timedelta

    from airflow.models import DagBag

    from bds.catalogue import METRICS, SOURCES, datasets_for

    assert 2 * max(len(datasets_for(source, list(METRICS))) for source in SOURCES) == QUERIES_PER_EXTRACT

    monkeypatch.setenv(QUERY_TIMEOUT_ENV, "30")
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        for task in dag.tasks:
            assert task.execution_timeout is not None, (dag.dag_id, task.task_id)
            if task.task_id.endswith(("extract_gim", "extract_gvp", "extract_cme")):
                # Info Mart's two datasets (the most of any source), each checked for malformed rows first: four queries of 30 minutes
                assert task.execution_timeout == timedelta(minutes=4 * 30 + 10)
    assert bag.dags["bds_transmit"].dagrun_timeout == timedelta(hours=2)
