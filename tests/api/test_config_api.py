"""The configuration API through a real Airflow api-server with the bds plugin loaded: mounted
at /bds with its OpenAPI document and Swagger UI, every route behind Airflow's auth manager,
changes as revisions, If-Match, 422 naming every problem, and a store that is down or
read-only answered with 503 and nothing written."""

from __future__ import annotations

import threading

import httpx
import pytest
import sqlalchemy as sa
import yaml

from bds.config import load_billing_config, to_yaml
from bds_tools.airflow_local import free_port
from tests.api.conftest import DEMO_CONFIG
from tests.api_server import config_api
from tests.conftest import fresh_pg_database


def if_match(api, revision=None) -> dict:
    return {"If-Match": f'"{api.revision() if revision is None else revision}"'}


def history(api) -> list[dict]:
    return api.call("GET", "/revisions", params={"limit": 1000}).json()


def concrete_paths(document: dict) -> list[tuple[str, str]]:
    """Every operation of the document, its path parameters filled in."""
    fill = {
        "{tenant_id}": "101",
        "{number}": "1",
        "{flag_id}": "0" * 32,
        "{name}": "CNT_US_PES_seats_chat_G_101_20260307.csv",
        "{sha256}": "0" * 64,
    }
    found = []
    for path, operations in document["paths"].items():
        for name, value in fill.items():
            path = path.replace(name, value)
        found += [(method.upper(), path) for method in operations]
    return found


def test_the_app_is_mounted_with_its_document_and_swagger_ui_behind_the_login(api):
    document = api.call("GET", "/bds/openapi.json", role="viewer").json()
    assert document["info"]["title"] == "bds: billing configuration"
    operations = concrete_paths(document)
    assert len(operations) == 19 + 7  # the configuration's, and the billing console's data (bds.console.api)
    assert ("PATCH", "/api/v1/tenants/101") in operations and ("POST", "/api/v1/revisions/1/restore") in operations
    page = api.call("GET", "/bds/docs", role="viewer")
    assert page.status_code == 200 and "/bds/openapi.json" in page.text
    assert (
        "/bds/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    )  # served here: no internet needed
    asset = api.call("GET", "/bds/docs/assets/swagger-ui-bundle.js", role="viewer")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert api.call("GET", "/bds/docs/assets/..%2F..%2F__init__.py", role="viewer").status_code == 404
    # Nothing answers an anonymous caller, the document and its UI included, nor the console's
    # pages and assets (not in the document).
    from bds.console import PAGES

    console = [("GET", f"/console/{page}") for page in PAGES] + [
        ("GET", "/console/tenants/101"),
        ("GET", "/console/tenants/new"),
        ("GET", "/console/assets/console.js"),
        ("GET", "/console/assets/plotly.min.js"),
    ]
    for method, path in [
        *operations,
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/assets/swagger-ui.css"),
        *console,
    ]:
        answer = api.call(method, "/bds" + path, role=None)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["detail"] == "Not authenticated"
    assert api.call("GET", "/tenants", role=None, headers={"Authorization": "Bearer not-a-token"}).status_code == 403


def test_every_route_of_the_app_asks_airflow_for_the_user():
    """What the anonymous requests above show for today's routes, for any route added later:
    each one depends on Airflow's ``get_user`` (through its router or itself)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.routing import APIRoute

    from bds.config.api import create_app

    def calls(dependant) -> set:
        return {dependant.call} | {c for d in dependant.dependencies for c in calls(d)}

    routes = [r for r in create_app().routes if isinstance(r, APIRoute)]
    assert (
        len(routes) == 26 + 3 + 4
    )  # the operations, the document, the Swagger UI and its assets, the console's pages and assets
    assert [r.path for r in routes if get_user not in calls(r.dependant)] == []


WRITES = [
    ("POST", "/tenants", {"json": {"tenant_id": 900, "name": "Role Probe", "billable": "None"}}),
    ("PUT", "/tenants/105", {"json": {"tenant_id": 105, "name": "Tailspin", "billable": "None"}}),
    ("PATCH", "/tenants/101", {"json": {"tier2_account_id": "role-probe"}}),
    ("POST", "/tenants/102/disable", {}),
    ("PUT", "/settings", {"json": {}}),
    ("PATCH", "/settings", {"json": {"settle_minutes": 20}}),
    ("PUT", "/events", {"json": {"billing_process_enabled": False}}),
    ("POST", "/revisions/1/restore", {}),
    ("POST", "/revisions/import", {"content": "tenants: []", "headers": {"Content-Type": "application/yaml"}}),
]


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_a_viewer_or_user_reads_everything_and_changes_nothing(api, role):
    before = history(api)
    for path in (
        "/tenants",
        "/tenants/101",
        "/settings",
        "/events",
        "/configuration",
        "/revisions",
        "/revisions/1",
        "/revisions/1/yaml",
        "/revisions/1/diff",
    ):
        assert api.call("GET", path, role=role).status_code == 200, path
    for method, path, body in WRITES:
        answer = api.call(
            method,
            path,
            role=role,
            headers={**if_match(api), **body.get("headers", {})},
            **{k: v for k, v in body.items() if k != "headers"},
        )
        assert answer.status_code == 403, (method, path, answer.text)
        assert "Op or Admin" in answer.json()["detail"]
    assert history(api) == before


@pytest.mark.parametrize("role", ["op", "admin"])
def test_an_op_or_admin_changes_a_tenant_and_the_revision_names_them(api, role):
    before = api.revision()
    answer = api.call(
        "PATCH",
        "/tenants/101",
        role=role,
        json={"tier3_account_name": f"changed by {role}"},
        headers=if_match(api),
        params={"comment": f"{role}: Tier3 name from the contract"},
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["changed"] and not result["dry_run"]
    assert result["revision"]["number"] == before + 1 and answer.headers["ETag"] == f'"{before + 1}"'
    assert result["revision"]["author"] == role and result["revision"]["comment"] == f"{role}: Tier3 name from the contract"
    assert result["changes"] == [
        {
            "tenant_id": 101,
            "path": "tier3_account_name",
            "change": "changed",
            "old": result["changes"][0]["old"],
            "new": f"changed by {role}",
        }
    ]
    assert api.call("GET", "/tenants/101").json()["tier3_account_name"] == f"changed by {role}"
    assert history(api)[0]["author"] == role


def test_a_change_needs_the_revision_it_was_based_on_and_loses_to_an_earlier_one(api):
    base = api.revision()
    missing = api.call("PATCH", "/tenants/101", json={"external_id": "E-1"})
    assert missing.status_code == 428 and "If-Match" in missing.json()["detail"]
    assert api.call("PATCH", "/tenants/101", json={"external_id": "E-1"}, headers={"If-Match": "yesterday"}).status_code == 400
    first = api.call("PATCH", "/tenants/101", json={"external_id": "E-first"}, headers=if_match(api, base))
    assert first.status_code == 200
    second = api.call("PATCH", "/tenants/101", json={"external_id": "E-second"}, headers=if_match(api, base))
    assert second.status_code == 412
    assert second.json()["current_revision"] == base + 1 and second.headers["ETag"] == f'"{base + 1}"'
    assert "someone else changed the configuration first" in second.json()["detail"]
    assert api.call("GET", "/tenants/101").json()["external_id"] == "E-first"  # the second never landed


def test_concurrent_writers_based_on_one_revision_make_one_revision(api):
    base = api.revision()
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    def write(number: int) -> None:
        start.wait()
        answers.append(api.call("PATCH", "/tenants/102", json={"source_id": f"S-{number}"}, headers=if_match(api, base)))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [412] * 7, [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert api.revision() == base + 1 == winner["revision"]["number"]
    assert api.call("GET", "/tenants/102").json()["source_id"] == winner["changes"][0]["new"]


def test_an_invalid_change_gets_every_problem_by_tenant_and_field_and_changes_nothing(api):
    before, revisions = api.call("GET", "/configuration").json(), history(api)
    patch = {
        "regions": [{"code": "../eu", "locations": [{"code": "BER/1"}]}],
        "time_zone": "Mars/Olympus",
        "metrics": {"teleport": True},
    }
    answer = api.call("PATCH", "/tenants/101", json=patch, headers=if_match(api))
    assert answer.status_code == 422
    problems = {(p["tenant"], p["path"]): p["message"] for p in answer.json()["problems"]}
    tenant = "tenant 'Northwind Care' (tenant_id 101, entry 1)"
    assert set(problems) == {
        (tenant, "time_zone"),
        (tenant, "regions[0].code"),
        (tenant, "regions[0].locations[0].code"),
        (tenant, "metrics"),
    }
    assert "'Mars/Olympus' is not an IANA time zone" in problems[(tenant, "time_zone")]
    assert "unknown metric(s) teleport" in problems[(tenant, "metrics")]
    assert "pattern" in problems[(tenant, "regions[0].code")]  # a code that would be unsafe in a file name or path
    assert api.call("GET", "/configuration").json() == before and history(api) == revisions


def test_unsafe_names_and_ids_are_refused_with_the_field_named(api):
    base = api.revision()
    cases = {
        "regions[0].code": {"regions": [{"code": "US/..", "locations": [{"code": "NY"}]}]},
        "regions[0].locations[0].code": {"regions": [{"code": "US", "locations": [{"code": "../../etc"}]}]},
        "name": {"name": "Line\nbreak"},
        "tenant_id": {"tenant_id": 2**40},
    }
    for path, fields in cases.items():
        answer = api.call(
            "POST", "/tenants", json={"tenant_id": 950, "name": "Unsafe", "billable": "None", **fields}, headers=if_match(api)
        )
        assert answer.status_code == 422, (path, answer.text)
        assert path in [p["path"] for p in answer.json()["problems"]], (path, answer.json())
    renamed = api.call(
        "PUT", "/tenants/101", json={**api.call("GET", "/tenants/101").json(), "tenant_id": 7}, headers=if_match(api)
    )
    assert renamed.status_code == 422 and "cannot change" in renamed.json()["problems"][0]["message"]
    assert api.revision() == base


def test_tenants_are_created_read_replaced_listed_by_billable_and_enabled_and_disabled(api):
    tenant = {
        "tenant_id": 4242,
        "name": "Fabrikam",
        "billable": "Salesforce",
        "tier1_account_id": "SF-1",
        "time_zone": "Europe/Paris",
    }
    created = api.call("POST", "/tenants", json=tenant, headers=if_match(api), params={"comment": "new customer"})
    assert created.status_code == 201 and created.headers["Location"] == "tenants/4242"
    assert api.call("POST", "/tenants", json=tenant, headers=if_match(api)).status_code == 409
    read = api.call("GET", "/tenants/4242").json()
    assert read["tier1_account_id"] == "SF-1" and read["enabled"] and read["regions"] == []
    replaced = api.call("PUT", "/tenants/4242", json={**tenant, "billable": "None"}, headers=if_match(api))
    assert replaced.json()["changes"] == [
        {"tenant_id": 4242, "path": "billable", "change": "changed", "old": "Salesforce", "new": "None"}
    ]
    assert 4242 in [t["tenant_id"] for t in api.call("GET", "/tenants", params={"billable": "None"}).json()]
    assert 4242 not in [t["tenant_id"] for t in api.call("GET", "/tenants", params={"billable": "PureConnect"}).json()]
    disabled = api.call("POST", "/tenants/4242/disable", headers=if_match(api))
    assert disabled.json()["changes"] == [{"tenant_id": 4242, "path": "enabled", "change": "changed", "old": True, "new": False}]
    assert [t["tenant_id"] for t in api.call("GET", "/tenants", params={"enabled": "false"}).json()].count(4242) == 1
    assert 4242 not in [t["tenant_id"] for t in api.call("GET", "/tenants", params={"enabled": "true"}).json()]
    assert api.call("GET", "/tenants/4243").status_code == 404
    # Regions, locations, switches, GVP components and metric switches are part of the tenant.
    regions = [
        {"code": "EU", "locations": [{"code": "PAR", "switches": ["SW_PAR"], "gvp_components": ["MCP_PAR"]}, {"code": "WEB"}]}
    ]
    patched = api.call(
        "PATCH", "/tenants/4242", json={"regions": regions, "metrics": {"seats_inbound_voice": True}}, headers=if_match(api)
    )
    assert patched.status_code == 200, patched.text
    assert {c["path"] for c in patched.json()["changes"]} == {"regions[EU]", "metrics.seats_inbound_voice"}
    assert api.call("GET", "/tenants/4242").json()["regions"][0]["locations"][0]["gvp_components"] == ["MCP_PAR"]
    off = api.call("PATCH", "/tenants/4242", json={"metrics": {"seats_inbound_voice": False}}, headers=if_match(api)).json()
    assert off["changes"] == [
        {"tenant_id": 4242, "path": "metrics.seats_inbound_voice", "change": "changed", "old": True, "new": False}
    ]


def test_global_settings_and_events_are_read_and_changed_validated_whole(api):
    settings = api.call("GET", "/settings").json()
    assert set(settings) == {
        "billing_server",
        "session_lookback_days",
        "voicebot_lookahead_minutes",
        "settle_minutes",
        "sources",
        "anomalies",
        "approvals",
        "housekeeping",
    }
    assert settings["approvals"] == {
        "hold": True,
        "hold_on": ["jump", "zero", "concurrent_above_enabled", "missing", "restated"],
        "close_after_days": None,
    }
    # Transmission on without a bucket: refused by the one schema, nothing changed.
    base = api.revision()
    answer = api.call("PATCH", "/settings", json={"billing_server": {"transmit": True, "bucket": ""}}, headers=if_match(api))
    assert answer.status_code == 422
    assert answer.json()["problems"] == [
        {"tenant": None, "path": "billing_server", "message": "transmit is on but no bucket is set"}
    ]
    assert api.call("PATCH", "/settings", json={"tenants": []}, headers=if_match(api)).json()["problems"][0]["path"] == "tenants"
    assert api.revision() == base
    moved = api.call(
        "PATCH", "/settings", json={"billing_server": {"bucket": "billing-eu", "key_prefix": "bds"}}, headers=if_match(api)
    )
    assert {c["path"] for c in moved.json()["changes"]} <= {"billing_server.bucket", "billing_server.key_prefix"}
    assert api.call("GET", "/settings").json()["billing_server"]["bucket"] == "billing-eu"
    # The approval hold: which checks hold, and a month closed ten days after it was sent; an unknown check refused.
    closing = {"approvals": {"hold_on": ["zero", "restated"], "close_after_days": 10}}
    assert api.call("PATCH", "/settings", json=closing, headers=if_match(api)).status_code == 200
    assert api.call("GET", "/settings").json()["approvals"] == {
        "hold": True,
        "hold_on": ["zero", "restated"],
        "close_after_days": 10,
    }
    typo = api.call("PATCH", "/settings", json={"approvals": {"hold_on": ["jumps"]}}, headers=if_match(api))
    assert typo.status_code == 422 and typo.json()["problems"][0]["path"] == "approvals.hold_on[0]"
    off = api.call(
        "PUT", "/events", json={"billing_process_enabled": False}, headers=if_match(api), params={"comment": "audit freeze"}
    )
    assert off.json()["changes"] == [
        {"tenant_id": None, "path": "billing_process_enabled", "change": "changed", "old": True, "new": False}
    ]
    assert api.call("GET", "/events").json() == {"billing_process_enabled": False}
    on = api.call("PUT", "/events", json={"billing_process_enabled": True}, headers=if_match(api))
    assert on.json()["revision"]["comment"] == "enabled the billing process"


def test_a_dry_run_answers_what_a_change_would_make_and_saves_nothing(api):
    base, revisions = api.revision(), history(api)
    answer = api.call("PATCH", "/tenants/105", json={"garn": "GARN-TT-0105"}, headers=if_match(api), params={"dry_run": "true"})
    assert answer.status_code == 200 and "ETag" not in answer.headers
    result = answer.json()
    assert (
        result["dry_run"]
        and result["changed"]
        and result["revision"]["number"] == base + 1
        and result["revision"]["created_at"] is None
    )
    assert result["changes"] == [{"tenant_id": 105, "path": "garn", "change": "changed", "old": "", "new": "GARN-TT-0105"}]
    assert api.revision() == base and history(api) == revisions
    invalid = api.call("PATCH", "/tenants/105", json={"time_zone": "Nowhere"}, headers=if_match(api), params={"dry_run": "true"})
    assert invalid.status_code == 422
    unchanged = api.call("PATCH", "/tenants/105", json={"garn": ""}, headers=if_match(api))
    assert unchanged.json()["changed"] is False and unchanged.json()["revision"]["number"] == base  # no change: no revision


def test_revisions_are_listed_diffed_exported_imported_and_restored(api):
    first = api.call("GET", "/revisions/1").json()
    assert first["origin"] == "seed" and first["author"] == "BDS_CONFIG" and first["comment"] == f"seeded from {DEMO_CONFIG}"
    exported = api.call("GET", "/revisions/1/yaml")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.text.endswith(to_yaml(load_billing_config(DEMO_CONFIG)))  # the seed, every default spelled out
    assert 'filename="bds-config-r1.yaml"' in exported.headers["content-disposition"]
    # An import is validated whole: a bad file changes nothing and names its problems.
    base = api.revision()
    document = yaml.safe_load(exported.text)
    document["tenants"].append(dict(document["tenants"][0]))  # the same tenant twice
    bad = api.call(
        "POST",
        "/revisions/import",
        content=yaml.safe_dump(document),
        headers={**if_match(api), "Content-Type": "application/yaml"},
    )
    assert bad.status_code == 422
    assert (
        f"tenant_id 101 is used by entry 1 'Northwind Care' and entry {len(document['tenants'])} 'Northwind Care'"
        in bad.json()["problems"][0]["message"]
    )
    garbage = api.call(
        "POST", "/revisions/import", content="tenants: [unclosed", headers={**if_match(api), "Content-Type": "application/yaml"}
    )
    assert garbage.status_code == 422 and "not valid YAML" in garbage.json()["problems"][0]["message"]
    assert api.revision() == base
    # A good one becomes the next revision; the diff names what it changed, by tenant.
    document["tenants"].pop()
    document["tenants"][1]["tier2_account_id"] = "T2-IMPORTED"
    imported = api.call(
        "POST",
        "/revisions/import",
        content=yaml.safe_dump(document),
        params={"comment": "from git"},
        headers={**if_match(api), "Content-Type": "application/yaml"},
    )
    assert imported.status_code == 200, imported.text
    number = imported.json()["revision"]["number"]
    diff = api.call("GET", f"/revisions/{number}/diff", params={"against": 1}).json()
    assert diff["from_revision"] == 1 and diff["to_revision"] == number
    assert {"tenant_id": 102, "path": "tier2_account_id", "change": "changed", "old": "2000102", "new": "T2-IMPORTED"} in diff[
        "changes"
    ]
    # Restoring revision 1 makes a new revision equal to it; nothing is removed.
    restored = api.call("POST", "/revisions/1/restore", headers=if_match(api)).json()
    assert restored["revision"]["number"] == number + 1 and restored["revision"]["restored_from"] == 1
    assert restored["revision"]["hash"] == first["hash"] and restored["revision"]["origin"] == "restore"
    assert [r["number"] for r in history(api)] == list(range(number + 1, 0, -1))
    assert api.call("GET", f"/revisions/{number}/diff", params={"against": number + 1}).json()["changes"] == diff["changes"]
    assert api.call("GET", "/revisions/9999").status_code == 404


def test_validate_answers_for_any_reader_and_saves_nothing(api):
    base = api.revision()
    good = api.call(
        "POST", "/validate", role="viewer", content=DEMO_CONFIG.read_text(), headers={"Content-Type": "application/yaml"}
    ).json()
    assert good["valid"] and good["problems"] == [] and len(good["hash"]) == 64
    bad = api.call(
        "POST", "/validate", role="viewer", json={"tenants": [{"tenant_id": 1, "name": "A", "billable": "Sometimes"}]}
    ).json()
    assert not bad["valid"]
    assert bad["problems"] == [
        {
            "tenant": "tenant 'A' (tenant_id 1, entry 1)",
            "path": "billable",
            "message": "Input should be 'None', 'Salesforce' or 'PureConnect'",
        }
    ]
    assert api.revision() == base


def test_the_database_refuses_to_change_or_remove_a_revision(api):
    engine = sa.create_engine(api.store_url)
    try:
        for statement in ("UPDATE bds_config_revision SET author = 'mallory'", "DELETE FROM bds_config_revision"):
            with pytest.raises(sa.exc.DBAPIError, match="immutable"), engine.begin() as connection:
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert all(r["author"] != "mallory" for r in history(api))


def test_an_unreachable_store_gets_a_clear_503(tmp_path):
    port = free_port()
    closed = f"postgresql+psycopg://postgres:secret-pw@127.0.0.1:{port}/bds"
    with config_api(tmp_path / "airflow", closed, tmp_path / "data", DEMO_CONFIG) as api:
        for method, path, kwargs in [
            ("GET", "/tenants", {}),
            ("PATCH", "/tenants/101", {"json": {"garn": "G"}, "headers": {"If-Match": '"1"'}}),
        ]:
            answer = api.call(method, path, **kwargs)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "30"
            detail = answer.json()["detail"]
            assert detail.startswith("configuration store postgresql") and f"postgres:***@127.0.0.1:{port}/bds" in detail
            assert "secret-pw" not in answer.text
            assert "try again when the store is back" in detail


def test_a_read_only_store_is_read_and_refuses_changes_with_503_writing_nothing(tmp_path):
    with fresh_pg_database() as url:
        admin = sa.create_engine(url)
        reader = f"bds_ro_{free_port()}"
        with admin.begin() as connection:  # the schema and revision 1 first, as a writable store had them
            from bds.config.store import Store

            Store(url).commit(load_billing_config(DEMO_CONFIG), 0, "BDS_CONFIG", "seeded", "seed")
            connection.execute(sa.text(f"CREATE ROLE {reader} LOGIN PASSWORD 'ro'"))
            connection.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"))
        read_only = sa.make_url(url).set(username=reader, password="ro").render_as_string(hide_password=False)
        try:
            with config_api(tmp_path / "airflow", read_only, tmp_path / "data") as api:
                assert api.call("GET", "/tenants/101").json()["name"] == "Northwind Care"
                answer = api.call("PATCH", "/tenants/101", json={"garn": "G"}, headers={"If-Match": '"1"'})
                assert answer.status_code == 503, answer.text
                assert "cannot be written; nothing was changed" in answer.json()["detail"]
                assert api.revision() == 1
        finally:
            with admin.begin() as connection:
                connection.execute(sa.text(f"DROP OWNED BY {reader}"))
                connection.execute(sa.text(f"DROP ROLE {reader}"))
            admin.dispose()
