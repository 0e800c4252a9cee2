"""Which connection and which pool a tenant's rows of each source are read through."""

from __future__ import annotations

import json

import pytest

from bds.config import BillingConfigError, parse_billing_config
from bds.dag_common import source_pools
from bds.pipeline import extract_pool, plan_day


def test_a_configuration_without_connections_reads_the_shared_ones(raw_config):
    tenant = parse_billing_config(raw_config).tenants[0]
    assert [tenant.connections(s) for s in ("gim", "gvp", "cme")] == [("bds_gim",), ("bds_gvp",), ("bds_cme",)]
    assert tenant.gvp_servers() == {"MCP_NY": "bds_gvp", "MCP_FR": "bds_gvp", "": "bds_gvp"}


def test_each_location_reads_its_own_reporting_server_and_unlisted_components_the_default_locations(raw_config):
    tenant = raw_config["tenants"][0] | {"info_mart_conn_id": "gim_eu", "configuration_conn_id": "cme_eu"}
    us, eu = tenant["regions"]
    us["locations"][0]["gvp_conn_id"] = "gvp_ny"  # NYC; HQ, the default location, keeps bds_gvp
    eu["locations"][0]["gvp_conn_id"] = "gvp_ny"  # two locations on one server: read once
    raw_config["tenants"][0] = tenant
    parsed = parse_billing_config(raw_config).tenants[0]
    assert parsed.connections("gim") == ("gim_eu",) and parsed.connections("cme") == ("cme_eu",)
    assert parsed.connections("gvp") == ("gvp_ny", "bds_gvp")
    assert parsed.gvp_servers() == {"MCP_NY": "gvp_ny", "MCP_FR": "gvp_ny", "": "bds_gvp"}


def test_gvp_is_read_only_from_the_servers_records_are_billed_from(raw_config):
    """Not from a location with switches only (not the default), nor from a disabled one."""
    us, eu = raw_config["tenants"][0]["regions"]
    us["locations"].append({"code": "BOS", "switches": ["SW_BOS"], "gvp_conn_id": "gvp_unused"})
    eu["locations"][0] |= {"gvp_conn_id": "gvp_eu", "enabled": False}
    tenant = parse_billing_config(raw_config).tenants[0]
    assert tenant.connections("gvp") == ("bds_gvp",)
    assert tenant.gvp_servers()["MCP_FR"] == "gvp_eu"  # its records, read elsewhere, are still not billed as another's


@pytest.mark.parametrize("field", ["info_mart_conn_id", "configuration_conn_id"])
@pytest.mark.parametrize("value", ["", "gim db", "../gim", "x" * 251])
def test_a_connection_id_airflow_would_refuse_is_refused_naming_the_tenant(raw_config, field, value):
    raw_config["tenants"][0][field] = value
    with pytest.raises(BillingConfigError, match=rf"tenant 'Northwind Care' .*field '{field}'"):
        parse_billing_config(raw_config)


def test_a_locations_connection_id_is_checked_too(raw_config):
    raw_config["tenants"][0]["regions"][0]["locations"][0]["gvp_conn_id"] = "gvp;drop"
    with pytest.raises(BillingConfigError, match=r"field 'regions\[0\]\.locations\[0\]\.gvp_conn_id'"):
        parse_billing_config(raw_config)


def pools_file(tmp_path, extra: dict):
    shared = {f"bds_{s}": {"slots": 2, "description": s} for s in ("gim", "gvp", "cme")}
    path = tmp_path / "pools.json"
    path.write_text(json.dumps(shared | extra))
    return path


def test_source_pools_lists_the_shared_pool_first_then_the_connections_own(tmp_path, monkeypatch):
    path = pools_file(
        tmp_path,
        {
            "gim_z": {"slots": 1, "description": "", "source": "gim"},
            "gim_a": {"slots": 1, "description": "", "source": "gim"},
            "other": {"slots": 9, "description": "not a source's"},
        },
    )
    monkeypatch.delenv("BDS_POOLS", raising=False)
    assert source_pools(path) == {"gim": ("bds_gim", "gim_a", "gim_z"), "gvp": ("bds_gvp",), "cme": ("bds_cme",)}
    monkeypatch.setenv("BDS_POOLS", str(path))
    assert source_pools(tmp_path / "elsewhere.json")["gim"] == ("bds_gim", "gim_a", "gim_z")  # $BDS_POOLS wins


@pytest.mark.parametrize(
    ("name", "pool", "expected"),
    [
        ("gim_a", {"slots": 1, "description": "", "source": "fax"}, "pool 'gim_a': a connection's pool needs a source"),
        ("gim.a", {"slots": 1, "description": "", "source": "gim"}, "pool 'gim.a': a connection's pool needs a source"),
    ],
)
def test_a_pool_that_cannot_be_a_connections_is_refused_when_the_dag_is_parsed(tmp_path, monkeypatch, name, pool, expected):
    monkeypatch.delenv("BDS_POOLS", raising=False)
    with pytest.raises(RuntimeError, match=expected):
        source_pools(pools_file(tmp_path, {name: pool}))


def test_a_missing_pools_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("BDS_POOLS", str(tmp_path / "none.json"))
    with pytest.raises(RuntimeError, match=r"cannot read the pools file .*none\.json \(\$BDS_POOLS\)"):
        source_pools(tmp_path / "ignored.json")


def test_a_tenant_extracts_in_its_connections_pool_else_in_the_shared_one(raw_config):
    from datetime import date

    raw_config["tenants"][0] |= {"info_mart_conn_id": "gim_a", "configuration_conn_id": "cme_x"}
    raw_config["tenants"][0]["regions"][1]["locations"][0]["gvp_conn_id"] = "gvp_eu"  # FRA, its second location
    (work,), _ = plan_day(parse_billing_config(raw_config), date(2026, 3, 29))
    assert extract_pool(work, "gim", ("bds_gim", "gim_a")) == "gim_a"
    assert extract_pool(work, "cme", ("bds_cme", "cme_y")) == "bds_cme"  # cme_x has no pool of its own
    # GVP on several servers: the pool of the first location's (NYC: bds_gvp).
    assert extract_pool(work, "gvp", ("bds_gvp", "gvp_eu")) == "bds_gvp"


def test_a_gvp_record_is_billed_from_its_components_location_else_the_default_locations(raw_config):
    raw_config["tenants"][0]["regions"][0]["locations"][0]["gvp_conn_id"] = "gvp_ny"  # NYC; HQ (default) on bds_gvp
    tenant = parse_billing_config(raw_config).tenants[0]
    assert [tenant.gvp_billed_from(c, "gvp_ny") for c in ("MCP_NY", "MCP_FR", "MCP_UNLISTED", None, "")] == [
        "gvp_ny",
        "bds_gvp",
        "bds_gvp",  # the default location's
        "bds_gvp",
        "bds_gvp",
    ]
    raw_config["tenants"][0]["regions"][0]["locations"].pop()  # no default location
    raw_config["tenants"][0]["metrics"] = {"gvp_asr_ports": True}
    tenant = parse_billing_config(raw_config).tenants[0]
    # Without a default location an unlisted component is kept from whichever server read it
    # (and then refused as unplaced, as on one server).
    assert [tenant.gvp_billed_from("MCP_UNLISTED", server) for server in ("gvp_ny", "bds_gvp")] == ["gvp_ny", "bds_gvp"]
