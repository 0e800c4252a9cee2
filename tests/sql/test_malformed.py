"""Malformed source rows (include/sql/<source>/malformed/): each is named by table, row key,
column, value and problem, and the dataset query leaves it out, on SQLite and PostgreSQL.

The impossible rows (an end before the start, a deletion before the creation, a negative
duration, a missing start) can be written on both; a value that is not a number (text in a
time column) only on SQLite, which keeps whatever it is given.
"""

from __future__ import annotations

from datetime import date

import pytest

from bds.calendar import day_window
from bds.sources import malformed_rows, query_parameters
from tests.sql.test_queries import CME, END, GIM, GVP, T0, WINDOW, annex, irf, key, sm, stage
from tests.sql.test_queries import test_agent_sessions as clean_agent_sessions
from tests.sql.test_queries import test_bot_sessions as clean_bot_sessions
from tests.sql.test_queries import test_media_sessions as clean_media_sessions
from tests.sql.test_queries import test_voicemail_boxes as clean_voicemail_boxes

CONTEXT = "tenant 101 day 2026-03-10"


def bot(session, start_ms, duration_ms, key_=None, sequence=0):
    return dict(
        SESSION_ID=session,
        START_DATE_TIME_KEY=key(T0 + 100) if key_ is None else key_,
        SEQUENCE_ID=sequence,
        INTERACTION_ID="G1",
        MEDIA_TYPE_KEY=1,
        START_TS_MS=start_ms,
        DURATION_MS=duration_ms,
    )


def speech(id_, cdr, start_ms, end_ms):
    return dict(SPEECH_SESSION_ID=id_, CDR_ID=cdr, RESOURCE_TYPE="ASR", START_TIME_MS=start_ms, END_TIME_MS=end_ms)


# (source, tables, what the check names) for rows either database can hold.
IMPOSSIBLE = {
    "agent_sessions": (
        "gim",
        {
            "SM_RES_SESSION_FACT": [
                sm(30, 11, 1, T0 + 5_000, T0 + 4_000),  # ends before it starts, within the day
                sm(31, 11, 1, T0 - 5_000, T0 - 6_000),  # the same, the day before: not this day's
                dict(sm(33, 11, 1, T0 + 900, T0 + 1_000), START_TS=None),  # no start
                sm(34, 11, 1, T0 + 100, T0 - 100) | {"END_DATE_TIME_KEY": key(T0 - 100)},  # backwards across midnight
            ],
        },
        [
            f"SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 30: END_TS is '{T0 + 4_000}': ends before it starts (START_TS {T0 + 5_000})",
            "SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 33: START_TS is missing",
            f"SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 34: END_TS is '{T0 - 100}': ends before it starts (START_TS {T0 + 100})",
        ],
    ),
    "bot_sessions": (
        "gim",
        {
            "SDR_BOTS_FACT": [
                bot("S5", (T0 + 200) * 1000, -5_000),
                # after the look-ahead, though in a partition the day reads: no day's interaction has it
                bot("S9", (END + 7_205) * 1000, -1_000, key_=key(END + 7_199)),
            ],
        },
        ["SDR_BOTS_FACT SESSION_ID S5 #0: DURATION_MS is '-5000': a negative duration"],
    ),
    "media_sessions": (
        "gvp",
        {
            "GVP_SPEECH_SESSION": [
                speech(7, 1, (T0 + 50) * 1000, (T0 + 45) * 1000),
                speech(11, 1, (T0 + 100) * 1000, (T0 - 100) * 1000),
            ],
        },
        [
            f"GVP_SPEECH_SESSION SPEECH_SESSION_ID 11: END_TIME_MS is '{(T0 - 100) * 1000}': ends before it starts (START_TIME_MS {(T0 + 100) * 1000})",
            f"GVP_SPEECH_SESSION SPEECH_SESSION_ID 7: END_TIME_MS is '{(T0 + 45) * 1000}': ends before it starts (START_TIME_MS {(T0 + 50) * 1000})",
        ],
    ),
    "voicemail_boxes": (
        "cme",
        {
            "GC_ANNEX": [
                annex(11, 1, 2, value="1011", created=T0 + 100, deleted=T0 + 50),
                annex(15, 4, 5, value="1015", created=T0 + 100, deleted=T0 - 100),
            ],  # backwards across midnight
        },
        [
            f"GC_ANNEX ID 11: DELETED_TS is '{T0 + 50}': deleted before it was created (CREATED_TS {T0 + 100})",
            f"GC_ANNEX ID 15: DELETED_TS is '{T0 - 100}': deleted before it was created (CREATED_TS {T0 + 100})",
        ],
    ),
}

# Text where a number belongs: SQLite only.
NOT_NUMBERS = {
    "agent_sessions": (
        "gim",
        {
            "SM_RES_SESSION_FACT": [
                sm(40, 11, 1, T0 + 100, T0 + 200) | {"END_TS": "soon"},  # closed, its end is text
                sm(41, 11, 1, T0 + 100, T0 + 200) | {"START_TS": "yesterday"},
                sm(43, 11, 1, T0 + 100, T0 + 200) | {"START_DATE_TIME_KEY": "today"},  # cannot be placed: every day names it
            ],
            "INTERACTION_RESOURCE_FACT": [
                irf(10, 11, 1, 3, T0 + 700) | {"START_TS": "noon"}
            ],  # would make session 3 a callback's
            # would place Person 5004's session on SW_A, as if the login were never deleted
            "GIDB_GCX_LOGIN_INFO": [dict(ID=6, LOGINID=100, AGENTID=5004, CREATED_TS=T0 - 99_000, DELETED_TS="never")],
        },
        [
            "GIDB_GCX_LOGIN_INFO ID 6: DELETED_TS is 'never': not a number of seconds",
            "INTERACTION_RESOURCE_FACT INTERACTION_RESOURCE_ID 10: START_TS is 'noon': not a number of seconds",
            "SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 40: END_TS is 'soon': not a number of seconds",
            "SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 41: START_TS is 'yesterday': not a number of seconds",
            "SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 43: START_DATE_TIME_KEY is 'today': not a number",
        ],
    ),
    "bot_sessions": (
        "gim",
        {
            "SDR_BOTS_FACT": [
                bot("S7", "noon", 1_000),
                bot("S8", (T0 + 400) * 1000, "long"),
                bot("S10", (T0 + 500) * 1000, 1_000) | {"INTERACTION_ID": "G5"},
            ],
            "INTERACTION_FACT": [
                dict(INTERACTION_ID=1004, TENANT_KEY=1, MEDIA_SERVER_IXN_GUID="G5", START_DATE_TIME_KEY="today")
            ],
        },
        [
            "INTERACTION_FACT INTERACTION_ID 1004: START_DATE_TIME_KEY is 'today': not a number",
            "SDR_BOTS_FACT SESSION_ID S7 #0: START_TS_MS is 'noon': not a number of milliseconds",
            "SDR_BOTS_FACT SESSION_ID S8 #0: DURATION_MS is 'long': not a number of milliseconds",
        ],
    ),
    "media_sessions": (
        "gvp",
        {
            "GVP_CDR": [
                dict(CDR_ID=4, TENANT_ID=101, IVR_PROFILE_ID=1, COMPONENT_NAME="MCP_A", START_TIME_MS="today", END_TIME_MS=None)
            ],
            "GVP_SPEECH_SESSION": [speech(9, 1, (T0 + 70) * 1000, "later"), speech(10, 4, (T0 + 70) * 1000, None)],
        },
        [
            "GVP_CDR CDR_ID 4: START_TIME_MS is 'today': not a number of milliseconds",
            "GVP_SPEECH_SESSION SPEECH_SESSION_ID 9: END_TIME_MS is 'later': not a number of milliseconds",
        ],
    ),
    "voicemail_boxes": (
        "cme",
        {
            "GC_ENDPOINT": [dict(ID=8, TENANTID=101, CREATED_TS=T0 - 1_000, DELETED_TS="never")],
            "GC_ANNEX": [
                annex(12, 8, 2, value="1012"),
                annex(14, 8, 2, value="1014"),  # DN 8 is named once
                annex(13, 1, 2, value="1013", created="monday"),
                annex(16, 5, 5, value="1016", created="monday"),
            ],  # a DN group's option: never read, not named
        },
        [
            "GC_ANNEX ID 13: CREATED_TS is 'monday': not a number of seconds",
            "GC_ENDPOINT ID 8: DELETED_TS is 'never': not a number of seconds",
        ],
    ),
}

CLEAN = {
    "agent_sessions": clean_agent_sessions,
    "bot_sessions": clean_bot_sessions,
    "media_sessions": clean_media_sessions,
    "voicemail_boxes": clean_voicemail_boxes,
}
BASE = {"gim": GIM, "gvp": GVP, "cme": CME}


def with_rows(source, extra):
    return {table: [*rows, *extra.get(table, [])] for table, rows in BASE[source].items()} | {
        table: rows for table, rows in extra.items() if table not in BASE[source]
    }


def named(url, source, dataset, tables):
    """The lines of the dataset's check, with the values the pipeline binds on that database."""
    engine = stage(url, source, tables)
    try:
        return malformed_rows(engine, source, dataset, bound(engine), CONTEXT)
    finally:
        engine.dispose()


def bound(engine, window=WINDOW):
    return query_parameters(101, window, lookback_days=7, dialect=engine.dialect.name)


@pytest.mark.parametrize("dataset", sorted(CLEAN))
def test_well_formed_rows_are_not_named(query_url, dataset):
    source = IMPOSSIBLE[dataset][0]
    assert named(query_url, source, dataset, BASE[source]) == []


@pytest.mark.parametrize("dataset", sorted(IMPOSSIBLE))
def test_impossible_rows_are_named_and_left_out(query_url, dataset, monkeypatch):
    source, extra, want = IMPOSSIBLE[dataset]
    tables = with_rows(source, extra)
    assert named(query_url, source, dataset, tables) == want
    # The dataset is exactly what it is without them: the clean fixture's expected rows.
    monkeypatch.setattr("tests.sql.test_queries.stage", lambda url, src, _: stage(url, src, tables))
    CLEAN[dataset](query_url)


@pytest.mark.parametrize("dataset", sorted(NOT_NUMBERS))
def test_text_where_a_number_belongs_is_named_and_left_out_on_sqlite(tmp_path, dataset, monkeypatch):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    source, extra, want = NOT_NUMBERS[dataset]
    tables = with_rows(source, extra)
    assert named(url, source, dataset, tables) == want
    monkeypatch.setattr("tests.sql.test_queries.stage", lambda url, src, _: stage(url, src, tables))
    CLEAN[dataset](url)  # before, an end of 'soon' made the whole query fail with a type error


def test_typeless_is_bound_unless_the_database_types_its_columns():
    assert {d: query_parameters(101, WINDOW, 7, d)["typeless"] for d in ("sqlite", "postgresql", "mysql", "mssql", None)} == {
        "sqlite": 1,
        "postgresql": 0,
        "mysql": 0,
        "mssql": 0,
        None: 1,  # not known: every check runs
    }


@pytest.fixture(params=["postgres", "mariadb"])
def typed_url(request):
    """A fresh database of an engine that types its columns."""
    return request.getfixturevalue({"postgres": "pg_url", "mariadb": "mariadb_url"}[request.param])


@pytest.mark.parametrize("dataset", sorted(IMPOSSIBLE))
def test_a_typed_database_is_checked_for_every_row_it_can_hold(typed_url, dataset):
    """typeless = 0 leaves out only the reads for text where a number belongs: on PostgreSQL
    and MariaDB the impossible rows are named as with every check on."""
    source, extra, want = IMPOSSIBLE[dataset]
    engine = stage(typed_url, source, with_rows(source, extra))
    try:
        every_check = malformed_rows(engine, source, dataset, bound(engine) | {"typeless": 1}, CONTEXT)
        assert malformed_rows(engine, source, dataset, bound(engine), CONTEXT) == every_check == want
    finally:
        engine.dispose()


def test_a_typed_database_reads_no_table_only_for_text_in_a_number_column(pg_url):
    """On PostgreSQL (typeless = 0) the agent sessions' check plans away its reads of
    INTERACTION_RESOURCE_FACT and the Agent Logins, which look for nothing else; with
    typeless = 1 it reads them."""
    from bds.sources import malformed_sql_file, psycopg_style, sql_text

    engine = stage(pg_url, "gim", GIM)
    sql = "EXPLAIN (COSTS OFF) " + psycopg_style(sql_text(malformed_sql_file("gim", "agent_sessions")))
    try:
        with engine.connect() as connection:
            plans = {
                typeless: " ".join(row[0] for row in connection.exec_driver_sql(sql, bound(engine) | {"typeless": typeless}))
                for typeless in (0, 1)
            }
    finally:
        engine.dispose()
    read_for_text = ("interaction_resource_fact", "gidb_gcx_login_info")
    assert [table for table in read_for_text if table in plans[0].lower()] == []
    assert [table for table in read_for_text if table in plans[1].lower()] == list(read_for_text)
    assert "sm_res_session_fact" in plans[0].lower()


def test_the_tentative_end_of_an_open_session_is_not_read(tmp_path):
    """Info Mart may keep a tentative END_TS on an open session (ACTIVE_FLAG 1): it is never
    read, so text there is no malformed row."""
    open_session = sm(42, 11, 1, T0 + 100, T0 + 200, active=1) | {"END_TS": "later"}
    tables = with_rows("gim", {"SM_RES_SESSION_FACT": [open_session]})
    assert named(f"sqlite:///{tmp_path / 'source.db'}", "gim", "agent_sessions", tables) == []


def test_a_day_that_reads_no_malformed_row_names_none(tmp_path):
    """Session 30 ends before it starts on 2026-03-10: the day after reads no part of it."""
    source, extra, _ = IMPOSSIBLE["agent_sessions"]
    engine = stage(f"sqlite:///{tmp_path / 'source.db'}", source, with_rows(source, extra))
    try:
        assert malformed_rows(engine, source, "agent_sessions", bound(engine, day_window(date(2026, 3, 11))), CONTEXT) == [
            "SM_RES_SESSION_FACT SM_RES_SESSION_FACT_KEY 33: START_TS is missing",  # read by every day that reads its partition
        ]
    finally:
        engine.dispose()


def test_check_rows_fails_the_tenant_day_or_tolerates_them(tmp_path, caplog):
    from bds.errors import PermanentError
    from bds.pipeline import check_rows
    from bds.sources import MalformedRowsError

    source, extra, want = IMPOSSIBLE["agent_sessions"]
    engine = stage(f"sqlite:///{tmp_path / 'source.db'}", source, with_rows(source, extra))
    context = "tenant 'Northwind Care' (101) day 2026-03-10"
    try:
        with pytest.raises(MalformedRowsError) as failed:
            check_rows(engine, "gim", ["agent_sessions", "bot_sessions"], bound(engine), {"readiness": {}}, context)
        assert isinstance(failed.value, PermanentError)
        assert str(failed.value) == (
            f"{context}: Genesys Info Mart (bds_gim) has 3 malformed value(s) in rows that gim/agent_sessions reads: {'; '.join(want)}. "
            "Nothing is billed for the day until they are corrected, or until sources.malformed_rows is 'tolerate' "
            "(the day is then billed without them, and they are counted and named)"
        )
        kept = check_rows(
            engine,
            "gim",
            ["agent_sessions", "bot_sessions"],
            bound(engine),
            {"readiness": {"malformed_rows": "tolerate"}},
            context,
        )
    finally:
        engine.dispose()
    assert kept == {"agent_sessions": {"count": 3, "named": want}}
    assert (
        f"{context}: gim/agent_sessions: 3 malformed value(s) in source rows left out of the counts (sources.malformed_rows: tolerate): "
        f"{'; '.join(want)}" in caplog.text
    )


def test_a_long_listing_names_the_first_twenty_and_counts_the_rest():
    from bds.sources import malformed_listing

    lines = [f"T KEY {n:02}: C is missing" for n in range(23)]
    assert malformed_listing(lines) == "; ".join(lines[:20]) + "; and 3 more"
    assert malformed_listing(lines[:20], 1_000) == "; ".join(lines[:20]) + "; and 980 more"
