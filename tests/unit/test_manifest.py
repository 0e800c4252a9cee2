import hashlib
import json

from bds import manifest
from bds.files import ARCHIVE, parse_name, write_atomic

A = "CNT_US_PES_seats_chat_G_101_20260307.csv"
B = "CNT_GLOBAL_PES_voicemail_boxes_G_101_20260307.csv"
CSV = b"UsageDate,MessageSize\n2026-03-07,\"3\n\"\n"  # a quoted line break: 1 row, not 2


def folder_with(tmp_path, files):
    folder = tmp_path / ARCHIVE / "101" / "daily" / "2026" / "03"
    for name, data in files.items():
        write_atomic(folder / name, data)
    return folder


def test_a_manifest_lists_each_file_with_bytes_rows_and_sha256(tmp_path):
    folder = folder_with(tmp_path, {A: CSV})
    status, path = manifest.record_rendered(folder, {A: CSV})
    assert (status, path.name) == ("created", "MANIFEST_101_20260307.json")
    assert json.loads(path.read_bytes()) == {
        "format": 1, "tenant_id": 101, "period": "2026-03-07",
        "files": [{"name": A, "bytes": len(CSV), "rows": 1, "sha256": hashlib.sha256(CSV).hexdigest(),
                   "s3_uri": None, "uploaded_at": None}],
    }  # fmt: skip
    assert manifest.record_rendered(folder, {A: CSV}) == ("unchanged", path)


def test_upload_records_survive_a_rerun_only_for_unchanged_files(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: CSV})
    manifest.record_rendered(folder, {A: CSV, B: CSV})
    for name in (A, B):
        manifest.record_sent(folder, parse_name(name), CSV, f"s3://b/{name}", "2026-03-08T06:00:00Z")
    assert manifest.unsent(manifest.read(folder / "MANIFEST_101_20260307.json")) == []
    changed = CSV.replace(b"3", b"4")
    write_atomic(folder / A, changed)
    status, path = manifest.record_rendered(folder, {A: changed, B: CSV})
    entries = {e["name"]: e for e in manifest.read(path)["files"]}
    assert status == "changed" and manifest.unsent(manifest.read(path)) == [A]
    assert entries[B]["uploaded_at"] == "2026-03-08T06:00:00Z"


def test_entries_of_files_a_run_did_not_render_stay_while_the_file_does(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: CSV})
    manifest.record_rendered(folder, {A: CSV, B: CSV})
    _, path = manifest.record_rendered(folder, {A: CSV})
    assert [e["name"] for e in manifest.read(path)["files"]] == [B, A]
    (folder / B).unlink()
    _, path = manifest.record_rendered(folder, {A: CSV})
    assert [e["name"] for e in manifest.read(path)["files"]] == [A]


def test_verify_finds_changed_missing_and_unlisted_files(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: CSV})
    manifest.record_rendered(folder, {A: CSV})
    assert manifest.verify_archive(tmp_path) == (1, [f"{folder / B}: in the archive but in no manifest"])
    (folder / A).write_bytes(CSV + b"x")
    checked, problems = manifest.verify_archive(tmp_path)
    assert checked == 1 and problems[0] == f"{folder / A}: bytes is {len(CSV) + 1}, MANIFEST_101_20260307.json says {len(CSV)}"
    assert any("sha256" in p for p in problems)
    (folder / A).unlink()
    assert manifest.verify_archive(tmp_path)[1][0] == f"{folder / A}: listed in MANIFEST_101_20260307.json but missing"
    assert manifest.main([str(tmp_path)]) == 1
