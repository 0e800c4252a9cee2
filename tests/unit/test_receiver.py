"""The receiver's check of a delivered folder, on folders laid out as the billing server's."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bds import manifest, receiver
from bds.files import write_atomic
from tests.unit.billing_files import billing_file

DAY = "CNT_US_PES_seats_chat_G_101_20260331.csv"
BOXES = "CNT_GLOBAL_PES_voicemail_boxes_G_101_20260331.csv"
MONTH = "CNT_US_PES_seats_chat_G_101_202603.csv"


def deliver(root: Path, chat=(3, 5), boxes=7, month=(3, 5)) -> dict[str, Path]:
    """A tenant's last day of March and its month, as bds writes (and the billing server holds) them."""
    day_folder, month_folder = root / "101" / "daily" / "2026" / "03", root / "101" / "monthly" / "2026"
    files = {DAY: billing_file(DAY, *chat), BOXES: billing_file(BOXES, boxes)}
    for name, data in files.items():
        write_atomic(day_folder / name, data)
    manifest.record_rendered(day_folder, files)
    inputs = {"metrics": ["seats_chat"], "days": {"2026-03-31": manifest.inputs_digest({DAY: manifest.sha256(files[DAY])})}}
    write_atomic(month_folder / MONTH, billing_file(MONTH, *month))
    manifest.record_rendered(month_folder, {MONTH: billing_file(MONTH, *month)}, fields={"rolled_up_from": inputs})
    return {"day": day_folder / "MANIFEST_101_20260331.json", "month": month_folder / "MANIFEST_101_202603.json"}


def test_a_delivered_folder_as_bds_wrote_it_passes(tmp_path):
    deliver(tmp_path)
    assert receiver.check_folder(tmp_path) == (2, [])
    assert receiver.main([str(tmp_path)]) == 0
    assert receiver.main([str(tmp_path / "nothing")]) == 1  # no manifest is no delivery


def test_a_tampered_file_a_missing_file_and_a_stray_one_are_reported(tmp_path):
    paths = deliver(tmp_path)
    folder = paths["day"].parent
    (folder / DAY).write_bytes(billing_file(DAY, 4, 5))
    (folder / BOXES).unlink()
    write_atomic(folder / "CNT_EU_PES_seats_chat_G_101_20260331.csv", billing_file(DAY, 1, 1))
    problems = receiver.check_folder(tmp_path)[1]
    assert (
        problems[1]
        == f"{folder / DAY}: sha256 is {manifest.sha256(billing_file(DAY, 4, 5))}, MANIFEST_101_20260331.json says {manifest.sha256(billing_file(DAY, 3, 5))}"
    )
    assert problems[0] == f"{folder / BOXES}: listed in MANIFEST_101_20260331.json but not delivered"
    assert (
        problems[2]
        == f"{folder / 'CNT_EU_PES_seats_chat_G_101_20260331.csv'}: not listed in MANIFEST_101_20260331.json, but delivered as current"
    )
    # The month was rolled up from the day as it was listed: the manifests still agree.
    assert len(problems) == 3


def test_control_totals_that_do_not_add_up_are_reported(tmp_path):
    paths = deliver(tmp_path)
    written = json.loads(paths["day"].read_bytes())
    written["control_totals"]["message_size"][0]["total"] = 4
    written["control_totals"]["rows"] = 2
    paths["day"].write_text(json.dumps(written))
    assert receiver.check_folder(tmp_path)[1] == [
        f"{paths['day']}: control totals say 2 rows, the files hold 3",
        f"{paths['day']}: control totals say MessageSize 4 for seats_chat AgentGroupName 1, the files add up to 3",
    ]


def test_a_month_rolled_up_from_another_version_of_a_day_is_reported(tmp_path):
    paths = deliver(tmp_path)
    restated = billing_file(DAY, 9, 5)  # the day restated and delivered, its month not rolled up again
    write_atomic(paths["day"].parent / DAY, restated)
    manifest.record_rendered(paths["day"].parent, {DAY: restated, BOXES: billing_file(BOXES, 7)})
    assert receiver.check_folder(tmp_path)[1] == [
        f"{paths['month']}: rolled up from another version of day 2026-03-31 than MANIFEST_101_20260331.json lists"
    ]
    paths["day"].unlink()
    (paths["day"].parent / DAY).unlink()
    (paths["day"].parent / BOXES).unlink()
    assert receiver.check_folder(tmp_path)[1] == [
        f"{paths['month']}: rolled up from day 2026-03-31, whose manifest {paths['day']} was not delivered"
    ]


def test_against_an_earlier_delivery_a_correction_has_a_higher_revision_and_names_what_it_supersedes(tmp_path):
    before, now = tmp_path / "before", tmp_path / "now"
    deliver(before)
    shutil.copytree(before, now)
    assert receiver.check_folder(now, previous=before) == (2, [])
    paths = deliver(now, chat=(4, 5), month=(4, 5))  # a correction: revision 2 of the day and of the month
    assert receiver.check_folder(now, previous=before) == (2, [])
    written = json.loads(paths["day"].read_bytes())
    written["files"][1]["supersedes"] = "0" * 64
    paths["day"].write_text(json.dumps(written))
    assert receiver.check_folder(now, previous=before)[1] == [
        f"{paths['day']}: {DAY} supersedes {'0' * 64}, but the version delivered before was {manifest.sha256(billing_file(DAY, 3, 5))}",
    ]
    written["revision"] = 1
    paths["day"].write_text(json.dumps(written))
    assert receiver.check_folder(now, previous=before)[1] == [f"{paths['day']}: the files changed, but revision 1 is not above 1"]


def test_the_check_runs_alone_with_nothing_but_python(tmp_path):
    source = Path(receiver.__file__)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    deliver(tmp_path / "delivered")
    alone = shutil.copy(source, tmp_path / "receiver.py")
    done = subprocess.run(
        [sys.executable, "-I", alone, str(tmp_path / "delivered")], capture_output=True, text=True, cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (0, f"2 manifest(s) under {tmp_path / 'delivered'}: all match\n")


def test_in_a_delivery_in_revisions_the_month_is_checked_against_each_days_latest_revision(tmp_path):
    archive = tmp_path / "archive"
    paths = deliver(archive)
    delivered = tmp_path / "delivered"

    def copy_revision(manifest_path: Path, period: str, revision: int) -> Path:
        """The manifest and its files, as a delivery in revisions puts them."""
        folder = delivered / manifest_path.parent.relative_to(archive) / period / f"r{revision}"
        folder.mkdir(parents=True)
        for e in json.loads(manifest_path.read_bytes())["files"]:
            shutil.copy(manifest_path.parent / e["name"], folder)
        return Path(shutil.copy(manifest_path, folder))

    copy_revision(paths["day"], "20260331", 1)
    month = copy_revision(paths["month"], "202603", 1)
    assert receiver.check_folder(delivered) == (2, [])
    restated = billing_file(DAY, 9, 5)  # the day restated and delivered as r2; the month not yet rolled up again
    write_atomic(paths["day"].parent / DAY, restated)
    manifest.record_rendered(paths["day"].parent, {DAY: restated, BOXES: billing_file(BOXES, 7)})
    copy_revision(paths["day"], "20260331", 2)
    assert receiver.check_folder(delivered)[1] == [
        f"{month}: rolled up from another version of day 2026-03-31 than MANIFEST_101_20260331.json lists"
    ]
