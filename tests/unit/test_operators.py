"""wait_for_day_end: deferred to the triggerer until the moment the plan computed."""

from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk.exceptions import TaskDeferred

from bds.operators import TRIGGER_GRACE, WaitForDayEnd
from bds.pipeline import plan_day
from tests.unit.test_pipeline import config_with


@pytest.fixture
def context(monkeypatch):
    """The task's context, as label_tenant reads it."""
    values = {}
    monkeypatch.setattr("bds.dag_common.get_current_context", lambda: values)
    return values


def planned(raw_config, day: date) -> dict:
    [work], _ = plan_day(config_with(raw_config, west={"time_zone": "America/Los_Angeles"}), day)
    return work


def test_a_day_not_yet_billable_defers_until_its_moment_and_ends_in_the_triggerer(raw_config, context):
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    work = planned(raw_config, tomorrow)
    wait = WaitForDayEnd(task_id="wait_for_day_end", work=work)
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute(context)
    trigger = deferred.value.trigger
    due = datetime.fromisoformat(work["billable_at"])
    assert isinstance(trigger, DateTimeTrigger) and trigger.moment == due
    assert trigger.end_from_trigger  # the task ends in the triggerer: no worker slot after the wait either
    # The trigger's own timeout: the rest of the wait plus the grace (a triggerer down fails it).
    remaining = deferred.value.timeout - TRIGGER_GRACE
    assert timedelta(0) < due - datetime.now(UTC) <= remaining < due - datetime.now(UTC) + timedelta(minutes=1)
    assert deferred.value.method_name == "execute_complete" and wait.execute_complete(context, event=None) is None
    wait.render_template_fields(context)
    assert context["tenant_label"] == "west (1)"  # the deferred instance is named after its tenant


def test_a_day_already_billable_passes_at_once_without_a_trigger(raw_config, context):
    wait = WaitForDayEnd(task_id="wait_for_day_end", work=planned(raw_config, date(2026, 3, 8)))
    assert wait.execute(context) is None


def test_a_work_item_planned_before_the_moment_was_in_it_computes_it(raw_config, context):
    """A cleared task of a run planned by an older version: its item has no billable_at."""
    work = planned(raw_config, datetime.now(UTC).date() + timedelta(days=1))
    due = work.pop("billable_at")
    with pytest.raises(TaskDeferred) as deferred:
        WaitForDayEnd(task_id="wait_for_day_end", work=work).execute(context)
    assert deferred.value.trigger.moment.isoformat() == due
