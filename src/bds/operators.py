"""The bds operators the DAG files use. Imported at parse time: Airflow SDK only; what a task
needs beyond it is imported when it runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import BaseOperator

from bds.dag_common import label_tenant

# A trigger that has not fired this long after its moment (a triggerer down) fails the wait,
# which is retried like any other task.
TRIGGER_GRACE = timedelta(hours=1)


class WaitForDayEnd(BaseOperator):
    """Waits until the tenant's day becomes billable (``billable_at``, computed by ``plan``: the
    end of its local day, plus the look-ahead, plus the settle time), deferred to the triggerer
    on the standard provider's ``DateTimeTrigger``: a waiting tenant holds no worker slot, no
    pool slot and no process, and the trigger ends the task itself when the moment comes. A day
    that is already billable (a backfill, a rerun) passes at once, without a trigger."""

    # In a mapped task group the work item arrives as the group's argument, which rendering
    # resolves (as a whole: nothing inside it is rendered as Jinja); the Rendered Template tab
    # shows it.
    template_fields = ("work",)
    ui_color = "#e9f2fb"

    def __init__(self, *, work: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.work = work

    def render_template_fields(self, context, jinja_env=None) -> None:
        # Labelled as soon as the work item is resolved: Airflow renders the label before the task
        # runs and after it ends, but not when it defers, and a deferred tenant should be named.
        super().render_template_fields(context, jinja_env)
        label_tenant(self.work, context)

    def execute(self, context) -> None:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from bds.pipeline import label, ready_at

        # A work item planned before billable_at existed (a cleared task of an older run) has none.
        due = datetime.fromisoformat(self.work["billable_at"]) if "billable_at" in self.work else ready_at(self.work)
        now = datetime.now(timezone.utc)
        if now >= due:
            self.log.info("%s: billable since %s; ready", label(self.work), due.isoformat())
            return
        self.log.info("%s: billable from %s; deferred until then", label(self.work), due.isoformat())
        self.defer(
            trigger=DateTimeTrigger(moment=due, end_from_trigger=True),
            method_name="execute_complete",
            timeout=due - now + TRIGGER_GRACE,
        )

    def execute_complete(self, context, event=None) -> None:
        """Where a trigger that does not end the task itself (``airflow dags test``) resumes."""
        return None
