"""
### bds_transmit: send the outbox to the billing server

The daily and monthly runs put every new or changed billing file, and its manifest, into the
outbox (the folder of the `bds_outbox` connection) when `billing_server.transmit` is on; an
operator may drop billing files there by hand too. Every hour this DAG

1. **wait_for_outbox**: waits (reschedule mode: no worker slot is held) for a file in the outbox,
   and skips the run if none arrives within the hour;
2. **plan**: groups the files by tenant; files that are not billing files, or belong to no
   configured tenant, are set aside and fail the run at the end (they stay in the outbox);
3. **send** (one task per tenant): uploads each file to `s3://<bucket>/<key_prefix>/<tenant_id>/...`
   through the `bds_s3` connection, verifies size, SHA-256 and encryption, archives it, records
   it in its manifest and takes it out of the outbox; a manifest follows once all its files are in;
4. **summary** fails the run if any file could not be sent (it stays in the outbox).

Wrong credentials, a missing bucket or a refused encryption setting stop a tenant at once with
the file named; network and server errors are retried with exponential backoff.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.sdk import DAG, CronTriggerTimetable, task

from bds.dag_common import DEFAULT_ARGS, START_DATE, TENANT_LABEL, label_tenant, report_run, run_plan

with DAG(
    dag_id="bds_transmit",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # one sender at a time
    # A run that hangs (the wait is at most 55 minutes, each send at most an hour) fails and
    # lets the next one start; what it sent stays sent (each file is uploaded, verified and
    # archived on its own), and the next run sends the rest.
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS,
    tags=["billing", "bds", "transmission"],
) as dag:
    wait_for_outbox = FileSensor(
        task_id="wait_for_outbox",
        fs_conn_id="bds_outbox",
        filepath="**/*.*",  # visible files at any depth (temporary files start with '.')
        recursive=True,
        mode="reschedule",
        poke_interval=60,
        timeout=timedelta(minutes=55).total_seconds(),
        soft_fail=True,  # an empty outbox skips the run
        retries=0,
    )

    @task(retries=0)
    def plan(ti=None, dag_run=None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowSkipException

        from bds.transmission import plan_transmission_run

        work = run_plan(ti, plan_transmission_run, dag_run)  # it takes no run parameters
        if not work:  # emptied since the sensor looked: nothing to send, like an empty outbox
            raise AirflowSkipException("nothing to send: the outbox holds no billing file")
        return work

    @task(map_index_template=TENANT_LABEL)
    def send(work: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from bds.transmission import TransmissionRefused, send_tenant_run

        label_tenant(work)
        try:
            return send_tenant_run(work)
        except TransmissionRefused as exc:  # no retry can fix it: fail now, say what to change
            raise AirflowFailException(str(exc)) from None

    @task(trigger_rule="none_skipped", retries=0, on_failure_callback=None)  # the tenants' failures alerted already
    def summary(ti=None):
        """Report what was sent (what each tenant's send returned); fail the run if a tenant failed or files were set aside."""
        return report_run(ti, results_of="send")

    planned = plan()
    wait_for_outbox >> planned
    send.expand(work=planned) >> summary()
