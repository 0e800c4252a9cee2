"""What the DAG files share. Kept light: DAG files import it at parse time (Airflow SDK only)."""

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, get_current_context
from airflow.sdk.exceptions import AirflowFailException

# Emitted by bds_daily when it has billed the last day of a month (extra: {"month": "YYYY-MM"});
# bds_monthly runs on it.
MONTH_END = Asset("bds://billing/daily/month-end")

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

DEFAULT_ARGS = {
    "owner": "billing",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

# Mapped task instances are labelled with their tenant in the UI (see label_tenant).
TENANT_LABEL = "{{ tenant_label }}"


def label_tenant(work: dict) -> None:
    """Call inside a mapped task: names its instance after the tenant it works for."""
    tenant = work["tenant"]
    get_current_context()["tenant_label"] = f"{tenant['name']} ({tenant['tenant_id']})"


def run_plan(ti, planner) -> list[dict]:
    """Body of a ``plan`` task: ``planner()`` returns (period, work items, notes[, rejected]).
    A bad configuration or date fails the task at once; the notes go to the log and to XCom;
    what the plan set aside (``rejected``) fails the run in ``summary``, after the rest is done."""
    from bds.config import BillingConfigError
    from bds.transmission import TransmissionRefused

    try:
        period, work, notes, *rejected = planner()
    except (BillingConfigError, TransmissionRefused, ValueError) as exc:
        raise AirflowFailException(str(exc)) from None
    rejected = rejected[0] if rejected else []
    for line in [*notes, *rejected]:
        print(line)
    if rejected and not work:
        raise AirflowFailException("\n".join(rejected))
    ti.xcom_push(key="notes", value=notes)
    ti.xcom_push(key="rejected", value=rejected)
    ti.xcom_push(key="period", value=period)
    return work


def report_run(ti, results) -> str:
    """Body of a ``summary`` task: the run's summary, in the task log and as the task's
    return value (the run's XCom in the UI); fails the run if the plan or a tenant failed, or
    the plan set something aside (XCom ``rejected`` of the plan task)."""
    from bds.pipeline import finish_run

    plan = {"task_ids": "plan"}
    text = finish_run(
        ti.xcom_pull(**plan), ti.xcom_pull(**plan, key="notes") or [], results, ti.xcom_pull(**plan, key="rejected") or []
    )
    print(text)
    return text
