"""A tenant whose locations record on two GVP Reporting Servers: each component's records are
billed from its location's server only, records of unlisted components from the default
location's server, and a region's peak is the peak of the union of its sessions.

Both servers hold a copy of the other's records here (as a Reporting Server that records a
shared Media Control Platform would): the counts hold only if every record is billed once.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from bds.config import parse_billing_config
from bds.demo import create_schema, load
from bds.pipeline import aggregate, extract_source, plan_day, render
from tests.conftest import fresh_pg_database

DAY = date(2026, 3, 29)
TEN = 1774778400_000  # 2026-03-29 10:00:00 UTC, in milliseconds

CONFIG = {
    "billing_process_enabled": True,
    "tenants": [
        {
            "tenant_id": 7,
            "name": "Two Servers",
            "billable": "PureConnect",
            "time_zone": "UTC",
            "production_date": "2026-03-01",
            "metrics": {"gvp_asr_ports": True},
            "regions": [
                {
                    "code": "US",
                    "locations": [
                        {"code": "A", "switches": ["SW_A"], "gvp_components": ["MCP_A"], "gvp_conn_id": "gvp_a"},
                        {"code": "B", "switches": ["SW_B"], "gvp_components": ["MCP_B"], "gvp_conn_id": "gvp_b"},
                        {"code": "HQ", "switches": [], "gvp_conn_id": "gvp_b"},
                    ],
                }
            ],
        }
    ],
}

# (component, ASR session start and end in seconds after 10:00)
CALLS = [("MCP_A", 0, 10), ("MCP_X", 5, 25), ("MCP_B", 20, 30)]


def gvp_tables(calls) -> dict[str, list[dict]]:
    cdrs, speech = [], []
    for number, (component, start, end) in enumerate(calls, start=1):
        cdrs.append(
            {
                "CDR_ID": number,
                "TENANT_ID": 7,
                "IVR_PROFILE_ID": 71,
                "COMPONENT_NAME": component,
                "START_TIME_MS": TEN + start * 1000,
                "END_TIME_MS": TEN + end * 1000 + 500,
            }
        )
        speech.append(
            {
                "SPEECH_SESSION_ID": number,
                "CDR_ID": number,
                "RESOURCE_TYPE": "ASR",
                "START_TIME_MS": TEN + start * 1000,
                "END_TIME_MS": TEN + end * 1000,
            }
        )
    return {"GVP_CDR": cdrs, "GVP_SPEECH_SESSION": speech}


@pytest.fixture(params=["sqlite", "postgres"])
def two_servers(request, tmp_path, monkeypatch):
    """Connections gvp_a and gvp_b, each holding all three calls."""
    with fresh_pg_database() as pg_a, fresh_pg_database() as pg_b:
        urls = {"gvp_a": pg_a, "gvp_b": pg_b}
        if request.param == "sqlite":
            urls = {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in urls}
        for name, url in urls.items():
            engine = sa.create_engine(url)
            create_schema(engine, "gvp")
            load(engine, "gvp", gvp_tables(CALLS))
            engine.dispose()
            monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", connection_uri(url))
        yield urls


def connection_uri(url: str) -> str:
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": parsed.database})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parsed.host,
            "port": parsed.port or 5432,
            "login": parsed.username,
            "schema": parsed.database,
        }
    )


def test_each_record_is_billed_from_its_locations_server_and_the_region_peaks_over_their_union(
    two_servers, tmp_path, monkeypatch
):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path / "data"))
    config = parse_billing_config(CONFIG)
    (work,), _ = plan_day(config, DAY, "run-1")
    staged = extract_source(work, "gvp")
    # MCP_A from gvp_a; MCP_B and the unlisted MCP_X (the default location HQ's) from gvp_b.
    assert staged["rows"] == {"media_sessions": 3}
    aggregate(work)
    rendered = render(work)
    left_out = [line for line in rendered["warnings"] if "left out" in line]
    assert left_out == [
        "tenant 'Two Servers' (7) day 2026-03-29: gvp/media_sessions: 1 record(s) of component MCP_B read through gvp_a "
        "are left out: they are billed from gvp_b, the Reporting Server of the component's location",
        "tenant 'Two Servers' (7) day 2026-03-29: gvp/media_sessions: 1 record(s) of component MCP_X read through gvp_a "
        "are left out: they are billed from gvp_b, the Reporting Server of the component's location",
        "tenant 'Two Servers' (7) day 2026-03-29: gvp/media_sessions: 1 record(s) of component MCP_A read through gvp_b "
        "are left out: they are billed from gvp_a, the Reporting Server of the component's location",
    ]
    (csv,) = (tmp_path / "data" / "archive").glob("7/daily/**/CNT_US_PES_gvp_asr_ports_*_20260329.csv")
    # A [0,10) and X [5,25) overlap, X and B [20,30) overlap, never three: the peak is 2.
    # A sum of the servers' own peaks (1 on gvp_a, 2 on gvp_b) would say 3; A billed twice, 3.
    assert int(csv.read_text().splitlines()[1].rsplit(",", 1)[1]) == 2


def test_a_servers_malformed_rows_count_only_for_the_components_billed_from_it(two_servers, tmp_path, monkeypatch):
    """gvp_a also holds an MCP_B call whose speech session ends before it starts: MCP_B is
    billed from gvp_b, so the day is billed. The same on an MCP_A call fails it, naming gvp_a."""
    from bds.sources import MalformedRowsError

    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path / "data"))
    (work,), _ = plan_day(parse_billing_config(CONFIG), DAY, "run-1")
    gvp_a = sa.create_engine(two_servers["gvp_a"])

    def add_backwards_session(number: int, component: str) -> None:
        tables = gvp_tables([(component, 40, 50)])
        tables["GVP_CDR"][0]["CDR_ID"] = tables["GVP_SPEECH_SESSION"][0]["CDR_ID"] = number
        tables["GVP_SPEECH_SESSION"][0] |= {"SPEECH_SESSION_ID": number, "END_TIME_MS": TEN + 30_000}  # ends before it starts
        load(gvp_a, "gvp", tables)

    try:
        add_backwards_session(10, "MCP_B")
        assert extract_source(work, "gvp")["rows"] == {"media_sessions": 3}
        add_backwards_session(11, "MCP_A")
        with pytest.raises(MalformedRowsError) as failed:
            extract_source(work, "gvp")
    finally:
        gvp_a.dispose()
    message = str(failed.value)
    assert "GVP Reporting Server (gvp_a) has 1 malformed value(s) in rows that gvp/media_sessions reads: " in message
    assert "GVP_SPEECH_SESSION SPEECH_SESSION_ID 11: END_TIME_MS is '1774778430000': ends before it starts" in message
    assert "SPEECH_SESSION_ID 10" not in message
