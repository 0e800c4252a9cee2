"""The configuration API's Swagger UI in a real browser (Debian's Chromium, driven by
Playwright): reached only through the Airflow UI's login, rendered from assets the api-server
serves itself (nothing outside this machine is asked for), and usable: "Try it out" on an
operation answers for the logged-in user."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from bds_tools.airflow_local import passwords_file

CHROMIUM = "/usr/bin/chromium"
# As root, without a sandbox; no background connections (the machine has no internet).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def sign_in(page, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/auth/login/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)


def test_the_swagger_ui_behind_the_ui_login_lists_and_runs_the_operations(api, browser):
    page = browser.new_page()
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname) if request.url.startswith("http") else None)
    page.goto(f"{api.base}/bds/docs")
    assert "Not authenticated" in page.content()  # before signing in
    sign_in(page, api.base, "viewer", json.loads(passwords_file(api.airflow.home).read_text())["viewer"])
    page.goto(f"{api.base}/bds/docs")
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() == 19 + 7
    assert page.get_by_text("Create a tenant").count() == 1 and page.get_by_text("Restore a revision").count() == 1
    tenants = page.locator(".opblock-get", has_text="/api/v1/tenants").filter(has_not_text="{tenant_id}").first
    tenants.locator(".opblock-summary").click()
    tenants.get_by_role("button", name="Try it out").click()
    tenants.get_by_role("button", name="Execute").click()
    answer = tenants.locator(".live-responses-table tr.response .response-col_status").first
    answer.wait_for(timeout=30_000)
    assert answer.inner_text().strip() == "200"  # the UI's login cookie is the caller's identity
    assert "Northwind Care" in tenants.locator(".live-responses-table").inner_text()
    assert hosts == {"127.0.0.1"}  # the page, its assets and its calls (besides inline data: images): this machine only
    page.close()
