"""The configuration API: Skills Management's Tenant Management, Global Settings and Global
Events pages as REST resources, and the store's revisions (bds.config.store).

A FastAPI app that Airflow's api-server mounts (``plugins/bds_config_plugin.py``) at ``/bds``:
the routes are under ``/bds/api/v1``, the OpenAPI document at ``/bds/openapi.json`` and its
Swagger UI at ``/bds/docs``. Every route, the document and its UI included, goes through
Airflow's auth manager: any authenticated user may read; a change needs a user who may change
Airflow's configuration or its variables (simple auth manager: Op or Admin).

Every change is validated whole with the one configuration schema and recorded as a new
revision. It must say which revision it was based on (``If-Match``, the ``ETag`` of what was
read): 412 when another change came first, 428 without it. ``dry_run=true`` answers what the
change would produce (validation, the new hash, the field-by-field diff) and saves nothing.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Annotated, Any, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from bds.config import (
    Billable,
    BillingConfig,
    BillingConfigError,
    Tenant,
    config_hash,
    document,
    field_path,
    parse_yaml,
    problems,
    to_yaml,
)
from bds.config import diff as config_diff
from bds.config import store as config_store

API = "/api/v1"
YAML = "application/yaml"
COMMENT_MAX = 2000
REVISION_MAX = 2**31 - 1  # the store's revision numbers are SQL integers

# --- what the API reads and writes besides the configuration schema itself ---

_SETTINGS_FIELDS = [name for name in BillingConfig.model_fields if name not in ("tenants", "billing_process_enabled")]
# Global Settings and Global Events: the fields of the one schema, not copies of them.
GlobalSettings = create_model(
    "GlobalSettings",
    __config__=ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True),
    __doc__="Skills Management's Global Settings: the billing server and the run settings.",
    **{name: (BillingConfig.model_fields[name].annotation, BillingConfig.model_fields[name]) for name in _SETTINGS_FIELDS},
)
GlobalEvents = create_model(
    "GlobalEvents",
    __config__=ConfigDict(extra="forbid", frozen=True),
    __doc__="Skills Management's Global Events: the switch that enables the billing process.",
    billing_process_enabled=(bool, BillingConfig.model_fields["billing_process_enabled"]),
)


class Problem(BaseModel):
    tenant: str | None = Field(description="the tenant the problem is in (name, id, entry), or null for the settings")
    path: str = Field(description="the field's path within the tenant (or the settings, or the request)")
    message: str


class ErrorBody(BaseModel):
    detail: str
    problems: list[Problem] = []
    current_revision: int | None = None


class RevisionMeta(BaseModel):
    number: int = Field(description="1, 2, 3, ...; 0 is the empty store")
    created_at: str | None
    author: str
    comment: str
    origin: str = Field(description=f"how it was made: {', '.join(config_store.ORIGINS)}")
    restored_from: int | None
    hash: str = Field(description="SHA-256 of the configuration's canonical JSON")


class RevisionDetail(RevisionMeta):
    configuration: BillingConfig


class Change(BaseModel):
    tenant_id: int | None = Field(description="the tenant changed, or null for the settings")
    path: str
    change: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


class ChangeResult(BaseModel):
    dry_run: bool
    changed: bool = Field(description="false when the change left the configuration as it was: no revision is made")
    revision: RevisionMeta = Field(description="the revision now current (with dry_run: the one the change would make, unsaved)")
    changes: list[Change]


class DiffResult(BaseModel):
    from_revision: int
    to_revision: int
    changes: list[Change]


class Validation(BaseModel):
    valid: bool
    problems: list[Problem]
    hash: str | None = None
    changes: list[Change] = Field([], description="what the document would change against the current revision")


# --- authentication and authorisation: Airflow's auth manager, nothing of our own ---


def may_change(user) -> bool:
    """Whoever may change Airflow's configuration or its variables may change billing's."""
    manager = get_auth_manager()
    return manager.is_authorized_configuration(method="PUT", user=user) or manager.is_authorized_variable(method="PUT", user=user)


def changer(user: GetUserDep) -> BaseUser:
    if not may_change(user):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "changing the billing configuration needs a user who may change Airflow's configuration or variables (Op or Admin)",
        )
    return user


Changer = Annotated[BaseUser, Depends(changer)]


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a problem may quote what was sent, even a
    lone surrogate that UTF-8 cannot carry."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


# --- the store, and the change every write goes through ---


def store() -> config_store.Store:
    return config_store.default_store()


def current() -> config_store.Revision:
    """What the runs would use now: an empty store is seeded from $BDS_CONFIG, as a run would."""
    return config_store.in_use(store())[0]


def etag(revision: config_store.Revision) -> str:
    return f'"{revision.number}"'


def based_on(if_match: str | None) -> int:
    if if_match is None:
        raise HTTPException(
            status.HTTP_428_PRECONDITION_REQUIRED,
            'a change needs the header If-Match with the revision it is based on: the ETag of what you read, e.g. If-Match: "7"',
        )
    found = re.fullmatch(r'\s*(?:W/)?"?(\d{1,10})"?\s*', if_match)
    if not found:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f'If-Match {if_match!r} is not a revision number; send the ETag of what you read, e.g. If-Match: "7"',
        )
    return int(found.group(1))


IfMatch = Annotated[str | None, Header(description='the revision the change is based on: the ETag of what was read, e.g. "7"')]
Comment = Annotated[str, Query(max_length=COMMENT_MAX, description="why: kept with the revision")]
DryRun = Annotated[bool, Query(description="validate and show what the change would produce; save nothing")]
TenantId = Annotated[int, Path(gt=0, le=2**31 - 1, description="the tenant's DBID", examples=[101])]


def change(
    response: Response,
    user,
    if_match: str | None,
    comment: str,
    dry_run: bool,
    origin: str,
    edit,
    restored_from: int | None = None,
) -> ChangeResult:
    """Apply ``edit`` to the revision the change was based on (bds.config.store.change)."""
    done = config_store.change(store(), edit, based_on(if_match), user.get_name(), comment, origin, restored_from, dry_run)
    if not dry_run:
        response.headers["ETag"] = etag(done.revision)
    return ChangeResult(
        dry_run=dry_run, changed=done.changed, revision=RevisionMeta(**done.revision.meta()), changes=done.changes
    )


def _tenant_index(config: BillingConfig, tenant_id: int) -> int:
    for index, tenant in enumerate(config.tenants):
        if tenant.tenant_id == tenant_id:
            return index
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"tenant {tenant_id} is not in the billing configuration")


def _with_tenant(config: BillingConfig, tenant_id: int, body: dict, replace: bool) -> dict:
    raw = document(config)
    index = _tenant_index(config, tenant_id)
    if body.get("tenant_id", tenant_id) != tenant_id:
        raise BillingConfigError(
            "a tenant's id cannot change",
            [
                {
                    "tenant": f"tenant {tenant_id}",
                    "path": "tenant_id",
                    "message": f"{body.get('tenant_id')!r} differs from the tenant in the path ({tenant_id}); a "
                    f"tenant's id names its files and cannot change: create a new tenant instead",
                }
            ],
        )
    raw["tenants"][index] = body | {"tenant_id": tenant_id} if replace else config_diff.merge_patch(raw["tenants"][index], body)
    return raw


# --- errors: every one says what is wrong, in the same shape ---


def _error(code: int, detail: str, found: list[dict] = (), current_revision: int | None = None, headers=None) -> Response:
    body = ErrorBody(detail=detail, problems=[Problem(**p) for p in found], current_revision=current_revision)
    return AsciiJSONResponse(body.model_dump(), status_code=code, headers=headers)


def _request_problems(exc: RequestValidationError) -> list[dict]:
    body = exc.body if isinstance(exc.body, dict) else None
    found = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if loc[:2] == ["body", "tenants"] and body is not None:
            found.extend(problems([err], body, prefix=("body",)))
            continue
        tenant = None
        if loc[:1] == ["body"] and body is not None and ("tenant_id" in body or "name" in body):
            tenant = f"tenant '{body.get('name', '?')}' (tenant_id {body.get('tenant_id', '?')})"
        where = loc[1:] if loc[:1] == ["body"] else loc
        found.append(
            {
                "tenant": tenant,
                "path": field_path(where, "(request body)"),
                "message": str(err.get("msg", "invalid")).removeprefix("Value error, "),
            }
        )
    return found


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request, exc: RequestValidationError):
        found = _request_problems(exc)
        return _error(422, f"invalid request: {len(found)} problem(s); nothing was changed", found)

    @app.exception_handler(BillingConfigError)
    async def invalid_configuration(_request, exc: BillingConfigError):
        return _error(
            422, f"the configuration would be invalid: {len(exc.problems)} problem(s); nothing was changed", exc.problems
        )

    @app.exception_handler(config_store.RevisionConflict)
    async def conflict(_request, exc: config_store.RevisionConflict):
        return _error(412, str(exc), current_revision=exc.current, headers={"ETag": f'"{exc.current}"'})

    @app.exception_handler(config_store.NoSuchRevision)
    async def no_revision(_request, exc: config_store.NoSuchRevision):
        return _error(404, str(exc), current_revision=exc.current)

    @app.exception_handler(config_store.ManagedInFiles)
    async def in_files(_request, exc: config_store.ManagedInFiles):
        return _error(409, str(exc))

    @app.exception_handler(config_store.StoreUnavailable)
    async def unavailable(_request, exc: config_store.StoreUnavailable):
        return _error(503, f"{exc}; try again when the store is back", headers={"Retry-After": "30"})

    @app.exception_handler(StarletteHTTPException)  # FastAPI's, and the router's own 404 and 405
    async def http_error(_request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), headers=exc.headers)


ERRORS = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "a malformed header",
        401: "not authenticated",
        403: "not allowed (or an invalid token)",
        404: "no such tenant or revision",
        409: "the tenant exists already, or the configuration is kept in files",
        412: "another change came first: read again",
        422: "invalid: every problem by tenant and field path",
        428: "If-Match is missing",
        503: "the configuration store is unreachable or read-only: nothing was changed",
    }.items()
}


# A whole configuration, as YAML or JSON text: the one schema's BillingConfig.
CONFIGURATION = {"$ref": "#/components/schemas/BillingConfig"}
WHOLE_DOCUMENT = {
    "requestBody": {"required": True, "content": {YAML: {"schema": CONFIGURATION}, "application/json": {"schema": CONFIGURATION}}}
}

# Every route below is the router's, and the router asks Airflow's auth manager for the user
# first (401 without one): no route of the API can be reached anonymously. Changes also name
# ``Changer`` (Op or Admin). tests/api: every route, through a real api-server.
router = APIRouter(prefix=API, dependencies=[Depends(get_user)], responses=ERRORS)


# -- tenants (Tenant Management) --


@router.get("/tenants", response_model=list[Tenant], tags=["tenants"], summary="List tenants")
def list_tenants(response: Response, billable: Billable | None = None, enabled: bool | None = None) -> list[Tenant]:
    revision = current()
    response.headers["ETag"] = etag(revision)
    return [
        t
        for t in revision.config.tenants
        if (billable is None or t.billable is billable) and (enabled is None or t.enabled == enabled)
    ]


@router.get("/tenants/{tenant_id}", response_model=Tenant, tags=["tenants"], summary="Read a tenant")
def read_tenant(tenant_id: TenantId, response: Response) -> Tenant:
    revision = current()
    response.headers["ETag"] = etag(revision)
    return revision.config.tenants[_tenant_index(revision.config, tenant_id)]


@router.post("/tenants", response_model=ChangeResult, status_code=201, tags=["tenants"], summary="Create a tenant")
def create_tenant(
    tenant: Tenant, response: Response, user: Changer, if_match: IfMatch = None, comment: Comment = "", dry_run: DryRun = False
) -> ChangeResult:
    def edit(config: BillingConfig) -> dict:
        if any(t.tenant_id == tenant.tenant_id for t in config.tenants):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"tenant {tenant.tenant_id} exists already: change it with PUT or PATCH"
            )
        raw = document(config)
        raw["tenants"].append(tenant.model_dump(mode="json"))
        return raw

    result = change(response, user, if_match, comment or f"created tenant {tenant.tenant_id}", dry_run, "api", edit)
    response.headers["Location"] = f"tenants/{tenant.tenant_id}"
    return result


@router.put("/tenants/{tenant_id}", response_model=ChangeResult, tags=["tenants"], summary="Replace a tenant")
def replace_tenant(
    tenant_id: TenantId,
    tenant: Tenant,
    response: Response,
    user: Changer,
    if_match: IfMatch = None,
    comment: Comment = "",
    dry_run: DryRun = False,
) -> ChangeResult:
    body = tenant.model_dump(mode="json")
    return change(
        response,
        user,
        if_match,
        comment or f"replaced tenant {tenant_id}",
        dry_run,
        "api",
        lambda config: _with_tenant(config, tenant_id, body, replace=True),
    )


@router.patch(
    "/tenants/{tenant_id}",
    response_model=ChangeResult,
    tags=["tenants"],
    summary="Change some fields of a tenant",
    description="A JSON merge patch (RFC 7396): the fields given replace the tenant's; a mapping (metrics) "
    "merges key by key; null resets a field to its default; a list (regions) is replaced whole.",
)
def patch_tenant(
    tenant_id: TenantId,
    response: Response,
    user: Changer,
    patch: Annotated[dict[str, Any], Body(examples=[{"tier1_account_id": "T1-0042", "metrics": {"seats_inbound_voice": True}}])],
    if_match: IfMatch = None,
    comment: Comment = "",
    dry_run: DryRun = False,
) -> ChangeResult:
    return change(
        response,
        user,
        if_match,
        comment or f"changed tenant {tenant_id}",
        dry_run,
        "api",
        lambda config: _with_tenant(config, tenant_id, patch, replace=False),
    )


@router.post(
    "/tenants/{tenant_id}/disable",
    response_model=ChangeResult,
    tags=["tenants"],
    summary="Disable a tenant",
    description="The tenant stays in the configuration (its files and history too); runs skip it.",
)
def disable_tenant(
    tenant_id: TenantId,
    response: Response,
    user: Changer,
    if_match: IfMatch = None,
    comment: Comment = "",
    dry_run: DryRun = False,
) -> ChangeResult:
    return change(
        response,
        user,
        if_match,
        comment or f"disabled tenant {tenant_id}",
        dry_run,
        "api",
        lambda config: _with_tenant(config, tenant_id, {"enabled": False}, replace=False),
    )


# -- Global Settings and Global Events --


def _settings_of(config: BillingConfig):
    return GlobalSettings(**{name: getattr(config, name) for name in _SETTINGS_FIELDS})


@router.get("/settings", response_model=GlobalSettings, tags=["global"], summary="Read the global settings")
def read_settings(response: Response):
    revision = current()
    response.headers["ETag"] = etag(revision)
    return _settings_of(revision.config)


@router.put("/settings", response_model=ChangeResult, tags=["global"], summary="Replace the global settings")
def replace_settings(
    settings: GlobalSettings,
    response: Response,
    user: Changer,
    if_match: IfMatch = None,
    comment: Comment = "",
    dry_run: DryRun = False,
) -> ChangeResult:
    return change(
        response,
        user,
        if_match,
        comment or "replaced the global settings",
        dry_run,
        "api",
        lambda config: document(config) | settings.model_dump(mode="json"),
    )


@router.patch(
    "/settings",
    response_model=ChangeResult,
    tags=["global"],
    summary="Change some global settings",
    description="A JSON merge patch (RFC 7396) of the global settings.",
)
def patch_settings(
    response: Response,
    user: Changer,
    patch: Annotated[dict[str, Any], Body(examples=[{"billing_server": {"transmit": True, "bucket": "billing"}}])],
    if_match: IfMatch = None,
    comment: Comment = "",
    dry_run: DryRun = False,
) -> ChangeResult:
    def edit(config: BillingConfig) -> dict:
        unknown = sorted(set(patch) - set(_SETTINGS_FIELDS))
        if unknown:
            raise BillingConfigError(
                "unknown settings",
                [
                    {
                        "tenant": None,
                        "path": key or "(empty name)",
                        "message": f"not a global setting (they are {', '.join(_SETTINGS_FIELDS)})",
                    }
                    for key in unknown
                ],
            )
        return config_diff.merge_patch(document(config), patch)

    return change(response, user, if_match, comment or "changed the global settings", dry_run, "api", edit)


@router.get("/events", response_model=GlobalEvents, tags=["global"], summary="Read the global events")
def read_events(response: Response):
    revision = current()
    response.headers["ETag"] = etag(revision)
    return GlobalEvents(billing_process_enabled=revision.config.billing_process_enabled)


@router.put("/events", response_model=ChangeResult, tags=["global"], summary="Switch the billing process on or off")
def replace_events(
    events: GlobalEvents,
    response: Response,
    user: Changer,
    if_match: IfMatch = None,
    comment: Comment = "",
    dry_run: DryRun = False,
) -> ChangeResult:
    state = "enabled" if events.billing_process_enabled else "disabled"
    return change(
        response,
        user,
        if_match,
        comment or f"{state} the billing process",
        dry_run,
        "api",
        lambda config: document(config) | events.model_dump(mode="json"),
    )


# -- the whole configuration and its revisions --


@router.get("/configuration", response_model=RevisionDetail, tags=["revisions"], summary="Read the current configuration")
def read_configuration(response: Response) -> RevisionDetail:
    revision = current()
    response.headers["ETag"] = etag(revision)
    return RevisionDetail(**revision.meta(), configuration=revision.config)


@router.post(
    "/validate",
    response_model=Validation,
    tags=["revisions"],
    summary="Validate a whole configuration (dry run)",
    description="A whole configuration as YAML (or JSON): whether it is valid, every problem, and what it would "
    "change against the current revision. Nothing is saved; any authenticated user may ask.",
    openapi_extra=WHOLE_DOCUMENT,
)
async def validate(request: Request) -> Validation:
    text = await _text(request)
    try:
        new = parse_yaml(text, "(the document)")
    except BillingConfigError as exc:
        return Validation(valid=False, problems=[Problem(**p) for p in exc.problems])
    now = await _in_thread(current)
    return Validation(valid=True, problems=[], hash=config_hash(new), changes=config_diff.diff(now.config, new))


@router.get("/revisions", response_model=list[RevisionMeta], tags=["revisions"], summary="List revisions, newest first")
def list_revisions(
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[int | None, Query(ge=1, le=REVISION_MAX, description="only revisions below this number")] = None,
) -> list[dict]:
    current()  # an empty store is seeded first, as everywhere
    return store().history(limit, before)


Number = Annotated[int, Path(ge=0, le=REVISION_MAX, description="a revision number (0: the empty store)", examples=[1])]


@router.get("/revisions/{number}", response_model=RevisionDetail, tags=["revisions"], summary="Read a revision")
def read_revision(number: Number) -> RevisionDetail:
    revision = store().get(number)
    return RevisionDetail(**revision.meta(), configuration=revision.config)


@router.get(
    "/revisions/{number}/yaml",
    response_model=None,
    tags=["revisions"],
    summary="Export a revision as YAML",
    responses={200: {"content": {YAML: {"schema": CONFIGURATION}}}},
)
def export_revision(number: Number) -> PlainTextResponse:
    revision = store().get(number)
    header = f"# bds billing configuration, revision {revision.number} ({revision.hash})\n"
    return PlainTextResponse(
        header + to_yaml(revision.config),
        media_type=YAML,
        headers={"Content-Disposition": f'attachment; filename="bds-config-r{revision.number}.yaml"'},
    )


@router.get(
    "/revisions/{number}/diff",
    response_model=DiffResult,
    tags=["revisions"],
    summary="Compare two revisions",
    description="Field by field and by tenant, from `against` (default: the revision before) to `number`.",
)
def diff_revisions(number: Number, against: Annotated[int | None, Query(ge=0, le=REVISION_MAX)] = None) -> DiffResult:
    older = max(number - 1, 0) if against is None else against
    changes = config_diff.diff(store().get(older).config, store().get(number).config)
    return DiffResult(from_revision=older, to_revision=number, changes=changes)


@router.post(
    "/revisions/{number}/restore",
    response_model=ChangeResult,
    tags=["revisions"],
    summary="Restore a revision",
    description="Makes a new revision equal to revision `number`: nothing is removed from the history.",
)
def restore_revision(
    number: Number, response: Response, user: Changer, if_match: IfMatch = None, comment: Comment = "", dry_run: DryRun = False
) -> ChangeResult:
    old = store().get(number).config
    return change(
        response,
        user,
        if_match,
        comment or f"restored revision {number}",
        dry_run,
        "restore",
        lambda _config: document(old),
        restored_from=number or None,
    )


@router.post(
    "/revisions/import",
    response_model=ChangeResult,
    tags=["revisions"],
    summary="Import a whole configuration",
    description="A whole configuration as YAML (or JSON), validated whole, becomes the next revision.",
    openapi_extra=WHOLE_DOCUMENT,
)
async def import_revision(
    request: Request, response: Response, user: Changer, if_match: IfMatch = None, comment: Comment = "", dry_run: DryRun = False
) -> ChangeResult:
    new = parse_yaml(await _text(request), "(the imported document)")
    return await _in_thread(
        change, response, user, if_match, comment or "imported", dry_run, "import", lambda _config: document(new)
    )


async def _text(request: Request) -> str:
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BillingConfigError(
            "not UTF-8", [{"tenant": None, "path": "(request body)", "message": f"not UTF-8 text: {exc}"}]
        ) from None


async def _in_thread(function, *args):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


def create_app() -> FastAPI:
    """The app the plugin registers; its paths are relative to where it is mounted (``/bds``)."""
    app = FastAPI(
        title="bds: billing configuration",
        version="1",
        summary="Tenant Management, Global Settings, Global Events and the configuration's revisions",
        description=__doc__,
        docs_url=None,
        openapi_url=None,
        redoc_url=None,  # served below, behind the login
        default_response_class=AsciiJSONResponse,
    )
    _handlers(app)
    app.include_router(router)
    # The billing console: its data (in this document) and its pages, behind the same login.
    from bds.console import api as console_api
    from bds.console import pages as console_pages

    app.include_router(console_api.router)
    app.include_router(console_pages.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(get_user)])
    def openapi_document(request: Request) -> dict:
        # Where the app is mounted (/bds, below any proxy prefix): the paths are relative to it.
        return app.openapi() | {"servers": [{"url": request.scope.get("root_path", "").rstrip("/") or "/"}]}

    # Swagger UI from the installed bundle (swagger-ui-bundle-v2): no CDN, which an
    # installation without internet access could not reach.
    from swagger_ui_bundle import swagger_ui_path

    assets = {p.name: p for p in pathlib.Path(swagger_ui_path).iterdir() if p.suffix in (".js", ".css", ".png")}

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(get_user)])
    def swagger_ui(request: Request):
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="bds: billing configuration API",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon-32x32.png",
        )

    @app.get("/docs/assets/{name}", include_in_schema=False, dependencies=[Depends(get_user)])
    def swagger_asset(name: str):
        if name not in assets:  # only the bundle's own files: a name never reaches the file system
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such asset {name!r}")
        return FileResponse(assets[name])

    return app
