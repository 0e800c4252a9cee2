import os
from pathlib import Path

import pytest

from bds.config import Billable, BillingConfigError, load_billing_config, parse_billing_config


def test_valid_configuration(raw_config):
    config = parse_billing_config(raw_config)
    tenant = config.tenants[0]
    assert tenant.billable is Billable.PURECONNECT
    assert tenant.billed_regions == ["US", "EU"]
    assert tenant.enabled_metrics[0] == "seats_inbound_voice"
    placements = tenant.placements()
    assert placements["SW_NY"].location == "NYC"
    assert placements[""].location == "HQ"  # the default location
    assert tenant.placements("gvp_components")["MCP_FR"].region == "EU"


def test_unlisted_metrics_are_off(raw_config):
    raw_config["tenants"][0]["metrics"] = {"seats_chat": True, "seats_outbound": False}
    assert parse_billing_config(raw_config).tenants[0].enabled_metrics == ["seats_chat"]


def test_disabled_region_places_but_does_not_bill(raw_config):
    raw_config["tenants"][0]["regions"][1]["enabled"] = False
    tenant = parse_billing_config(raw_config).tenants[0]
    assert tenant.billed_regions == ["US"]
    assert tenant.placements()["SW_FR"].billed is False


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("time_zone", "Mars/Olympus", "field 'time_zone': 'Mars/Olympus' is not an IANA time zone"),
        ("time_zone", "../../etc/passwd", "field 'time_zone': '../../etc/passwd' is not an IANA time zone"),
        ("time_zone", "Europe/" + "x" * 300, "field 'time_zone': 'Europe/xxxxxxxx"),  # never looked up as a file
        ("tenant_id", 2**31, "field 'tenant_id': Input should be less than or equal to 2147483647"),
        ("billable", "Paid", "field 'billable': Input should be 'None', 'Salesforce' or 'PureConnect'"),
        ("metrics", {"seats_fax": True}, "field 'metrics': unknown metric(s) seats_fax"),
        ("production_date", "2026-02-30", "field 'production_date'"),
        ("tenant_id", 0, "field 'tenant_id'"),
        ("garm", "typo", "field 'garm': Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_tenant_and_the_field(raw_config, field, value, expected):
    raw_config["tenants"].append(raw_config["tenants"][0] | {"tenant_id": 102, "name": "Contoso"} | {field: value})
    with pytest.raises(BillingConfigError) as info:
        parse_billing_config(raw_config)
    message = str(info.value)
    assert f"tenant 'Contoso' (tenant_id {102 if field != 'tenant_id' else value}, entry 2)" in message
    assert expected in message
    assert "Northwind" not in message


def test_nested_field_path(raw_config):
    raw_config["tenants"][0]["regions"][0]["code"] = "us"
    with pytest.raises(BillingConfigError, match=r"tenant 'Northwind Care' .*field 'regions\[0\]\.code'"):
        parse_billing_config(raw_config)


def test_switch_in_two_locations(raw_config):
    raw_config["tenants"][0]["regions"][1]["locations"][0]["switches"] = ["SW_NY"]
    with pytest.raises(BillingConfigError, match="switches entry 'SW_NY' is listed in locations NYC and FRA"):
        parse_billing_config(raw_config)


def test_two_default_locations(raw_config):
    raw_config["tenants"][0]["regions"][1]["locations"][0]["switches"] = []
    with pytest.raises(BillingConfigError, match="more than one default location"):
        parse_billing_config(raw_config)


def test_pureconnect_needs_production_date(raw_config):
    del raw_config["tenants"][0]["production_date"]
    with pytest.raises(BillingConfigError, match="production_date is required"):
        parse_billing_config(raw_config)


def test_global_region_code_is_reserved(raw_config):
    raw_config["tenants"][0]["regions"][0]["code"] = "GLOBAL"
    with pytest.raises(BillingConfigError, match="reserved"):
        parse_billing_config(raw_config)


def test_global_setting_error_names_settings(raw_config):
    raw_config["billing_process_enabled"] = "perhaps"
    with pytest.raises(BillingConfigError, match="settings: field 'billing_process_enabled'"):
        parse_billing_config(raw_config)


def test_duplicate_tenant_ids(raw_config):
    raw_config["tenants"].append(dict(raw_config["tenants"][0], name="Copy"))
    with pytest.raises(
        BillingConfigError,
        match=r"settings: field 'tenants': tenant_id 101 is used by entry 1 'Northwind Care' and entry 2 'Copy'",
    ):
        parse_billing_config(raw_config)


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (("name",), "Northwind\nCare", "field 'name': control character U+000A (LINE FEED) at position 10 of 'Northwind\\nCare'"),
        (("tier3_account_name",), "A\rB", "field 'tier3_account_name': control character U+000D (CARRIAGE RETURN) at position 2"),
        (("external_id",), "X\tY", "field 'external_id': control character U+0009 (TAB) at position 2"),
        (("garn",), "G\x00", "field 'garn': control character U+0000 (NULL) at position 2"),
        (("source_id",), "S\u2028T", "field 'source_id': control character U+2028 (LINE SEPARATOR) at position 2"),
        (
            ("regions", 0, "locations", 0, "switches"),
            ("SW\nNY",),
            "field 'regions[0].locations[0].switches': control character U+000A",
        ),
    ],
)
def test_control_characters_are_refused_in_any_text_field(raw_config, where, value, expected):
    target = raw_config["tenants"][0]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(BillingConfigError) as info:
        parse_billing_config(raw_config)
    assert "tenant 'Northwind" in str(info.value) and expected in str(info.value), str(info.value)


def test_a_garn_that_makes_file_names_too_long_is_refused_when_the_run_plans(raw_config, tmp_path):
    from bds.catalogue import METRICS
    from bds.files import NAME_MAX, VERSION_TEMPORARY_EXTRA, daily_file_name, longest_file_name

    tenant = parse_billing_config(raw_config).tenants[0]
    longest = longest_file_name(tenant)
    # The longest name: the longest metric key with the longest region code of the tenant.
    key = max(METRICS, key=len)
    assert longest == daily_file_name(tenant, METRICS[key], "GLOBAL", __import__("datetime").date(2026, 1, 1))
    fixed = len(longest) - len(tenant.garn)  # everything but the GARN
    fits = NAME_MAX - VERSION_TEMPORARY_EXTRA - fixed
    raw_config["tenants"][0]["garn"] = "G" * fits
    tenant = parse_billing_config(raw_config).tenants[0]
    # The longest name it allows, kept as a version while written, is exactly 255 bytes: the file system takes it.
    version_temporary = f".{longest_file_name(tenant)[:-4]}.0123456789abcdef.csv.abcdefgh.tmp"
    assert len(version_temporary) == NAME_MAX
    (tmp_path / version_temporary).write_bytes(b"")
    raw_config["tenants"][0]["garn"] = "G" * (fits + 1)
    with pytest.raises(BillingConfigError) as info:
        parse_billing_config(raw_config)
    assert f"field '(whole entry)': the file names would be {NAME_MAX - VERSION_TEMPORARY_EXTRA + 1} bytes long" in str(
        info.value
    )
    assert f"shorten the GARN to at most {fits} bytes" in str(info.value) and "tenant 'Northwind Care'" in str(info.value)


def test_chat_seats_need_a_default_location(raw_config):
    tenant = raw_config["tenants"][0]
    tenant["metrics"] = {"seats_inbound_voice": True}
    for region in tenant["regions"]:
        region["locations"] = [loc for loc in region["locations"] if loc.get("switches")]
    assert parse_billing_config(raw_config).tenants[0].enabled_metrics == ["seats_inbound_voice"]  # voice alone: fine
    for metric in ("seats_chat", "seats_workspace"):
        tenant["metrics"] = {metric: True}
        with pytest.raises(
            BillingConfigError,
            match=rf"tenant 'Northwind Care' .*{metric} count sessions on media that have no "
            r"switch \(chat, email\), which are billed in the default location",
        ):
            parse_billing_config(raw_config)


def test_yaml_none_billable_and_file_errors(tmp_path, monkeypatch):
    path = tmp_path / "billing.yaml"
    path.write_text("billing_process_enabled: true\ntenants:\n  - {tenant_id: 5, name: Lab, billable: None}\n")
    assert load_billing_config(path).tenants[0].billable is Billable.NONE
    monkeypatch.delenv("BDS_CONFIG", raising=False)
    with pytest.raises(BillingConfigError, match="set BDS_CONFIG"):
        load_billing_config()
    with pytest.raises(BillingConfigError, match="cannot read"):
        load_billing_config(tmp_path / "missing.yaml")
    path.write_text("tenants: [\n")
    with pytest.raises(BillingConfigError, match="not valid YAML"):
        load_billing_config(path)


def test_later_files_are_laid_over_earlier_ones(tmp_path, monkeypatch):
    base = tmp_path / "tenants.yaml"
    base.write_text(
        "billing_process_enabled: true\n"
        "billing_server: {kind: s3, transmit: false, bucket: first, key_prefix: billing}\n"
        "sources: {gim_retention_days: 400}\n"
        "tenants:\n  - {tenant_id: 5, name: Lab, billable: None}\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text("billing_server: {transmit: true, bucket: site-bucket}\nsources: {timeout_minutes: 60}\n")
    monkeypatch.setenv("BDS_CONFIG", f"{base}{os.pathsep}{site}")
    config = load_billing_config()
    assert (config.billing_server.transmit, config.billing_server.bucket, config.billing_server.key_prefix) == (
        True,
        "site-bucket",
        "billing",
    )
    assert (config.sources.timeout_minutes, config.sources.gim_retention_days) == (60, 400)
    assert [t.tenant_id for t in config.tenants] == [5]
    site.write_text("billing_server: {server_side_encryption: rot13}\n")
    with pytest.raises(BillingConfigError, match=f"invalid billing configuration {site} over {base}"):
        load_billing_config()
    site.write_text("- not a mapping\n")
    with pytest.raises(BillingConfigError, match=f"{site}: expected a mapping"):
        load_billing_config()


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ({"transmit": True}, "field 'billing_server': Value error, transmit is on but no bucket is set"),
        ({"bucket": "Bad_Bucket"}, "field 'billing_server.bucket': String should match pattern"),
        ({"server_side_encryption": "aws:kms"}, "server_side_encryption aws:kms needs kms_key_id"),
        ({"kms_key_id": "k-1"}, "kms_key_id is set but server_side_encryption is not aws:kms"),
        (
            {"server_side_encryption": "DES"},
            "field 'billing_server.server_side_encryption': Input should be 'none', 'AES256' or 'aws:kms'",
        ),
        ({"key_prefix": "a//b"}, "field 'billing_server.key_prefix': Value error, 'a//b' has an empty"),
    ],
)
def test_billing_server_errors(raw_config, server, expected):
    raw_config["billing_server"] = server
    with pytest.raises(BillingConfigError) as err:
        parse_billing_config(raw_config)
    assert str(err.value).splitlines()[1].strip().startswith("settings: ")
    assert expected.replace("Value error, ", "") in str(err.value)


def test_billing_server_keys_and_upload_arguments(raw_config):
    raw_config["billing_server"] = {
        "transmit": True,
        "bucket": "bds-billing",
        "key_prefix": "/usage/pes/",
        "server_side_encryption": "aws:kms",
        "kms_key_id": "alias/billing",
    }
    server = parse_billing_config(raw_config).billing_server
    assert server.key("101/daily/2026/03/x.csv") == "usage/pes/101/daily/2026/03/x.csv"
    assert server.uri("101/x.csv") == "s3://bds-billing/usage/pes/101/x.csv"
    assert server.upload_arguments() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/billing"}
    off = parse_billing_config({"billing_server": {"server_side_encryption": "none"}}).billing_server
    assert off.upload_arguments() == {} and off.transmit is False and off.key("a/b.csv") == "a/b.csv"


def test_every_shipped_configuration_loads():
    """The demo's, the benchmark's, and the compose deployment's overlays on the demo's (S3 and SFTP)."""
    folder = Path(__file__).resolve().parents[2] / "include" / "config"
    demo = load_billing_config(folder / "demo.yaml")
    bench = load_billing_config(folder / "bench.yaml")
    deployed = load_billing_config(f"{folder / 'demo.yaml'}{os.pathsep}{folder / 'compose.yaml'}")
    assert not demo.billing_server.transmit and deployed.billing_server.transmit
    assert deployed.tenants == demo.tenants
    assert [t.tenant_id for t in bench.tenants] == [301]
    over_sftp = load_billing_config(f"{folder / 'demo.yaml'}{os.pathsep}{folder / 'compose-sftp.yaml'}")
    assert (over_sftp.billing_server.kind, over_sftp.billing_server.transmit) == ("sftp", True)
    assert over_sftp.tenants == demo.tenants
    assert {p.name for p in folder.glob("*.yaml")} == {"demo.yaml", "bench.yaml", "compose.yaml", "compose-sftp.yaml"}


def test_kms_encryption_is_refused_for_an_sftp_billing_server(raw_config):
    raw_config["billing_server"] = {"kind": "sftp", "server_side_encryption": "aws:kms", "kms_key_id": "alias/bds"}
    with pytest.raises(BillingConfigError, match="server_side_encryption aws:kms is S3's: an SFTP server does not apply it"):
        parse_billing_config(raw_config)
