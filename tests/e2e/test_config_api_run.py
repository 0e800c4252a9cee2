"""End to end: the configuration changed through the API (a real api-server, the store on
PostgreSQL) reaches the next run, and every file names the revision that produced it; a run
planned before a change bills with what it planned."""

from __future__ import annotations

import json

import pytest

from bds import changes
from bds.config import Tenant
from bds.files import daily_dir, parse_name
from bds_tools.airflow_local import postgres_connection
from tests.api_server import config_api
from tests.conftest import fresh_pg_database
from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, run_day, summary_of


@pytest.fixture
def billing(tmp_path, monkeypatch, sqlite_sources):
    """The api-server and this process's runs share one store and one archive."""
    with fresh_pg_database() as url:
        data = tmp_path / "data"
        with config_api(tmp_path / "airflow", url, data, DEMO_CONFIG) as api:
            for name, value in {
                "AIRFLOW_CONN_BDS_DB": postgres_connection(url),
                "BDS_DATA_DIR": str(data),
                "BDS_CONFIG": str(DEMO_CONFIG),
                **{f"AIRFLOW_CONN_BDS_{s.upper()}": v for s, v in sqlite_sources.items()},
            }.items():
                monkeypatch.setenv(name, value)
            monkeypatch.delenv("BDS_CONFIG_SOURCE", raising=False)
            yield api, data


def manifest_of(data, tenant_id: int) -> dict:
    folder = daily_dir(data, tenant_id, BILLED_DAY)
    return json.loads(next(folder.glob("MANIFEST_*.json")).read_bytes())


def test_a_tier1_change_through_the_api_restates_the_day_naming_the_column_and_the_revision(bds_daily, billing):
    api, data = billing
    first = run_day(bds_daily)
    assert first.state == "success"
    assert "configuration: revision 1 of the configuration store postgresql" in summary_of(first)
    assert {f["config_revision"] for t in (101, 102, 105) for f in manifest_of(data, t)["files"]} == {1}

    answer = api.call(
        "PATCH",
        "/tenants/101",
        role="op",
        json={"tier1_account_id": "T1-NW-2026"},
        headers={"If-Match": '"1"'},
        params={"comment": "Northwind's new Tier1 account"},
    )
    assert answer.status_code == 200 and answer.json()["revision"]["number"] == 2, answer.text

    second = run_day(bds_daily)
    assert second.state == "success"
    summary = summary_of(second)
    assert "configuration: revision 2 of the configuration store postgresql" in summary
    restated = changes.read(data)
    assert restated and {e["tenant_id"] for e in restated} == {101}  # the other tenants' files did not change
    for entry in restated:
        assert entry["other_columns"] == ["Tier1AccountID"] and entry["rows"] == [] and entry["config_revision"] == 2
        assert (
            f"RESTATED tenant 101 {BILLED_DAY} {entry['file']} with configuration revision 2: counts unchanged; also changed: Tier1AccountID"
            in summary
        )
    northwind = manifest_of(data, 101)["files"]
    assert {f["config_revision"] for f in northwind} == {2} and {f["name"] for f in northwind} == {e["file"] for e in restated}
    assert {f["config_revision"] for t in (102, 105) for f in manifest_of(data, t)["files"]} == {
        1
    }  # same bytes: still revision 1's
    for file in northwind:
        assert ",T1-NW-2026," in (daily_dir(data, 101, BILLED_DAY) / file["name"]).read_text()
        assert parse_name(file["name"]).tenant_id == 101


def test_a_change_made_while_a_run_is_in_flight_affects_only_runs_planned_after_it(billing):
    from bds.pipeline import aggregate, extract_source, plan_daily_run, render

    api, data = billing
    _, work, notes = plan_daily_run(BILLED_DAY.isoformat(), None, None, "manual__in-flight")
    planned = next(w for w in work if w["tenant"]["tenant_id"] == 101)
    assert planned["config_revision"] == 1
    changed = api.call("PATCH", "/tenants/101", json={"tier1_account_id": "T1-LATE"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200
    for source in ("gim", "gvp", "cme"):
        extract_source(planned, source)
    aggregate(planned)
    render(planned, data)
    files = manifest_of(data, 101)["files"]
    assert {f["config_revision"] for f in files} == {1}
    tier1 = Tenant.model_validate(planned["tenant"]).tier1_account_id
    assert all(f",{tier1}," in (daily_dir(data, 101, BILLED_DAY) / f["name"]).read_text() for f in files)
    assert all("T1-LATE" not in (daily_dir(data, 101, BILLED_DAY) / f["name"]).read_text() for f in files)
    later = plan_daily_run(BILLED_DAY.isoformat(), None, None, "manual__later")[1]
    assert {w["config_revision"] for w in later} == {2}
    assert next(w for w in later if w["tenant"]["tenant_id"] == 101)["tenant"]["tier1_account_id"] == "T1-LATE"
