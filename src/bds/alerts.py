"""Alerts: a task that failed for good, and a day whose files are late.

Every alert is logged, appended to ``$BDS_DATA_DIR/alerts.jsonl`` (one JSON object per
line), and, when the Airflow connection ``bds_alerts`` exists, posted as JSON to the webhook
it names (Slack, Teams, Mattermost and most chat tools take ``{"text": ...}``). The
connection is the configurable target: type ``http``, ``host`` (and ``schema``, ``port``),
the path in the extra ``endpoint``, and an optional ``password`` sent as a bearer token.

Delivery problems are logged and never raised: an alert must not hide the failure it reports.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

CONN_ID = "bds_alerts"
LOG_NAME = "alerts.jsonl"


def webhook_url() -> tuple[str, dict[str, str]] | None:
    """The webhook's URL and headers from the ``bds_alerts`` connection, if there is one."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(CONN_ID)
    except Exception:  # not defined: alerts go to the log and alerts.jsonl only
        return None
    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}{f':{conn.port}' if conn.port else ''}"
    url = host + (conn.extra_dejson.get("endpoint") or "")
    headers = {"Content-Type": "application/json"}
    if conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    return url, headers


def send(title: str, text: str, details: dict) -> None:
    """Log the alert, keep it in alerts.jsonl and post it to the webhook, if configured."""
    payload = {"text": f"{title}\n{text}", "title": title, **details}
    log.error("ALERT %s: %s", title, text)
    data_dir = os.environ.get("BDS_DATA_DIR")
    if data_dir:
        record = {"at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **payload}
        path = Path(data_dir) / LOG_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        except OSError as exc:  # a full disk is one of the failures alerted: the log line above still has it
            log.error("the alert could not be kept in %s (%s); it is in this log only", path, exc.strerror or exc)
    target = webhook_url()
    if target is None:
        return
    url, headers = target
    request = urllib.request.Request(url, data=json.dumps(payload, default=str).encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except Exception as exc:  # the alert is in the log and alerts.jsonl already
        log.error("the alert could not be posted to the %s webhook: %s", CONN_ID, exc)


def task_failed(context) -> None:
    """Body of the failure callback (``bds.dag_common.FailureAlert``)."""
    ti = context["ti"]
    label = context.get("tenant_label") or (f"map index {ti.map_index}" if ti.map_index >= 0 else "")
    title = f"bds: {ti.dag_id} {ti.task_id}{f' [{label}]' if label else ''} failed"
    error = context.get("exception")
    details = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index, "tenant": label}
    send(title, str(error) if error else "see the task log", details)


async def files_late(context: dict | None = None, **_) -> None:
    """Deadline callback (runs in the triggerer): a day's files were not complete in time."""
    import asyncio

    run = (context or {}).get("dag_run", {})
    due = (context or {}).get("deadline", {}).get("deadline_time")
    title = f"bds: {run.get('dag_id', 'bds_daily')} run {run.get('run_id', '?')} has not finished by its deadline"
    text = (f"the files of the billing day starting {run.get('logical_date') or run.get('data_interval_start')} are not "
            f"complete (deadline {due}); see the run's tasks")  # fmt: skip
    await asyncio.to_thread(send, title, text, {"dag_id": run.get("dag_id"), "run_id": run.get("run_id"), "deadline": due})
