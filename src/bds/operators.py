"""The bds operators the DAG files use. Imported at parse time: Airflow SDK only; what a task
needs beyond it is imported when it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.common.sql.operators.sql import BaseSQLOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import BaseOperator, Param

from bds.catalogue import SOURCES
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
        now = datetime.now(UTC)
        if now >= due:
            self.log.info("%s: billable since %s; ready", label(self.work), due.isoformat())
            return
        self.log.info("%s: billable from %s; deferred until then", label(self.work), due.isoformat())
        self.defer(  # its own timeout: Airflow 3.3 does not count a deferral against the execution timeout
            trigger=DateTimeTrigger(moment=due, end_from_trigger=True),
            method_name="execute_complete",
            timeout=due - now + TRIGGER_GRACE,
        )

    def execute_complete(self, context, event=None) -> None:
        """Where a trigger that does not end the task itself (``airflow dags test``) resumes."""
        return None


class ExtractOperator(BaseSQLOperator):
    """One tenant-day's extract from one source into the staging location, on the common-sql
    provider's ``BaseSQLOperator``: the hook is the tenant's connection to the source (``get_db_hook``;
    ``get_hook`` for a tenant's further GVP Reporting Servers), and
    ``sql`` (each dataset's query from ``include/sql/<source>/``, in the connection's dialect,
    with its malformed-row check) and ``parameters`` (the values bound to them) are template
    fields, so the task's Rendered Template tab shows exactly what ran and with what values.
    On PostgreSQL the rows stream out through ``COPY``; elsewhere through the driver's cursor
    (docs/operations.md, "Extracts")."""

    template_fields = ("work", "sql", "parameters")
    template_fields_renderers = {"sql": "json", "parameters": "json"}
    ui_color = "#cdaaed"

    def __init__(self, *, source: str, work: dict, **kwargs) -> None:
        super().__init__(conn_id=SOURCES[source][0], **kwargs)
        self.source = source
        self.work = work
        self.sql: dict[str, str] = {}  # filled when rendered, for the tenant's metrics and the connection's dialect
        self.parameters: dict = {}
        self.dialect: str | None = None

    def render_template_fields(self, context, jinja_env=None) -> None:
        from bds.config import Tenant
        from bds.pipeline import extract_queries

        super().render_template_fields(context, jinja_env)  # resolves the work item
        label_tenant(self.work, context)
        # The tenant's connection to the source (for GVP, its first location's Reporting Server):
        # the hook and the dialect the queries are rendered for.
        self.conn_id = Tenant.model_validate(self.work["tenant"]).connections(self.source)[0]
        try:
            engine = self.get_db_hook().get_sqlalchemy_engine()
            self.dialect = engine.dialect.name
            engine.dispose()
        except Exception:  # an unusable connection: execute fails, naming the tenant, day and connection
            self.dialect = None
        self.sql, self.parameters = extract_queries(self.work, self.source, self.dialect)

    def execute(self, context) -> dict:
        from bds.pipeline import extract_source

        # A connection of another dialect than the rendered one (or any, if the dialect was not
        # known when rendered) gets its queries chosen again.
        return extract_source(
            self.work,
            self.source,
            hook_for=lambda conn_id: self.get_hook(conn_id=conn_id, hook_params=self.hook_params),
            queries=(self.dialect, self.sql, self.parameters),
        )


class HoldApproval(ApprovalOperator):
    """Asks whether a held tenant-period's files may be sent (bds.holds), through Airflow's
    human-in-the-loop approval: answered in the UI's Required Actions, or by the REST API
    (``PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails``, ``chosen_options``
    Approve or Reject, ``params_input`` {"comment": ...}). It waits in the ``awaiting_input``
    state: no worker slot, and each hold waits on its own. The decision itself, either way, is
    applied by the task after it, which reads this one's answer: a Reject skips nothing."""

    template_fields = (*ApprovalOperator.template_fields, "work")

    def __init__(self, *, work: dict, **kwargs) -> None:
        kwargs.pop("params", None)  # the DAG's (a human-in-the-loop task asks only for its own)
        super().__init__(
            subject="Send the held billing files?",  # named after the hold once the work item is resolved
            params={
                "comment": Param(
                    "", type="string", maxLength=2000, title="Comment", description="Why: kept in the change log and the manifest"
                )
            },
            **kwargs,
        )
        self.work = work

    def execute_complete(self, context, event):
        # The answer, without ApprovalOperator's skip of the tasks after a Reject: the next task
        # records a rejection as it records an approval.
        answer = HITLOperator.execute_complete(self, context, event)
        self.hitl_summary_extra["approved"] = answer["chosen_options"] == [self.APPROVE]
        return answer

    def render_template_fields(self, context, jinja_env=None) -> None:
        super().render_template_fields(context, jinja_env)
        label_tenant(self.work, context)
        hold = self.work["hold"]
        self.subject = f"Send the held billing files of {self.work['label']} (revision {hold['revision']})?"
        reasons = "\n".join(f"- **{r['kind']}**: {r['detail']}" for r in hold["reasons"])
        listed = "\n".join(f"- `{name}`" for name in hold["files"])
        self.body = (
            f"Held at {hold['held_at']} by run `{hold['held_by_run']}` because:\n\n{reasons}\n\n"
            f"Files waiting in the archive:\n\n{listed}\n\n"
            "**Approve**: they are queued for transmission and the flags above are acknowledged. "
            "**Reject**: they stay held (the console shows the period as held)."
        )
