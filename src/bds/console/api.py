"""The billing console's data, as REST resources under ``/bds/api/v1`` beside the
configuration's (same auth, same error shape, same OpenAPI document): tenants with their
last billed day and run, results, anomaly flags (and their acknowledgement) and files with
their versions and transmission, read from the billing ledger (bds.ledger)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Annotated, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field

from bds import manifest
from bds.config.api import API, ERRORS, Changer, ErrorBody, TenantId, current, store
from bds.console import data
from bds.dag_common import UNFINISHED_STATES
from bds.ledger import acknowledge as acknowledge_flag

log = logging.getLogger(__name__)
DAILY_DAG, MONTHLY_DAG = "bds_daily", "bds_monthly"
# Airflow's task instance states, by what they mean for a tenant's last run.
_FAILED = {"failed", "upstream_failed"}
_WAITING = {*UNFINISHED_STATES, None}

router = APIRouter(prefix=API, dependencies=[Depends(get_user)], responses=ERRORS, tags=["console"])


class LastRun(BaseModel):
    dag_id: str
    run_id: str
    state: str = Field(description="success, failed, running, or the tasks' state")


class TenantRow(BaseModel):
    tenant_id: int
    name: str
    billable: str
    enabled: bool
    online: bool = Field(description="off: its files are kept in the archive and the outbox, not sent")
    production_date: str | None
    time_zone: str
    last_billed_day: str | None = Field(description="the latest day with a current daily file")
    open_flags: int = Field(description="anomaly flags not acknowledged")
    held: list[str] = Field(description="periods (YYYY-MM-DD or YYYY-MM) whose files are held for an approval (bds_approvals)")
    last_run: LastRun | None = Field(description="the latest bds_daily run that billed the tenant, and how it went")


class Series(BaseModel):
    metric: str
    title: str
    region: str
    count: str
    days: dict[str, int] = Field(description="value by day (YYYY-MM-DD); a day without a file is absent")
    months: dict[str, int] = Field(description="monthly value by month (YYYY-MM)")
    peak_days: dict[str, str] = Field(description="by month: the first day with the month's highest daily value")


class Results(BaseModel):
    tenant_id: int
    start: str
    end: str
    days: list[str]
    last_billed_day: str | None
    missing_days: list[str] = Field(description="days a daily file was due (production date to last billed day) and none is")
    series: list[Series]


class Acknowledgement(BaseModel):
    by: str
    at: str
    comment: str


class Flag(BaseModel):
    id: str
    tenant_id: int
    period_kind: Literal["day", "month"]
    period: str
    kind: str
    about: str
    metric: str
    region: str
    count: str
    value: int | None
    baseline: float | None
    detail: str
    raised_at: str
    run_id: str
    acknowledged: Acknowledgement | None


class AcknowledgeBody(BaseModel):
    comment: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why the flag is fine, or what was done")


class Attempt(BaseModel):
    at: str
    outcome: str
    detail: str
    run_id: str


class CountChange(BaseModel):
    count: str
    old: int | None
    new: int | None


class FileVersion(BaseModel):
    name: str
    sha256: str
    metric: str
    region: str
    rows: int
    bytes: int
    counts: dict[str, int]
    config_revision: int | None
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    written_at: str
    current: bool
    superseded_at: str | None
    superseded_reason: str | None
    state: Literal["archived", "queued", "held", "sent", "failed"]
    s3_uri: str | None
    uploaded_at: str | None
    failure: str | None
    attempts: list[Attempt]
    changes: list[CountChange] | None = Field(description="what changed from the version before (null for the first)")


class BillingFile(BaseModel):
    name: str
    versions: list[FileVersion] = Field(description="the current version first, then the earlier ones, newest first")


class PeriodFiles(BaseModel):
    tenant_id: int
    period: str
    online: bool = Field(description="whether the tenant's queued files are sent (off: held in the outbox)")
    files: list[BillingFile]


Period = Annotated[
    str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$", description="a day YYYY-MM-DD or a month YYYY-MM")
]


def invalid(parameter: str, message: str, value) -> RequestValidationError:
    """A query parameter that its type let through but the page cannot use: a 422 that names
    it, as every other invalid request does."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", parameter), "msg": message, "input": str(value)}])


def run_states() -> dict[str, LastRun]:
    """By tenant label (its tasks' map index label): the latest bds_daily run that had tasks
    for it, and how they went. Empty when Airflow's database cannot say."""
    try:
        import sqlalchemy as sa
        from airflow.models import DagRun, TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            runs = session.scalars(
                sa.select(DagRun.run_id).where(DagRun.dag_id == DAILY_DAG).order_by(DagRun.run_after.desc()).limit(10)
            ).all()
            rows = session.execute(
                sa.select(TaskInstance.run_id, TaskInstance.rendered_map_index, TaskInstance.state).where(
                    (TaskInstance.dag_id == DAILY_DAG)
                    & TaskInstance.run_id.in_(runs)
                    & TaskInstance.task_id.like("bill_tenant.%")
                )
            ).all()
    except Exception as exc:  # the console still shows the ledger's data
        log.warning("the runs' states could not be read: %s", exc)
        return {}
    order = {run: i for i, run in enumerate(runs)}
    found: dict[str, tuple[int, list]] = {}
    for run_id, label, state in rows:
        if label and (label not in found or order[run_id] < found[label][0]):
            found[label] = (order[run_id], [])
        if label and order[run_id] == found[label][0]:
            found[label][1].append(str(state.value if hasattr(state, "value") else state) if state else None)
    states = {}
    for label, (index, seen) in found.items():
        verdict = (
            "failed"
            if _FAILED & set(seen)
            else "running"
            if _WAITING & set(seen)
            else "success"
            if set(seen) <= {"success", "skipped"}
            else "/".join(sorted(set(map(str, seen))))
        )
        states[label] = LastRun(dag_id=DAILY_DAG, run_id=runs[index], state=verdict)
    return states


@router.get(
    "/console/tenants", response_model=list[TenantRow], summary="Tenants with their last billed day, open flags and last run"
)
def console_tenants() -> list[TenantRow]:
    revision = current()
    with store().reading() as connection:
        rows = data.tenants(connection, revision.config, run_states())
    return [TenantRow(**row) for row in rows]


@router.get("/ledger/tenants/{tenant_id}/results", response_model=Results, summary="A tenant's counts over a range of days")
def tenant_results(
    tenant_id: TenantId,
    start: Annotated[date | None, Query(description="first day (default: 30 days before end)")] = None,
    end: Annotated[date | None, Query(description="last day (default: the last billed day, else today)")] = None,
) -> Results:
    config = current().config
    with store().reading() as connection:
        if end is None:
            end = data.last_billed_days(connection, [tenant_id]).get(tenant_id) or date.today()
        start = start or (end - timedelta(days=30) if end > date.min + timedelta(days=30) else date.min)
        if start > end or (end - start).days >= data.RANGE_MAX_DAYS:
            raise invalid(
                "start", f"the range {start} to {end} must run forwards and span at most {data.RANGE_MAX_DAYS} days", start
            )
        return Results(**data.results(connection, config, tenant_id, start, end))


@router.get("/ledger/anomalies", response_model=list[Flag], summary="Anomaly flags, newest first")
def list_anomalies(
    state: Annotated[Literal["open", "acknowledged", "all"], Query()] = "open",
    tenant_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=data.ANOMALIES_MAX)] = 100,
) -> list[Flag]:
    with store().reading() as connection:
        return [Flag(**f) for f in data.anomalies(connection, state, tenant_id, limit)]


def json_only(content_type: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
    """A change without If-Match must be JSON: a page of another site cannot send that (as a
    form can) without the api-server's consent (CORS), with or without the user's login cookie."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the acknowledgement as JSON (Content-Type: application/json)"
        )


@router.post(
    "/ledger/anomalies/{flag_id}/acknowledge",
    response_model=Acknowledgement,
    summary="Acknowledge a flag, with a comment",
    dependencies=[Depends(json_only)],
    responses={415: {"model": ErrorBody, "description": "not sent as JSON"}},
)
def acknowledge(
    flag_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], body: AcknowledgeBody, user: Changer
) -> Acknowledgement:
    with store().writing("cannot record the acknowledgement") as connection:
        done = acknowledge_flag(connection, flag_id, user.get_name(), body.comment.strip())
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no flag {flag_id}")
    return Acknowledgement(**done)


@router.get("/ledger/tenants/{tenant_id}/periods", response_model=list[str], summary="A tenant's latest periods with files")
def tenant_periods(tenant_id: TenantId) -> list[str]:
    with store().reading() as connection:
        return data.periods_of(connection, tenant_id)


@router.get(
    "/ledger/tenants/{tenant_id}/files", response_model=PeriodFiles, summary="A tenant-period's files, versions and transmission"
)
def tenant_files(tenant_id: TenantId, period: Period) -> PeriodFiles:
    try:
        data.period_of(period)
    except ValueError:  # the pattern lets 2026-02-30 through
        raise invalid("period", f"{period} is not a day or a month", period) from None
    tenant = next((t for t in current().config.tenants if t.tenant_id == tenant_id), None)
    with store().reading() as connection:
        return PeriodFiles(**data.period_files(connection, tenant_id, period), online=tenant is None or tenant.online)


def may_read_runs_of(user, dag_id: str) -> bool:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )


@router.get(
    "/ledger/files/{name}/{sha256}",
    response_class=Response,
    summary="Download a version of a billing file",
    description="Needs the permission to read the runs of the DAG that produced it.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def download(
    name: Annotated[
        str,
        Path(pattern=r"^CNT_[A-Za-z0-9.-]+_PES_[a-z0-9_]+_[A-Za-z0-9.-]+_[1-9][0-9]*_[0-9]{6}([0-9]{2})?\.csv$", max_length=255),
    ],
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    user: GetUserDep,
) -> Response:
    from bds.staging import data_dir

    with store().reading() as connection:
        row, path = data.archived_path(connection, data_dir(), name, sha256)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the ledger has no version {sha256[:12]} of {name}")
    dag_id = row.dag_id or (DAILY_DAG if row.period_kind == "day" else MONTHLY_DAG)  # a file no task wrote: its period's DAG
    if not may_read_runs_of(user, dag_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"downloading {name} needs the permission to read the runs of {dag_id}")
    try:
        content = path.read_bytes() if path else None
    except OSError:
        content = None
    if content is None or manifest.sha256(content) != sha256:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"the archive no longer holds version {sha256[:12]} of {name} as recorded; check it with python -m bds.manifest",
        )
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
    )
