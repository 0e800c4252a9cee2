"""Alerts: a task that failed for good, and a day whose files are late.

Every alert is logged, appended to ``$BDS_DATA_DIR/alerts.jsonl`` (one JSON object per
line), and, when the Airflow connection ``bds_alerts`` exists, posted as JSON through the http
provider's ``HttpNotifier`` (Slack, Teams, Mattermost and most chat tools take
``{"text": ...}``). The connection is an ordinary ``http`` connection: the webhook's whole URL
in ``host`` (or ``host``, ``schema``, ``port``), a token as an ``Authorization`` header in the
extra, or ``login`` and ``password`` for basic authentication (docs/operations.md, "Alerts").
Every alert carries the link to what failed: the task's log, or the late run.

Delivery problems are logged and never raised: an alert must not hide the failure it reports.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

CONN_ID = "bds_alerts"
LOG_NAME = "alerts.jsonl"
TIMEOUT_SECONDS = 10


class AlertTargetError(ValueError):
    """The ``bds_alerts`` connection cannot be used as it is; the message says how to write it."""


@contextmanager
def kept_alerts(data_dir) -> Iterator[Path]:
    """alerts.jsonl, while no one else writes it: its writers append, and housekeeping rewrites
    it, under an exclusive lock (flock on a lock file beside it)."""
    path = Path(data_dir) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{LOG_NAME}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def notifier(payload: dict):
    """The http provider's notifier posting ``payload`` to the ``bds_alerts`` connection, or
    None when there is no such connection. A connection in the earlier form (the path in an
    ``endpoint`` extra, a ``password`` without ``login`` sent as a bearer token) still works,
    with a warning saying how to write it now."""
    from airflow.providers.http.notifications.http import HttpNotifier
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(CONN_ID)
    except Exception:  # not defined: alerts go to the log and alerts.jsonl only
        return None
    endpoint = conn.extra_dejson.get("endpoint")
    # The hook sends a connection's other extras as headers: the earlier form's path is not one
    # (requests leaves out a header whose value is None).
    headers = {"Content-Type": "application/json", **({"endpoint": None} if endpoint else {})}
    if conn.password and not conn.login:
        headers["Authorization"] = f"Bearer {conn.password}"
    how = "put the webhook's whole https URL in its host and a token in an 'Authorization' extra (docs/operations.md, \"Alerts\")"
    # Before the http provider delivered alerts, a host without a schema meant https; the hook
    # would read http, and send the path and the token in the clear: such a connection is refused.
    if "://" not in (conn.host or "") and not conn.schema:
        raise AlertTargetError(f"the {CONN_ID} connection's host has no schema, which would now mean plain http: {how}")
    if endpoint or "Authorization" in headers:
        log.warning(
            "the %s connection is in the earlier form (an 'endpoint' extra, or a password without a login "
            "sent as a bearer token): %s",
            CONN_ID,
            how,
        )
    return HttpNotifier(
        http_conn_id=CONN_ID,
        endpoint=endpoint,
        json=payload,
        headers=headers,
        extra_options={"timeout": TIMEOUT_SECONDS},
    )


def send(title: str, text: str, details: dict) -> None:
    """Log the alert, keep it in alerts.jsonl and post it to the webhook, if configured."""
    payload = {"text": f"{title}\n{text}", "title": title, **details}
    log.error("ALERT %s: %s", title, text)
    data_dir = os.environ.get("BDS_DATA_DIR")
    if data_dir:
        record = {"at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **payload}
        path = Path(data_dir) / LOG_NAME
        try:
            with kept_alerts(data_dir) as path, path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        except OSError as exc:  # a full disk is one of the failures alerted: the log line above still has it
            log.error("the alert could not be kept in %s (%s); it is in this log only", path, exc.strerror or exc)
    try:
        post = notifier(json.loads(json.dumps(payload, default=str)))
        if post is not None:
            post.notify({})  # the payload is complete: nothing in it is a template
    except Exception as exc:  # the alert is in the log and alerts.jsonl already
        log.error("the alert could not be posted to the %s webhook: %s", CONN_ID, exc)


def run_url(dag_id: str, run_id: str) -> str:
    """The run's page in the UI (``[api] base_url``), as a task's ``log_url`` is built."""
    from airflow.sdk.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080/")
    return f"{base.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"


def task_failed(context) -> None:
    """Body of the failure callback (``bds.dag_common.FailureAlert``)."""
    ti = context["ti"]
    label = context.get("tenant_label") or (f"map index {ti.map_index}" if ti.map_index >= 0 else "")
    title = f"bds: {ti.dag_id} {ti.task_id}{f' [{label}]' if label else ''} failed"
    error = context.get("exception")
    details = {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "tenant": label,
        "log_url": ti.log_url,
    }
    send(title, f"{error if error else 'see the task log'}\nlog: {ti.log_url}", details)


async def files_late(context: dict | None = None, **_) -> None:
    """Deadline callback (runs in the triggerer): a day's files were not complete in time."""
    import asyncio

    run = (context or {}).get("dag_run", {})
    due = (context or {}).get("deadline", {}).get("deadline_time")
    dag_id, run_id = run.get("dag_id", "bds_daily"), run.get("run_id", "?")
    title = f"bds: {dag_id} run {run_id} has not finished by its deadline"
    url = run_url(dag_id, run_id)
    started = run.get("logical_date") or run.get("data_interval_start")
    text = f"the files of the billing day starting {started} are not complete (deadline {due}); see the run's tasks: {url}"
    await asyncio.to_thread(send, title, text, {"dag_id": dag_id, "run_id": run_id, "deadline": due, "run_url": url})
