"""
### bds_transmit: send the outbox to the billing server

The daily and monthly runs put every new or changed billing file, and its manifest, into the
outbox (the folder of the `bds_outbox` connection) when `billing_server.transmit` is on; an
operator may drop billing files there by hand too.

**When it runs.** As soon as a `render` or `roll_up` has queued files: they emit the
`bds://billing/outbox` asset, which starts this DAG. Every hour as well, the safety net for
files dropped into the outbox by hand (or left there by a failed send); with nothing to send,
that run is skipped.

1. **plan**: groups the outbox's files by tenant; files that are not billing files, or belong to
   no configured tenant, are set aside and fail the run at the end (they stay in the outbox);
   an empty outbox skips the run;
2. **send** (one task per tenant): uploads each file to `s3://<bucket>/<key_prefix>/<tenant_id>/...`
   through the `bds_s3` connection, verifies size, SHA-256 and encryption, archives it, records
   it in its manifest and takes it out of the outbox; a manifest follows once all its files are in;
3. **summary** fails the run if any file could not be sent (it stays in the outbox).

Wrong credentials, a missing bucket or a refused encryption setting stop a tenant at once with
the file named; network and server errors are retried with exponential backoff.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, task

from bds.dag_common import (
    BILLING_SERVER,
    DEFAULT_ARGS,
    OUTBOX,
    START_DATE,
    TENANT_LABEL,
    label_tenant,
    report_run,
    run_plan,
)

with DAG(
    dag_id="bds_transmit",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=OUTBOX),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # one sender at a time
    # A run that hangs (each send has an hour, its execution timeout) fails and
    # lets the next one start; what it sent stays sent (each file is uploaded, verified and
    # archived on its own), and the next run sends the rest.
    dagrun_timeout=timedelta(hours=2),
    default_args=DEFAULT_ARGS,
    tags=["billing", "bds", "transmission"],
) as dag:

    @task(retries=0)
    def plan(ti=None, dag_run=None) -> list[dict]:
        from airflow.sdk.exceptions import AirflowSkipException

        from bds.transmission import plan_transmission_run

        work = run_plan(ti, plan_transmission_run, dag_run)  # it takes no run parameters
        if not work:  # an empty outbox (the hourly run, usually): nothing to do
            raise AirflowSkipException("nothing to send: the outbox holds no billing file")
        return work

    @task(map_index_template=TENANT_LABEL, inlets=[OUTBOX], outlets=[BILLING_SERVER])
    def send(work: dict, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from bds.transmission import TransmissionRefused, send_tenant_run

        label_tenant(work)
        try:
            sent = send_tenant_run(work)
        except TransmissionRefused as exc:  # no retry can fix it: fail now, say what to change
            raise AirflowFailException(str(exc)) from None
        outlet_events[BILLING_SERVER].extra = {
            "tenant_id": sent["tenant_id"],
            "destination": sent["destination"],
            **{key: len(sent[key]) for key in ("sent", "already", "manifests", "waiting")},
        }
        return sent

    @task(trigger_rule="none_skipped", retries=0, on_failure_callback=None)  # the tenants' failures alerted already
    def summary(ti=None):
        """Report what was sent (what each tenant's send returned); fail the run if a tenant failed or files were set aside."""
        return report_run(ti, results_of="send")

    send.expand(work=plan()) >> summary()
