"""The pipelines as the distributed deployment runs them: the staging location is an S3 URL
(``BDS_STAGING_URL=s3://bds_s3@<bucket>/staging``) on a real S3 API on loopback, and the data
directory (archive, outbox, logs of changes) is the only folder the tasks share.

A worker on another machine sees exactly what these tasks see: the object store and the
shared volume. Nothing may pass between tasks through any other local folder.
"""

from __future__ import annotations

import pytest

from bds import staging
from bds.config import load_billing_config
from bds.files import ARCHIVE
from bds.manifest import verify_archive
from bds.transmission import Bucket
from tests.conftest import s3_client
from tests.e2e.conftest import BILLED_DAY, DAYS, expected_names, files, run_day, run_month, task_states, use
from tests.e2e.test_transmit import bucket_objects, transmitting


def staged_keys(endpoint: str, bucket: str) -> set[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="staging/")
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_staging_in_an_object_store_gives_the_same_files_and_nothing_else_on_disk(
    bds_daily, bds_monthly, bds_transmit, sqlite_sources, s3_endpoint, s3_bucket, outbox, tmp_path, monkeypatch
):
    use(monkeypatch, tmp_path / "single-machine", sqlite_sources)
    assert run_day(bds_daily).state == "success"
    reference = files(tmp_path / "single-machine")

    billing_bucket = f"{s3_bucket}-billing"
    s3_client(s3_endpoint).create_bucket(Bucket=billing_bucket)
    shared = tmp_path / "shared-volume"
    use(monkeypatch, shared, sqlite_sources, config=transmitting(tmp_path, billing_bucket))
    monkeypatch.setenv("BDS_STAGING_URL", f"s3://bds_s3@{s3_bucket}/staging")
    for day in DAYS:
        run = run_day(bds_daily, day)
        assert run.state == "success", (day, task_states(run))
    run = run_month(bds_monthly)
    assert run.state == "success", task_states(run)
    run = bds_transmit.test()
    assert run.state == "success", task_states(run)

    daily = files(shared)
    assert {n: daily[n] for n in expected_names(BILLED_DAY)} == reference  # the same bytes
    assert len(files(shared, "monthly")) == 15 + 15 + 8
    # Every hand-over went through the bucket: each day's results and agent set (which the
    # monthly rollup read back) are there; each source's datasets were, until render had stored
    # the day's files and removed them.
    keys = staged_keys(s3_endpoint, s3_bucket)
    for tenant in (101, 102):
        for day in DAYS:
            prefix = f"staging/{day.isoformat()}/{tenant}"
            (run,) = {k.removeprefix(f"{prefix}/runs/").split("/")[0] for k in keys if k.startswith(f"{prefix}/runs/")}
            assert {k.removeprefix(f"{prefix}/runs/{run}/") for k in keys if k.startswith(f"{prefix}/runs/")} == {
                "daily/results.json",
                "daily/agents.parquet",
            }
            assert f"{prefix}/daily/agents.parquet" in keys  # published with the day's files
    assert not (shared / "staging").exists()
    # besides the archive and its logs, only the configuration store's embedded default (the
    # deployment's is a PostgreSQL database, connection bds_db)
    assert {p.name for p in shared.iterdir()} <= {ARCHIVE, "changes.jsonl", "alerts.jsonl", "bds.db"}
    # and the billing server got every file, verified against the manifests
    sent = bucket_objects(s3_endpoint, billing_bucket)
    archived = files(shared) | files(shared, "monthly")
    assert {k.rsplit("/", 1)[1] for k in sent if "/MANIFEST_" not in k} == set(archived)
    server = load_billing_config(transmitting(tmp_path, billing_bucket)).billing_server
    assert verify_archive(shared, Bucket(server)) == (len(archived), [])


def test_a_missing_staging_bucket_stops_the_extract_with_the_path_and_cause(
    bds_daily, sqlite_sources, s3_endpoint, s3_bucket, tmp_path, monkeypatch
):
    use(monkeypatch, tmp_path, sqlite_sources)
    monkeypatch.setenv("BDS_STAGING_URL", f"s3://bds_s3@{s3_bucket}-absent/staging")
    with pytest.raises(staging.StagingError, match=rf"cannot write s3://bds_s3@{s3_bucket}-absent/staging/2026-03-29/101/gim/x"):
        staging.write_bytes(staging.tenant_day(BILLED_DAY, 101) / "gim" / "x", b"data")
    run = run_day(bds_daily)
    assert run.state == "failed"
    states = task_states(run)
    assert sorted(s for t, s in states.items() if ".extract_" in t) == ["failed"] * 3
    assert states["bill_tenant.render"] == "upstream_failed"
    assert files(tmp_path) == {}


def test_a_staging_url_naming_an_undefined_connection_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BDS_STAGING_URL", "s3://bds_staging_missing@bucket/staging")
    monkeypatch.delenv("AIRFLOW_CONN_BDS_STAGING_MISSING", raising=False)
    with pytest.raises(staging.StagingError, match="connection 'bds_staging_missing' is not defined"):
        staging.tenant_day(BILLED_DAY, 101)


def test_housekeeping_cleans_a_staging_object_store(s3_endpoint, s3_bucket, tmp_path, monkeypatch):
    """On S3 a folder is only a prefix: once its last object is removed it is gone, and the
    clean-up goes on with the next day (the rules themselves: tests/unit/test_housekeeping.py)."""
    from datetime import UTC, datetime, timedelta

    from bds import housekeeping
    from bds.config import Housekeeping

    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BDS_STAGING_URL", f"s3://bds_s3@{s3_bucket}/staging")
    for day, tenant in ((DAYS[0], 101), (DAYS[0], 102), (DAYS[1], 101)):
        for part in ("daily/agents.parquet", "runs/run-1/daily/results.json"):
            staging.write_bytes(staging.tenant_day(day, tenant) / part, b"x")
    staging.write_bytes(staging.staging_root() / "not-a-day" / "kept", b"x")
    now = datetime.now(UTC)
    assert housekeeping.clean_staging(Housekeeping(), tmp_path, now) == []  # just written: all kept
    removed = housekeeping.clean_staging(Housekeeping(), tmp_path, now + timedelta(days=76))
    assert removed == [
        f"{DAYS[0]}: tenant 101's staged files (nothing written for staging_days (75))",
        f"{DAYS[0]}: tenant 102's staged files (nothing written for staging_days (75))",
        f"{DAYS[1]}: tenant 101's staged files (nothing written for staging_days (75))",
    ]
    assert staged_keys(s3_endpoint, s3_bucket) == {"staging/not-a-day/kept"}
