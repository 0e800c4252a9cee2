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
    """Body of a ``plan`` task: ``planner()`` returns (period, work items, notes). A bad
    configuration or date fails the task at once; the notes go to the log and to XCom."""
    from bds.config import BillingConfigError

    try:
        period, work, notes = planner()
    except (BillingConfigError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from None
    for note in notes:
        print(note)
    ti.xcom_push(key="notes", value=notes)
    ti.xcom_push(key="period", value=period)
    return work


def report_run(ti, rendered) -> None:
    """Body of a ``summary`` task: log what the run did, and fail it if the plan or a tenant failed."""
    from bds.pipeline import finish_run

    print(finish_run(ti.xcom_pull(task_ids="plan"), ti.xcom_pull(task_ids="plan", key="notes") or [], rendered))
