import copy

import pytest

from bds.config import parse_billing_config

BASE_TENANT = {
    "tenant_id": 101,
    "name": "Northwind Care",
    "garn": "GARN-0001",
    "billable": "PureConnect",
    "tier1_account_id": "T1-100",
    "tier2_account_id": "T2-200",
    "tier3_account_id": "T3-300",
    "tier3_account_name": "Northwind Care Inc",
    "external_id": "EXT-9",
    "source_id": "SRC-4",
    "time_zone": "UTC",
    "production_date": "2026-01-01",
    "regions": [
        {
            "code": "US",
            "locations": [
                {"code": "NYC", "switches": ["SW_NY"], "gvp_components": ["MCP_NY"]},
                {"code": "HQ", "switches": []},
            ],
        },
        {"code": "EU", "locations": [{"code": "FRA", "switches": ["SW_FR"], "gvp_components": ["MCP_FR"]}]},
    ],
    "metrics": {
        "seats_inbound_voice": True,
        "seats_chat": True,
        "seats_callback": True,
        "seats_outbound": True,
        "seats_workspace": True,
        "voicemail_boxes": True,
        "gvp_asr_ports": True,
        "gvp_tts_ports": True,
        "voicebot_interactions": True,
    },
}


@pytest.fixture
def raw_config():
    return {"billing_process_enabled": True, "tenants": [copy.deepcopy(BASE_TENANT)]}


@pytest.fixture
def tenant(raw_config):
    return parse_billing_config(raw_config).tenants[0]
