"""
### bds_daily: one run per billed day

For every enabled PureConnect tenant, bill one calendar day (in the tenant's time zone):

1. **plan**: load and validate the billing configuration; decide which tenants are billed.
   A bad configuration fails here, before anything is written.
2. **wait_for_day_end**: never bill a tenant's day before it has ended in its own time zone
   (deferred to the triggerer until the moment the plan computed: a waiting tenant holds no
   worker slot); **wait_for_sources**: wait until Info Mart has loaded the day, and refuse a day a source has
   already purged (see `docs/sources.md`).
3. **info_mart / gvp / configuration**: run the dataset SQL of each source
   (`include/sql/<source>/`) against the tenant's connections to it (by default the shared
   `bds_gim`, `bds_gvp` and `bds_cme`) into the staging location; each task's Rendered
   Template tab shows its SQL and the values bound to it. Each extract runs in its
   connection's pool; where connections have pools of their own (`include/airflow/pools.json`),
   each pool's extract follows an **in_<pool>** gate that lets through only the tenants of
   that pool (the others' are skipped).
4. **aggregate**: compute the enabled metrics (see `docs/metrics.md`).
5. **render**: write one CSV per (tenant, region or GLOBAL, metric, day) into the local store;
   with transmission on, queue them, which starts `bds_transmit` through the outbox asset. A
   day restated after its month was rolled up emits the restated-month asset: `bds_monthly`
   rolls that tenant's month up again, and sends what changed as a correction.
6. **summary** fails the run if a tenant failed; on the last day of a month
   **announce_month_end** emits the `bds://billing/daily/month-end` asset that starts `bds_monthly`.

The billed day is the run's data interval start (scheduled runs and backfills), the
`date` Param if given, or, for a manual run without a logical date, the previous day.
Rebuild a range with `airflow backfill create --dag-id bds_daily --from-date ... --to-date ...`.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, PokeReturnValue, TaskGroup, task, task_group
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from bds.dag_common import (
    DAILY_FILES,
    DEFAULT_ARGS,
    HOLDING,
    MONTH_END,
    QUEUED,
    RESTATED,
    SOURCE_ASSETS,
    START_DATE,
    TENANT_LABEL,
    announce_files,
    daily_deadline,
    label_tenant,
    report_run,
    run_plan,
    source_pools,
)
from bds.limits import extract_timeout
from bds.operators import ExtractOperator, WaitForDayEnd

EXTRACT_TIMEOUT = extract_timeout()  # from $BDS_QUERY_TIMEOUT_MINUTES, the source queries' limit
# Per source, its shared pool and the pools of connections that have their own: one extract
# task each, so that one slow database does not hold the slots of the others.
SOURCE_POOLS = source_pools(Path(__file__).resolve().parents[1] / "include" / "airflow" / "pools.json")
GROUPS = {"gim": "info_mart", "gvp": "gvp", "cme": "configuration"}
ROUTED = any(len(pools) > 1 for pools in SOURCE_POOLS.values())


def extract_task_id(source: str, pool: str) -> str:
    return f"extract_{source}" if pool == SOURCE_POOLS[source][0] else f"extract_{source}_via_{pool}"


with DAG(
    dag_id="bds_daily",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    params={
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Billing day",
            description="Bill this day (YYYY-MM-DD) instead of the run's data interval.",
        )
    },
    default_args=DEFAULT_ARGS,
    deadline=daily_deadline(),  # alert when a day's files are late, if $BDS_DAILY_DEADLINE is set
    tags=["billing", "bds", "daily"],
) as dag:

    @task(retries=0)
    def plan(params=None, dag_run=None, ti=None) -> list[dict]:
        from bds.pipeline import plan_daily_run

        return run_plan(
            ti,
            lambda: plan_daily_run(params.get("date"), dag_run.data_interval_start, dag_run.run_after, dag_run.run_id),
            dag_run,
            accepted=("date",),
            note_period=True,  # the run's note says which period it bills
        )

    @task.sensor(mode="reschedule", poke_interval=600, timeout=8 * 24 * 3600, retries=0, map_index_template=TENANT_LABEL)
    def wait_for_sources(work: dict) -> PokeReturnValue:
        """Info Mart has loaded the day, and no source has purged it (its own timeout: sources.timeout_minutes)."""
        from bds.pipeline import sources_ready
        from bds.readiness import SourceNotReadyError

        label_tenant(work)
        try:
            done, found = sources_ready(work)
        except SourceNotReadyError as exc:  # purged, or not loaded in time: say which source and day
            raise AirflowFailException(str(exc)) from None
        print("\n".join(found), "; ready" if done else "; waiting", sep="")
        return PokeReturnValue(is_done=done)

    @task(retries=0, map_index_template=TENANT_LABEL)
    def in_pool(work: dict, source: str, pool: str) -> str:
        """Go on to this pool's extract only if the tenant's connection to the source runs in it;
        skipped, the extract after it is skipped too."""
        from bds.pipeline import extract_pool

        label_tenant(work)
        chosen = extract_pool(work, source, SOURCE_POOLS[source])
        if chosen != pool:
            raise AirflowSkipException(f"its connection to {source} runs in pool {chosen}")
        return pool

    # Where a source has several pools, the extracts of all pools but one are skipped.
    @task(map_index_template=TENANT_LABEL, trigger_rule="none_failed_min_one_success" if ROUTED else "all_success")
    def aggregate(work: dict) -> dict:
        from bds.pipeline import aggregate as aggregate_day

        label_tenant(work)
        return aggregate_day(work)

    @task(map_index_template=TENANT_LABEL, outlets=[DAILY_FILES, QUEUED, RESTATED, HOLDING])
    def render(work: dict, outlet_events=None) -> dict:
        from bds.pipeline import render as render_day

        label_tenant(work)
        return announce_files(render_day(work), DAILY_FILES, outlet_events)

    @task_group
    def bill_tenant(work: dict):
        day_end = WaitForDayEnd(task_id="wait_for_day_end", work=work, map_index_template=TENANT_LABEL)
        ready = day_end >> wait_for_sources(work)
        staged = []
        for source, pools in SOURCE_POOLS.items():
            with TaskGroup(GROUPS[source]):
                for pool in pools:  # the pool caps the queries on its connection (include/airflow/pools.json)
                    extract = ExtractOperator(
                        task_id=extract_task_id(source, pool),
                        source=source,
                        work=work,
                        pool=pool,
                        execution_timeout=EXTRACT_TIMEOUT,
                        inlets=[SOURCE_ASSETS[source]],
                        map_index_template=TENANT_LABEL,
                    )
                    staged.append(extract)
                    # A gate per pool (not a branch: a branch's decision does not reach the
                    # instances of a mapped task group in Airflow 3.3), in the default pool.
                    gate = in_pool.override(task_id=f"in_{pool}")(work, source, pool) if len(pools) > 1 else None
                    ready >> (gate or extract)
                    if gate:
                        gate >> extract
        return staged >> aggregate(work) >> render(work)

    @task(trigger_rule="all_done", retries=0, on_failure_callback=None)  # the tenants' failures alerted already
    def summary(ti=None):
        """Report what the run did (what each tenant's render returned); fail the run if any tenant (or the plan) failed."""
        return report_run(ti, results_of="bill_tenant.render")

    @task(outlets=[MONTH_END], retries=0)
    def announce_month_end(ti=None, outlet_events=None):
        """On the last day of a month, tell bds_monthly the month's daily files are complete."""
        day = date.fromisoformat(ti.xcom_pull(task_ids="plan", key="period"))
        if (day + timedelta(days=1)).day != 1:
            raise AirflowSkipException(f"{day} is not the last day of its month")
        outlet_events[MONTH_END].extra = {"month": f"{day:%Y-%m}"}

    bill_tenant.expand(work=plan()) >> summary() >> announce_month_end()
