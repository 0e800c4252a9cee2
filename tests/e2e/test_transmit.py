"""bds_daily with transmission on, then bds_transmit, end to end through dag.test(): the
files queued by render emit the outbox asset that starts bds_transmit, go to a real S3 API on
loopback (moto's server) through the ``bds_s3`` connection, and land in the archive with their
manifests."""

from __future__ import annotations

import yaml

from bds.files import ARCHIVE
from bds.manifest import verify_archive
from bds.transmission import Bucket, outbox_files
from tests.conftest import s3_client
from tests.e2e.conftest import BILLED_DAY, DEMO_CONFIG, expected_names, files, run_day, task_states, use


def transmitting(tmp_path, bucket: str, **server):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["billing_server"] |= {"transmit": True, "bucket": bucket, **server}
    path = tmp_path / "billing.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def asset_events(uri: str) -> list[dict]:
    """The extras of the asset events emitted for ``uri`` (in the tests' Airflow database), oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        return [dict(extra or {}) for extra in session.scalars(query.order_by(AssetEvent.id))]


def bucket_objects(endpoint, bucket) -> dict[str, bytes]:
    client = s3_client(endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_a_billed_day_is_transmitted_archived_and_not_sent_twice(
    bds_daily, bds_transmit, sqlite_sources, s3_endpoint, s3_bucket, outbox, tmp_path, monkeypatch
):
    config = transmitting(tmp_path, s3_bucket)
    data_dir = tmp_path / "data"
    use(monkeypatch, data_dir, sqlite_sources, config=config)
    outbox_events, daily_events = len(asset_events("bds://billing/outbox")), len(asset_events("bds://billing/files/daily"))
    assert run_day(bds_daily).state == "success"
    names = expected_names(BILLED_DAY)
    assert len(outbox_files(outbox)) == len(names) + 3  # every file, and a manifest per tenant
    # Each tenant's render emitted its daily files and, as it queued them, the outbox asset
    # that starts bds_transmit; the extras say which tenant-day and how many files.
    queued = asset_events("bds://billing/outbox")[outbox_events:]
    per_tenant = {t: sum(f"_{t}_" in n for n in names) for t in (101, 102, 105)}
    assert sorted((e["tenant_id"], e["period"], e["queued"]) for e in queued) == [
        (t, str(BILLED_DAY), per_tenant[t]) for t in (101, 102, 105)
    ]
    assert len(asset_events("bds://billing/files/daily")) == daily_events + 3

    run = bds_transmit.test()
    assert run.state == "success", task_states(run)
    delivered = asset_events("bds://billing/server")[-3:]
    assert sorted((e["tenant_id"], e["sent"], e["destination"]) for e in delivered) == [
        (t, per_tenant[t], f"s3://{s3_bucket}/billing/{t}/") for t in (101, 102, 105)
    ]
    assert outbox_files(outbox) == []
    sent = bucket_objects(s3_endpoint, s3_bucket)
    archived = files(data_dir)
    assert {k.rsplit("/", 1)[1] for k in sent if "/MANIFEST_" not in k} == set(archived) == names
    for key, data in sent.items():
        assert key.startswith("billing/")  # the demo's key_prefix, then the tenant's folder
        assert data == (data_dir / ARCHIVE / key.removeprefix("billing/")).read_bytes()
    from bds.config import load_billing_config

    assert verify_archive(data_dir, Bucket(load_billing_config(config).billing_server)) == (len(names), [])

    outbox_events = len(asset_events("bds://billing/outbox"))
    assert run_day(bds_daily).state == "success"  # the same inputs: nothing changes, nothing is queued
    assert outbox_files(outbox) == []
    assert len(asset_events("bds://billing/outbox")) == outbox_events  # so bds_transmit is not started
    assert asset_events("bds://billing/files/daily")[-1]["unchanged"] > 0
    assert files(data_dir) == archived
    run = bds_transmit.test()  # the hourly safety net, say
    assert run.state == "success"
    assert task_states(run)["plan"] == "skipped"  # an empty outbox: nothing to do
    assert bucket_objects(s3_endpoint, s3_bucket) == sent


def test_a_missing_bucket_fails_the_run_and_keeps_the_files(
    bds_daily, bds_transmit, sqlite_sources, s3_bucket, outbox, tmp_path, monkeypatch
):
    use(monkeypatch, tmp_path / "data", sqlite_sources, config=transmitting(tmp_path, "bds-nowhere"))
    assert run_day(bds_daily).state == "success"
    queued = sorted(outbox_files(outbox))
    run = bds_transmit.test()
    assert run.state == "failed"
    sends = [ti for ti in run.get_task_instances() if ti.task_id == "send"]
    assert {ti.state for ti in sends} == {"failed"}
    assert sorted(outbox_files(outbox)) == queued  # nothing lost


def test_superseded_files_are_moved_aside_on_the_billing_server_after_their_successors(
    bds_daily, bds_transmit, sqlite_sources, s3_endpoint, s3_bucket, outbox, tmp_path, monkeypatch
):
    """A GARN change and a rerun of a sent day: once the new files are in the bucket and
    verified, the old objects move to the bucket's versions/ folder (the archive's layout), and
    the day's folder on the billing server holds one set, as the archive does."""
    config = transmitting(tmp_path, s3_bucket)
    data_dir = tmp_path / "data"
    use(monkeypatch, data_dir, sqlite_sources, config=config)
    assert run_day(bds_daily).state == "success"
    assert bds_transmit.test().state == "success"
    sent = bucket_objects(s3_endpoint, s3_bucket)
    old = sorted(k for k in sent if "/101/daily/" in k and "/CNT_" in k)

    raw = yaml.safe_load(config.read_text())
    raw["tenants"][0]["garn"] = "GARN-NEW-1"
    config.write_text(yaml.safe_dump(raw))
    assert run_day(bds_daily).state == "success"
    assert all(not p.name.startswith("CNT_") or "GARN-NEW-1" in p.name for p in outbox_files(outbox))
    assert bucket_objects(s3_endpoint, s3_bucket) == sent  # nothing moves before the new set is sent
    run = bds_transmit.test()
    assert run.state == "success", task_states(run)

    now = bucket_objects(s3_endpoint, s3_bucket)
    current = sorted(k for k in now if "/101/daily/" in k and "/CNT_" in k)
    assert current == sorted(k.replace("_GARN-NW-0101_", "_GARN-NEW-1_") for k in old)
    manifest = yaml.safe_load(now["billing/101/daily/2026/03/MANIFEST_101_20260329.json"])
    assert sorted(e["name"] for e in manifest["files"]) == [k.rsplit("/", 1)[1] for k in current]
    for e in manifest["superseded"]:
        key = f"billing/{e['previous_version']}"
        assert e["moved_to"] == f"s3://{s3_bucket}/{key}" and now[key] == sent[f"billing/101/daily/2026/03/{e['name']}"]
    assert len(manifest["superseded"]) == len(old)
    from bds.config import load_billing_config

    assert verify_archive(data_dir, Bucket(load_billing_config(config).billing_server)) == (len(files(data_dir)), [])
