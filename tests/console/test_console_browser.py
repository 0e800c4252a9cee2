"""The billing console in a real browser (Debian's Chromium, driven by Playwright) through a
real api-server, on the demo's month (tests/console/demo_month.py): each page opened, a
tenant edited (a validation error next to its field, then the saved revision), a concurrent
change shown and not overwritten, a restated day flagged with its diff, files' transmission
states, a flag acknowledged, a Viewer unable to save. Every page's screenshot is kept in
``$BDS_SCREENSHOTS`` (default ``var/test-output/console``; ``make screenshots`` writes the
README's into ``docs/console``)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.api.test_swagger_ui_browser import CHROMIUM, FLAGS, sign_in
from tests.conftest import ROOT
from tests.console.demo_month import MISSING, RESTATED_DAY

pytestmark = pytest.mark.postgres
SHOTS = ROOT / os.environ.get("BDS_SCREENSHOTS", "var/test-output/console")


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def signed_in(console, chromium, role: str):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    sign_in(page, console.base, role, console.passwords[role])
    return page


@pytest.fixture
def admin(console, chromium):
    page = signed_in(console, chromium, "admin")
    yield page
    assert page.errors == []  # no script failed on any page
    page.context.close()


@pytest.fixture
def viewer(console, chromium):
    page = signed_in(console, chromium, "viewer")
    yield page
    assert page.errors == []
    page.context.close()


def open_page(page, console, path: str):
    page.goto(f"{console.base}/bds/console/{path}")
    expect(page.locator("#content")).not_to_contain_text("Loading", timeout=30_000)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_billing_is_in_the_ui_navigation_and_opens_the_tenants(console, admin):
    admin.goto(f"{console.base}/")
    admin.get_by_role("link", name="Billing").first.click()
    frame = admin.frame_locator("iframe")
    expect(frame.locator("table")).to_contain_text("Northwind Care", timeout=30_000)
    assert "/plugin/billing" in admin.url  # the UI frames the page at its route
    shot(admin, "ui-billing")


def test_tenants_list_their_last_billed_day_and_flags_and_search(console, admin):
    open_page(admin, console, "tenants")
    rows = admin.locator("tbody tr")
    expect(rows).to_have_count(5)
    northwind = rows.filter(has_text="Northwind Care")
    expect(northwind).to_contain_text("2026-03-31")  # last billed day
    expect(northwind).to_contain_text("America/New_York")
    expect(rows.filter(has_text="Tailspin")).to_contain_text("2026-03-31")
    shot(admin, "tenants")
    admin.get_by_label("Search tenants").fill("salesforce")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Fabrikam Retail")


def test_a_tenant_form_shows_a_problem_next_to_its_field_then_saves_a_revision(console, admin):
    before = console.revision()
    open_page(admin, console, "tenants/101")
    expect(admin.locator("[name=billable]")).to_have_value("PureConnect")
    expect(admin.locator("[name=tier1_account_id]")).to_have_value("1000101")
    admin.locator("[name=time_zone]").fill("Mars/Olympus_Mons")
    admin.get_by_role("button", name="Save").click()
    problem = admin.locator('[data-path="time_zone"] .problem')
    expect(problem).to_contain_text("Mars/Olympus_Mons", timeout=30_000)
    expect(admin.locator("#notice")).to_contain_text("Not saved: 1 problem(s)")
    shot(admin, "tenant-form-problem")
    assert console.revision() == before  # nothing saved
    admin.locator("[name=time_zone]").fill("America/Chicago")
    admin.locator("[name=comment]").fill("Northwind moved to Chicago")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator("#notice")).to_contain_text(f"Saved as revision {before + 1}", timeout=30_000)
    expect(problem).to_have_count(0)
    saved = console.call("GET", "/revisions", params={"limit": 1}).json()[0]
    assert (saved["number"], saved["author"], saved["comment"]) == (before + 1, "admin", "Northwind moved to Chicago")
    assert console.call("GET", "/tenants/101").json()["time_zone"] == "America/Chicago"
    shot(admin, "tenant-form")


def test_a_concurrent_change_is_shown_not_overwritten(console, admin):
    open_page(admin, console, "tenants/102")
    revision = console.revision()
    theirs = console.call("PATCH", "/tenants/102", json={"external_id": "THEIRS"}, headers={"If-Match": f'"{revision}"'})
    assert theirs.status_code == 200
    admin.locator("[name=external_id]").fill("MINE")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator("#notice")).to_contain_text(
        f"someone else changed the configuration first (revision {revision + 1} is current)", timeout=30_000
    )
    assert console.call("GET", "/tenants/102").json()["external_id"] == "THEIRS"
    expect(admin.locator("[name=external_id]")).to_have_value("MINE")  # the operator's edit is still there


def test_a_tenants_source_connections_are_shown_kept_on_save_and_a_blank_one_is_the_shared_one(console, admin):
    revision = console.revision()
    body = console.call("GET", "/tenants/105").json()
    body["info_mart_conn_id"] = "gim_tailspin"
    body["regions"][0]["locations"][0]["gvp_conn_id"] = "gvp_tailspin"
    stored = console.call("PUT", "/tenants/105", json=body, headers={"If-Match": f'"{revision}"'})
    assert stored.status_code == 200, stored.text
    open_page(admin, console, "tenants/105")
    expect(admin.locator("[name=info_mart_conn_id]")).to_have_value("gim_tailspin")
    expect(admin.locator("[name=configuration_conn_id]")).to_have_value("bds_cme")
    expect(admin.locator("[name=gvp_conn_id]").first).to_have_value("gvp_tailspin")
    admin.locator("[name=external_id]").fill("TT-1")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator("#notice")).to_contain_text(f"Saved as revision {revision + 2}", timeout=30_000)
    saved = console.call("GET", "/tenants/105").json()
    assert (saved["external_id"], saved["info_mart_conn_id"], saved["regions"][0]["locations"][0]["gvp_conn_id"]) == (
        "TT-1",
        "gim_tailspin",
        "gvp_tailspin",
    )
    admin.locator("[name=info_mart_conn_id]").fill("")
    admin.locator("[name=gvp_conn_id]").first.fill("not a connection")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator('[data-path="regions[0].locations[0].gvp_conn_id"] .problem')).to_contain_text("pattern", timeout=30_000)
    admin.locator("[name=gvp_conn_id]").first.fill(" ")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator("#notice")).to_contain_text(f"Saved as revision {revision + 3}", timeout=30_000)
    saved = console.call("GET", "/tenants/105").json()
    assert (saved["info_mart_conn_id"], saved["regions"][0]["locations"][0]["gvp_conn_id"]) == ("bds_gim", "bds_gvp")


def test_a_viewer_sees_the_pages_but_cannot_save_or_acknowledge(console, viewer):
    open_page(viewer, console, "tenants/101")
    expect(viewer.get_by_role("button", name="Save")).to_be_disabled()
    expect(viewer.locator("#content")).to_contain_text("Read only")
    open_page(viewer, console, "anomalies")
    expect(viewer.get_by_role("button", name="Acknowledge").first).to_be_disabled()
    # Nor can the page's own calls: the API refuses a Viewer's change
    answer = viewer.evaluate("""async () => (await fetch('/bds/api/v1/events', {method: 'PUT', headers: {'Content-Type': 'application/json',
        'If-Match': '"1"'}, body: JSON.stringify({billing_process_enabled: false})})).status""")
    assert answer == 403


def test_global_settings_and_events_save_through_the_api(console, admin):
    open_page(admin, console, "settings")
    admin.locator('[name="billing_server.bucket"]').fill("Not_A_Bucket")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator('[data-path="billing_server.bucket"] .problem')).to_be_visible(timeout=30_000)
    admin.locator('[name="anomalies.jump_ratio"]').fill("0.8")
    admin.reload()  # the refused change left nothing behind
    expect(admin.locator('[name="billing_server.bucket"]')).not_to_have_value("Not_A_Bucket", timeout=30_000)
    admin.locator('[name="anomalies.jump_ratio"]').fill("0.8")
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator("#notice")).to_contain_text("Saved as revision", timeout=30_000)
    assert console.call("GET", "/settings").json()["anomalies"]["jump_ratio"] == 0.8
    shot(admin, "settings")
    open_page(admin, console, "events")
    box = admin.locator("[name=billing_process_enabled]")
    expect(box).to_be_checked()
    shot(admin, "events")


def test_history_lists_the_revisions_and_shows_a_readable_diff(console, admin):
    open_page(admin, console, "history")
    expect(admin.locator("tbody tr").filter(has_text="transmission on")).to_have_count(1)
    admin.get_by_label("from revision 1").check()
    admin.get_by_label("to revision 2").check()
    admin.get_by_role("button", name="Compare selected").click()
    diff = admin.locator("h2", has_text="From revision 1 to 2")
    expect(diff).to_be_visible(timeout=30_000)
    change = admin.locator("table").last.locator("tbody tr")
    expect(change).to_have_count(1)
    expect(change).to_contain_text("billing_server.transmit")
    expect(change.locator(".diff-old")).to_have_text("false")
    expect(change.locator(".diff-new")).to_have_text("true")
    shot(admin, "history")


def test_results_show_counts_charts_and_a_missing_day_as_missing(console, admin):
    tenant, day = MISSING
    open_page(admin, console, f"results?tenant_id={tenant}&start=2026-03-25&end=2026-03-31")
    row = admin.locator("tbody tr", has=admin.get_by_text(day.isoformat(), exact=True))
    expect(row).to_have_class(re.compile("missing"), timeout=30_000)
    expect(row.locator("td.missing").first).to_have_text("missing")
    expect(admin.locator("#content")).to_contain_text(f"1 missing day(s): {day}")
    # One chart per metric, drawn by plotly.js (served by the app itself)
    charts = admin.locator(".chart .main-svg")
    expect(charts.first).to_be_visible(timeout=30_000)
    metrics = admin.locator(".chart").count()
    assert metrics >= 3
    open_page(admin, console, "results?tenant_id=101&start=2026-03-25&end=2026-03-31")
    expect(admin.locator("tr.month")).to_contain_text("Month 2026-03", timeout=30_000)
    expect(admin.locator("td.peak").first).to_be_visible()
    expect(admin.locator(".chart .main-svg").first).to_be_visible(timeout=30_000)
    expect(admin.locator(".chart").first.locator(".legendtext", has_text="monthly").first).to_be_attached()
    admin.locator(".chart").first.scroll_into_view_if_needed()
    shot(admin, "results")


def test_anomalies_list_the_restated_day_and_the_missing_one_and_take_an_acknowledgement(console, admin):
    open_page(admin, console, "anomalies")
    restated = admin.locator("tbody tr", has_text="restated").filter(has_text=RESTATED_DAY.isoformat())
    expect(restated.first).to_contain_text("->", timeout=30_000)  # the counts' change: old -> new
    missing = admin.locator("tbody tr", has_text="missing").filter(has_text=MISSING[1].isoformat())
    expect(missing).to_have_count(1)
    shot(admin, "anomalies")
    missing.get_by_placeholder("comment").fill("tenant 105's Info Mart was down that day; rerun requested")
    missing.get_by_role("button", name="Acknowledge").click()
    expect(admin.locator("#notice")).to_contain_text("Acknowledged by admin", timeout=30_000)
    expect(admin.locator("tbody tr", has_text="missing").filter(has_text=MISSING[1].isoformat())).to_have_count(
        0
    )  # open flags only
    admin.get_by_label("Which flags").select_option("acknowledged")
    expect(admin.locator("tbody tr").filter(has_text="Info Mart was down")).to_contain_text("admin")
    flags = console.call("GET", "/ledger/anomalies", params={"state": "acknowledged"}).json()
    assert [(f["kind"], f["period"], f["acknowledged"]["by"]) for f in flags] == [("missing", MISSING[1].isoformat(), "admin")]


def test_files_show_versions_restatement_and_transmission_and_download(console, admin):
    open_page(admin, console, f"files?tenant_id=101&period={RESTATED_DAY}")
    first = admin.locator("section").first
    current = first.locator(".file").first
    expect(current).to_contain_text("sent", timeout=30_000)
    expect(current).to_contain_text("s3://")
    expect(current).to_contain_text("configuration revision 2")
    expect(first.locator(".file.old")).to_contain_text("Earlier version")
    expect(current).to_contain_text("Restated from the version before")
    shot(admin, "files")
    sha = current.get_attribute("data-sha256")
    name = first.get_attribute("data-file")
    with admin.expect_download() as download:
        current.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == name
    archived = next((console.data / "archive").rglob(name)).read_bytes()
    assert Path(download.value.path()).read_bytes() == archived and hashlib.sha256(archived).hexdigest() == sha
    # A month refused by the billing server, and one waiting in the outbox
    open_page(admin, console, "files?tenant_id=102&period=2026-03")
    refused = admin.locator(".file", has=admin.locator(".badge.failed"))
    expect(refused).to_have_count(1, timeout=30_000)  # the first file tried; the rest were not tried after it
    expect(refused).to_contain_text("bucket 'bds-no-such-bucket' does not exist")
    open_page(admin, console, "files?tenant_id=101&period=2026-03")
    expect(admin.locator(".file").first).to_contain_text("queued", timeout=30_000)


def test_an_offline_tenant_shows_offline_and_its_queued_files_as_held(console, admin):
    revision = console.revision()
    switched = console.call("PATCH", "/tenants/101", json={"online": False}, headers={"If-Match": f'"{revision}"'})
    assert switched.status_code == 200, switched.text
    try:
        open_page(admin, console, "tenants")
        row = admin.locator("tr", has=admin.get_by_text("Northwind Care"))
        expect(row.locator(".badge.offline")).to_have_text("offline", timeout=30_000)
        open_page(admin, console, "files?tenant_id=101&period=2026-03")
        held = admin.locator(".file").first
        expect(held.locator(".badge")).to_have_text("held", timeout=30_000)
        expect(held).to_contain_text("the tenant is offline; sent when it is online again")
        shot(admin, "files-offline")
    finally:
        back = console.call("PATCH", "/tenants/101", json={"online": True}, headers={"If-Match": f'"{console.revision()}"'})
        assert back.status_code == 200, back.text
    open_page(admin, console, "files?tenant_id=101&period=2026-03")
    expect(admin.locator(".file").first.locator(".badge")).to_have_text("queued", timeout=30_000)
