"""The benchmark's code at a tiny scale, so that ``make bench`` cannot rot unnoticed: it loads,
measures the floor and every task of the pipeline in its own process, and reports."""

from __future__ import annotations

import re

import pytest

from bds import bench
from bds.sources import psycopg_style
from tests.conftest import PG_ADMIN_URL


def test_placeholders_become_psycopg_parameters():
    assert psycopg_style("a = :tenant_id AND b::text LIKE '5%' AND c < :day_end_ms") == (
        "a = %(tenant_id)s AND b::text LIKE '5%%' AND c < %(day_end_ms)s"
    )


@pytest.mark.postgres
def test_a_tiny_benchmark_runs_end_to_end(capsys):
    bench.main(["--pg-url", PG_ADMIN_URL, "--scale", "0.002", "--scale", "0.004", "--runs", "1"])
    out = capsys.readouterr().out
    assert "Index Scan using i_irf_resource_sdt on interaction_resource_fact" in out  # the plans are shown
    rows = re.findall(r"^\s+(0\.00[24])\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["0.002", "0.004"]
    for _, load, floor, pipeline, pushdown, ratio, _, rss in rows:
        assert float(floor) > 0 and float(pipeline) > 0
        f, p, half = float(floor), float(pipeline), 0.0005  # printed to the millisecond
        assert (p - half) / (f + half) - 0.005 <= float(ratio) <= (p + half) / (f - half) + 0.005
        assert 50 < int(rss) < 4096  # MiB: a real process's resident set
    assert re.search(r"scale 0\.004 takes [\d.]+x the time of scale 0\.002 \(2x the data\)", out)
    # every seat, port and mailbox count of the day equals the pushdown reference's
    sums = re.findall(r"the pipeline's 13 counts equal the pushdown reference's \(their sum: (\d+)\)", out)
    assert len(sums) == 2 and all(int(n) > 0 for n in sums)  # 5 seat metrics x 2 counts, 2 port metrics, mailboxes
    for task in bench.TASKS:
        assert f"{task} " in out


def test_a_difference_from_the_pushdown_reference_is_named():
    pipeline = [
        {"metric": "seats_chat", "region": "US", "counts": {"concurrent": 3, "enabled": 5}},
        {"metric": "gvp_asr_ports", "region": "EU", "counts": {"concurrent": 2}},
        {"metric": "gvp_tts_ports", "region": "EU", "counts": {"concurrent": 0}},
        {"metric": "voicebot_interactions", "region": "GLOBAL", "counts": {"units": 7}},  # not a pushdown metric
    ]
    reference = {("seats_chat", "US"): {"concurrent": 3, "enabled": 4}}
    assert bench.differences(pipeline, reference) == [
        "seats_chat US: pipeline {'concurrent': 3, 'enabled': 5}, pushdown {'concurrent': 3, 'enabled': 4}",
        "gvp_asr_ports EU: pipeline {'concurrent': 2}, pushdown {'concurrent': 0}",
    ]  # a region the reference has no rows for is zero there
