import hashlib
import json

from bds import manifest
from bds.files import ARCHIVE, parse_name, write_atomic

A = "CNT_US_PES_seats_chat_G_101_20260307.csv"
B = "CNT_GLOBAL_PES_voicemail_boxes_G_101_20260307.csv"
CSV = b'UsageDate,MessageSize\n2026-03-07,"3\n"\n'  # a quoted line break: 1 row, not 2


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
        "format": 1,
        "tenant_id": 101,
        "period": "2026-03-07",
        "files": [
            {
                "name": A,
                "bytes": len(CSV),
                "rows": 1,
                "sha256": hashlib.sha256(CSV).hexdigest(),
                "s3_uri": None,
                "uploaded_at": None,
            }
        ],
    }
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


def test_a_manifest_lists_the_current_set_and_keeps_a_record_of_superseded_files(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: CSV})
    manifest.record_rendered(folder, {A: CSV, B: CSV})
    manifest.record_sent(folder, parse_name(B), CSV, f"s3://b/{B}", "2026-03-08T06:00:00Z")
    kept = "101/versions/daily/2026/03/" + B.replace(".csv", f".{hashlib.sha256(CSV).hexdigest()[:16]}.csv")
    _, path = manifest.record_rendered(folder, {A: CSV}, [(B, CSV, "metric voicemail_boxes is no longer billed", kept)])
    written = manifest.read(path)
    assert [e["name"] for e in written["files"]] == [A]
    assert written["superseded"] == [
        {
            "name": B,
            "bytes": len(CSV),
            "rows": 1,
            "sha256": hashlib.sha256(CSV).hexdigest(),
            "s3_uri": f"s3://b/{B}",
            "uploaded_at": "2026-03-08T06:00:00Z",
            "reason": "metric voicemail_boxes is no longer billed",
            "previous_version": kept,
            "moved_to": None,
        }
    ]
    assert manifest.to_move_aside(written) == written["superseded"]
    manifest.record_moved_aside(path, B, f"s3://b/{kept}")
    assert manifest.to_move_aside(manifest.read(path)) == []
    # A later rerun keeps the record; a name that becomes current again leaves it.
    assert manifest.record_rendered(folder, {A: CSV})[0] == "unchanged"
    write_atomic(folder / B, CSV)
    _, path = manifest.record_rendered(folder, {A: CSV, B: CSV})
    assert "superseded" not in manifest.read(path) and manifest.unsent(manifest.read(path)) == [B, A]


def test_a_superseded_file_never_sent_leaves_nothing_to_move_aside(tmp_path):
    folder = folder_with(tmp_path, {A: CSV})
    manifest.record_rendered(folder, {A: CSV, B: CSV})
    _, path = manifest.record_rendered(folder, {A: CSV}, [(B, CSV, "renamed", "101/versions/x.csv")])
    assert manifest.read(path)["superseded"][0]["s3_uri"] is None
    assert manifest.to_move_aside(manifest.read(path)) == []


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


def test_verify_reports_stray_and_temporary_files_and_superseded_files_still_current(tmp_path):
    folder = folder_with(tmp_path, {A: CSV})
    kept = "101/versions/daily/2026/03/" + B.replace(".csv", f".{hashlib.sha256(CSV).hexdigest()[:16]}.csv")
    write_atomic(tmp_path / ARCHIVE / kept, CSV)
    manifest.record_rendered(folder, {A: CSV}, [(B, CSV, "renamed", kept)])
    assert manifest.verify_archive(tmp_path) == (1, [])
    (folder / f".{A}.k3j2h1g0.tmp").write_bytes(CSV[:5])
    (folder / "notes.txt").write_text("x")
    write_atomic(folder / B, CSV)
    assert manifest.verify_archive(tmp_path)[1] == [
        f"{folder / B}: MANIFEST_101_20260307.json says it was superseded, but it is still current",
        f"{folder / B}: in the archive but in no manifest",
        f"{folder / f'.{A}.k3j2h1g0.tmp'}: temporary file of a writer that died; the next run of this period removes it",
        f"{folder / 'notes.txt'}: stray file: not a billing file, manifest or kept version",
    ]
