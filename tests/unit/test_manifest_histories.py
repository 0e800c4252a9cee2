"""Revisions, ``supersedes`` and control totals over any history of a period, drawn by
Hypothesis (fixed seed): reruns that change counts, drop files, bring them back or change
nothing, written as ``store_files`` writes them (earlier versions kept, the others superseded)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bds import manifest
from bds.catalogue import METRICS
from bds.files import ARCHIVE, parse_name, replace_keeping_previous, supersede
from tests.unit.billing_files import billing_file

NAMES = (
    "CNT_US_PES_seats_chat_G_101_20260307.csv",
    "CNT_EU_PES_seats_chat_G_101_20260307.csv",
    "CNT_GLOBAL_PES_voicemail_boxes_G_101_20260307.csv",
)
COUNTS = {name: len(METRICS[parse_name(name).metric].counts) for name in NAMES}

# A rerun: for each file, None (not produced) or its counts, each from a small range so that
# equal bytes come back often.
rerun = st.fixed_dictionaries({name: st.none() | st.tuples(*[st.integers(0, 2)] * COUNTS[name]) for name in NAMES}).filter(
    lambda files: any(v is not None for v in files.values())
)


@seed(20261204)
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(history=st.lists(rerun, min_size=1, max_size=6))
def test_any_history_of_a_period_numbers_its_revisions_and_names_what_each_file_supersedes(history):
    root = Path(tempfile.mkdtemp(prefix="bds-history-"))
    try:
        archive = root / ARCHIVE
        folder = archive / "101" / "daily" / "2026" / "03"
        revision, current, last_version = 0, {}, {}  # the model: the current set, each name's previous bytes
        for step in history:
            files = {name: billing_file(name, *counts) for name, counts in step.items() if counts is not None}
            superseded = []
            for name, data in files.items():
                replace_keeping_previous(archive, parse_name(name), data)
            for name in sorted(set(current) - set(files)):
                data, kept = supersede(archive, parse_name(name))
                superseded.append((name, data, "switched off", kept.relative_to(archive).as_posix()))
            manifest.record_rendered(folder, files, superseded)

            if files != current:
                revision += 1
                for name, data in files.items():
                    if current.get(name) != data:
                        # a new version of the name: it supersedes the one it replaced, current or not
                        last_version[name] = (last_version.get(name, (None, None))[1], data)
            current = files
            written = manifest.read(folder / "MANIFEST_101_20260307.json")
            assert written["revision"] == revision
            expected = {name: last_version[name][0] for name in files}
            assert {e["name"]: e["supersedes"] for e in written["files"]} == {
                name: previous and manifest.sha256(previous) for name, previous in expected.items()
            }
            totals = {}
            for name in files:
                metric = parse_name(name).metric
                for count, value in zip((c.name for c in METRICS[metric].counts), step[name], strict=True):
                    totals[(metric, count)] = totals.get((metric, count), 0) + value
            assert {(t["metric"], t["count"]): t["total"] for t in written["control_totals"]["message_size"]} == totals
            assert written["control_totals"]["files"] == len(files)
            assert manifest.verify_archive(root) == (len(files), [])
    finally:
        shutil.rmtree(root)
