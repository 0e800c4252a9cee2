"""The dataset SQL of every source, run against SQLite and a real PostgreSQL.

Each fixture holds rows that must come back and rows that must not: other tenants,
non-agent resources, sessions outside the day, options of other sections.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from bds.calendar import day_window
from bds.datasets import SORT_KEYS, DatasetShapeError, conform, to_frame
from bds.demo import create_schema, load
from bds.sources import SQL_DIR_ENV, SourceError, extract_dataset, query_parameters, sql_dir, sql_text, stage_dataset

WINDOW = day_window(date(2026, 3, 10), lookahead=7_200)  # a two-hour voicebot look-ahead
T0 = WINDOW.start
END = WINDOW.end
FUTURE_KEY = 2_147_482_800
PARAMS = query_parameters(101, WINDOW, lookback_days=7)


def key(ts):
    return ts - ts % 900


def sm(key_, resource, media, start, end, active=0):
    return dict(
        SM_RES_SESSION_FACT_KEY=key_,
        START_DATE_TIME_KEY=key(start),
        END_DATE_TIME_KEY=FUTURE_KEY if end is None else key(end),
        TENANT_KEY=2 if resource == 20 else 1,
        MEDIA_TYPE_KEY=media,
        RESOURCE_KEY=resource,
        START_TS=start,
        END_TS=end,
        ACTIVE_FLAG=active,
    )


def irf(id_, resource, media, kind, start):
    return dict(
        INTERACTION_RESOURCE_ID=id_,
        INTERACTION_ID=id_,
        START_DATE_TIME_KEY=key(start),
        TENANT_KEY=1,
        MEDIA_TYPE_KEY=media,
        INTERACTION_TYPE_KEY=kind,
        RESOURCE_KEY=resource,
        START_TS=start,
    )


GIM = {
    "TENANT": [dict(TENANT_KEY=1, TENANT_CFG_DBID=101), dict(TENANT_KEY=2, TENANT_CFG_DBID=202)],
    "MEDIA_TYPE": [dict(MEDIA_TYPE_KEY=1, MEDIA_NAME_CODE="VOICE"), dict(MEDIA_TYPE_KEY=2, MEDIA_NAME_CODE="CHAT")],
    "INTERACTION_TYPE": [
        dict(INTERACTION_TYPE_KEY=1, INTERACTION_TYPE_CODE="INBOUND", INTERACTION_SUBTYPE_CODE="INBOUNDNEW"),
        dict(INTERACTION_TYPE_KEY=2, INTERACTION_TYPE_CODE="OUTBOUND", INTERACTION_SUBTYPE_CODE="OUTBOUNDCONTACT"),
        dict(INTERACTION_TYPE_KEY=3, INTERACTION_TYPE_CODE="OUTBOUND", INTERACTION_SUBTYPE_CODE="OUTBOUNDCALLBACK"),
    ],
    "RESOURCE_": [
        dict(RESOURCE_KEY=10, TENANT_KEY=1, RESOURCE_TYPE_CODE="AGENT", RESOURCE_CFG_DBID=5001),
        dict(RESOURCE_KEY=11, TENANT_KEY=1, RESOURCE_TYPE_CODE="AGENT", RESOURCE_CFG_DBID=5002),
        dict(RESOURCE_KEY=12, TENANT_KEY=1, RESOURCE_TYPE_CODE="QUEUE", RESOURCE_CFG_DBID=5999),
        dict(RESOURCE_KEY=13, TENANT_KEY=1, RESOURCE_TYPE_CODE="AGENT", RESOURCE_CFG_DBID=5001),  # Person 5001's second row
        dict(RESOURCE_KEY=14, TENANT_KEY=1, RESOURCE_TYPE_CODE="QUEUE", RESOURCE_CFG_DBID=5003),  # a queue, DBID as Person 5003's
        dict(RESOURCE_KEY=15, TENANT_KEY=1, RESOURCE_TYPE_CODE="AGENT", RESOURCE_CFG_DBID=5003),
        dict(RESOURCE_KEY=16, TENANT_KEY=1, RESOURCE_TYPE_CODE="AGENT", RESOURCE_CFG_DBID=5004),
        dict(RESOURCE_KEY=20, TENANT_KEY=2, RESOURCE_TYPE_CODE="AGENT", RESOURCE_CFG_DBID=6001),
    ],
    "GIDB_GC_SWITCH": [dict(ID=1, NAME="SW_A"), dict(ID=2, NAME="SW_B")],
    "GIDB_GC_LOGIN": [
        dict(ID=100, TENANTID=101, SWITCHID=1),
        dict(ID=101, TENANTID=101, SWITCHID=2),
        dict(ID=200, TENANTID=202, SWITCHID=1),
    ],
    "GIDB_GCX_LOGIN_INFO": [
        dict(ID=1, LOGINID=100, AGENTID=5001, CREATED_TS=T0 - 99_000, DELETED_TS=None),
        dict(ID=2, LOGINID=101, AGENTID=5002, CREATED_TS=T0 - 99_000, DELETED_TS=T0 + 3_600),
        dict(ID=3, LOGINID=101, AGENTID=5001, CREATED_TS=END + 10, DELETED_TS=None),  # only after the day
        dict(ID=4, LOGINID=200, AGENTID=6001, CREATED_TS=T0 - 99_000, DELETED_TS=None),
        dict(
            ID=5, LOGINID=200, AGENTID=5002, CREATED_TS=T0 - 99_000, DELETED_TS=None
        ),  # another tenant's login: no switch of 101
    ],
    "SM_RES_SESSION_FACT": [
        sm(1, 10, 1, T0 - 3_600, T0 + 1_800),  # across midnight
        sm(2, 10, 1, T0 + 7_200, None, active=1),  # still open
        sm(3, 11, 1, T0 + 600, T0 + 7_000),  # its login is removed during the session
        sm(4, 11, 2, T0 + 100, T0 + 5_000),  # chat, handled one
        sm(5, 10, 2, T0 + 100, T0 + 500),  # chat, handled none during the session
        sm(6, 12, 1, T0 + 100, T0 + 200),  # a queue, not an agent
        sm(7, 20, 1, T0 + 100, T0 + 200),  # another tenant
        dict(sm(16, 20, 1, T0 + 100, T0 + 200), TENANT_KEY=1),  # this tenant's key on another tenant's agent row
        sm(8, 10, 1, T0 - 7_200, T0 - 3_600),  # the day before
        sm(9, 10, 1, END + 10, END + 100),  # the day after
        sm(10, 10, 1, T0 - 9 * 86_400, None, active=1),  # older than the look-back, still open
        sm(11, 13, 2, T0 + 100, T0 + 500),  # Person 5001's chat under its second row: handled one under its first
        sm(12, 15, 2, T0 + 100, T0 + 500),  # Person 5003's chat: only the queue of its DBID handled a chat
        sm(13, 16, 1, T0 - 10 * 86_400, T0 + 60),  # older than the look-back, ended during the day
        sm(14, 16, 1, T0 - 11 * 86_400, T0 - 60),  # older than the look-back, ended before the day
        sm(15, 16, 2, T0 - 12 * 86_400, T0 + 9_000, active=1),  # open for twelve days (a tentative END_TS)
    ],
    "INTERACTION_RESOURCE_FACT": [
        irf(1, 10, 1, 1, T0 + 100),  # inbound call
        irf(2, 11, 1, 3, T0 + 1_000),  # callback call
        irf(3, 10, 1, 2, T0 + 8_000),  # OCS call in the open session
        irf(4, 10, 1, 2, END + 100),  # OCS call after the day: does not qualify session 1
        irf(5, 11, 2, 1, T0 + 200),  # chat in session 4
        irf(6, 10, 2, 1, T0 + 600),  # chat after session 5 ended
        irf(7, 10, 2, 1, T0 + 300),  # chat under Person 5001's first row, during session 11 (its second row)
        irf(8, 14, 2, 1, T0 + 200),  # chat of the queue sharing Person 5003's DBID
        irf(9, 16, 2, 1, T0 - 11 * 86_400),  # a chat eleven days ago, in session 15
    ],
    "INTERACTION_FACT": [
        dict(INTERACTION_ID=1000, TENANT_KEY=1, MEDIA_SERVER_IXN_GUID="G1", START_DATE_TIME_KEY=key(T0 + 100)),
        dict(INTERACTION_ID=1001, TENANT_KEY=2, MEDIA_SERVER_IXN_GUID="G2", START_DATE_TIME_KEY=key(T0 + 100)),
        dict(INTERACTION_ID=1002, TENANT_KEY=1, MEDIA_SERVER_IXN_GUID="G3", START_DATE_TIME_KEY=key(T0 + 900)),
        dict(INTERACTION_ID=1003, TENANT_KEY=1, MEDIA_SERVER_IXN_GUID="G4", START_DATE_TIME_KEY=key(END + 50)),
    ],
    "SDR_BOTS_FACT": [
        dict(
            SESSION_ID="S1",
            START_DATE_TIME_KEY=key(T0 + 100),
            SEQUENCE_ID=0,
            INTERACTION_ID="G1",
            MEDIA_TYPE_KEY=1,
            START_TS_MS=(T0 + 100) * 1000,
            DURATION_MS=600_000,
        ),
        dict(
            SESSION_ID="S1",
            START_DATE_TIME_KEY=key(T0 + 800),
            SEQUENCE_ID=1,
            INTERACTION_ID="G1",
            MEDIA_TYPE_KEY=1,
            START_TS_MS=(T0 + 800) * 1000,
            DURATION_MS=400_000,
        ),
        dict(
            SESSION_ID="S2",
            START_DATE_TIME_KEY=key(T0 + 100),
            SEQUENCE_ID=0,
            INTERACTION_ID="G2",
            MEDIA_TYPE_KEY=1,
            START_TS_MS=(T0 + 100) * 1000,
            DURATION_MS=5_000,
        ),
        dict(
            SESSION_ID="S3",
            START_DATE_TIME_KEY=key(T0 + 900),
            SEQUENCE_ID=0,
            INTERACTION_ID="G3",
            MEDIA_TYPE_KEY=2,
            START_TS_MS=(T0 + 900) * 1000,
            DURATION_MS=7_000,
        ),
        dict(
            SESSION_ID="S4",
            START_DATE_TIME_KEY=key(END + 50),
            SEQUENCE_ID=0,
            INTERACTION_ID="G4",
            MEDIA_TYPE_KEY=1,
            START_TS_MS=(END + 50) * 1000,
            DURATION_MS=7_000,
        ),
        # Interaction G1's later bot sessions: within the look-ahead (read), at its end (not read).
        dict(
            SESSION_ID="S1",
            START_DATE_TIME_KEY=key(END + 7_199),
            SEQUENCE_ID=2,
            INTERACTION_ID="G1",
            MEDIA_TYPE_KEY=1,
            START_TS_MS=(END + 7_200) * 1000 - 1,
            DURATION_MS=1_000,
        ),
        dict(
            SESSION_ID="S1",
            START_DATE_TIME_KEY=key(END + 7_200),
            SEQUENCE_ID=3,
            INTERACTION_ID="G1",
            MEDIA_TYPE_KEY=1,
            START_TS_MS=(END + 7_200) * 1000,
            DURATION_MS=1_000,
        ),
    ],
}

GVP = {
    "GVP_CDR": [
        dict(
            CDR_ID=1,
            TENANT_ID=101,
            IVR_PROFILE_ID=1,
            COMPONENT_NAME="MCP_A",
            START_TIME_MS=(T0 + 10) * 1000,
            END_TIME_MS=(T0 + 300) * 1000,
        ),
        dict(
            CDR_ID=2,
            TENANT_ID=202,
            IVR_PROFILE_ID=2,
            COMPONENT_NAME="MCP_A",
            START_TIME_MS=(T0 + 10) * 1000,
            END_TIME_MS=(T0 + 300) * 1000,
        ),
        dict(
            CDR_ID=3, TENANT_ID=101, IVR_PROFILE_ID=1, COMPONENT_NAME="MCP_B", START_TIME_MS=(T0 - 100) * 1000, END_TIME_MS=None
        ),
    ],
    "GVP_SPEECH_SESSION": [
        dict(SPEECH_SESSION_ID=1, CDR_ID=1, RESOURCE_TYPE="ASR", START_TIME_MS=(T0 + 20) * 1000, END_TIME_MS=(T0 + 40) * 1000),
        dict(
            SPEECH_SESSION_ID=2, CDR_ID=1, RESOURCE_TYPE="TTS", START_TIME_MS=(T0 + 15) * 1000 + 250, END_TIME_MS=(T0 + 19) * 1000
        ),
        dict(SPEECH_SESSION_ID=3, CDR_ID=2, RESOURCE_TYPE="ASR", START_TIME_MS=(T0 + 20) * 1000, END_TIME_MS=(T0 + 40) * 1000),
        dict(SPEECH_SESSION_ID=4, CDR_ID=3, RESOURCE_TYPE="ASR", START_TIME_MS=(T0 - 90) * 1000, END_TIME_MS=None),
        dict(SPEECH_SESSION_ID=5, CDR_ID=3, RESOURCE_TYPE="TTS", START_TIME_MS=(T0 - 90) * 1000, END_TIME_MS=(T0 - 50) * 1000),
        dict(SPEECH_SESSION_ID=6, CDR_ID=1, RESOURCE_TYPE="DTMF", START_TIME_MS=(T0 + 20) * 1000, END_TIME_MS=(T0 + 40) * 1000),
    ],
}


def annex(
    id_,
    object_id,
    object_type,
    value="1001",
    tenant=101,
    created=T0 - 500,
    deleted=None,
    section="TServer",
    key_name="gvm_mailbox",
):
    return dict(
        ID=id_,
        CFGOBJECTID=object_id,
        CFGOBJECTTYPE=object_type,
        SECTIONNAME=section,
        KEYNAME=key_name,
        VALUE=value,
        TENANTID=tenant,
        CREATED_TS=created,
        DELETED_TS=deleted,
    )


CME = {
    "GC_ENDPOINT": [
        dict(ID=1, TENANTID=101, CREATED_TS=T0 - 1_000, DELETED_TS=None),
        dict(ID=2, TENANTID=101, CREATED_TS=T0 - 1_000, DELETED_TS=T0 - 10),  # DN removed the day before
        dict(ID=6, TENANTID=202, CREATED_TS=T0 - 1_000, DELETED_TS=None),
        dict(ID=7, TENANTID=101, CREATED_TS=T0 + 3_000, DELETED_TS=None),  # DN created during the day
    ],
    "GC_LOGIN": [dict(ID=3, TENANTID=101, CREATED_TS=T0 - 1_000, DELETED_TS=T0 + 150)],
    "GC_GROUP": [
        dict(ID=4, TENANTID=101, TYPE=1, CREATED_TS=T0 - 1_000, DELETED_TS=None),  # agent group
        dict(ID=5, TENANTID=101, TYPE=3, CREATED_TS=T0 - 1_000, DELETED_TS=None),  # DN group
    ],
    "GC_ANNEX": [
        annex(1, 1, 2),
        annex(2, 2, 2, created=T0 - 900),
        annex(3, 3, 15, value="1003", created=T0 + 100, deleted=T0 + 200),
        annex(4, 4, 5, value="1004"),
        annex(5, 5, 5, value="1005"),
        annex(6, 1, 2, value="standard", key_name="gvm_profile"),
        annex(7, 6, 2, tenant=202),
        annex(8, 1, 2, section="Other"),
        annex(9, 7, 2, value="1007", created=T0 - 50_000),  # option older than its DN
        annex(10, 1, 2, value="1010", created=END + 5),  # after the day
    ],
}


def stage(url, source, tables):
    engine = sa.create_engine(url)
    create_schema(engine, source)
    load(engine, source, tables)
    return engine


def expected(source, dataset, rows, columns):
    return conform(source, dataset, pd.DataFrame(rows, columns=columns))


def check(engine, source, dataset, want):
    """The dataset as a frame, and as staged (streamed into Parquet on PostgreSQL), equals ``want``."""
    got = extract_dataset(engine, source, dataset, PARAMS, "tenant 101 day 2026-03-10")
    pd.testing.assert_frame_equal(got, want)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / f"{dataset}.parquet"
        rows = stage_dataset(engine, source, dataset, PARAMS, "tenant 101 day 2026-03-10", target)
        staged = to_frame(source, dataset, pq.read_table(target))
    engine.dispose()
    assert rows == len(want)
    order = SORT_KEYS[(source, dataset)]  # staged rows keep the database's order
    pd.testing.assert_frame_equal(staged.sort_values(order, kind="mergesort", na_position="last").reset_index(drop=True), want)


def test_agent_sessions(query_url):
    want = expected(
        "gim",
        "agent_sessions",
        [
            (5001, "VOICE", "SW_A", T0 - 3_600, T0 + 1_800, 0, 0, 0),
            (5001, "CHAT", None, T0 + 100, T0 + 500, 1, 0, 0),  # sessions 5 and 11: the Person handled a chat at +300
            (5001, "VOICE", "SW_A", T0 - 9 * 86_400, None, 0, 0, 1),  # open nine days: its OCS call at +8000
            (5001, "VOICE", "SW_A", T0 + 7_200, None, 0, 0, 1),
            (5002, "CHAT", None, T0 + 100, T0 + 5_000, 1, 0, 0),
            (5002, "VOICE", "SW_B", T0 + 600, T0 + 7_000, 0, 1, 0),  # no NULL row for its login of another tenant
            (5003, "CHAT", None, T0 + 100, T0 + 500, 0, 0, 0),  # a queue's chat is not the Person's
            (5004, "CHAT", None, T0 - 12 * 86_400, None, 1, 0, 0),  # handled a chat eleven days ago
            (5004, "VOICE", None, T0 - 10 * 86_400, T0 + 60, 0, 0, 0),  # no login: the default location
        ],
        ["agent", "media", "switch", "start_ts", "end_ts", "handled_chat", "handled_callback", "handled_outbound"],
    )
    check(stage(query_url, "gim", GIM), "gim", "agent_sessions", want)


def agent_rows(query_url):
    engine = stage(query_url, "gim", GIM)
    rows = extract_dataset(engine, "gim", "agent_sessions", PARAMS, "tenant 101 day 2026-03-10")
    engine.dispose()
    return rows


def test_what_a_person_handled_under_any_of_its_agent_rows_qualifies_its_sessions(query_url):
    """Person 5001 logged in to chat under its second RESOURCE_ row and took the chat under its
    first: the chat qualifies. A queue that happens to share Person 5003's DBID does not."""
    chats = agent_rows(query_url).query("media == 'CHAT'").set_index("agent")["handled_chat"]
    assert chats[5001] == 1 and chats[5003] == 0


def test_sessions_older_than_the_lookback_are_read_while_they_touch_the_day(query_url):
    """Sessions of any age count while they touch the day: open for nine or twelve days, or
    ended during the day; one that ended before the day does not come back. What they handled
    is read back to their start, beyond the look-back."""
    rows = agent_rows(query_url)
    old = rows[rows["start_ts"] < PARAMS["lookback_start"]]
    assert sorted(
        zip(old["agent"], old["media"], old["start_ts"], old["end_ts"].astype(object), old["handled_chat"], strict=True)
    ) == [
        (5001, "VOICE", T0 - 9 * 86_400, pd.NA, 0),
        (5004, "CHAT", T0 - 12 * 86_400, pd.NA, 1),
        (5004, "VOICE", T0 - 10 * 86_400, T0 + 60, 0),
    ]


def test_bot_sessions_are_read_until_the_end_of_the_lookahead(query_url):
    """Interaction G1's bot session a millisecond before the day's end plus the two-hour
    look-ahead is read; the one at that moment is not."""
    engine = stage(query_url, "gim", GIM)
    rows = extract_dataset(engine, "gim", "bot_sessions", PARAMS, "tenant 101 day 2026-03-10")
    engine.dispose()
    assert rows.loc[rows["interaction_id"] == 1000, "start_ms"].max() == (END + 7_200) * 1000 - 1
    assert PARAMS["lookahead_end_ms"] == (END + 7_200) * 1000


def test_bot_sessions(query_url):
    want = expected(
        "gim",
        "bot_sessions",
        [
            (1000, "VOICE", (T0 + 100) * 1000, 600_000),
            (1000, "VOICE", (T0 + 800) * 1000, 400_000),
            (1000, "VOICE", (END + 7_200) * 1000 - 1, 1_000),
            (1002, "CHAT", (T0 + 900) * 1000, 7_000),
        ],
        ["interaction_id", "media", "start_ms", "duration_ms"],
    )
    check(stage(query_url, "gim", GIM), "gim", "bot_sessions", want)


def test_media_sessions(query_url):
    want = expected(
        "gvp",
        "media_sessions",
        [
            ("ASR", "MCP_A", (T0 + 20) * 1000, (T0 + 40) * 1000),
            ("TTS", "MCP_A", (T0 + 15) * 1000 + 250, (T0 + 19) * 1000),
            ("ASR", "MCP_B", (T0 - 90) * 1000, None),
        ],
        ["resource", "component", "start_ms", "end_ms"],
    )
    check(stage(query_url, "gvp", GVP), "gvp", "media_sessions", want)


def test_voicemail_boxes(query_url):
    want = expected(
        "cme",
        "voicemail_boxes",
        [
            ("DN", 1, "1001", T0 - 500, None),
            ("AGENT_LOGIN", 3, "1003", T0 + 100, T0 + 150),  # the login goes before its option does
            ("AGENT_GROUP", 4, "1004", T0 - 500, None),
            ("DN", 7, "1007", T0 + 3_000, None),  # boxes start with their DN
        ],
        ["object_type", "object_id", "mailbox", "start_ts", "end_ts"],
    )
    check(stage(query_url, "cme", CME), "cme", "voicemail_boxes", want)


def test_missing_table_names_tenant_day_source_and_cause(query_url):
    engine = sa.create_engine(query_url)
    with pytest.raises(SourceError) as info:
        extract_dataset(engine, "gvp", "media_sessions", PARAMS, "tenant 'Northwind Care' (101) day 2026-03-10")
    engine.dispose()
    message = str(info.value)
    assert message.startswith(
        "tenant 'Northwind Care' (101) day 2026-03-10: GVP Reporting Server (bds_gvp) query gvp/media_sessions failed:"
    )
    assert "gvp_speech_session" in message.lower()


def test_unreachable_source_is_a_clear_error():
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    with pytest.raises(
        SourceError,
        match=r"tenant 101 day 2026-03-10: Configuration Management Environment \(bds_cme\) query cme/voicemail_boxes failed: .*127\.0\.0\.1",
    ):
        extract_dataset(engine, "cme", "voicemail_boxes", PARAMS, "tenant 101 day 2026-03-10")


def test_undefined_connection_is_a_clear_error(monkeypatch):
    from bds.sources import source_engine

    monkeypatch.delenv("AIRFLOW_CONN_BDS_GVP", raising=False)
    with pytest.raises(
        SourceError, match=r"^tenant 101 day 2026-03-10: GVP Reporting Server: connection 'bds_gvp' is unusable: "
    ):
        source_engine("gvp", "tenant 101 day 2026-03-10")


def test_text_columns_stay_text_on_every_path(query_url):
    """Switch and mailbox names made of digits keep their leading zeros, and NULL stays missing,
    whether rows come through PostgreSQL's COPY stream or a driver's cursor."""
    from bds.sources import fetch_dataset

    engine = sa.create_engine(query_url)
    sql = "SELECT '007' AS switch, 42 AS agent, NULL AS mailbox UNION ALL SELECT 'SW_A', 7, '0042'"
    frame = fetch_dataset(engine, sql, {}, ["switch", "mailbox"]).sort_values("agent").reset_index(drop=True)
    engine.dispose()
    assert frame["switch"].tolist() == ["SW_A", "007"]
    assert frame["agent"].astype("int64").tolist() == [7, 42]
    assert frame["mailbox"].astype("string").tolist()[0] == "0042"
    assert pd.isna(frame["mailbox"].astype("string").tolist()[1])


@pytest.mark.parametrize(
    "select, cause",
    [
        (
            "sp.RESOURCE_TYPE AS resource, c.COMPONENT_NAME AS component, sp.START_TIME_MS AS start_ms",
            r"include/sql/gvp/media_sessions.sql returned no column\(s\) end_ms",
        ),
        (
            "sp.RESOURCE_TYPE AS resource, c.COMPONENT_NAME AS component, NULL AS start_ms, sp.END_TIME_MS AS end_ms",
            r"include/sql/gvp/media_sessions.sql returned (NULL in start_ms|values of the wrong type)",
        ),
    ],
)
def test_a_wrongly_shaped_result_stages_nothing(query_url, tmp_path, monkeypatch, select, cause):
    """A query returning a column short, or NULL where a value is needed, fails naming the
    tenant-day and the SQL file, and leaves no staged file behind, on either path."""
    from bds import staging

    sql = tmp_path / "sql"
    shutil.copytree(sql_dir(), sql)
    query = sql / "gvp" / "media_sessions.sql"
    text = query.read_text()
    query.write_text(text[: text.index("SELECT")] + f"SELECT {select}\n" + text[text.index("FROM GVP_SPEECH_SESSION") :])
    monkeypatch.setenv(SQL_DIR_ENV, str(sql))
    monkeypatch.setenv(staging.DATA_DIR_ENV, str(tmp_path / "data"))
    engine = stage(query_url, "gvp", GVP)
    target = staging.tenant_day(date(2026, 3, 10), 101) / "gvp" / "media_sessions.parquet"
    with pytest.raises(DatasetShapeError, match=r"^tenant 101 day 2026-03-10: " + cause), staging.writing(target) as parquet:
        stage_dataset(engine, "gvp", "media_sessions", PARAMS, "tenant 101 day 2026-03-10", parquet)
    engine.dispose()
    assert not staging.exists(target)
    assert list(Path(target.parent.path).iterdir()) == []  # no temporary file either


def test_sessions_older_than_the_lookback_are_probed_by_index_not_scanned(pg_url):
    """In a partitioned Info Mart, the older partitions are reached through the indexes of
    open and recently ended sessions: a partition of a month ago with 20,000 closed sessions is
    probed, not read, and its two open sessions come back."""
    engine = stage(pg_url, "gim", GIM)
    old_day = T0 - 30 * 86_400
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE SM_RES_SESSION_FACT_OLD PARTITION OF SM_RES_SESSION_FACT "
                f"FOR VALUES FROM ({old_day}) TO ({old_day + 86_400})"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO SM_RES_SESSION_FACT SELECT 1000 + n, :day + n, :day + n + 600, 1, 1, 10, :day + n, :day + n + 600, 0 "
                "FROM generate_series(0, 19999) AS n"
            ),
            {"day": old_day},
        )
        conn.execute(
            sa.text(
                "INSERT INTO SM_RES_SESSION_FACT VALUES (90001, :day, 2147482800, 1, 1, 11, :day, NULL, 1), "
                "(90002, :day, :key, 1, 2, 11, :day, :end, 0)"
            ),
            {"day": old_day, "key": T0 - T0 % 900, "end": T0 + 30},
        )
        conn.execute(sa.text("ANALYZE SM_RES_SESSION_FACT"))
        plan = "\n".join(
            row[0] for row in conn.execute(sa.text("EXPLAIN " + sql_text(sql_dir() / "gim" / "agent_sessions.sql")), PARAMS)
        )
    rows = extract_dataset(engine, "gim", "agent_sessions", PARAMS, "tenant 101 day 2026-03-10")
    engine.dispose()
    assert "Seq Scan on sm_res_session_fact_old" not in plan
    assert re.search(r"Index Scan using \w+ on sm_res_session_fact_old|Bitmap Index Scan on sm_res_session_fact_old", plan), plan
    assert sorted(rows.loc[rows["start_ts"] == old_day, "media"]) == ["CHAT", "VOICE"]


def test_a_mysql_family_source_reads_the_standard_concatenation(mariadb_url):
    """MariaDB reads ``||`` as OR by default: the malformed-row checks' row keys would be 0 or
    1. ``standard_sql``, which every source engine gets, makes it concatenate."""
    from bds.sources import standard_sql

    url = sa.engine.make_url(mariadb_url).set(query={})  # without the fixture's own session setting
    plain, standard = sa.create_engine(url), sa.create_engine(url)
    standard_sql(standard)
    try:
        query = sa.text("SELECT 'ID ' || CAST(7 AS VARCHAR(255))")
        with plain.connect() as connection:
            assert connection.execute(query).scalar() == 1  # 'ID ' OR '7': false OR true
        with standard.connect() as connection:
            assert connection.execute(query).scalar() == "ID 7"
    finally:
        plain.dispose()
        standard.dispose()
