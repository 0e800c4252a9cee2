import hashlib
import os
import re
from datetime import date

import pytest

from bds.catalogue import METRICS
from bds.files import (
    billing_rows,
    check_billing_file,
    count_rows,
    daily_file_name,
    file_name,
    folder_lock,
    name_part,
    neutralise,
    parse_name,
    render_csv,
    replace_keeping_previous,
    supersede,
    unversioned_name,
    write_atomic,
)


def test_daily_file_name(tenant):
    name = daily_file_name(tenant, METRICS["seats_chat"], "US", date(2026, 3, 7))
    assert name == "CNT_US_PES_seats_chat_GARN-0001_101_20260307.csv"


def test_blank_garn_and_unsafe_characters():
    assert file_name("GLOBAL", "voicemail_boxes", "  ", 7, "20260307") == "CNT_GLOBAL_PES_voicemail_boxes_NOGARN_7_20260307.csv"
    assert name_part("AB/12 x_y:*?", "NOGARN") == "AB-12-x-y-"
    assert name_part("../..", "NOGARN") == "-"
    assert name_part("___", "NOGARN") == "-"


def test_leading_and_trailing_dots_are_dropped_from_a_name_part():
    """A name part never starts or ends with '.', so it is never '.' or '..' nor hides a file;
    dots inside stay, and a part left empty becomes the blank value."""
    assert name_part(".GARN.", "NOGARN") == "GARN"
    assert name_part("  ..v1.2..  ", "NOGARN") == "v1.2"
    assert name_part(". x .", "NOGARN") == "-x-"  # the spaces become '-' first; then the dots go
    assert name_part("...", "NOGARN") == "NOGARN"
    assert name_part(".", "GLOBAL") == "GLOBAL"
    assert file_name("US", "seats_chat", "..", 7, "20260307") == "CNT_US_PES_seats_chat_NOGARN_7_20260307.csv"


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-3", "@cmd", "\tx", "\rx"])
def test_formulas_are_neutralised(text):
    assert neutralise(text) == "'" + text


def test_plain_text_is_kept():
    assert neutralise("Acme, Inc.") == "Acme, Inc."


def test_rendered_file_bytes(tenant):
    tenant = tenant.model_copy(update={"name": '=HYPERLINK("x")', "tier3_account_name": "Care, Inc."})
    rows = billing_rows(tenant, METRICS["seats_outbound"], "US", "2026-03-07", {"concurrent": 12, "enabled": 30})
    expected = (
        "UsageDate,TenantID,TenantName,GARN,Tier1AccountID,Tier2AccountID,Tier3AccountID,Tier3AccountName,"
        "ExternalID,SourceID,Region,Metric,AgentGroupName,ChannelType,ServiceClass,ActivityType,Status,MessageSize\n"
        '2026-03-07,101,"\'=HYPERLINK(""x"")",GARN-0001,T1-100,T2-200,T3-300,"Care, Inc.",EXT-9,SRC-4,'
        "US,seats_outbound,1,4,23,5,AGENT_SEATS,12\n"
        '2026-03-07,101,"\'=HYPERLINK(""x"")",GARN-0001,T1-100,T2-200,T3-300,"Care, Inc.",EXT-9,SRC-4,'
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


def test_names_tell_where_a_file_belongs(tenant):
    daily = parse_name(daily_file_name(tenant, METRICS["seats_chat"], "US", date(2026, 3, 7)))
    assert (daily.kind, daily.tenant_id, daily.metric, daily.period_label) == ("billing", 101, "seats_chat", "2026-03-07")
    assert str(daily.relative_path) == "101/daily/2026/03/CNT_US_PES_seats_chat_GARN-0001_101_20260307.csv"
    assert daily.manifest == "MANIFEST_101_20260307.json"
    monthly = parse_name("CNT_GLOBAL_PES_voicebot_interactions_NOGARN_7_202602.csv")
    assert (str(monthly.folder), monthly.period_label) == ("7/monthly/2026", "2026-02")
    assert parse_name("MANIFEST_7_202602.json").kind == "manifest"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CNT_US_PES_seats_fax_G_1_20260307.csv", "unknown metric 'seats_fax'"),
        ("CNT_US_PES_seats_chat_G_1_20260230.csv", "'20260230' is not a date"),
        ("CNT_US_PES_seats_chat_G_1_2026030.csv", "not a billing file name"),
        ("report.xlsx", "not a billing file name"),
    ],
)
def test_bad_names_are_explained(name, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        parse_name(name)


def test_a_file_must_match_its_name(tenant):
    name = daily_file_name(tenant, METRICS["seats_chat"], "US", date(2026, 3, 7))
    data = render_csv(billing_rows(tenant, METRICS["seats_chat"], "US", "2026-03-07", {"concurrent": 1, "enabled": 2}))
    assert check_billing_file(parse_name(name), data) == 2 == count_rows(data)
    with pytest.raises(ValueError, match="line 3: TenantID '102' \\(the name says '101'\\)"):
        check_billing_file(
            parse_name(name),
            data.replace(b"2026-03-07,101,N", b"2026-03-07,102,N").replace(b"2026-03-07,102,N", b"2026-03-07,101,N", 1),
        )
    with pytest.raises(ValueError, match="the first line is not the billing file header"):
        check_billing_file(parse_name(name), b"a,b\n")
    with pytest.raises(ValueError, match="MessageSize '-1' is not a count"):
        check_billing_file(parse_name(name), data.replace(b",2\n", b",-1\n"))
    # One row per count of the metric, in the catalogue's order: Concurrent (1), then Enabled (2).
    header, concurrent, enabled = data.decode().splitlines(keepends=True)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{name}: 1 row(s); a seats_chat file has one per count (concurrent: AgentGroupName 1, enabled: AgentGroupName 2)"
        ),
    ):
        check_billing_file(parse_name(name), (header + concurrent).encode())
    with pytest.raises(
        ValueError,
        match="line 2: AgentGroupName '2', but row 1 of a seats_chat file is its concurrent count \\(AgentGroupName '1'\\)",
    ):
        check_billing_file(parse_name(name), (header + enabled + concurrent).encode())


def test_replacing_an_archived_file_keeps_the_previous_version(tmp_path):
    named = parse_name("CNT_US_PES_seats_chat_G_101_20260307.csv")
    assert replace_keeping_previous(tmp_path, named, b"v1") == ("created", None)
    assert replace_keeping_previous(tmp_path, named, b"v1") == ("unchanged", None)
    status, kept = replace_keeping_previous(tmp_path, named, b"v2")
    assert status == "changed"
    assert (tmp_path / named.relative_path).read_bytes() == b"v2"
    assert [kept] == list((tmp_path / "101" / "versions").rglob("*.csv"))
    assert kept.read_bytes() == b"v1"
    assert (
        kept.relative_to(tmp_path).as_posix()
        == f"101/versions/daily/2026/03/CNT_US_PES_seats_chat_G_101_20260307.{hashlib.sha256(b'v1').hexdigest()[:16]}.csv"
    )


def test_superseding_keeps_the_file_under_versions_and_takes_it_out(tmp_path):
    named = parse_name("CNT_US_PES_seats_chat_G_101_20260307.csv")
    write_atomic(tmp_path / named.relative_path, b"v1")
    data, kept = supersede(tmp_path, named)
    assert data == b"v1" and kept.read_bytes() == b"v1" and not (tmp_path / named.relative_path).exists()
    assert (
        kept
        == tmp_path
        / f"101/versions/daily/2026/03/CNT_US_PES_seats_chat_G_101_20260307.{hashlib.sha256(b'v1').hexdigest()[:16]}.csv"
    )
    assert (named.region, named.garn, named.metric) == ("US", "G", "seats_chat")
    assert unversioned_name(kept.name) == named.name and unversioned_name("notes.txt") == "notes.txt"


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from bds.files import write_atomic
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # dies after the data is written, before the rename
write_atomic(Path(sys.argv[1]), b"half")
"""


def test_the_temporary_file_of_a_killed_writer_is_reported_then_removed_by_the_next_writer(tmp_path):
    import subprocess
    import sys

    from bds.manifest import verify_archive

    folder = tmp_path / "archive" / "101" / "daily" / "2026" / "03"
    versions = tmp_path / "archive" / "101" / "versions" / "daily" / "2026" / "03"
    for target in (
        folder / "CNT_US_PES_seats_chat_G_101_20260307.csv",
        versions / "CNT_US_PES_seats_chat_G_101_20260307.0123456789abcdef.csv",
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        died = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)])
        assert died.returncode == -9
    left = sorted(p for p in tmp_path.rglob(".*.tmp"))
    assert len(left) == 2 and all(p.read_bytes() == b"half" for p in left)
    problems = verify_archive(tmp_path)[1]
    assert problems == [f"{p}: temporary file of a writer that died; the next run of this period removes it" for p in left]
    with folder_lock(folder):
        assert not list(tmp_path.rglob(".*.tmp"))
    assert verify_archive(tmp_path)[1] == []
