"""The billing ledger on PostgreSQL: written by the step that writes the files, its anomaly
flags by hand-computed rule, and a rebuild from the archive equal to the live ledger."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from bds.files import billing_rows, daily_dir, daily_file_name, monthly_dir, monthly_file_name, render_csv
from bds.ledger import attempts, counts, files, flags, record_attempt
from bds.ledger.cli import main as ledger_cli
from bds.ledger.cli import snapshot
from bds.pipeline import store_files
from tests.sql.ledger_days import CHAT, CONFIG, MARCH, TENANT, VOICEMAIL, day_files, march

pytestmark = pytest.mark.postgres


def render_day(data_dir, day: date, chat: tuple[int, int] | None = (4, 10), voicemail: int | None = 7) -> dict:
    produced = day_files(day, chat, voicemail)
    return store_files(TENANT, day.isoformat(), data_dir, daily_dir(data_dir, 101, day), produced, False, revision=1)


def bill_march(data_dir) -> None:
    """March 1st to 26th, the 20th late; hand-made anomalies (see the test)."""
    for day in range(1, 27):
        if day == 20:
            continue
        chat = {24: (12, 10), 26: (9, 10)}.get(day, (4, 10))
        render_day(data_dir, march(day), chat, 0 if day == 25 else 7)
        if day == 22:  # Info Mart reloaded: the voicemail boxes restated
            render_day(data_dir, march(22), voicemail=8)
    render_day(data_dir, march(23), voicemail=None)  # voicemail switched off for the 23rd, rendered again
    render_day(data_dir, march(20))  # the missing day, at last
    month = {
        monthly_file_name(TENANT, CHAT, "US", MARCH): render_csv(
            billing_rows(TENANT, CHAT, "US", "2026-03", {"concurrent": 12, "enabled": 10})
        )
    }
    store_files(TENANT, "2026-03", data_dir, monthly_dir(data_dir, 101, MARCH), month, False, revision=1)


def open_flags(store) -> set[tuple]:
    with store.reading() as connection:
        rows = connection.execute(
            sa.select(flags.c.kind, flags.c.period_kind, flags.c.period, flags.c.metric, flags.c.region, flags.c.count_name)
        )
        return {(r.kind, r.period_kind, r.period.day, r.metric, r.region, r.count_name) for r in rows}


def test_flags_follow_the_rules_by_hand(ledger, tmp_path):
    bill_march(tmp_path)
    assert open_flags(ledger) == {
        # 24th: Concurrent 12 against a median of 4 on the 3rd, 10th, 17th (+200% > 50%), and above Enabled 10
        ("jump", "day", 24, "seats_chat", "US", "concurrent"),
        ("concurrent_above_enabled", "day", 24, "seats_chat", "US", "concurrent"),
        # 25th: voicemail 0 after 7 on the 24th; and -100% from the median 7 of the 4th, 11th, 18th
        ("zero", "day", 25, "voicemail_boxes", "GLOBAL", "concurrent"),
        ("jump", "day", 25, "voicemail_boxes", "GLOBAL", "concurrent"),
        # 26th: 9 against the median 4 of the 5th, 12th, 19th: +125%
        ("jump", "day", 26, "seats_chat", "US", "concurrent"),
        # 22nd restated (7 -> 8: +14% from its Sundays, no jump); 23rd's voicemail file superseded
        ("restated", "day", 22, "voicemail_boxes", "GLOBAL", ""),
        ("restated", "day", 23, "voicemail_boxes", "GLOBAL", ""),
        # the month's peak 12 above its 10 distinct agents
        ("concurrent_above_enabled", "month", 1, "seats_chat", "US", "concurrent"),
    }  # the 20th was flagged missing when the 21st was billed, and cleared when it came
    with ledger.reading() as connection:
        detail = connection.execute(
            sa.select(flags.c.detail, flags.c.baseline).where(flags.c.kind == "jump", flags.c.period == march(26))
        ).one()
        assert detail.baseline == 4.0 and "+125% from the median 4 of the previous 3 Thursday(s)" in detail.detail
        restated = connection.execute(
            sa.select(flags.c.detail).where(flags.c.kind == "restated", flags.c.period == march(22))
        ).scalar()
        assert restated.endswith("restated: concurrent 7 -> 8")
        current = connection.execute(sa.select(sa.func.count()).select_from(files).where(files.c.current)).scalar()
        old = connection.execute(
            sa.select(files.c.period, files.c.superseded_reason).where(~files.c.current).order_by(files.c.period)
        ).all()
        values = connection.execute(sa.select(sa.func.count(), sa.func.sum(counts.c.value)).where(counts.c.current)).one()
    assert current == 26 * 2 - 1 + 1  # 26 days of two files, less the superseded voicemail file, plus the month
    assert [(p.day, reason.split(":")[0]) for p, reason in old] == [
        (22, "restated"),
        (23, "region GLOBAL is no longer billed for metric voicemail_boxes (switched off, renamed or removed)"),
    ]
    # counts: chat 2 x 26 days; voicemail 25 days (7 on 23 of them, 8 on the 22nd, 0 on the 25th); the month's 2
    assert values == (52 + 25 + 2, (4 + 10) * 24 + (12 + 10) + (9 + 10) + 7 * 23 + 8 + 0 + (12 + 10))


def test_the_missing_day_is_flagged_until_it_is_billed(ledger, tmp_path):
    render_day(tmp_path, march(1))
    render_day(tmp_path, march(4))
    assert {f for f in open_flags(ledger) if f[0] == "missing"} == {
        ("missing", "day", 2, "", "", ""),
        ("missing", "day", 3, "", "", ""),
    }
    render_day(tmp_path, march(2))
    assert {f for f in open_flags(ledger) if f[0] == "missing"} == {("missing", "day", 3, "", "", "")}


def test_the_rebuilt_ledger_equals_the_live_one(ledger, tmp_path, capsys):
    bill_march(tmp_path)
    chat_26 = daily_file_name(TENANT, CHAT, "US", march(26))
    with ledger.writing("test") as connection:
        sha = connection.execute(sa.select(files.c.sha256).where(files.c.name == chat_26)).scalar()
        record_attempt(connection, chat_26, sha, "failed", "the S3 server could not take it now (SlowDown)")
    live = snapshot(ledger)
    assert ("failed",) in {(r[-4],) for r in live["bds_ledger_file"]}
    assert ledger_cli(["check", str(tmp_path)]) == 0
    assert "equal to the archive" in capsys.readouterr().out
    assert ledger_cli(["rebuild", str(tmp_path)]) == 0
    assert snapshot(ledger) == live
    with ledger.reading() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(attempts)).scalar() == 1  # kept by the rebuild
    # A ledger that lost a row no longer matches the archive, and says which
    with ledger.writing("test") as connection:
        connection.execute(counts.delete().where(counts.c.name == chat_26))
    assert ledger_cli(["check", str(tmp_path)]) == 1
    assert f"bds_ledger_count: only in the rebuilt ledger: ('{chat_26}'" in capsys.readouterr().out


def history_then(data_dir, day: int, values: dict[int, int], today: int) -> None:
    """Bill the voicemail count ``values[d]`` on each day d (chat steady), then ``today`` on ``day``."""
    for d, value in sorted(values.items()):
        render_day(data_dir, march(d), (4, 10), value)
    render_day(data_dir, march(day), (4, 10), today)


def flags_of(store, day: int) -> set[str]:
    return {f[0] for f in open_flags(store) if f[2] == day and f[1] == "day"}


@pytest.mark.parametrize(
    ("history", "today", "expected"),
    [
        ({1: 10, 8: 10, 15: 10}, 15, set()),  # +50%: exactly the ratio, not more than it
        ({1: 10, 8: 10, 15: 10}, 16, {"jump"}),  # +60%
        ({1: 10, 8: 10, 15: 10}, 5, set()),  # -50%: exactly
        ({1: 10, 8: 10, 15: 10}, 4, {"jump"}),  # -60%
        ({1: 2, 8: 10, 15: 30}, 15, set()),  # the median (10), not the mean (14): +50%
        ({1: 0, 8: 0, 15: 0}, 9, set()),  # from a median of 0: a new service, not a jump
        ({16: 10, 21: 0}, 0, set()),  # zero after a zero: nothing new (and no Sunday before)
        ({21: 5}, 0, {"zero"}),  # zero after zero_min_before (5); no Sunday before, so no jump
        ({21: 4}, 0, set()),  # zero after fewer: an agent's day off, not a stopped service
        ({1: 8, 8: 8, 15: 8, 21: 8}, 0, {"zero", "jump"}),
    ],
    ids=[
        "at-ratio",
        "above-ratio",
        "at-ratio-down",
        "below-ratio",
        "median-not-mean",
        "median-zero",
        "zero-after-zero",
        "zero-after-non-zero",
        "zero-after-few",
        "zero-and-jump",
    ],
)
def test_jump_and_zero_by_hand(ledger, tmp_path, history, today, expected):
    history_then(tmp_path, 22, history, today)  # the 22nd is a Sunday, as are the 1st, 8th and 15th
    assert flags_of(ledger, 22) == expected


def test_concurrent_equal_to_enabled_is_no_anomaly(ledger, tmp_path):
    render_day(tmp_path, march(1), (10, 10))
    render_day(tmp_path, march(2), (11, 10))
    assert flags_of(ledger, 1) == set() and flags_of(ledger, 2) == {"concurrent_above_enabled"}


def test_the_thresholds_are_those_of_the_files_revision(ledger, tmp_path):
    stricter = CONFIG.model_copy(
        update={"anomalies": CONFIG.anomalies.model_copy(update={"jump_ratio": 0.2, "same_weekday_days": 1})}
    )
    ledger.commit(stricter, 1, "test", "a stricter jump, one week back", "cli")
    for d, value in {1: 100, 8: 10}.items():
        render_day(tmp_path, march(d), voicemail=value)
    produced = {
        daily_file_name(TENANT, VOICEMAIL, "GLOBAL", march(15)): render_csv(
            billing_rows(TENANT, VOICEMAIL, "GLOBAL", "2026-03-15", {"concurrent": 13})
        )
    }  # +30% from the 8th alone (revision 2)
    store_files(TENANT, "2026-03-15", tmp_path, daily_dir(tmp_path, 101, march(15)), produced, False, revision=2)
    render_day(tmp_path, march(22), voicemail=13)  # revision 1: the median of 13, 10, 100 is 13: no jump
    assert flags_of(ledger, 15) == {"jump"} and flags_of(ledger, 22) == set()


def test_a_restated_count_reopens_an_acknowledged_flag(ledger, tmp_path):
    from bds.console.data import anomalies
    from bds.ledger import acknowledge

    render_day(tmp_path, march(1), (12, 10))
    with ledger.writing("test") as connection:
        [flag] = anomalies(connection, "open")
        acknowledge(connection, flag["id"], "op", "a training day")
        assert anomalies(connection, "open") == []
    render_day(tmp_path, march(1), (13, 10))  # restated, still above: a new flag about the new file, and the restatement
    with ledger.reading() as connection:
        assert sorted(f["kind"] for f in anomalies(connection, "open")) == ["concurrent_above_enabled", "restated"]
        assert [f["acknowledged"]["comment"] for f in anomalies(connection, "acknowledged")] == ["a training day"]


def test_the_console_reads_what_the_ledger_holds(ledger, tmp_path):
    """Each page's data, on each database, by hand from ``bill_march``."""
    from bds.console import data

    bill_march(tmp_path)
    with ledger.reading() as connection:
        [row] = data.tenants(connection, CONFIG)
        assert (row["last_billed_day"], row["open_flags"], row["last_run"]) == ("2026-03-26", 8, None)
        results = data.results(connection, CONFIG, 101, march(19), march(26))
        assert results["missing_days"] == [] and results["last_billed_day"] == "2026-03-26"
        series = {(s["metric"], s["region"], s["count"]): s for s in results["series"]}
        chat = series[("seats_chat", "US", "concurrent")]
        assert chat["days"] == {march(d).isoformat(): {24: 12, 26: 9}.get(d, 4) for d in range(19, 27)}
        assert chat["months"] == {"2026-03": 12} and chat["peak_days"] == {"2026-03": march(24).isoformat()}
        voicemail = series[("voicemail_boxes", "GLOBAL", "concurrent")]
        assert march(23).isoformat() not in voicemail["days"] and voicemail["days"][march(22).isoformat()] == 8
        newest = data.anomalies(connection, "open", None, 3)
        assert [(f["period"], f["kind"]) for f in newest][0] == ("2026-03-26", "jump")  # newest first
        assert {(f["period"], f["kind"]) for f in newest[1:]} == {("2026-03-25", "jump"), ("2026-03-25", "zero")}
        files = data.period_files(connection, 101, march(22).isoformat())["files"]
        restated = next(f for f in files if "voicemail" in f["name"])["versions"]
        assert [(v["current"], v["counts"], v["changes"]) for v in restated] == [
            (True, {"concurrent": 8}, [{"count": "concurrent", "old": 7, "new": 8}]),
            (False, {"concurrent": 7}, None),
        ]
        assert data.periods_of(connection, 101)[:3] == ["2026-03-26", "2026-03-25", "2026-03-24"]
        assert "2026-03" in data.periods_of(connection, 101)
        row, path = data.archived_path(connection, tmp_path, restated[1]["name"], restated[1]["sha256"])
        assert path.read_bytes() == (tmp_path / "archive" / row.previous_version).read_bytes() and "versions" in path.parts


def test_the_rebuild_equals_the_live_ledger_after_hard_sequences(ledger, tmp_path, monkeypatch, capsys):
    """A ledger write that failed and was retried, an acknowledged flag whose day is restated,
    a failed send of a version later replaced, and a superseded file whose name comes back."""
    from bds.config.store import StoreUnavailable
    from bds.console.data import anomalies
    from bds.ledger import acknowledge, replay

    for day in range(1, 9):
        render_day(tmp_path, march(day))
    # 1. The 8th restated, but the ledger is out of reach: the files are written, the task fails...
    real = replay.record_period

    def unreachable(*args, **kwargs):
        raise StoreUnavailable("configuration store (test) cannot be written: the database is down")

    monkeypatch.setattr("bds.pipeline.record_period", unreachable)
    with pytest.raises(
        StoreUnavailable, match=r"^tenant 'Northwind' \(101\) 2026-03-08: the files and their manifest are written, but "
    ):
        render_day(tmp_path, march(8), voicemail=9)
    monkeypatch.setattr("bds.pipeline.record_period", real)
    render_day(
        tmp_path, march(8), voicemail=9
    )  # ... and its retry writes the same bytes: the restatement is recorded all the same
    with ledger.reading() as connection:
        old = connection.execute(
            sa.select(files.c.current, files.c.superseded_reason).where(
                files.c.name == daily_file_name(TENANT, VOICEMAIL, "GLOBAL", march(8)), ~files.c.current
            )
        ).one()
        assert old.superseded_reason.startswith("restated")
        assert [f["kind"] for f in anomalies(connection, "open") if f["period"] == "2026-03-08"] == ["restated"]
    # 2. An acknowledged flag, then its day restated
    render_day(tmp_path, march(9), (12, 10))
    with ledger.writing("test") as connection:
        flag = next(f for f in anomalies(connection, "open") if f["kind"] == "concurrent_above_enabled")
        acknowledge(connection, flag["id"], "op", "known")
    render_day(tmp_path, march(9), (13, 10))
    # 3. A failed send of a version that a rerun then replaces
    chat_10 = daily_file_name(TENANT, CHAT, "US", march(10))
    render_day(tmp_path, march(10))
    with ledger.writing("test") as connection:
        sha = connection.execute(sa.select(files.c.sha256).where(files.c.name == chat_10)).scalar()
        record_attempt(connection, chat_10, sha, "failed", "SlowDown")
    render_day(tmp_path, march(10), (5, 10))
    # 4. A file superseded (voicemail off on the 11th), then current again
    render_day(tmp_path, march(11))
    render_day(tmp_path, march(11), voicemail=None)
    render_day(tmp_path, march(11))
    capsys.readouterr()
    assert ledger_cli(["check", str(tmp_path)]) == 0, capsys.readouterr().out
    live = snapshot(ledger)
    assert ledger_cli(["rebuild", str(tmp_path)]) == 0
    assert snapshot(ledger) == live


def test_a_missing_day_before_the_range_shown_is_still_missing(ledger, tmp_path):
    from bds.console.data import results

    render_day(tmp_path, march(1))
    render_day(tmp_path, march(5))
    no_production_date = CONFIG.model_copy(update={"tenants": (TENANT.model_copy(update={"production_date": None}),)})
    with ledger.reading() as connection:  # the first billed day is before the range: the 3rd and 4th were due
        assert results(connection, no_production_date, 101, march(3), march(5))["missing_days"] == ["2026-03-03", "2026-03-04"]
