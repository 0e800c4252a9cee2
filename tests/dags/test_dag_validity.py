"""Every DAG in dags/ parses, quickly and without touching a database, and follows house rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from airflow.models import DagBag

from tests.conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"bds_daily", "bds_monthly", "bds_transmit", "bds_housekeeping", "bds_approvals"}


@pytest.mark.parametrize("dag_id", ["bds_daily", "bds_monthly", "bds_transmit", "bds_housekeeping", "bds_approvals"])
def test_house_rules(dagbag, dag_id):
    """Documented, tagged, no catch-up; every task owned, bounded in time, under the retry
    policy (test_every_task_fails_at_once_on_an_error_no_retry_can_fix) and alerting."""
    from datetime import timedelta

    dag = dagbag.dags[dag_id]
    assert dag.doc_md and dag.tags and "billing" in dag.tags and "bds" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs is not None
    for task in dag.tasks:
        assert task.owner == "billing", task.task_id
        if hasattr(task, "response_timeout"):  # a human-in-the-loop task: bounded by how long it waits for an answer
            assert task.response_timeout is not None and task.response_timeout <= timedelta(days=31), task.task_id
            continue
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=24), task.task_id
        # Planning, reporting and announcing touch no source: retrying them helps nothing.
        assert task.retries >= 2 or task.task_id.rsplit(".", 1)[-1] in {
            "plan",
            "summary",
            "announce_month_end",
            "wait_for_sources",  # they fail with a verdict
        }, task.task_id


def test_bds_daily_structure(dagbag):
    dag = dagbag.dags["bds_daily"]
    ids = set(dag.task_ids)
    assert ids == {
        "plan",
        "bill_tenant.wait_for_day_end",
        "bill_tenant.wait_for_sources",
        "bill_tenant.info_mart.extract_gim",
        "bill_tenant.gvp.extract_gvp",
        "bill_tenant.configuration.extract_cme",
        "bill_tenant.aggregate",
        "bill_tenant.render",
        "summary",
        "announce_month_end",
    }
    from bds.operators import WaitForDayEnd

    assert isinstance(dag.get_task("bill_tenant.wait_for_day_end"), WaitForDayEnd)  # deferred: see tests/unit/test_operators.py
    sources = dag.get_task("bill_tenant.wait_for_sources")
    assert sources.mode == "reschedule" and sources.upstream_task_ids == {"plan", "bill_tenant.wait_for_day_end"}
    assert dag.get_task("bill_tenant.info_mart.extract_gim").upstream_task_ids == {"plan", "bill_tenant.wait_for_sources"}
    pools = json.loads((ROOT / "include" / "airflow" / "pools.json").read_text())
    for source, group in (("gim", "info_mart"), ("gvp", "gvp"), ("cme", "configuration")):
        pool = dag.get_task(f"bill_tenant.{group}.extract_{source}").pool
        assert pool == f"bds_{source}" and pools[pool]["slots"] >= 1  # every source query runs in its pool
    assert dag.get_task("bill_tenant.aggregate").upstream_task_ids == {
        "plan",  # the work item it is mapped over
        "bill_tenant.info_mart.extract_gim",
        "bill_tenant.gvp.extract_gvp",
        "bill_tenant.configuration.extract_cme",
    }
    assert dag.params["date"] is None
    assert [a.uri for a in dag.get_task("announce_month_end").outlets] == ["bds://billing/daily/month-end"]


def test_the_assets_trace_the_billing_data_from_the_sources_to_the_billing_server(dagbag):
    """The Assets view's lineage: sources -> daily files -> monthly files -> outbox -> billing
    server; the outbox asset (emitted through its alias only when files were queued) starts
    bds_transmit."""
    daily, monthly, transmit = (dagbag.dags[d] for d in ("bds_daily", "bds_monthly", "bds_transmit"))

    def uris(assets):
        return {getattr(a, "uri", None) or f"alias:{a.name}" for a in assets}

    for group, source in (
        ("info_mart.extract_gim", "info-mart"),
        ("gvp.extract_gvp", "gvp-reporting"),
        ("configuration.extract_cme", "configuration"),
    ):
        assert uris(daily.get_task(f"bill_tenant.{group}").inlets) == {f"bds://sources/{source}"}
    assert uris(daily.get_task("bill_tenant.render").outlets) == {
        "bds://billing/files/daily",
        "alias:bds-billing-queued",
        "alias:bds-billing-restated",  # a day of a month already rolled up was restated
        "alias:bds-billing-held",  # its files are held for an approval
    }
    roll_up = monthly.get_task("roll_up")
    assert uris(roll_up.inlets) == {"bds://billing/files/daily"}
    assert uris(roll_up.outlets) == {
        "bds://billing/files/monthly",
        "alias:bds-billing-queued",
        "alias:bds-billing-restated",
        "alias:bds-billing-held",
    }
    assert uris(transmit.get_task("send").inlets) == {"bds://billing/outbox"}
    assert uris(transmit.get_task("send").outlets) == {"bds://billing/server"}
    assert "bds://billing/outbox" in str(transmit.timetable.asset_condition)
    assert transmit.timetable.timetable.expression == "0 * * * *"  # the safety net for files dropped by hand


def test_bds_approvals_asks_each_hold_on_its_own_and_queues_what_is_approved(dagbag):
    """A held period starts bds_approvals; each hold gets its own human-in-the-loop approval
    (mapped group: one waiting answer does not hold the others) and the task that applies it,
    which may emit the outbox asset that starts bds_transmit."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = dagbag.dags["bds_approvals"]
    assert set(dag.task_ids) == {"plan", "decide.ask", "decide.apply", "summary"}
    assert "bds://billing/held" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable.expression == "0 7 * * *"  # the safety net: a hold whose question was lost
    assert isinstance(dag.get_task("decide.ask"), ApprovalOperator)
    assert dag.get_task("decide.ask").downstream_task_ids == {"decide.apply"}
    assert {getattr(a, "name", None) for a in dag.get_task("decide.apply").outlets} == {"bds-billing-queued"}
    assert dag.max_active_runs > 1
    assert dag.params["tenant_id"] is None and dag.params["period"] is None
    # Nothing to ask (plan skipped) ends the run quietly; a failure upstream is still reported.
    assert dag.get_task("summary").trigger_rule == "none_skipped"


def test_a_rejected_hold_skips_nothing_so_its_rejection_is_recorded():
    """ApprovalOperator skips the tasks after a Reject; HoldApproval hands its answer on, either
    way, to the task that records it."""
    from unittest.mock import MagicMock

    from airflow.sdk import DAG
    from airflow.sdk.bases.operator import BaseOperator

    from bds.operators import HoldApproval

    with DAG("hold_approval_answer", schedule=None):
        ask = HoldApproval(task_id="ask", work={})
        ask >> BaseOperator(task_id="apply")
    ti = MagicMock()
    at = datetime(2026, 12, 4, 9, tzinfo=UTC)
    event = {"chosen_options": ["Reject"], "params_input": {"comment": "ask sales"}, "responded_at": at}
    answer = ask.execute_complete({"ti": ti, "task": ask}, event | {"responded_by_user": {"id": "op", "name": "op"}})
    assert answer["chosen_options"] == ["Reject"] and answer["params_input"] == {"comment": "ask sales"}
    assert ti.xcom_push.call_count == 0  # no skipmixin record: the next task is not skipped
    assert ask.hitl_summary_extra["approved"] is False


def test_bds_monthly_structure(dagbag):
    dag = dagbag.dags["bds_monthly"]
    assert set(dag.task_ids) == {"plan", "roll_up", "summary"}
    assert dag.timetable.timetable.expression == "0 6 3 * *"  # the safety net: the 3rd of each month
    assert "bds://billing/daily/month-end" in str(dag.timetable.asset_condition)
    assert "bds://billing/daily/restated-month" in str(dag.timetable.asset_condition)
    assert dag.params["month"] is None


def test_failures_alert_and_late_days_alert(dagbag):
    from bds.dag_common import FailureAlert

    for dag in dagbag.dags.values():
        for task in dag.tasks:
            callbacks = task.on_failure_callback or []
            alerted = any(isinstance(c, FailureAlert) for c in (callbacks if isinstance(callbacks, list) else [callbacks]))
            assert alerted != (task.task_id == "summary"), (dag.dag_id, task.task_id)  # summary repeats the tenants'
    assert not dagbag.dags["bds_daily"].deadline  # none unless BDS_DAILY_DEADLINE is set


def test_a_deadline_is_set_from_the_environment():
    code = (
        f"import runpy; dag = runpy.run_path({str(ROOT / 'dags' / 'bds_daily.py')!r})['dag']; d = dag.deadline; "
        "d = d[0] if isinstance(d, list) else d; "
        "print(d.callback.path, d.interval.total_seconds(), d.reference.__class__.__name__)"
    )
    env = dict(os.environ, BDS_DAILY_DEADLINE="06:30 UTC")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[-3:] == ["bds.alerts.files_late", str(30.5 * 3600), "DagRunLogicalDateDeadline"]


def test_deadline_interval_follows_the_local_clock():
    from bds.dag_common import deadline_interval

    winter, summer = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    # 07:00 in New York on the next day: UTC-5 in winter (36 h after 00:00 UTC), UTC-4 in summer (35 h).
    assert deadline_interval("07:00 America/New_York", now=winter) == timedelta(hours=36)
    assert deadline_interval("07:00 America/New_York", now=summer) == timedelta(hours=35)
    assert deadline_interval("06:30", now=winter) == timedelta(hours=30, minutes=30)
    for bad in ("7 o'clock", "25:00 UTC", "07:00 Mars/Olympus"):
        with pytest.raises(ValueError, match="BDS_DAILY_DEADLINE="):
            deadline_interval(bad)


def test_bds_transmit_structure(dagbag):
    dag = dagbag.dags["bds_transmit"]
    assert set(dag.task_ids) == {"plan", "send", "summary"}
    assert dag.max_active_runs == 1 and dag.dagrun_timeout
    assert dag.get_task("send").retry_exponential_backoff


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parse_imports_no_billing_code(path):
    """Parsing a DAG file imports only bds.dag_common and bds.operators (Airflow SDK and
    providers only) and, for what Airflow resolves at parse time, bds.catalogue (the sources'
    connection ids), bds.alerts (the deadline callback), bds.errors (the exception of the retry
    policy) and bds.limits (the extracts' execution timeout), all standard library only: parsing
    stays cheap and needs no configuration."""
    code = (
        "import runpy, sys; "
        f"runpy.run_path({str(path)!r}); "
        "print(sorted(m for m in sys.modules if m == 'bds' or m.startswith('bds.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert set(eval(out[-1])) <= {
        "bds",
        "bds.dag_common",
        "bds.operators",
        "bds.catalogue",
        "bds.alerts",
        "bds.errors",
        "bds.limits",
    }, f"{path.name} imports {out[-1]} at parse time"


def test_manual_run_without_logical_date_bills_the_previous_day(dagbag, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import pendulum

    monkeypatch.setenv("BDS_CONFIG", str(ROOT / "include" / "config" / "demo.yaml"))
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))  # the configuration store: $BDS_DATA_DIR/bds.db, seeded from BDS_CONFIG
    plan = dagbag.dags["bds_daily"].get_task("plan").python_callable
    pushed = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))
    run = SimpleNamespace(
        dag_id="bds_daily", data_interval_start=None, run_after=pendulum.datetime(2026, 3, 30, 6, tz="UTC"), run_id="manual__x"
    )
    work = plan(params={"date": None}, dag_run=run, ti=ti)
    assert {w["day"] for w in work} == {"2026-03-29"}
    assert {w["tenant"]["tenant_id"] for w in work} == {101, 102, 105}
    assert {w["config_revision"] for w in work} == {1}  # each file will name the revision it was produced with
    assert (
        pushed["notes"][0]
        == f"configuration: the empty store was seeded from {ROOT / 'include' / 'config' / 'demo.yaml'} as revision 1"
    )
    work = plan(params={"date": "2026-03-27"}, dag_run=run, ti=ti)
    assert {w["day"] for w in work} == {"2026-03-27"}
    # 105's production date is 2026-03-28: not billed on the 27th, and the plan says so.
    assert {w["tenant"]["tenant_id"] for w in work} == {101, 102}
    assert (
        "tenant '=Tailspin Toys, Inc.' (105) 2026-03-27: 2026-03-27 is before the production date 2026-03-28; skipped"
        in pushed["notes"]
    )


def test_every_task_fails_at_once_on_an_error_no_retry_can_fix(dagbag):
    """The retry policy of every task: a PermanentError fails it now; anything else follows the
    task's retries (a source or the billing server out of reach is retried)."""
    import errno

    from airflow.sdk import RetryAction

    from bds.config import BillingConfigError
    from bds.errors import StorageError
    from bds.monthly import MissingDailyFilesError
    from bds.sources import MalformedRowsError, SourceError, SourceSetupError
    from bds.transmission import TransmissionError, TransmissionRefused

    permanent = [
        BillingConfigError("x"),
        MissingDailyFilesError("x"),
        TransmissionRefused("x"),
        SourceSetupError("x"),
        StorageError(errno.ENOSPC, "x"),
        MalformedRowsError("x"),
    ]
    transient = [SourceError("x"), TransmissionError("x"), OSError(errno.EIO, "x"), ConnectionError("x")]
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            policy = task.retry_policy
            assert policy is not None, f"{dag.dag_id}.{task.task_id}"
            assert {policy.evaluate(e, 1, 3).action for e in permanent} == {RetryAction.FAIL}, f"{dag.dag_id}.{task.task_id}"
            assert {policy.evaluate(e, 1, 3).action for e in transient} == {RetryAction.DEFAULT}, f"{dag.dag_id}.{task.task_id}"


def test_a_task_loading_the_plugins_imports_no_api_code():
    """Every task process loads the plugins (Airflow looks for macros in them): the configuration
    API's plugin registers an app that builds itself on its first request, so tasks import
    neither it nor FastAPI's or Airflow's API modules."""
    code = (
        "import sys; from airflow.sdk.plugins_manager import integrate_macros_plugins, _get_plugins; "
        "integrate_macros_plugins(); "
        "print([p.name for p in _get_plugins()[0]], sorted(m for m in sys.modules if m.startswith(('bds.config.api', 'airflow.api_fastapi'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    assert out == "['bds_configuration'] []", out
