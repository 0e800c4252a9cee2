"""The run's note in the Airflow UI: which period a run bills, written by its plan task.

Operators look at a run's note first; a run id names when the run was scheduled (a backfill's
names its data interval's end), not the day it bills. Tasks cannot write Airflow's database,
and the Task SDK has no call for a run's note, so the plan task sets it through the public
REST API (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}``), as the user of the Airflow
connection ``bds_airflow_api`` (type http: the api-server as host and port, or a URL as
host; a user who may edit DAG runs as login and password). Without that connection the note
is left alone and the task log says so. A note never fails billing: what goes wrong is logged.
A note an operator wrote is kept: only an empty note, or one this module wrote, is replaced.
"""

from __future__ import annotations

from urllib.parse import quote

CONN_ID = "bds_airflow_api"
PREFIX = "Bills "


def tenants_of(work: list[dict]) -> int:
    """How many tenants a run's work items bill (a run of several months has an item per tenant and month)."""
    return len({item["tenant"]["tenant_id"] for item in work})


def text(period: str, tenants: int) -> str:
    return f"{PREFIX}{period} ({tenants} tenant{'' if tenants == 1 else 's'})"


def base_url(connection) -> str:
    """The api-server's URL, without any user or password written into the host."""
    from urllib.parse import urlsplit

    host = (connection.host or "").rstrip("/")
    if "://" in host:
        parts = urlsplit(host)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path
    scheme = connection.schema or "http"
    return f"{scheme}://{host}" + (f":{connection.port}" if connection.port else "")


# A busy api-server (a SQLite metadata database locked by the scheduler answers 500) or one
# out of reach is asked again after 1, 2 and 4 seconds; a refusal (4xx) is not.
ATTEMPTS = 4


def set_note(dag_id: str, run_id: str, note: str) -> str:
    """Set the run's note; returns a line for the task log saying what happened."""
    import time

    import httpx
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(CONN_ID)
    except AirflowNotFoundException:
        return f"run note not set (no connection {CONN_ID}): {note}"
    base = base_url(connection)
    for attempt in range(ATTEMPTS):
        try:
            return _write(connection, base, f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}", note)
        except httpx.HTTPStatusError as exc:
            problem = f"answered {exc.response.status_code} to {exc.request.method} {exc.request.url.path}"
            if exc.response.status_code < 500:
                break
        except httpx.TransportError as exc:
            problem = f"could not be reached ({type(exc).__name__}: {exc})"
        except (httpx.HTTPError, KeyError, ValueError) as exc:  # not the API's answer
            problem = f"could not be used ({type(exc).__name__}: {exc})"
            break
        if attempt < ATTEMPTS - 1:
            time.sleep(2**attempt)
    return f"run note not set: {CONN_ID} ({base}) {problem}: {note}"


def _write(connection, base: str, run: str, note: str) -> str:
    import httpx

    with httpx.Client(timeout=30) as client:
        login = client.post(f"{base}/auth/token", json={"username": connection.login, "password": connection.password})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        current = client.get(run, headers=headers)
        current.raise_for_status()
        existing = current.json().get("note") or ""
        if existing and not existing.startswith(PREFIX):
            return f"run note left as the operator wrote it ({existing!r}); this run: {note}"
        client.patch(run, headers=headers, params={"update_mask": "note"}, json={"note": note}).raise_for_status()
    return f"run note: {note}"
