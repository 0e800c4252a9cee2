"""The console's HTML pages: a shell per page that its script (assets/console.js) fills
from the REST API. Every page asks Airflow's auth manager for the user, as the API does."""

from __future__ import annotations

import json
import pathlib
from typing import Annotated

from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from bds.catalogue import METRICS
from bds.config import Billable
from bds.config.api import GlobalSettings, may_change
from bds.console import PAGES

ASSETS = pathlib.Path(__file__).with_name("assets")

router = APIRouter(prefix="/console", dependencies=[Depends(get_user)], include_in_schema=False)
templates = Environment(loader=PackageLoader("bds.console"), autoescape=select_autoescape(default=True))


def _assets() -> dict[str, pathlib.Path]:
    import plotly

    found = {p.name: p for p in ASSETS.iterdir() if p.suffix in (".js", ".css", ".svg")}
    found["plotly.min.js"] = pathlib.Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    return found


def _page(request: Request, user, page: str, **context) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")  # /bds, below any proxy prefix
    catalogue = {
        "metrics": [{"key": m.key, "title": m.title} for m in METRICS.values()],
        "billable": [b.value for b in Billable],
        "settings_schema": GlobalSettings.model_json_schema(),
    }
    html = templates.get_template("page.html").render(
        page=page,
        title=PAGES.get(page, "Tenant"),
        pages=PAGES,
        root=root,
        ui=root.removesuffix("/bds"),
        user=user.get_name(),
        may_change=may_change(user),
        catalogue=json.dumps(catalogue).replace("<", "\\u003c"),
        **context,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN"})


@router.get("/assets/{name}")
def asset(name: str):
    found = _assets()
    if name not in found:  # only the console's own files: a name never reaches the file system
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such asset {name!r}")
    return FileResponse(found[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/tenants/new")
def new_tenant(request: Request, user: GetUserDep):
    return _page(request, user, "tenant", tenant_id="")


@router.get("/tenants/{tenant_id}")
def tenant_form(request: Request, user: GetUserDep, tenant_id: Annotated[int, Path(gt=0, le=2**31 - 1)]):
    return _page(request, user, "tenant", tenant_id=tenant_id)


@router.get("/{page}")
def page(request: Request, user: GetUserDep, page: str):
    if page not in PAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no console page {page!r}; pages: {', '.join(PAGES)}")
    return _page(request, user, page)
