"""What the DAG files share. Kept light: DAG files import it at parse time (Airflow SDK only)."""

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import (
    Asset,
    AssetAlias,
    AsyncCallback,
    BaseNotifier,
    DeadlineAlert,
    DeadlineReference,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
)
from airflow.sdk.exceptions import AirflowFailException

from bds.catalogue import SOURCES

# The billing data's lineage, as the Assets view shows it (docs/operations.md, "Assets"):
# the sources -> the daily files -> the monthly files -> the outbox -> the billing server.
SOURCE_ASSETS = {
    "gim": Asset("bds://sources/info-mart", group="bds-sources"),
    "gvp": Asset("bds://sources/gvp-reporting", group="bds-sources"),
    "cme": Asset("bds://sources/configuration", group="bds-sources"),
}
# Emitted by every render and roll_up, with the tenant, the period and what changed in the extra.
DAILY_FILES = Asset("bds://billing/files/daily", group="bds-billing")
MONTHLY_FILES = Asset("bds://billing/files/monthly", group="bds-billing")
# Emitted by bds_daily when it has billed the last day of a month (extra: {"month": "YYYY-MM"});
# bds_monthly runs on it.
MONTH_END = Asset("bds://billing/daily/month-end", group="bds-billing")
# Emitted, through the alias, by a render that restated a day of a month that already has
# monthly files (extra: {"month", "tenant_id", "day"}); bds_monthly rolls that month up again.
MONTH_RESTATED = Asset("bds://billing/daily/restated-month", group="bds-billing")
RESTATED = AssetAlias("bds-billing-restated", group="bds-billing")
# Emitted, through the alias, only by a render or roll_up that put files into the outbox;
# bds_transmit runs on it (and every hour, for files dropped there by hand).
OUTBOX = Asset("bds://billing/outbox", group="bds-billing")
QUEUED = AssetAlias("bds-billing-queued", group="bds-billing")
# Emitted, through the alias, by a render or roll_up whose files are held for an approval
# (extra: {"tenant_id", "period", "reasons"}); bds_approvals asks for a decision on it.
HELD = Asset("bds://billing/held", group="bds-billing")
HOLDING = AssetAlias("bds-billing-held", group="bds-billing")
# Airflow's task instance states of a task that has not finished (besides none: not scheduled yet).
UNFINISHED_STATES = (
    "scheduled",
    "queued",
    "running",
    "deferred",
    "awaiting_input",
    "up_for_retry",
    "up_for_reschedule",
    "restarting",
)
# Emitted by every send, with the tenant, the destination and what was sent in the extra.
BILLING_SERVER = Asset("bds://billing/server", group="bds-billing")

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

POOLS_ENV = "BDS_POOLS"
POOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")


def source_pools(default: Path) -> dict[str, tuple[str, ...]]:
    """Per source, the Airflow pools its extracts run in, as the deployment's pools file lists
    them (``$BDS_POOLS``, else ``default``: include/airflow/pools.json, the file
    ``airflow pools import`` creates them from). First the source's shared pool, named after
    its shared connection (bds_gim, bds_gvp, bds_cme); then one per connection that has a pool
    of its own: named after the connection, with ``"source"`` saying which source it reads.
    A connection without a pool of its own runs in its source's shared pool."""
    path = Path(os.environ.get(POOLS_ENV) or default)
    try:
        pools = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read the pools file {path} (${POOLS_ENV}): {exc}") from None
    for name, pool in pools.items():
        if "source" in pool and (pool["source"] not in SOURCES or not POOL_NAME.fullmatch(name)):
            raise RuntimeError(
                f"{path}: pool {name!r}: a connection's pool needs a source ({', '.join(SOURCES)}; it has "
                f"{pool['source']!r}) and a name of letters, digits, '_' and '-' (it names the extract task)"
            )
    return {
        source: (shared, *sorted(name for name, pool in pools.items() if pool.get("source") == source and name != shared))
        for source, (shared, _) in SOURCES.items()
    }


def announce_files(stored: dict, files: Asset, outlet_events) -> dict:
    """In render and roll_up: say on the files' asset event which tenant-period this was and
    what changed; if anything went into the outbox, emit the outbox asset that starts
    bds_transmit; if its files are held for an approval, the held asset that starts
    bds_approvals; if a day of a month already rolled up was restated, emit the restated-month
    asset that starts bds_monthly for it. Returns ``stored`` (what the task returns)."""
    extra = {
        "tenant_id": stored["tenant_id"],
        "period": stored["period"],
        **{key: len(stored[key]) for key in ("created", "changed", "unchanged", "superseded", "queued")},
    }
    outlet_events[files].extra = extra
    if stored.get("to_outbox"):
        outlet_events[QUEUED].add(OUTBOX, extra=extra)
    if stored.get("ask"):
        outlet_events[HOLDING].add(
            HELD, extra={"tenant_id": stored["tenant_id"], "period": stored["period"], "reasons": stored["held"]}
        )
    if stored.get("month_restated"):
        day = stored.get("restated_day", stored["period"])
        restated = {"month": stored["month_restated"], "tenant_id": stored["tenant_id"], "day": day}
        outlet_events[RESTATED].add(MONTH_RESTATED, extra=restated)
    return stored


class FailureAlert(BaseNotifier):
    """Failure callback of bds tasks: logs the failure, keeps it in alerts.jsonl and posts it
    to the ``bds_alerts`` webhook when that connection exists (see bds.alerts)."""

    def notify(self, context):
        from bds.alerts import task_failed

        task_failed(context)


# Errors no retry can fix (bds.errors.PermanentError: a bad configuration, a purged day, a
# missing daily file, a failed reconciliation, a refused upload, a full disk, ...) fail the
# task at once, so the alert goes out now; the rest (a source or the billing server out of
# reach, a locked database) is retried with backoff.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[RetryRule(exception="bds.errors.PermanentError", action=RetryAction.FAIL, reason="no retry can fix this")]
)

DEFAULT_ARGS = {
    "owner": "billing",
    # Nothing hangs forever: a task that runs past this fails (and is retried); the extracts,
    # whose queries have a limit of their own, get theirs from it (bds.limits.extract_timeout).
    "execution_timeout": timedelta(hours=1),
    "retry_policy": RETRY_POLICY,
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "on_failure_callback": FailureAlert(),  # after the last retry only
}

DEADLINE_ENV = "BDS_DAILY_DEADLINE"


def deadline_interval(setting: str, now: datetime | None = None) -> timedelta:
    """From a run's logical date (its billing day, 00:00 UTC) to ``HH:MM <time zone>`` on the
    next day, e.g. ``07:00 America/New_York``. The zone's offset is taken as it is at ``now``:
    DAG files are parsed again all the time, so it follows the change to and from summer time."""
    try:
        clock, zone = (setting.split() + ["UTC"])[:2]
        hours, minutes = (int(part) for part in clock.split(":"))
        tz = ZoneInfo(zone)
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError(clock)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{DEADLINE_ENV}={setting!r}: expected 'HH:MM Area/City', e.g. '07:00 America/New_York'") from exc
    offset = (now or datetime.now(UTC)).astimezone(tz).utcoffset()
    return timedelta(days=1, hours=hours, minutes=minutes) - offset


def daily_deadline() -> DeadlineAlert | None:
    """Alert when a day's run has not finished by ``$BDS_DAILY_DEADLINE`` on the next day; the
    alert goes where failures go (bds.alerts.files_late). Unset, there is no deadline: Airflow
    3.3.2's ``dag.test()`` (and so ``airflow dags test``, which the demo uses) cannot finish a
    successful run of a DAG that has one."""
    setting = os.environ.get(DEADLINE_ENV)
    if not setting:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=deadline_interval(setting),
        callback=AsyncCallback("bds.alerts.files_late"),
    )


# Mapped task instances are labelled with their tenant in the UI (see label_tenant).
TENANT_LABEL = "{{ tenant_label }}"


def label_tenant(work: dict, context=None) -> None:
    """Call inside a mapped task (or pass its ``context``): names its instance after the tenant
    it works for."""
    from bds.config import task_label

    tenant = work["tenant"]
    (context if context is not None else get_current_context())["tenant_label"] = task_label(tenant["name"], tenant["tenant_id"])


def refuse_quiet_mistakes(dag_run, accepted: tuple[str, ...]) -> None:
    """Refuse run parameters (the run's conf) that would otherwise do the wrong thing quietly:
    a key the DAG does not take (a typo of ``date`` would bill yesterday), and in a backfill
    the period parameter (every run of the backfill would bill that one period)."""
    import difflib

    conf = dict(getattr(dag_run, "conf", None) or {})
    problems = []
    for key in sorted(set(conf) - set(accepted)):
        close = difflib.get_close_matches(key, accepted, n=1)
        takes = f"it takes {', '.join(repr(k) for k in accepted)}" if accepted else "it takes none"
        problems.append(f"unknown run parameter {key!r}{f' (did you mean {close[0]!r}?)' if close else ''}; {takes}")
    for key in accepted:  # DagRunType is a str enum: it equals its value
        if getattr(dag_run, "run_type", None) == "backfill" and conf.get(key):
            problems.append(
                f"a backfill bills each run's own period: {key}={conf[key]!r} would make every run of it bill "
                f"that one; start the backfill again without {key!r}"
            )
    if problems:
        raise AirflowFailException("refused run parameters: " + "; ".join(problems))


def run_plan(ti, planner, dag_run=None, accepted: tuple[str, ...] = (), note_period: bool = False) -> list[dict]:
    """Body of a ``plan`` task: ``planner()`` returns (period, work items, notes[, rejected]).
    Bad run parameters, a bad configuration or date fail the task at once; the notes go to the
    log and to XCom; what the plan set aside (``rejected``) fails the run in ``summary``, after
    the rest is done. With ``note_period``, the run's note in the UI says which period it bills
    (bds.run_note)."""
    from bds.config import BillingConfigError
    from bds.transmission import TransmissionRefused

    if dag_run is not None:
        refuse_quiet_mistakes(dag_run, accepted)
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
    if note_period and dag_run is not None:
        from bds import run_note

        note = run_note.text(period, run_note.tenants_of(work))
        try:
            print(run_note.set_note(dag_run.dag_id, dag_run.run_id, note))
        except Exception as exc:  # a note never fails billing: a connection that cannot be read, a bad URL
            print(f"run note not set ({type(exc).__name__}: {exc}): {note}")
    return work


def mapped_results(ti, task_id: str) -> list:
    """What every instance of a mapped task (or of a task in a mapped task group) returned, as a
    list, however many instances there were. Asked for a single task id, ``xcom_pull`` hands back
    a lone instance's value by itself rather than in a list, and None when there is none; asked
    for a list of task ids, it always returns a list ([None] when no instance returned anything)."""
    return [value for value in ti.xcom_pull(task_ids=[task_id]) if value is not None]


def report_run(ti, results_of: str) -> str:
    """Body of a ``summary`` task: the run's summary, in the task log and as the task's
    return value (the run's XCom in the UI), from what the plan and every instance of the mapped
    task ``results_of`` returned. Fails the run if the plan or a tenant failed, or the plan set
    something aside (XCom ``rejected`` of the plan task)."""
    from bds.pipeline import finish_run

    plan = {"task_ids": "plan"}
    text = finish_run(
        ti.xcom_pull(**plan),
        ti.xcom_pull(**plan, key="notes") or [],
        mapped_results(ti, results_of),
        ti.xcom_pull(**plan, key="rejected") or [],
    )
    print(text)
    return text
