"""
### bds_housekeeping: nothing grows for ever, and the archive is what its manifests say

Every day at 03:30 UTC, with the settings of `housekeeping` in the configuration (Global
Settings; see `docs/operations.md`, "Housekeeping"):

1. **clean_staging**: a tenant-day's extracts are removed by its own `render`; this removes what
   a month needs (the days' agent sets and results) once the month has been rolled up, after
   its days were last rendered, `month_inputs_days` ago, and anything staged that was not
   written for `staging_days`;
2. **prune_task_logs**: task logs on this machine's disk older than `log_days`;
3. **prune_alerts**: entries of `alerts.jsonl` older than `alert_days`;
4. **verify_archive**, on `verify_weekday` (or when the `verify` Param is set): every manifest
   against its files and, with transmission on, against the bucket. A difference found twice,
   a minute apart, fails the task, and the failure alerts.

Each task logs what it removed and why, and returns it (the task's XCom).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from bds.dag_common import DEFAULT_ARGS, START_DATE

with DAG(
    dag_id="bds_housekeeping",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    params={
        "verify": Param(
            False,
            type="boolean",
            title="Verify the archive",
            description="Verify the archive (and the bucket) today, whatever the day of the week.",
        )
    },
    default_args=DEFAULT_ARGS,
    tags=["billing", "bds", "housekeeping"],
) as dag:

    @task
    def clean_staging() -> list[str]:
        from bds import housekeeping, staging
        from bds.config.store import current_config

        settings = current_config().housekeeping
        return housekeeping.clean_staging(settings, staging.data_dir(), housekeeping.now_utc())

    @task
    def prune_task_logs() -> int:
        from airflow.sdk.configuration import conf

        from bds import housekeeping
        from bds.config.store import current_config

        folder = conf.get("logging", "base_log_folder")
        return housekeeping.prune_task_logs(folder, current_config().housekeeping.log_days, housekeeping.now_utc())

    @task
    def prune_alerts() -> int:
        from bds import housekeeping, staging
        from bds.config.store import current_config

        return housekeeping.prune_alerts(staging.data_dir(), current_config().housekeeping.alert_days, housekeeping.now_utc())

    @task(execution_timeout=timedelta(hours=12))  # a large bucket is many objects
    def verify_archive(params=None, dag_run=None) -> str:
        from airflow.sdk.exceptions import AirflowSkipException

        from bds import housekeeping, staging
        from bds.config.store import current_config

        config = current_config()
        day = (dag_run.logical_date or dag_run.run_after).date()
        if not (params.get("verify") or housekeeping.is_verify_day(config.housekeeping, day)):
            raise AirflowSkipException(f"the archive is verified on {config.housekeeping.verify_weekday}s (verify_weekday)")
        return housekeeping.verify(config, staging.data_dir())

    # Four chores apart: one that fails does not keep the others from running.
    clean_staging()
    prune_task_logs()
    prune_alerts()
    verify_archive()
