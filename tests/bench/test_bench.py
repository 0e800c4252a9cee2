"""The benchmark's code at small scales, so that ``make bench`` cannot rot unnoticed: it loads,
measures the floor and every task of the pipeline in its own process, and reports. At the
larger of the two (1,000 agents, 200,000 interaction facts, 75,000 calls and 25,000 bot
sessions a day) the pipeline's counts must equal the pushdown reference's exactly."""

from __future__ import annotations

import re

import pytest

from bds.sources import psycopg_style
from bds_tools import bench
from tests.conftest import PG_ADMIN_URL


def test_placeholders_become_psycopg_parameters():
    assert psycopg_style("a = :tenant_id AND b::text LIKE '5%' AND c < :day_end_ms") == (
        "a = %(tenant_id)s AND b::text LIKE '5%%' AND c < %(day_end_ms)s"
    )


@pytest.mark.postgres
def test_a_small_benchmark_runs_end_to_end(capsys):
    bench.main(
        [
            "--pg-url",
            PG_ADMIN_URL,
            "--scale",
            "0.01",
            "--scale",
            "0.05",
            "--runs",
            "1",
            "--overhead-tenants",
            "0",
            "--console-tenants",
            "0",
        ]
    )
    out = capsys.readouterr().out
    # The plans are shown; what each handled, an index probe of the day's interaction facts.
    assert re.search(r"Index Scan using interaction_resource_fact_p\w+ on interaction_resource_fact_p20260318", out)
    # Partition pruning, as the queries ran: the day (Chicago, so two UTC days) and its one-day
    # look-back; never the day after. Only agent_sessions looks before the look-back (and in
    # DEFAULT), for sessions still open or ended in the day, through indexes where there are rows.
    read = {
        (query, table): set(partitions.split(", "))
        for query, table, partitions in re.findall(r"^  (\S+) reads (\w+) partitions (.+)$", out, re.M)
    }
    day_and_lookback = {"20260317", "20260318", "20260319"}
    assert set(read) == {
        ("gim/agent_sessions", "sm_res_session_fact"),
        ("gim/agent_sessions", "interaction_resource_fact"),
        ("gim/bot_sessions", "sdr_bots_fact"),
        ("gim/bot_sessions", "interaction_fact"),
        ("gvp/media_sessions", "gvp_cdr"),
        ("gvp/media_sessions", "gvp_speech_session"),
    }
    for (query, table), partitions in read.items():
        allowed = day_and_lookback | ({"20260316", "default"} if table == "sm_res_session_fact" else set())
        assert "20260318" in partitions and partitions <= allowed, (query, table, partitions)
    rows = re.findall(r"^\s+(0\.0[15])\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["0.01", "0.05"]
    for _, _load, floor, pipeline, _pushdown, ratio, _, rss in rows:
        assert float(floor) > 0 and float(pipeline) > 0
        f, p, half = float(floor), float(pipeline), 0.0005  # printed to the millisecond
        assert (p - half) / (f + half) - 0.005 <= float(ratio) <= (p + half) / (f - half) + 0.005
        assert 50 < int(rss) < 4096  # MiB: a real process's resident set
    assert re.search(r"scale 0\.05 takes [\d.]+x the time of scale 0\.01 \(5x the data\)", out)
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


@pytest.mark.postgres
def test_the_console_benchmark_runs_small_and_its_queries_use_their_indexes(capsys):
    from bds_tools import bench_console

    bench_console.main(["--pg-url", PG_ADMIN_URL, "--tenants", "30", "--days", "45", "--runs", "1"])
    out = capsys.readouterr().out
    # 30 tenants x (45 days + the 2 months they touch) x 13 counts in 8 files: 30 x 47 x 13 and 30 x 47 x 8
    assert "ledger of 30 tenants x 45 days: 18,330 counts, 11,280 file versions" in out
    assert re.search(r"plan of results:\n(    .*\n)*?.*Index.* on bds_ledger_count_results", out)
    assert re.search(r"plan of last billed day:\n(    .*\n)*?.*Index Only Scan Backward using bds_ledger_file_period", out)
    pages = re.findall(r"^(.+?)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)  (yes|NO)$", out, re.M)
    assert len(pages) == 7 and {name.strip() for name, *_ in pages} >= {"Results, 31 days", "Anomalies, open, every tenant"}
