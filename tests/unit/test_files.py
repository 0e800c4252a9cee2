import os
from datetime import date

import pytest

from bds.catalogue import METRICS
from bds.files import billing_rows, daily_file_name, file_name, name_part, neutralise, render_csv, write_atomic


def test_daily_file_name(tenant):
    name = daily_file_name(tenant, METRICS["seats_chat"], "US", date(2026, 3, 7))
    assert name == "CNT_US_PES_seats_chat_GARN-0001_101_20260307.csv"


def test_blank_garn_and_unsafe_characters():
    assert file_name("GLOBAL", "voicemail_boxes", "  ", 7, "20260307") == "CNT_GLOBAL_PES_voicemail_boxes_NOGARN_7_20260307.csv"
    assert name_part("AB/12 x_y:*?", "NOGARN") == "AB-12-x-y-"
    assert name_part("../..", "NOGARN") == "-"
    assert name_part("___", "NOGARN") == "-"


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-3", "@cmd", "\tx", "\rx"])
def test_formulas_are_neutralised(text):
    assert neutralise(text) == "'" + text


def test_plain_text_is_kept():
    assert neutralise("Acme, Inc.") == "Acme, Inc."


def test_rendered_file_bytes(tenant):
    tenant = tenant.model_copy(update={"name": "=HYPERLINK(\"x\")", "tier3_account_name": "Care, Inc."})
    rows = billing_rows(tenant, METRICS["seats_outbound"], "US", "2026-03-07", {"concurrent": 12, "enabled": 30})
    expected = (
        "UsageDate,TenantID,TenantName,GARN,Tier1AccountID,Tier2AccountID,Tier3AccountID,Tier3AccountName,"
        "ExternalID,SourceID,Region,Metric,AgentGroupName,ChannelType,ServiceClass,ActivityType,Status,MessageSize\n"
        "2026-03-07,101,\"'=HYPERLINK(\"\"x\"\")\",GARN-0001,T1-100,T2-200,T3-300,\"Care, Inc.\",EXT-9,SRC-4,"
        "US,seats_outbound,1,4,23,5,AGENT_SEATS,12\n"
        "2026-03-07,101,\"'=HYPERLINK(\"\"x\"\")\",GARN-0001,T1-100,T2-200,T3-300,\"Care, Inc.\",EXT-9,SRC-4,"
        "US,seats_outbound,2,4,23,5,AGENT_SEATS,30\n"
    )
    assert render_csv(rows).decode("utf-8") == expected


def test_negative_count_is_refused(tenant):
    with pytest.raises(ValueError, match="negative"):
        billing_rows(tenant, METRICS["gvp_asr_ports"], "US", "2026-03-07", {"concurrent": -1})


def test_write_atomic_statuses(tmp_path):
    target = tmp_path / "a" / "f.csv"
    assert write_atomic(target, b"one\n") == "created"
    mtime = target.stat().st_mtime_ns
    assert write_atomic(target, b"one\n") == "unchanged"
    assert target.stat().st_mtime_ns == mtime
    assert write_atomic(target, b"two\n") == "changed"
    assert target.read_bytes() == b"two\n"
    assert sorted(os.listdir(target.parent)) == ["f.csv"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "f.csv"
    target.write_bytes(b"old\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new\n")
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["f.csv"]
