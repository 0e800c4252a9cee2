"""The approval hold and the period close, on the ledger's database (SQLite and PostgreSQL) and
a real S3 API on loopback: each check raising and not raising on a hand-made history, an
approval and a rejection, and a closed month."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bds import changes, holds, manifest
from bds.config import Approvals, parse_billing_config
from bds.files import billing_rows, daily_dir, manifest_name, monthly_dir, monthly_file_name, render_csv
from bds.ledger import acks, files
from bds.pipeline import store_files
from bds.transmission import outbox_files, plan_outbox, send_tenant
from tests.sql.ledger_days import CHAT, CONFIG, MARCH, TENANT, day_files, march

pytestmark = pytest.mark.postgres
FEBRUARY = date(2026, 2, 1)


@pytest.fixture
def sending(s3_bucket, outbox):
    """The configuration with transmission on, to the test's bucket."""
    raw = CONFIG.model_dump(mode="json")
    raw["billing_server"] |= {"transmit": True, "bucket": s3_bucket}
    return parse_billing_config(raw)


def bill(data_dir, day: date, chat=(4, 10), voicemail=7, approvals: Approvals | None = None) -> dict:
    """Tenant 101's day, stored with transmission on (queued, or held)."""
    produced = day_files(day, chat, voicemail)
    return store_files(
        TENANT, day.isoformat(), data_dir, daily_dir(data_dir, 101, day), produced, True, revision=1, approvals=approvals
    )


def bill_month(data_dir, first: date, concurrent=4, enabled=10, approvals: Approvals | None = None) -> dict:
    produced = {
        monthly_file_name(TENANT, CHAT, "US", first): render_csv(
            billing_rows(TENANT, CHAT, "US", f"{first:%Y-%m}", {"concurrent": concurrent, "enabled": enabled})
        )
    }
    folder = monthly_dir(data_dir, 101, first)
    return store_files(TENANT, f"{first:%Y-%m}", data_dir, folder, produced, True, revision=1, approvals=approvals)


def send_all(config, data_dir, outbox) -> None:
    work, _, rejected = plan_outbox(config, outbox)
    assert rejected == []
    for item in work:
        send_tenant(item, data_dir, outbox)
    assert outbox_files(outbox) == []


def history(data_dir, days: range, first: date = MARCH) -> None:
    """Plain days: chat 4 of 10, voicemail 7; nothing to flag."""
    for n in days:
        stored = bill(data_dir, first + timedelta(days=n - 1))
        assert stored["held"] == [], stored["summary"]


def queued(outbox) -> set[str]:
    return {p.name for p in outbox_files(outbox)}


def ledger_states(store, day: date) -> set[str]:
    with store.reading() as connection:
        return set(connection.execute(sa.select(files.c.state).where(files.c.period == day, files.c.current)).scalars())


@pytest.mark.parametrize(
    ("chat", "voicemail", "raised"),
    [
        ((4, 10), 7, []),  # as every Thursday: nothing
        ((5, 10), 7, []),  # +25% from the median 4 of the 5th, 12th and 19th: within 50%
        ((9, 10), 7, ["jump"]),  # +125%
        ((1, 10), 7, ["jump"]),  # -75%
        ((4, 10), 0, ["jump", "zero"]),  # voicemail 0 after 7 on the 25th (and -100% from its Thursdays)
        ((12, 10), 7, ["concurrent_above_enabled", "jump"]),  # Concurrent 12 above Enabled 10 (and +200%)
        ((10, 10), 7, ["jump"]),  # Concurrent equal to Enabled is no anomaly; +150% is
    ],
)
def test_a_day_is_held_exactly_when_a_check_is_raised(ledger, sending, outbox, tmp_path, chat, voicemail, raised):
    history(tmp_path, range(1, 26))
    before = queued(outbox)
    stored = bill(tmp_path, march(26), chat, voicemail)  # a Thursday
    assert sorted(set(stored["held"])) == raised
    names = set(day_files(march(26), chat, voicemail))
    record = holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-26"))
    if raised:
        assert queued(outbox) == before  # neither the files nor the manifest went into the outbox
        assert record["state"] == "waiting" and set(record["files"]) == names and record["revision"] == 1
        assert "HELD for approval, 2 file(s) stay in the archive" in stored["summary"]
        assert ledger_states(ledger, march(26)) == {"held"}
    else:
        assert queued(outbox) == before | names | {"MANIFEST_101_20260326.json"}
        assert record is None
        assert ledger_states(ledger, march(26)) == {"queued"}


def test_only_the_checks_chosen_hold_and_the_hold_can_be_switched_off(ledger, sending, outbox, tmp_path):
    history(tmp_path, range(1, 26))
    zero_only = Approvals(hold_on=("zero",))
    assert bill(tmp_path, march(26), (12, 10), 7, zero_only)["held"] == []  # a jump, Concurrent above Enabled: not chosen
    assert bill(tmp_path, march(27), (4, 10), 0, zero_only)["held"] == ["zero"]
    assert bill(tmp_path, march(28), (4, 10), 0, Approvals(hold=False))["held"] == []
    assert "MANIFEST_101_20260328.json" in queued(outbox)


def test_a_missing_day_holds_the_next_one(ledger, sending, outbox, tmp_path):
    history(tmp_path, range(1, 4))
    stored = bill(tmp_path, march(5))  # the 4th was never billed
    assert stored["held"] == ["missing"]
    record = holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-05"))
    assert record["reasons"][0]["detail"] == "no billing file for 2026-03-04: days before and after it were billed"
    fifth = set(day_files(march(5))) | {"MANIFEST_101_20260305.json"}
    assert not fifth & queued(outbox)
    filled = bill(tmp_path, march(4))  # the missing day itself: the days around it are billed
    assert filled["held"] == [] and filled["to_outbox"]
    # ... and the 5th, held for it alone, is released: queued with its manifest, its hold over.
    assert "tenant 101 2026-03-05: released (day 2026-03-04 is billed now: nothing holds it any more)" in filled["summary"]
    assert fifth <= queued(outbox) and ledger_states(ledger, march(5)) == {"queued"}
    assert holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-05"))["state"] == "cleared"
    assert bill(tmp_path, march(6))["held"] == []  # the gap is filled: the next day goes


def test_a_restatement_is_held_once_its_month_was_sent(ledger, sending, outbox, tmp_path):
    history(tmp_path, range(1, 4), FEBRUARY)
    send_all(sending, tmp_path, outbox)
    # A sent day restated while its month is not sent yet: a plain correction, queued.
    assert bill(tmp_path, FEBRUARY + timedelta(days=1), voicemail=8)["held"] == []
    assert bill_month(tmp_path, FEBRUARY)["held"] == []
    send_all(sending, tmp_path, outbox)
    # Now the month is sent: restating one of its days, or the month itself, is held.
    assert bill(tmp_path, FEBRUARY + timedelta(days=2), voicemail=8)["held"] == ["restated"]
    month = bill_month(tmp_path, FEBRUARY, concurrent=5)
    assert sorted(month["held"]) == ["held_day", "restated"]
    record = holds.read_hold(holds.hold_path(tmp_path, 101, "2026-02"))
    assert {r["kind"]: r["detail"] for r in record["reasons"]}["held_day"] == "day 2026-02-03 is waiting"
    assert queued(outbox) == set()
    # A day billed for the first time in a month already sent is no restatement.
    assert bill(tmp_path, FEBRUARY + timedelta(days=3))["held"] == []


def test_an_approval_queues_the_files_and_is_recorded_a_rejection_keeps_them_held(ledger, sending, outbox, tmp_path):
    history(tmp_path, range(1, 26))
    assert bill(tmp_path, march(26), (9, 10))["held"] == ["jump"]
    asked = holds.to_ask(tmp_path, "run-1")
    assert [(h["tenant_id"], h["period"]) for h in asked] == [(101, "2026-03-26")]
    assert holds.to_ask(tmp_path, "run-2") == []  # asked once: another run does not ask again
    before = queued(outbox)

    rejected = holds.decide(ledger, tmp_path, asked[0], "Northwind 2026-03-26", False, "op1", "a campaign? ask sales", None)
    assert (
        rejected["summary"] == "Northwind 2026-03-26: rejected by op1 (a campaign? ask sales); its files stay held in the archive"
    )
    assert queued(outbox) == before and ledger_states(ledger, march(26)) == {"held"}
    record = holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-26"))
    assert record["state"] == "rejected" and [h["period"] for h in holds.open_holds(tmp_path)] == ["2026-03-26"]
    # Asked again by name: approved.
    again = holds.to_ask(tmp_path, "run-3", 101, "2026-03-26")
    approved = holds.decide(ledger, tmp_path, again[0], "Northwind 2026-03-26", True, "op2", "sales confirmed", outbox)
    day_manifest = daily_dir(tmp_path, 101, march(26)) / manifest_name(101, "20260326")
    assert queued(outbox) == before | set(day_files(march(26), (9, 10))) | {day_manifest.name}
    assert approved["queued"] == sorted(day_files(march(26), (9, 10))) and approved["to_outbox"]
    assert ledger_states(ledger, march(26)) == {"queued"}
    decisions = manifest.read(day_manifest)["approvals"]
    assert [(d["decision"], d["by"], d["comment"], d["revision"], d["reasons"]) for d in decisions] == [
        ("rejected", "op1", "a campaign? ask sales", 1, ["jump"]),
        ("approved", "op2", "sales confirmed", 1, ["jump"]),
    ]
    assert json.loads((outbox / "101/daily/2026/03" / day_manifest.name).read_bytes())["approvals"] == decisions
    logged = [c for c in changes.read(tmp_path) if c.get("decision")]
    assert [(c["period"], c["decision"], c["by"]) for c in logged] == [
        ("2026-03-26", "rejected", "op1"),
        ("2026-03-26", "approved", "op2"),
    ]
    with ledger.reading() as connection:
        assert connection.execute(sa.select(acks.c.acked_by, acks.c.comment)).all() == [("op2", "sales confirmed")]
    assert holds.open_holds(tmp_path) == []
    # Rendered again with the same counts before they were sent: its flag is acknowledged, nothing holds it.
    assert bill(tmp_path, march(26), (9, 10))["held"] == []
    send_all(sending, tmp_path, outbox)


def test_a_decision_on_a_hold_rendered_again_since_changes_nothing(ledger, sending, outbox, tmp_path):
    history(tmp_path, range(1, 26))
    assert bill(tmp_path, march(26), (9, 10))["ask"]
    asked = holds.to_ask(tmp_path, "run-1")[0]
    # The same files rendered again (a rerun, a retried task): still held, not asked about twice.
    again = bill(tmp_path, march(26), (9, 10))
    assert again["held"] == ["jump"] and not again["ask"]
    assert holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-26"))["asked_in"] == "run-1"
    assert bill(tmp_path, march(26), (12, 10))["held"]  # other files held now
    done = holds.decide(ledger, tmp_path, asked, "Northwind 2026-03-26", True, "op", "", outbox)
    assert done["summary"] == (
        "Northwind 2026-03-26: approved by op, but it was rendered again since: other files are held now, "
        "and their own question is asked; nothing done"
    )
    assert done["queued"] == [] and not done["to_outbox"]
    record = holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-26"))
    assert record["state"] == "waiting" and "asked_in" not in record and record["decisions"] == []


def test_a_closed_month_holds_its_corrections_whatever_the_hold_says(ledger, sending, outbox, tmp_path):
    no_hold_closing = Approvals(hold=False, close_after_days=0)  # closed as soon as it was sent
    history(tmp_path, range(1, 4), FEBRUARY)
    bill_month(tmp_path, FEBRUARY)
    send_all(sending, tmp_path, outbox)
    # Not closed yet with 30 days to go: a correction goes as any other.
    assert bill(tmp_path, FEBRUARY, voicemail=8, approvals=Approvals(hold=False, close_after_days=30))["held"] == []
    stored = bill(tmp_path, FEBRUARY + timedelta(days=1), voicemail=9, approvals=no_hold_closing)
    assert stored["held"] == ["closed"]
    day_manifest = manifest.read(daily_dir(tmp_path, 101, FEBRUARY + timedelta(days=1)) / manifest_name(101, "20260202"))
    correction = day_manifest["correction_of_closed_period"]
    sent_at = max(
        e["uploaded_at"] for e in manifest.read(monthly_dir(tmp_path, 101, FEBRUARY) / manifest_name(101, "202602"))["files"]
    )
    assert correction == {"month": "2026-02", "closed_at": sent_at}  # closed 0 days after it was sent
    month = bill_month(tmp_path, FEBRUARY, concurrent=5, approvals=no_hold_closing)
    assert month["held"] == ["closed"]  # held days count only when the hold is on
    month_manifest = manifest.read(monthly_dir(tmp_path, 101, FEBRUARY) / manifest_name(101, "202602"))
    assert month_manifest["revision"] == 2 and month_manifest["correction_of_closed_period"]["month"] == "2026-02"
    # Unchanged files rendered again: nothing to queue, nothing held, the manifest as it was.
    assert bill(tmp_path, FEBRUARY + timedelta(days=2), approvals=no_hold_closing)["held"] == []
    third = manifest.read(daily_dir(tmp_path, 101, FEBRUARY + timedelta(days=2)) / manifest_name(101, "20260203"))
    assert "correction_of_closed_period" not in third


def test_a_rebuilt_ledger_keeps_the_held_files_held_and_the_console_lists_them(ledger, sending, outbox, tmp_path):
    from bds.console.data import held_periods, tenants
    from bds.ledger.replay import rebuild

    history(tmp_path, range(1, 26))
    bill(tmp_path, march(26), (9, 10))
    bill(tmp_path, march(27), (4, 10), 0)
    with ledger.reading() as connection:
        assert held_periods(connection) == {101: ["2026-03-26", "2026-03-27"]}
    rebuild(ledger, tmp_path, outbox)
    with ledger.reading() as connection:
        assert held_periods(connection) == {101: ["2026-03-26", "2026-03-27"]}
        assert tenants(connection, CONFIG)[0]["held"] == ["2026-03-26", "2026-03-27"]
    assert ledger_states(ledger, march(25)) == {"queued"}


def test_a_hold_whose_question_no_longer_stands_is_asked_again_and_one_that_stands_is_not_asked_twice(
    ledger, sending, outbox, tmp_path, monkeypatch
):
    monkeypatch.setenv("BDS_CONFIG_SOURCE", "store")
    history(tmp_path, range(1, 26))
    assert bill(tmp_path, march(26), (9, 10))["held"] == ["jump"]  # 9 against 4 on the Thursdays before: +125%
    assert bill(tmp_path, march(27), (9, 10))["held"] == ["jump"]  # and on the Fridays
    gone = holds.hold_path(tmp_path, 999, "2026-03-26")  # a tenant no longer configured
    holds.write_hold(gone, {"tenant_id": 999, "period": "2026-03-26", "state": "waiting", "reasons": [], "files": {}})
    day26, day27 = (holds.hold_path(tmp_path, 101, p) for p in ("2026-03-26", "2026-03-27"))
    standing = set()  # the questions whose ask or apply is not finished: (run, map index)

    def still_asking(run_id, map_index):
        return (run_id, map_index) in standing

    def plan(run_id, tenant_id=None, period=None):
        _, work, notes = holds.plan_approvals_run(tenant_id, period, run_id, still_asking)
        return [w["hold"]["period"] for w in work], notes

    asked, notes = plan("run-1")
    assert asked == ["2026-03-26", "2026-03-27"]
    assert notes[1:] == [
        "tenant 999 2026-03-26: held, but the tenant is no longer configured",
        "tenant 'Northwind' (101) 2026-03-26: held (jump: seats_chat US concurrent: 9, +125% from the median 4 of the "
        "previous 3 Thursday(s) (more than 50%)); asking for a decision",
        "tenant 'Northwind' (101) 2026-03-27: held (jump: seats_chat US concurrent: 9, +125% from the median 4 of the "
        "previous 3 Friday(s) (more than 50%)); asking for a decision",
    ]
    assert [(holds.read_hold(p)["asked_in"], holds.read_hold(p)["asked_as"]) for p in (day26, day27)] == [
        ("run-1", 0),
        ("run-1", 1),
    ]
    assert "asked_in" not in holds.read_hold(gone)  # never asked: asked about once configured again
    # Both questions stand: neither the next run nor a run naming a hold asks again.
    standing |= {("run-1", 0), ("run-1", 1)}
    assert plan("run-2")[0] == []
    with pytest.raises(
        ValueError, match=r"tenant 101 2026-03-27 is asked about already: its question waits in bds_approvals run run-1"
    ):
        plan("run-2", 101, "2026-03-27")
    # The 27th's answer came but could not be applied (its apply failed), while the 26th still
    # waits in the same run: the next run asks about the 27th alone.
    standing.discard(("run-1", 1))
    asked, notes = plan("run-3")
    assert asked == ["2026-03-27"]
    assert notes[-1].endswith("asking for a decision again (its question in run run-1 no longer stands)")
    assert (holds.read_hold(day27)["asked_in"], holds.read_hold(day27)["asked_as"]) == ("run-3", 0)
    assert holds.read_hold(day26)["asked_in"] == "run-1"
    standing.add(("run-3", 0))
    # run-1 marked failed or deleted: its question about the 26th no longer stands; asked by name.
    standing.discard(("run-1", 0))
    assert plan("run-4", 101, "2026-03-26")[0] == ["2026-03-26"]
    # That question timed out: the hold is free for the next run, and the alert says so.
    work = holds.plan_approvals_run(None, None, "run-5", still_asking)[1]
    assert [w["hold"]["period"] for w in work] == ["2026-03-26"]  # run-4 is not standing either
    assert holds.unanswered(work[0], "run-5") == (
        "tenant 'Northwind' (101) 2026-03-26: no decision came; its files stay held (waiting): the next bds_approvals "
        "run (07:00 UTC at the latest) asks again, or trigger bds_approvals with tenant_id 101 and period 2026-03-26 now"
    )
    assert {"asked_in", "asked_as"}.isdisjoint(holds.read_hold(day26))
    # Rejected, then asked about again by name: while that question stands it is not asked twice,
    # and unanswered, only an operator asks once more.
    rejected = holds.decide(ledger, tmp_path, holds.read_hold(day26), "Northwind 2026-03-26", False, "op", "", None)
    assert rejected["summary"].startswith("Northwind 2026-03-26: rejected by op")
    assert {"asked_in", "asked_as"}.isdisjoint(holds.read_hold(day26))
    again = holds.plan_approvals_run(101, "2026-03-26", "run-6", still_asking)[1]
    standing.add(("run-6", 0))
    with pytest.raises(ValueError, match="its question waits in bds_approvals run run-6"):
        plan("run-7", 101, "2026-03-26")
    standing.clear()
    assert holds.unanswered(again[0], "run-6").endswith(
        "no decision came; its files stay held (rejected): trigger bds_approvals with tenant_id 101 and period 2026-03-26 to ask again"
    )
    assert plan("run-8")[0] == ["2026-03-27"]  # the rejected 26th waits for an operator


def test_asking_again_needs_a_held_period_named_whole(ledger, tmp_path, monkeypatch):
    monkeypatch.setenv("BDS_CONFIG_SOURCE", "store")
    with pytest.raises(ValueError, match="name both tenant_id and period"):
        holds.plan_approvals_run(101, None, "run")
    with pytest.raises(ValueError, match=r"period '2026-3-1' is neither YYYY-MM-DD nor YYYY-MM"):
        holds.plan_approvals_run(101, "2026-3-1", "run")
    with pytest.raises(ValueError, match=r"tenant 101 2026-03-05 has no open hold to ask about \(never held\)"):
        holds.plan_approvals_run(101, "2026-03-05", "run")
    with pytest.raises(ValueError):
        holds.hold_path(tmp_path, 101, "../../etc")  # a period is a date, never a path


def test_a_held_period_leaves_nothing_in_the_outbox_and_a_decision_stands_for_its_files(ledger, sending, outbox, tmp_path):
    from bds.ledger import acknowledge, flags

    history(tmp_path, range(1, 26))
    bill(tmp_path, march(26))  # queued, not sent yet
    assert "MANIFEST_101_20260326.json" in queued(outbox)
    assert bill(tmp_path, march(26), (9, 10))["held"] == ["jump"]  # rendered again: a jump
    assert not {n for n in queued(outbox) if n.endswith("_20260326.csv") or n.endswith("_20260326.json")}
    asked = holds.to_ask(tmp_path, "run-1")[0]
    holds.decide(ledger, tmp_path, asked, "Northwind 2026-03-26", False, "op", "no", None, "run-1/0")
    with ledger.writing("test") as connection:  # its flag acknowledged on the Anomalies page afterwards
        flag = connection.execute(sa.select(flags.c.id).where(flags.c.period == march(26))).scalar()
        acknowledge(connection, flag, "op2", "looked at it")
    rerun = bill(tmp_path, march(26), (9, 10))
    assert rerun["held"] == ["jump"] and not rerun["ask"]  # the rejected files: held as they were
    assert "(rejected)" in rerun["summary"]
    assert holds.read_hold(holds.hold_path(tmp_path, 101, "2026-03-26"))["state"] == "rejected"
    assert not {n for n in queued(outbox) if "_20260326." in n}


def test_a_decision_is_applied_once_whatever_retries_and_only_to_the_files_asked_about(ledger, sending, outbox, tmp_path):
    history(tmp_path, range(1, 26))
    bill(tmp_path, march(26), (9, 10))
    asked = holds.to_ask(tmp_path, "run-1")[0]
    path = holds.hold_path(tmp_path, 101, "2026-03-26")
    # A first attempt that died after recording the decision in the manifest and the change log ...
    record = holds.read_hold(path)
    decision = {
        "id": "run-1/0",
        "decision": "approved",
        "by": "op",
        "at": "2026-03-27T08:00:00.000000Z",
        "comment": "ok",
        "revision": 1,
        "reasons": ["jump"],
    }
    holds.write_hold(path, record | {"deciding": decision})
    folder = daily_dir(tmp_path, 101, march(26))
    manifest.record_decision(folder / manifest_name(101, "20260326"), decision)
    # ... and its retry: the rest done, nothing twice.
    done = holds.decide(ledger, tmp_path, asked, "Northwind 2026-03-26", True, "op", "ok", outbox, "run-1/0")
    assert done["to_outbox"] and len(done["queued"]) == 2
    assert [a["id"] for a in manifest.read(folder / manifest_name(101, "20260326"))["approvals"]] == ["run-1/0"]
    assert [c["id"] for c in changes.read(tmp_path) if "decision" in c] == ["run-1/0"]
    assert holds.read_hold(path)["state"] == "approved" and "deciding" not in holds.read_hold(path)
    # Rendered again while still in the outbox: the approval of these files stands.
    assert bill(tmp_path, march(26), (9, 10))["held"] == []

    bill(tmp_path, march(27), (4, 10), 0)
    asked = holds.to_ask(tmp_path, "run-2")[0]
    name = next(iter(asked["files"]))
    (folder / name).write_bytes((folder / name).read_bytes() + b"\r\n")  # the archive changed by hand
    done = holds.decide(ledger, tmp_path, asked, "Northwind 2026-03-27", True, "op", "", outbox, "run-2/0")
    assert done["summary"].endswith("the archive no longer holds the files it was asked about (rerun the period); nothing done")
    assert not {n for n in queued(outbox) if "_20260327." in n}


def test_a_closed_month_holds_a_correction_that_only_supersedes_a_file(ledger, sending, outbox, tmp_path):
    closing = Approvals(hold=False, close_after_days=0)
    history(tmp_path, range(1, 4), FEBRUARY)
    bill_month(tmp_path, FEBRUARY)
    send_all(sending, tmp_path, outbox)
    stored = bill(tmp_path, FEBRUARY + timedelta(days=1), voicemail=None, approvals=closing)  # voicemail switched off
    assert stored["superseded"] and stored["held"] == ["closed"]
    assert queued(outbox) == set()  # the manifest that would move the file aside waits too
