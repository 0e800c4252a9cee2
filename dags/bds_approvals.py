"""
### bds_approvals: decide on billing files held before transmission

With transmission on, `render` and `roll_up` run the anomaly checks on a tenant-period's files
before they queue them (`approvals` in the configuration; docs/operations.md, "Approval hold
and period close"). Files that raise a check stay in the archive, held, and the
`bds://billing/held` asset starts this DAG (and a daily run at 07:00 UTC, the safety net,
asks about any hold left without a question):

1. **plan**: the waiting holds whose question no longer stands (never asked, timed out, its
   run marked failed or deleted, its answer not applied), or the one named by the `tenant_id`
   and `period` Params (a rejected hold asked again); nothing to ask skips the run;
2. **decide.ask** (one per hold): an approval, answered in **Required Actions** or by the REST
   API, with an optional comment. It waits in the `awaiting_input` state: no worker slot, and
   every hold waits on its own;
3. **decide.apply**: Approve queues the files and the manifest (which records the approval,
   its user and comment, as the change log does) and acknowledges the flags it answered, which
   starts `bds_transmit`; Reject records the rejection and leaves the files held;
4. **summary** says what was decided.

A question not answered within a week fails its `ask` (an alert goes out); the files stay held,
and the next run (the next morning's at the latest) asks again.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, task, task_group

from bds.dag_common import (
    DEFAULT_ARGS,
    HELD,
    OUTBOX,
    QUEUED,
    START_DATE,
    TENANT_LABEL,
    UNFINISHED_STATES,
    label_tenant,
    report_run,
    run_plan,
)
from bds.operators import HoldApproval

ANSWER_WITHIN = timedelta(days=7)

with DAG(
    dag_id="bds_approvals",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 7 * * *", timezone="UTC"), assets=HELD),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=16,  # runs waiting for answers do not stop the next holds from being asked about
    params={
        "tenant_id": Param(
            None, type=["null", "integer"], minimum=1, title="Tenant", description="Ask again about this tenant's hold"
        ),
        "period": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$",
            title="Period",
            description="The held day (YYYY-MM-DD) or month (YYYY-MM) to ask about again",
        ),
    },
    default_args=DEFAULT_ARGS,
    tags=["billing", "bds", "approvals"],
) as dag:

    @task(retries=0)
    def plan(params=None, dag_run=None, ti=None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowSkipException

        from bds.holds import plan_approvals_run

        def still_asking(run_id: str, map_index: int | None) -> bool:
            """Whether that run's question stands: its ask or apply is not finished (an answer
            applied, a timeout, a run marked failed or deleted: it no longer stands)."""
            unfinished = ti.get_ti_count(
                dag_id=dag_run.dag_id,
                run_ids=[run_id],
                task_ids=["decide.ask", "decide.apply"],
                map_index=map_index,
                states=["null", *UNFINISHED_STATES],  # "null": not scheduled yet
            )
            return unfinished > 0

        work = run_plan(
            ti,
            lambda: plan_approvals_run(params.get("tenant_id"), params.get("period"), dag_run.run_id, still_asking),
            dag_run,
            ("tenant_id", "period"),
        )
        if not work:
            raise AirflowSkipException("nothing to ask about: no hold is waiting")
        return work

    @task(map_index_template=TENANT_LABEL, outlets=[QUEUED], retries=2, trigger_rule="all_done")
    def apply(work: dict, ti=None, outlet_events=None) -> dict:
        """Apply the answer of this hold's approval (its XCom); with none (not answered in time),
        leave the files held and the hold to be asked about again."""
        from airflow.sdk.exceptions import AirflowFailException

        from bds.holds import decide_run, unanswered

        label_tenant(work)
        answer = ti.xcom_pull(task_ids="decide.ask", map_indexes=ti.map_index)
        if not answer:
            raise AirflowFailException(unanswered(work, ti.run_id))
        try:
            done = decide_run(work, answer, f"{ti.run_id}/{ti.map_index}")
        except ValueError as exc:  # transmission off: no retry can queue the files
            raise AirflowFailException(str(exc)) from None
        if done["to_outbox"]:
            outlet_events[QUEUED].add(OUTBOX, extra={"tenant_id": done["tenant_id"], "period": done["period"]})
        return done

    @task_group
    def decide(work: dict):
        return HoldApproval(
            task_id="ask", work=work, retries=0, response_timeout=ANSWER_WITHIN, map_index_template=TENANT_LABEL
        ) >> apply(work)

    # Runs after failures too (to report them), but not after a plan with nothing to ask about.
    @task(trigger_rule="none_skipped", retries=0, on_failure_callback=None)
    def summary(ti=None):
        """Report what was decided; fail the run if a decision could not be applied."""
        return report_run(ti, results_of="decide.apply")

    decide.expand(work=plan()) >> summary()
