"""The benchmark's code at a tiny scale, so that ``make bench`` cannot rot unnoticed: it loads,
measures the floor and every task of the pipeline in its own process, and reports."""

from __future__ import annotations

import re

import pytest

from bds import bench
from tests.conftest import PG_ADMIN_URL


def test_placeholders_become_psycopg_parameters():
    assert bench.psycopg_style("a = :tenant_id AND b::text LIKE '5%' AND c < :day_end_ms") == (
        "a = %(tenant_id)s AND b::text LIKE '5%%' AND c < %(day_end_ms)s"
    )


@pytest.mark.postgres
def test_a_tiny_benchmark_runs_end_to_end(capsys):
    bench.main(["--pg-url", PG_ADMIN_URL, "--scale", "0.002", "--scale", "0.004", "--runs", "1"])
    out = capsys.readouterr().out
    assert "Index Scan using i_irf_resource_sdt on interaction_resource_fact" in out  # the plans are shown
    rows = re.findall(r"^\s+(0\.00[24])\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["0.002", "0.004"]
    for _, load, floor, pipeline, ratio, rss in rows:
        assert float(floor) > 0 and float(pipeline) > 0
        f, p, half = float(floor), float(pipeline), 0.0005  # printed to the millisecond
        assert (p - half) / (f + half) - 0.005 <= float(ratio) <= (p + half) / (f - half) + 0.005
        assert 50 < int(rss) < 4096  # MiB: a real process's resident set
    assert re.search(r"scale 0\.004 takes [\d.]+x the time of scale 0\.002 \(2x the data\)", out)
    for task in bench.TASKS:
        assert f"{task} " in out
