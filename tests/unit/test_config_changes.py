"""What the configuration's revisions rest on: the canonical form and its hash, the diff by
tenant and field, the merge patch, and problems named by tenant and path."""

from __future__ import annotations

import pytest
import yaml

from bds.config import BillingConfigError, config_hash, load_billing_config, parse_billing_config, parse_yaml, problems, to_yaml
from bds.config.diff import describe, diff, merge_patch
from tests.conftest import ROOT

DEMO = load_billing_config(ROOT / "include" / "config" / "demo.yaml")


def changed(**edits) -> dict:
    raw = DEMO.model_dump(mode="json")
    for tenant_index, fields in edits.items():
        raw["tenants"][int(tenant_index.removeprefix("t"))].update(fields)
    return raw


def test_equal_configurations_hash_equal_however_written_and_export_round_trips():
    raw = DEMO.model_dump(mode="json")
    raw["tenants"][0]["metrics"] = dict(reversed(list(raw["tenants"][0]["metrics"].items())))  # another order
    reordered = parse_billing_config(raw)
    assert config_hash(reordered) == config_hash(DEMO) and to_yaml(reordered) == to_yaml(DEMO)
    assert parse_yaml(to_yaml(DEMO), "export") == DEMO
    assert config_hash(parse_billing_config(changed(t0={"garn": "OTHER"}))) != config_hash(DEMO)


def test_the_diff_matches_tenants_regions_and_locations_by_their_keys_not_their_places():
    raw = DEMO.model_dump(mode="json")
    raw["tenants"].reverse()  # another order: no change
    assert diff(DEMO, parse_billing_config(raw)) == []
    raw["tenants"][-1]["tier1_account_id"] = "T1-X"  # tenant 101, now last
    raw["tenants"][-2]["regions"][0]["locations"][0]["switches"] = ["SW_NEW"]  # tenant 102's first location
    raw["tenants"].pop(0)  # the last of the demo's tenants
    raw["billing_server"]["bucket"] = "elsewhere"
    found = diff(DEMO, parse_billing_config(raw))
    removed = DEMO.tenants[-1]
    first_location = DEMO.tenant(102).regions[0].locations[0]
    assert found == [
        {"tenant_id": None, "path": "billing_server.bucket", "change": "changed", "old": "bds-billing", "new": "elsewhere"},
        {"tenant_id": 101, "path": "tier1_account_id", "change": "changed", "old": "1000101", "new": "T1-X"},
        {
            "tenant_id": 102,
            "path": f"regions[{DEMO.tenant(102).regions[0].code}].locations[{first_location.code}].switches",
            "change": "changed",
            "old": list(first_location.switches),
            "new": ["SW_NEW"],
        },
        {
            "tenant_id": removed.tenant_id,
            "path": "(whole tenant)",
            "change": "removed",
            "old": removed.model_dump(mode="json"),
            "new": None,
        },
    ]
    assert describe(found)[1] == "tenant 101: tier1_account_id: '1000101' -> 'T1-X'"
    assert describe(found)[3] == f"tenant {removed.tenant_id}: (whole tenant): removed"


def test_a_region_added_or_a_metric_switched_is_one_entry():
    raw = changed(t0={"metrics": {**DEMO.tenants[0].metrics, "seats_chat": not DEMO.tenants[0].metrics.get("seats_chat", False)}})
    region = {
        "code": "AP",
        "enabled": True,
        "locations": [
            {"code": "SYD", "name": "", "enabled": True, "switches": ["SW_SYD"], "gvp_components": [], "gvp_conn_id": "bds_gvp"}
        ],
    }
    raw["tenants"][0]["regions"].append(region)
    found = diff(DEMO, parse_billing_config(raw))
    assert [(c["path"], c["change"]) for c in found] == [("regions[AP]", "added"), ("metrics.seats_chat", "changed")]
    assert found[0]["new"] == region


def test_a_merge_patch_merges_mappings_replaces_lists_and_null_resets():
    target = {"name": "A", "metrics": {"seats_chat": True, "voicemail_boxes": False}, "regions": [{"code": "US"}], "garn": "G"}
    patch = {"metrics": {"voicemail_boxes": True}, "regions": [], "garn": None, "external_id": "E"}
    assert merge_patch(target, patch) == {
        "name": "A",
        "metrics": {"seats_chat": True, "voicemail_boxes": True},
        "regions": [],
        "external_id": "E",
    }
    assert target["metrics"] == {"seats_chat": True, "voicemail_boxes": False}  # the target is left as it was
    assert merge_patch(target, ["not", "a", "mapping"]) == ["not", "a", "mapping"]


def test_problems_name_the_tenant_and_the_path_and_skip_the_echo_of_a_failed_list():
    raw = changed(t1={"time_zone": "Nowhere", "regions": [{"code": "us", "locations": [{"code": "NY/1"}]}]})
    with pytest.raises(BillingConfigError) as raised:
        parse_billing_config(raw, "the test")
    tenant = f"tenant '{DEMO.tenants[1].name}' (tenant_id {DEMO.tenants[1].tenant_id}, entry 2)"
    assert raised.value.problems == [
        {"tenant": tenant, "path": "time_zone", "message": "'Nowhere' is not an IANA time zone (e.g. Europe/Berlin)"},
        {"tenant": tenant, "path": "regions[0].code", "message": "String should match pattern '^[A-Z0-9]{1,16}$'"},
        {
            "tenant": tenant,
            "path": "regions[0].locations[0].code",
            "message": "String should match pattern '^[A-Za-z0-9][A-Za-z0-9-]*$'",
        },
    ]  # not also "regions[0].locations: should have at least 1 item": its entry's problem says why
    assert str(raised.value).startswith("invalid billing configuration the test:\n  " + tenant + ": field 'time_zone'")
    body_errors = [{"loc": ("body", "tenants", 0, "name"), "msg": "Field required", "type": "missing"}]
    assert problems(body_errors, {"tenants": [{"tenant_id": 9}]}, prefix=("body",)) == [
        {"tenant": "tenant '?' (tenant_id 9, entry 1)", "path": "name", "message": "Field required"}
    ]
    with pytest.raises(BillingConfigError) as raised:
        parse_yaml("tenants: [unclosed", "the import")
    assert raised.value.problems[0]["path"] == "(whole document)" and "not valid YAML" in raised.value.problems[0]["message"]
    assert yaml.safe_load(to_yaml(DEMO))["tenants"][0]["tenant_id"] == DEMO.tenants[0].tenant_id
