"""The Airflow overhead measurement at a tiny size, so that it cannot rot unnoticed: two
tenants, one bds_daily run through a real scheduler, LocalExecutor and api-server."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from bds_tools import overhead
from tests.conftest import PG_ADMIN_URL


@pytest.mark.postgres
def test_a_tiny_overhead_measurement_runs_bds_daily_through_airflow():
    prefix = f"bds_test_overhead_{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    result = overhead.measure_overhead(PG_ADMIN_URL, tenants=2, scale=0.001, runs=1, database_prefix=prefix, log=lines.append)

    # plan, summary and announce_month_end, and per tenant: two sensors, three extracts, aggregate, render
    (run,) = result.runs
    assert run.task_instances == 17
    assert run.states == {"success": 16, "skipped": 1}  # the 18th is not a month's last day
    assert 0 < run.wall <= run.queued_to_end
    assert run.task_seconds > run.wall  # 17 task instances take longer than the run's longest chain
    (work,) = result.work
    assert set(work.by_step) == {"plan", *overhead.TENANT_STEPS, "summary"}
    assert all(work.by_step[step] > 0 for step in ("wait_for_sources", *overhead.EXTRACTS, "aggregate", "render"))
    assert work.imports > 0
    assert run.task_seconds > work.seconds  # the same steps take longer as Airflow tasks
    assert any(re.fullmatch(r"  run 1: wall [\d.]+ s .*17 task instances.*", line) for line in lines)

    text = overhead.report(result)
    row = re.search(r"^\s+2\s+1\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+17$", text, re.M)
    assert row, text
    wall, queued, task_seconds, work_seconds, wall_ratio, ti_ratio = map(float, row.groups())
    assert wall > 0 and work_seconds > 0
    half = 0.005  # printed to the hundredth
    for seconds, ratio in ((wall, wall_ratio), (task_seconds, ti_ratio)):
        assert (seconds - half) / (work_seconds + half) - half <= ratio <= (seconds + half) / (work_seconds - half) + half
    assert "task instance states per run: skipped 1, success 16" in text

    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.connect() as conn:  # both databases are gone
        assert conn.execute(sa.text("SELECT count(*) FROM pg_database WHERE datname LIKE :p"), {"p": prefix + "%"}).scalar() == 0
    admin.dispose()
