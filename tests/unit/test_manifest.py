import hashlib
import json

from bds import manifest
from bds.files import ARCHIVE, parse_name, write_atomic
from tests.unit.billing_files import billing_file

A = "CNT_US_PES_seats_chat_G_101_20260307.csv"
B = "CNT_GLOBAL_PES_voicemail_boxes_G_101_20260307.csv"
CSV = billing_file(A, 3, 5, tenant_name="North\nwind")  # a quoted line break in each row
BOXES = billing_file(B, 7)


def folder_with(tmp_path, files):
    folder = tmp_path / ARCHIVE / "101" / "daily" / "2026" / "03"
    for name, data in files.items():
        write_atomic(folder / name, data)
    return folder


def test_a_manifest_lists_each_file_with_bytes_rows_and_sha256(tmp_path):
    folder = folder_with(tmp_path, {A: CSV})
    status, path = manifest.record_rendered(folder, {A: CSV})
    assert (status, path.name) == ("created", "MANIFEST_101_20260307.json")
    assert CSV.count(b"\n") == 5  # the header, and two rows of two lines each
    assert json.loads(path.read_bytes()) == {
        "format": 2,
        "tenant_id": 101,
        "period": "2026-03-07",
        "revision": 1,
        "config_revision": None,
        "bds_version": "0.1.0",
        "control_totals": {
            "files": 1,
            "rows": 2,
            "message_size": [
                {"metric": "seats_chat", "count": "concurrent", "agent_group_name": "1", "total": 3},
                {"metric": "seats_chat", "count": "enabled", "agent_group_name": "2", "total": 5},
            ],
        },
        "files": [
            {
                "name": A,
                "bytes": len(CSV),
                "rows": 2,
                "sha256": hashlib.sha256(CSV).hexdigest(),
                "s3_uri": None,
                "uploaded_at": None,
                "supersedes": None,
            }
        ],
    }
    assert manifest.record_rendered(folder, {A: CSV}) == ("unchanged", path)


def test_a_period_counts_its_revisions_and_each_file_names_the_version_it_supersedes(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
    sha = {data: hashlib.sha256(data).hexdigest() for data in (CSV, BOXES)}
    _, path = manifest.record_rendered(
        folder, {A: CSV, B: BOXES}, config_revision=4, provenance={"dataset_sql": {"gim/x": "1" * 64}}
    )
    first = manifest.read(path)
    assert (first["revision"], first["config_revision"], first["dataset_sql"]) == (1, 4, {"gim/x": "1" * 64})
    # A rerun with the same files, under a later configuration revision: the same revision, the same bytes.
    assert manifest.record_rendered(folder, {A: CSV, B: BOXES}, config_revision=5) == ("unchanged", path)
    restated = billing_file(A, 2, 5)
    write_atomic(folder / A, restated)
    manifest.record_rendered(folder, {A: restated, B: BOXES}, config_revision=5, provenance={"dataset_sql": {"gim/x": "2" * 64}})
    second = manifest.read(path)
    entries = {e["name"]: e for e in second["files"]}
    assert (second["revision"], second["config_revision"], second["dataset_sql"]) == (2, 5, {"gim/x": "2" * 64})
    assert (entries[A]["supersedes"], entries[B]["supersedes"]) == (sha[CSV], None)
    assert second["control_totals"]["message_size"][0] == {
        "metric": "seats_chat",
        "count": "concurrent",
        "agent_group_name": "1",
        "total": 2,
    }
    assert second["control_totals"]["rows"] == 3 and second["control_totals"]["files"] == 2
    # Sending changes no revision; a file gone (superseded) makes the next, and so does its return.
    manifest.record_sent(folder, parse_name(B), BOXES, f"s3://b/{B}", "2026-03-08T06:00:00Z")
    assert manifest.read(path)["revision"] == 2 and entries[A]["supersedes"] == sha[CSV]
    manifest.record_rendered(folder, {A: restated}, [(B, BOXES, "switched off", "101/versions/x.csv")])
    assert manifest.read(path)["revision"] == 3 and manifest.read(path)["control_totals"]["files"] == 1
    changed_boxes = billing_file(B, 8)
    manifest.record_rendered(folder, {A: restated, B: changed_boxes})
    back = {e["name"]: e for e in manifest.read(path)["files"]}
    assert manifest.read(path)["revision"] == 4 and back[B]["supersedes"] == sha[BOXES]  # the version superseded before
    assert back[A]["supersedes"] == sha[CSV]  # unchanged since revision 2: still the version it replaced then


def test_a_file_dropped_by_hand_makes_a_new_revision(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
    _, path = manifest.record_rendered(folder, {A: CSV, B: BOXES})
    by_hand = billing_file(B, 9)
    write_atomic(folder / B, by_hand)  # archived as transmission does, then recorded as sent
    manifest.record_sent(folder, parse_name(B), by_hand, f"s3://b/{B}", "2026-03-08T06:00:00Z")
    written = manifest.read(path)
    assert written["revision"] == 2
    assert {e["name"]: e["supersedes"] for e in written["files"]}[B] == hashlib.sha256(BOXES).hexdigest()
    assert written["control_totals"]["message_size"][-1] == {
        "metric": "voicemail_boxes",
        "count": "concurrent",
        "agent_group_name": "1",
        "total": 9,
    }


def test_upload_records_survive_a_rerun_only_for_unchanged_files(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
    manifest.record_rendered(folder, {A: CSV, B: BOXES})
    for name, data in ((A, CSV), (B, BOXES)):
        manifest.record_sent(folder, parse_name(name), data, f"s3://b/{name}", "2026-03-08T06:00:00Z")
    assert manifest.unsent(manifest.read(folder / "MANIFEST_101_20260307.json")) == []
    changed = billing_file(A, 4, 5)
    write_atomic(folder / A, changed)
    status, path = manifest.record_rendered(folder, {A: changed, B: BOXES})
    entries = {e["name"]: e for e in manifest.read(path)["files"]}
    assert status == "changed" and manifest.unsent(manifest.read(path)) == [A]
    assert entries[B]["uploaded_at"] == "2026-03-08T06:00:00Z"


def test_a_manifest_lists_the_current_set_and_keeps_a_record_of_superseded_files(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
    manifest.record_rendered(folder, {A: CSV, B: BOXES})
    manifest.record_sent(folder, parse_name(B), BOXES, f"s3://b/{B}", "2026-03-08T06:00:00Z")
    kept = "101/versions/daily/2026/03/" + B.replace(".csv", f".{hashlib.sha256(BOXES).hexdigest()[:16]}.csv")
    _, path = manifest.record_rendered(folder, {A: CSV}, [(B, BOXES, "metric voicemail_boxes is no longer billed", kept)])
    written = manifest.read(path)
    assert [e["name"] for e in written["files"]] == [A]
    assert written["superseded"] == [
        {
            "name": B,
            "bytes": len(BOXES),
            "rows": 1,
            "sha256": hashlib.sha256(BOXES).hexdigest(),
            "s3_uri": f"s3://b/{B}",
            "uploaded_at": "2026-03-08T06:00:00Z",
            "supersedes": None,
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
    write_atomic(folder / B, BOXES)
    _, path = manifest.record_rendered(folder, {A: CSV, B: BOXES})
    assert "superseded" not in manifest.read(path) and manifest.unsent(manifest.read(path)) == [B, A]


def test_a_superseded_file_never_sent_leaves_nothing_to_move_aside(tmp_path):
    folder = folder_with(tmp_path, {A: CSV})
    manifest.record_rendered(folder, {A: CSV, B: BOXES})
    _, path = manifest.record_rendered(folder, {A: CSV}, [(B, BOXES, "renamed", "101/versions/x.csv")])
    assert manifest.read(path)["superseded"][0]["s3_uri"] is None
    assert manifest.to_move_aside(manifest.read(path)) == []


def test_verify_finds_changed_missing_and_unlisted_files(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
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
    kept = "101/versions/daily/2026/03/" + B.replace(".csv", f".{hashlib.sha256(BOXES).hexdigest()[:16]}.csv")
    write_atomic(tmp_path / ARCHIVE / kept, BOXES)
    manifest.record_rendered(folder, {A: CSV}, [(B, BOXES, "renamed", kept)])
    assert manifest.verify_archive(tmp_path) == (1, [])
    (folder / f".{A}.k3j2h1g0.tmp").write_bytes(CSV[:5])
    (folder / "notes.txt").write_text("x")
    write_atomic(folder / B, BOXES)
    assert manifest.verify_archive(tmp_path)[1] == [
        f"{folder / B}: MANIFEST_101_20260307.json says it was superseded, but it is still current",
        f"{folder / B}: in the archive but in no manifest",
        f"{folder / f'.{A}.k3j2h1g0.tmp'}: temporary file of a writer that died; the next run of this period removes it",
        f"{folder / 'notes.txt'}: stray file: not a billing file, manifest or kept version",
    ]


def test_a_set_of_files_has_one_digest_of_their_sorted_names_and_sha256s():
    one, two = "a" * 64, "b" * 64
    expected = hashlib.sha256(f"A.csv {one}\nB.csv {two}\n".encode()).hexdigest()
    assert manifest.inputs_digest({"B.csv": two, "A.csv": one}) == expected
    assert manifest.inputs_digest({"A.csv": one, "B.csv": one}) != expected


def test_a_months_other_fields_survive_a_send_a_move_and_a_rerun(tmp_path):
    monthly = "CNT_US_PES_seats_chat_G_101_202603.csv"
    folder = tmp_path / ARCHIVE / "101" / "monthly" / "2026"
    write_atomic(folder / monthly, CSV)
    inputs = {"rolled_up_from": {"2026-03-07": "c" * 64}}
    _, path = manifest.record_rendered(folder, {monthly: CSV}, fields=inputs)
    manifest.record_sent(folder, parse_name(monthly), CSV, f"s3://b/{monthly}", "2026-04-03T06:00:00Z")
    assert manifest.read(path)["rolled_up_from"] == inputs["rolled_up_from"]
    assert manifest.record_rendered(folder, {monthly: CSV})[0] == "unchanged"  # a writer that sets none keeps them
    newer = {"rolled_up_from": {"2026-03-07": "d" * 64}}
    assert manifest.record_rendered(folder, {monthly: CSV}, fields=newer)[0] == "changed"
    assert manifest.read(path)["rolled_up_from"] == newer["rolled_up_from"]


def test_verify_checks_revisions_control_totals_and_the_versions_files_supersede(tmp_path):
    from bds.files import replace_keeping_previous

    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
    manifest.record_rendered(folder, {A: CSV, B: BOXES})
    restated = billing_file(A, 2, 5)
    _, kept = replace_keeping_previous(tmp_path / ARCHIVE, parse_name(A), restated)
    _, path = manifest.record_rendered(folder, {A: restated, B: BOXES})
    assert manifest.verify_archive(tmp_path) == (2, [])

    written = manifest.read(path)
    written["control_totals"]["message_size"][0]["total"] = 3  # the first revision's total
    written["revision"] = 0
    write_atomic(
        path, manifest.render(101, "2026-03-07", {e["name"]: e for e in written["files"]}, fields=manifest.other_fields(written))
    )
    problems = manifest.verify_archive(tmp_path)[1]
    assert problems[0] == f"{path}: revision is 0, not a number from 1"
    assert problems[1].startswith(f"{path}: control totals are ") and '"total": 3' in problems[1] and '"total": 2' in problems[1]
    kept.unlink()
    assert (
        f"{kept}: MANIFEST_101_20260307.json says {A} supersedes a version with SHA-256 {hashlib.sha256(CSV).hexdigest()}, not kept there"
        in manifest.verify_archive(tmp_path)[1]
    )


def test_a_manifest_written_before_revisions_becomes_revision_1_when_a_send_rewrites_it(tmp_path):
    folder = folder_with(tmp_path, {A: CSV, B: BOXES})
    path = folder / "MANIFEST_101_20260307.json"
    old_entries = {n: {k: v for k, v in manifest.entry(n, d).items() if k != "supersedes"} for n, d in ((A, CSV), (B, BOXES))}
    legacy = json.loads(manifest.render(101, "2026-03-07", old_entries)) | {"format": 1}
    write_atomic(path, json.dumps(legacy).encode())
    manifest.record_sent(folder, parse_name(A), CSV, f"s3://b/{A}", "2026-03-08T06:00:00Z")
    written = manifest.read(path)
    assert (written["format"], written["revision"], written["control_totals"]["files"]) == (2, 1, 2)
    assert manifest.verify_archive(tmp_path) == (2, [])


def test_delivered_in_revisions_a_month_rolled_up_again_from_changed_days_is_a_new_revision(tmp_path):
    monthly = "CNT_US_PES_seats_chat_G_101_202603.csv"
    folder = tmp_path / ARCHIVE / "101" / "monthly" / "2026"
    data = billing_file(monthly)
    write_atomic(folder / monthly, data)
    _, path = manifest.record_rendered(folder, {monthly: data}, fields={"rolled_up_from": {"days": {"2026-03-07": "c" * 64}}})
    manifest.record_sent(folder, parse_name(monthly), data, f"s3://b/r1/{monthly}", "2026-04-03T06:00:00Z")
    same = {"rolled_up_from": {"days": {"2026-03-07": "c" * 64}}}
    assert manifest.record_rendered(folder, {monthly: data}, fields=same, whole_revisions=True)[0] == "unchanged"
    newer = {"rolled_up_from": {"days": {"2026-03-07": "d" * 64}}}
    manifest.record_rendered(folder, {monthly: data}, fields=newer, whole_revisions=True)
    assert manifest.read(path)["revision"] == 2 and manifest.unsent(manifest.read(path)) == [monthly]  # sent again, whole
