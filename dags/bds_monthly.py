"""
### bds_monthly: one run per billed month

For every enabled PureConnect tenant, roll a calendar month (in the tenant's time zone) up
from its daily files, for the metrics with a monthly characteristic:

- Concurrent agents and port peaks: the highest daily value;
- Enabled agents: the distinct agents over the month, from the per-day agent sets;
- voicebot units: the sum of the daily units;
- `voicemail_boxes` has no monthly characteristic and gets no monthly file.

The month is billed from the tenant's production date when that falls inside it. Before a
file is written the rollup is reconciled with the month's daily files; a missing daily file
stops the tenant with the metric and days.

**When it runs.** Right after `bds_daily` has billed the last day of a month (it emits the
`bds://billing/daily/month-end` asset); when `bds_daily` has restated a day of a month that
already has monthly files (the `bds://billing/daily/restated-month` asset: that tenant's month
is rolled up again, and what changed is queued as a correction); and, as a safety net, on the
3rd of every month for the month before. The billed month is the `month` Param (every tenant),
else the months the assets announced (every tenant for a month-end, the restated tenants for a
restatement), else the month of the run's data interval start. Rebuild months with
`airflow backfill create --dag-id bds_monthly --from-date 2026-01-01 --to-date 2026-03-31`
(January, February and March).
"""

from __future__ import annotations

from airflow.sdk import DAG, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, task

from bds.dag_common import (
    DAILY_FILES,
    DEFAULT_ARGS,
    HOLDING,
    MONTH_END,
    MONTH_RESTATED,
    MONTHLY_FILES,
    QUEUED,
    RESTATED,
    START_DATE,
    TENANT_LABEL,
    announce_files,
    label_tenant,
    report_run,
    run_plan,
)

with DAG(
    dag_id="bds_monthly",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 6 3 * *", timezone="UTC"),
        assets=MONTH_END | MONTH_RESTATED,
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    params={
        "month": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            title="Billing month",
            description="Roll up this month (YYYY-MM) instead of the one the run was started for.",
        )
    },
    default_args=DEFAULT_ARGS,
    tags=["billing", "bds", "monthly"],
) as dag:

    @task(retries=0)
    def plan(params=None, dag_run=None, ti=None, triggering_asset_events=None) -> list[dict]:
        from bds.pipeline import plan_monthly_run

        # What bds_daily announced: months ended ({"month"}), and tenants' months restated
        # ({"month", "tenant_id", "day"}).
        announced = [dict(event.extra or {}) for events in (triggering_asset_events or {}).values() for event in events]
        return run_plan(
            ti,
            lambda: plan_monthly_run(params.get("month"), announced, dag_run.data_interval_start, dag_run.run_after),
            dag_run,
            accepted=("month",),
            note_period=True,  # the run's note says which period it bills
        )

    @task(map_index_template=TENANT_LABEL, inlets=[DAILY_FILES], outlets=[MONTHLY_FILES, QUEUED, RESTATED, HOLDING])
    def roll_up(work: dict, outlet_events=None) -> dict:
        from bds.pipeline import render_month

        label_tenant(work)
        return announce_files(render_month(work), MONTHLY_FILES, outlet_events)

    @task(trigger_rule="all_done", retries=0, on_failure_callback=None)  # the tenants' failures alerted already
    def summary(ti=None):
        """Report what the run did (what each tenant's roll_up returned); fail the run if any tenant (or the plan) failed."""
        return report_run(ti, results_of="roll_up")

    roll_up.expand(work=plan()) >> summary()
