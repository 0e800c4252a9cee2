"""bds_daily and bds_monthly end to end through Airflow's dag.test().

The demo generator seeds the same days into SQLite and PostgreSQL sources; the billing
files must be the same bytes whichever database served them, and a rerun must not change
a byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import sqlalchemy as sa
import yaml

from bds.files import COLUMNS
from tests.e2e.conftest import (
    BILLED_DAY,
    DAYS,
    DEMO_CONFIG,
    SOURCES,
    expected_names,
    files,
    run_day,
    run_month,
    seed,
    task_states,
    use,
)


def test_daily_run_writes_every_file_and_reruns_byte_identical(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    first = files(tmp_path)
    assert set(first) == expected_names(BILLED_DAY)
    assert len(first) == 16 + 16 + 9  # 7 regional metrics x regions (2, 2, 1) + 2 global, per tenant
    for name, data in first.items():
        lines = data.decode().splitlines()
        assert lines[0] == ",".join(COLUMNS)
        assert all(line.startswith("2026-03-29,") for line in lines[1:]), name
    tailspin = first["CNT_GLOBAL_PES_voicemail_boxes_NOGARN_105_20260329.csv"].decode()
    assert ',"\'=Tailspin Toys, Inc.",,,,,,,,GLOBAL,voicemail_boxes,1,0,26,5,MAILBOXES,' in tailspin
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "archive").rglob("*.csv")}
    # Once the files are stored, render removed the extracts; what it read stays for a rerun of it.
    assert {p.parent.name for p in (tmp_path / "staging").rglob("*") if p.is_file()} == {"daily"}

    assert run_day(bds_daily).state == "success"
    assert files(tmp_path) == first
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "archive").rglob("*.csv")} == mtimes


def rendered(run, task_id: str) -> dict[str, dict]:
    """The rendered template fields of each instance of a mapped task of ``run`` (but its work
    item, which names the run), by its label."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.rendered_map_index, Rendered.rendered_fields)
            .join(
                Rendered,
                (Rendered.dag_id == TaskInstance.dag_id)
                & (Rendered.run_id == TaskInstance.run_id)
                & (Rendered.task_id == TaskInstance.task_id)
                & (Rendered.map_index == TaskInstance.map_index),
            )
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id, TaskInstance.task_id == task_id)
        ).all()
    return {label: {k: v for k, v in fields.items() if k != "work"} for label, fields in rows}


def test_each_extract_shows_the_sql_it_ran_and_the_values_bound_to_it(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    """The Rendered Template tab of an extract task: each query of the source that the tenant's
    metrics need (and its malformed-row check), read from include/sql, and the bound values."""
    from bds.sources import malformed_sql_file, read_sql, sql_text

    use(monkeypatch, tmp_path, sqlite_sources)
    run = run_day(bds_daily)
    assert run.state == "success"
    northwind = rendered(run, "bill_tenant.info_mart.extract_gim")["Northwind Care (101)"]
    assert northwind["sql"] == {
        "agent_sessions": read_sql("gim", "agent_sessions"),
        "malformed/agent_sessions": sql_text(malformed_sql_file("gim", "agent_sessions")),
        "bot_sessions": read_sql("gim", "bot_sessions"),
        "malformed/bot_sessions": sql_text(malformed_sql_file("gim", "bot_sessions")),
    }
    # New York is on EDT (UTC-4) on 2026-03-29: its day is [04:00 UTC, 04:00 UTC the next day);
    # the look-ahead is the default 120 minutes (it bills voicebots), the look-back 7 days.
    utc = pendulum.timezone("UTC")
    day_start = pendulum.datetime(2026, 3, 29, 4, tz=utc).int_timestamp
    day_end = pendulum.datetime(2026, 3, 30, 4, tz=utc).int_timestamp
    seconds = {
        "day_start": day_start,
        "day_end": day_end,
        "lookback_start": pendulum.datetime(2026, 3, 22, 4, tz=utc).int_timestamp,
        "lookahead_end": day_end + 120 * 60,
    }
    # SQLite keeps text in any column: there the malformed-row checks look for it too (typeless).
    ms = {f"{k}_ms": v * 1000 for k, v in seconds.items()}
    assert northwind["parameters"] == {"tenant_id": 101, **seconds, **ms, "typeless": 1}
    assert set(northwind["sql"]) == set(rendered(run, "bill_tenant.info_mart.extract_gim")["Contoso Health (102)"]["sql"])
    voicemail = rendered(run, "bill_tenant.configuration.extract_cme")["Northwind Care (101)"]
    assert (
        set(voicemail["sql"]) == {"voicemail_boxes", "malformed/voicemail_boxes"} and voicemail["parameters"]["tenant_id"] == 101
    )


def test_seat_counts_are_consistent(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    for name, data in files(tmp_path).items():
        rows = [line.split(",") for line in data.decode().splitlines()[1:]]
        if "_PES_seats_" in name:
            concurrent, enabled = (int(r[-1]) for r in rows)
            assert 0 <= concurrent <= enabled, name
    voice_us = files(tmp_path)["CNT_US_PES_seats_inbound_voice_GARN-NW-0101_101_20260329.csv"].decode()
    assert int(voice_us.splitlines()[1].rsplit(",", 1)[1]) > 0


def test_postgres_sources_give_the_same_bytes(bds_daily, sqlite_sources, pg_url, tmp_path, monkeypatch):
    admin = sa.engine.make_url(pg_url)
    schemas = {}
    for source in SOURCES:  # one database per source, as in a real installation
        name = f"{admin.database}_{source}"
        with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        schemas[source] = name
    try:
        seed({s: admin.set(database=schemas[s]).render_as_string(hide_password=False) for s in SOURCES})
        pg_connections = {
            s: json.dumps(
                {
                    "conn_type": "postgres",
                    "host": admin.host,
                    "port": admin.port or 5432,
                    "login": admin.username,
                    "password": admin.password or "",
                    "schema": schemas[s],
                }
            )
            for s in SOURCES
        }
        use(monkeypatch, tmp_path / "pg", pg_connections)
        run = run_day(bds_daily)
        assert run.state == "success"
        extracts = ("bill_tenant.info_mart.extract_gim", "bill_tenant.gvp.extract_gvp", "bill_tenant.configuration.extract_cme")
        on_postgres = {task_id: rendered(run, task_id) for task_id in extracts}  # before the next test run replaces the run
        use(monkeypatch, tmp_path / "sqlite", sqlite_sources)
        run = run_day(bds_daily)
        assert run.state == "success"
        assert files(tmp_path / "pg") == files(tmp_path / "sqlite")
        # The same SQL (no dataset has a PostgreSQL variant) and values, streamed through COPY there,
        # but for typeless: PostgreSQL's typed columns hold no text for the checks to look for.
        on_sqlite = {task_id: rendered(run, task_id) for task_id in extracts}
        typeless = {
            (database, task_id, label): fields["parameters"].pop("typeless")
            for database, found in (("postgresql", on_postgres), ("sqlite", on_sqlite))
            for task_id, by_label in found.items()
            for label, fields in by_label.items()
            if fields["parameters"]
        }
        assert {(database, value) for (database, *_), value in typeless.items()} == {("postgresql", 0), ("sqlite", 1)}
        assert on_postgres == on_sqlite and all(on_postgres.values())
        assert len(files(tmp_path / "pg")) == len(expected_names(BILLED_DAY))
    finally:
        with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:
            for name in schemas.values():
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_bad_configuration_fails_before_anything_is_written(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["tenants"][1]["time_zone"] = "Europe/Atlantis"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    use(monkeypatch, tmp_path / "data", sqlite_sources, config=bad)
    run = run_day(bds_daily)
    assert run.state == "failed"
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert plan.state == "failed"
    assert not (tmp_path / "data" / "archive").exists()


def test_billing_process_switched_off_produces_nothing(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["billing_process_enabled"] = False
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump(raw))
    use(monkeypatch, tmp_path / "data", sqlite_sources, config=off)
    assert run_day(bds_daily).state == "success"
    assert not (tmp_path / "data" / "archive").exists()


def test_failed_source_keeps_other_tenants_and_earlier_files(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert run_day(bds_daily).state == "success"
    before = files(tmp_path)
    broken = dict(sqlite_sources, gvp=json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "missing" / "gvp.db")}))
    use(monkeypatch, tmp_path, broken)
    run = run_day(bds_daily)
    assert run.state == "failed"
    assert files(tmp_path) == before  # nothing lost, nothing half-written
    assert not list((tmp_path / "archive").rglob(".*.tmp"))


def test_month_end_day_announces_the_month(bds_daily, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    assert task_states(run_day(bds_daily, pendulum.date(2026, 3, 30)))["announce_month_end"] == "skipped"
    assert task_states(run_day(bds_daily, pendulum.date(2026, 3, 31)))["announce_month_end"] == "success"


def daily_values(data_dir: Path, tenant_id: int, metric: str, region: str) -> list[list[int]]:
    """MessageSize per row of each daily file of the month, read back from the store."""
    out = []
    for path in sorted((data_dir / "archive" / str(tenant_id) / "daily").rglob(f"CNT_{region}_PES_{metric}_*.csv")):
        out.append([int(line.rsplit(",", 1)[1]) for line in path.read_text().splitlines()[1:]])
    return out


def test_month_rolls_up_the_daily_files(bds_daily, bds_monthly, sqlite_sources, tmp_path, monkeypatch):
    use(monkeypatch, tmp_path, sqlite_sources)
    for day in DAYS:
        assert run_day(bds_daily, day).state == "success"
    assert run_month(bds_monthly).state == "success"
    monthly = files(tmp_path, "monthly")
    assert len(monthly) == 15 + 15 + 8  # 7 regional monthly metrics x regions (2, 2, 1) + voicebot
    assert not [n for n in monthly if "voicemail" in n]  # no monthly characteristic
    voice = monthly["CNT_US_PES_seats_inbound_voice_GARN-NW-0101_101_202603.csv"].decode().splitlines()
    assert voice[1].startswith("2026-03,101,Northwind Care,")
    days = daily_values(tmp_path, 101, "seats_inbound_voice", "US")
    assert len(days) == 7  # live from the 25th
    concurrent, enabled = (int(line.rsplit(",", 1)[1]) for line in voice[1:])
    assert concurrent == max(d[0] for d in days)
    assert max(d[1] for d in days) <= enabled <= sum(d[1] for d in days)
    units = int(monthly["CNT_GLOBAL_PES_voicebot_interactions_NOGARN_105_202603.csv"].decode().splitlines()[1].rsplit(",", 1)[1])
    assert units == sum(d[0] for d in daily_values(tmp_path, 105, "voicebot_interactions", "GLOBAL"))
    assert len(daily_values(tmp_path, 105, "voicebot_interactions", "GLOBAL")) == 4  # live from the 28th

    assert run_month(bds_monthly).state == "success"  # a rerun changes no byte
    assert files(tmp_path, "monthly") == monthly

    missing = next((tmp_path / "archive" / "102" / "daily").rglob("CNT_EU_PES_seats_chat_*_20260327.csv"))
    missing.unlink()
    run = run_month(bds_monthly)
    assert run.state == "failed"
    assert files(tmp_path, "monthly") == monthly  # nothing lost, nothing half-written
