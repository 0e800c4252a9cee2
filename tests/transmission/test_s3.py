"""Transmission against a real S3 API over HTTP: moto's server on loopback, reached through
the ``bds_s3`` connection with ``endpoint_url`` exactly as a MinIO or AWS installation is.

Each test renders a tenant-day with the pipeline's own ``store_files``, then sends the
outbox with ``plan_outbox`` and ``send_tenant``, the two steps bds_transmit runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bds import manifest
from bds.config import parse_billing_config
from bds.files import ARCHIVE, daily_dir, parse_name, read_counts
from bds.transmission import TransmissionError, TransmissionRefused, outbox_files, plan_outbox, send_tenant
from tests.conftest import ROOT, aws_connection, s3_client
from tests.transmission.tenant_day import DAY, TENANT, archive_manifest, produce, rendered, transmit, unsent_names


def billing_config(bucket: str, **server):
    return parse_billing_config(
        {
            "billing_process_enabled": True,
            "billing_server": {"transmit": True, "bucket": bucket, "key_prefix": "usage/pes", **server},
            "tenants": [TENANT],
        }
    )


def objects(endpoint, bucket) -> dict[str, bytes]:
    client = s3_client(endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_upload_verify_archive_and_manifest(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    result = produce(config, tmp_path)
    assert sorted(result["queued"]) == sorted(rendered(config.tenants[0]))
    assert sorted(p.name for p in outbox_files(outbox)) == [
        "CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv",
        "CNT_US_PES_seats_chat_GARN-NW-0101_101_20260329.csv",
        "MANIFEST_101_20260329.json",
    ]
    [sent] = transmit(config, tmp_path, outbox)
    assert len(sent["sent"]) == 2 and sent["manifests"] == ["MANIFEST_101_20260329.json"]
    assert outbox_files(outbox) == []

    folder = daily_dir(tmp_path, 101, DAY)
    in_bucket = objects(s3_endpoint, s3_bucket)
    prefix = "usage/pes/101/daily/2026/03/"
    assert set(in_bucket) == {prefix + p.name for p in folder.iterdir() if not p.name.startswith(".")}
    for key, data in in_bucket.items():
        assert data == (folder / key.rsplit("/", 1)[1]).read_bytes()  # the archive holds what was sent

    listed = archive_manifest(tmp_path)
    assert listed["tenant_id"] == 101 and listed["period"] == "2026-03-29"
    client = s3_client(s3_endpoint)
    for e in listed["files"]:
        data = (folder / e["name"]).read_bytes()
        assert (e["bytes"], e["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert e["rows"] == {"seats_chat": 2, "voicemail_boxes": 1}[parse_name(e["name"]).metric]
        assert e["s3_uri"] == f"s3://{s3_bucket}/{prefix}{e['name']}"
        head = client.head_object(Bucket=s3_bucket, Key=prefix + e["name"], ChecksumMode="ENABLED")
        assert e["uploaded_at"] == head["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert head["ServerSideEncryption"] == "AES256"  # SSE-S3, the default setting
        assert head["ContentType"] == "text/csv; charset=utf-8"
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    checked, problems = manifest.verify_archive(tmp_path, _bucket(config))
    assert (checked, problems) == (2, [])


def _bucket(config):
    from bds.transmission import Bucket

    return Bucket(config.billing_server)


def test_sse_kms_headers_reach_the_bucket(s3_endpoint, s3_bucket, outbox, tmp_path):
    key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    config = billing_config(s3_bucket, server_side_encryption="aws:kms", kms_key_id=key_id)
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    client = s3_client(s3_endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 3
    for key in keys:
        head = client.head_object(Bucket=s3_bucket, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_id)


def test_a_rerun_with_the_same_inputs_changes_and_sends_nothing(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    s3_client(s3_endpoint).put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    archive = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / ARCHIVE).rglob("*") if p.is_file()}

    again = produce(config, tmp_path)
    assert again["queued"] == [] and again["created"] == again["changed"] == []
    assert outbox_files(outbox) == []  # nothing queued again
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / ARCHIVE).rglob("*") if p.is_file()} == archive
    versions = s3_client(s3_endpoint).list_object_versions(Bucket=s3_bucket)["Versions"]
    assert len(versions) == 3  # each object was uploaded exactly once


def test_a_restated_file_is_sent_again_and_the_manifest_follows(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    first = archive_manifest(tmp_path)

    restated = produce(config, tmp_path, concurrent=4)
    assert restated["changed"] == restated["queued"] == ["CNT_US_PES_seats_chat_GARN-NW-0101_101_20260329.csv"]
    [sent] = transmit(config, tmp_path, outbox)
    assert sent["sent"] == restated["changed"] and sent["manifests"] == ["MANIFEST_101_20260329.json"]
    second = archive_manifest(tmp_path)
    old, new = ({e["name"]: e for e in m["files"]} for m in (first, second))
    name = restated["changed"][0]
    assert new[name]["sha256"] != old[name]["sha256"] and new[name]["uploaded_at"]
    other = "CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv"
    assert new[other] == old[other]  # untouched: same upload record
    in_bucket = objects(s3_endpoint, s3_bucket)
    archived = daily_dir(tmp_path, 101, DAY) / name
    assert read_counts(archived) == {"concurrent": 4, "enabled": 7}
    assert in_bucket[f"usage/pes/101/daily/2026/03/{name}"] == archived.read_bytes()
    assert json.loads(in_bucket["usage/pes/101/daily/2026/03/MANIFEST_101_20260329.json"]) == second


def test_a_file_dropped_by_hand_is_sent_and_archived(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    day = date(2026, 3, 12)  # never produced here: the archive has nothing for it
    name, data = next(iter(rendered(config.tenants[0], day).items()))
    (outbox / name).write_bytes(data)  # dropped at the top of the outbox, not in a tenant folder
    [sent] = transmit(config, tmp_path, outbox)
    assert sent["sent"] == [name] and sent["manifests"] == ["MANIFEST_101_20260312.json"]
    assert outbox_files(outbox) == []
    assert (daily_dir(tmp_path, 101, day) / name).read_bytes() == data
    assert [e["name"] for e in archive_manifest(tmp_path, day)["files"]] == [name]
    assert objects(s3_endpoint, s3_bucket)[f"usage/pes/101/daily/2026/03/{name}"] == data


def test_hand_dropped_files_that_are_not_billing_files_stay_in_the_outbox(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    (outbox / "notes.txt").write_text("call finance")
    (outbox / "CNT_US_PES_seats_chat_GARN-X_999_20260329.csv").write_text("x")
    name, data = next(iter(rendered(config.tenants[0]).items()))
    (outbox / name).write_bytes(data.replace(b"2026-03-29,101", b"2026-03-28,101"))
    work, _, rejected = plan_outbox(config, outbox)
    assert rejected == [
        f"outbox file {outbox / 'CNT_US_PES_seats_chat_GARN-X_999_20260329.csv'}: tenant 999 is not in the billing configuration",
        f"outbox file {outbox / 'notes.txt'}: notes.txt: not a billing file name "
        "(CNT_<REGION>_PES_<metric>_<GARN>_<tenant_id>_<YYYYMMDD|YYYYMM>.csv) nor a manifest name (MANIFEST_<tenant_id>_<YYYYMMDD|YYYYMM>.json)",
    ]
    with pytest.raises(
        TransmissionRefused,
        match=r"tenant 101 2026-03-29: outbox file .*seats_chat.*line 2: UsageDate '2026-03-28' \(the name says '2026-03-29'\)",
    ):
        send_tenant(work[0], tmp_path, outbox)
    assert len(outbox_files(outbox)) == 3  # nothing lost
    assert objects(s3_endpoint, s3_bucket) == {}


def test_wrong_credentials_stop_with_the_file_named(s3_endpoint, s3_bucket, outbox, tmp_path, monkeypatch):
    from moto.core.authorization import enable_iam_authentication

    config = billing_config(s3_bucket)
    produce(config, tmp_path)
    queued = sorted(outbox_files(outbox))
    monkeypatch.setenv("AIRFLOW_CONN_BDS_S3", aws_connection(s3_endpoint, key="AKIAWRONGWRONGWRONG", secret="nope"))
    work, _, _ = plan_outbox(config, outbox)
    with enable_iam_authentication(), pytest.raises(TransmissionRefused) as refused:
        send_tenant(work[0], tmp_path, outbox)
    message = str(refused.value)
    assert "tenant 101 2026-03-29: CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv" in message
    assert "rejected the credentials of the Airflow connection 'bds_s3' (InvalidAccessKeyId" in message
    assert "nope" not in message  # the secret never reaches a message
    assert sorted(outbox_files(outbox)) == queued
    assert unsent_names(tmp_path) == sorted(rendered(config.tenants[0]))
    assert objects(s3_endpoint, s3_bucket) == {}


def test_a_missing_bucket_stops_with_the_file_named(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config("bds-no-such-bucket")
    produce(config, tmp_path)
    queued = sorted(outbox_files(outbox))
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(
        TransmissionRefused,
        match=r"CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv -> "
        r"s3://bds-no-such-bucket/usage/pes/101/daily/2026/03/.*the bucket 'bds-no-such-bucket' does not exist",
    ):
        send_tenant(work[0], tmp_path, outbox)
    assert sorted(outbox_files(outbox)) == queued


class _RefusesKms(BaseHTTPRequestHandler):
    """An S3 endpoint whose KMS key is unknown: HEAD finds nothing, every PUT gets the error
    AWS returns for SSE-KMS with a key that does not exist."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                self.rfile.read(size + 2)
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>KMS.NotFoundException</Code>'
            b"<Message>Invalid keyId refused-key</Message></Error>"
        )
        self.send_response(400)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_refused_encryption_setting_stops_with_the_file_named(outbox, tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusesKms)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_BDS_S3", aws_connection(f"http://127.0.0.1:{server.server_port}"))
        config = billing_config("bds-billing", server_side_encryption="aws:kms", kms_key_id="refused-key")
        produce(config, tmp_path)
        queued = sorted(outbox_files(outbox))
        work, _, _ = plan_outbox(config, outbox)
        with pytest.raises(TransmissionRefused) as refused:
            send_tenant(work[0], tmp_path, outbox)
    finally:
        server.shutdown()
    message = str(refused.value)
    assert "CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv" in message
    assert (
        "refused the encryption setting (server_side_encryption aws:kms with KMS key refused-key): KMS.NotFoundException"
        in message
    )
    assert "stay in the outbox" in message
    assert sorted(outbox_files(outbox)) == queued


def test_an_unreachable_server_is_a_retryable_failure(outbox, tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_BDS_S3", aws_connection(f"http://127.0.0.1:{port}", config_kwargs={"retries": {"max_attempts": 1}})
    )
    config = billing_config("bds-billing")
    produce(config, tmp_path)
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(TransmissionError) as failed:
        send_tenant(work[0], tmp_path, outbox)
    assert not isinstance(failed.value, TransmissionRefused)  # Airflow retries it with backoff
    assert "could not reach the S3 server" in str(failed.value)
    assert len(outbox_files(outbox)) == 3


KILLED_AFTER_UPLOAD = """
import os, signal, sys
from pathlib import Path
import bds.transmission as t
from bds.config import parse_billing_config
t.replace_keeping_previous = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # dies between upload and archive
config = parse_billing_config(__import__("json").loads(sys.argv[1]))
work, _, _ = t.plan_outbox(config, Path(sys.argv[3]))
t.send_tenant(work[0], Path(sys.argv[2]), Path(sys.argv[3]))
"""


def test_killed_between_upload_and_archive_then_rerun(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    client = s3_client(s3_endpoint)
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    produce(config, tmp_path)
    raw = json.dumps(config.model_dump(mode="json"))
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_UPLOAD, raw, str(tmp_path), str(outbox)], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    first = "CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv"
    assert [v["Key"].rsplit("/", 1)[1] for v in client.list_object_versions(Bucket=s3_bucket)["Versions"]] == [first]
    assert len(outbox_files(outbox)) == 3 and unsent_names(tmp_path) == sorted(rendered(config.tenants[0]))

    [sent] = transmit(config, tmp_path, outbox)
    assert sent["already"] == [first]  # found in the bucket, verified, not uploaded again
    versions = client.list_object_versions(Bucket=s3_bucket)["Versions"]
    assert len(versions) == len({v["Key"] for v in versions}) == 3  # one upload per object
    assert outbox_files(outbox) == [] and unsent_names(tmp_path) == []
    archived = [p.name for p in (tmp_path / ARCHIVE).rglob("*") if p.is_file()]
    assert sorted(archived) == sorted([*rendered(config.tenants[0]), "MANIFEST_101_20260329.json"])  # each once, no versions
    assert manifest.verify_archive(tmp_path, _bucket(config)) == (2, [])


def test_with_transmission_off_files_land_in_the_archive_and_the_outbox_stays_empty(outbox, tmp_path):
    config = parse_billing_config({"billing_process_enabled": True, "tenants": [TENANT]})
    result = produce(config, tmp_path)
    assert result["queued"] == [] and len(result["created"]) == 2
    assert outbox_files(outbox) == []
    assert {e["s3_uri"] for e in archive_manifest(tmp_path)["files"]} == {None}
    assert manifest.verify_archive(tmp_path) == (2, [])


def test_files_in_the_outbox_with_transmission_off_are_refused_not_dropped(outbox, tmp_path):
    config = parse_billing_config({"billing_process_enabled": True, "tenants": [TENANT]})
    name, data = next(iter(rendered(config.tenants[0]).items()))
    (outbox / name).write_bytes(data)
    with pytest.raises(
        TransmissionRefused, match=r"transmission is off \(billing_server.transmit: false\) but the outbox .* holds 1 file"
    ):
        plan_outbox(config, outbox)
    assert (outbox / name).read_bytes() == data


def test_the_report_shows_the_outbox_and_the_bucket(s3_endpoint, s3_bucket, outbox, tmp_path, monkeypatch, capsys):
    from bds.report import main as report

    config = billing_config(s3_bucket)
    path = tmp_path / "billing.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))  # JSON is YAML
    monkeypatch.setenv("BDS_CONFIG", str(path))
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))  # the configuration store, seeded from BDS_CONFIG
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    capsys.readouterr()
    assert report([str(tmp_path), "--transmission"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if "[info" not in line]
    assert out[0] == f"2 billing file(s) and 1 manifest(s) under {tmp_path / ARCHIVE}"
    assert f"outbox {outbox}: 0 file(s) waiting" in out
    assert f"billing server s3://{s3_bucket}/usage/pes/: 3 file(s)" in out
    assert "  101/daily/        2 billing file(s),   1 manifest(s)" in out
    first = "CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv"  # the first key in the bucket
    size = (daily_dir(tmp_path, 101, DAY) / first).stat().st_size
    assert (
        out[-1]
        == f"e.g. s3://{s3_bucket}/usage/pes/101/daily/2026/03/{first}: {size} bytes, text/csv; charset=utf-8, encryption AES256"
    )


def test_a_manifest_brings_its_unsent_files_along(s3_endpoint, s3_bucket, outbox, tmp_path):
    config = billing_config(s3_bucket)
    produce(config, tmp_path)
    removed = outbox / "101/daily/2026/03/CNT_US_PES_seats_chat_GARN-NW-0101_101_20260329.csv"
    removed.unlink()  # e.g. taken out of the outbox by hand: the manifest still lists it as unsent
    [sent] = transmit(config, tmp_path, outbox)
    assert sorted(sent["sent"]) == sorted(rendered(config.tenants[0]))  # queued again from the archive
    assert sent["manifests"] == ["MANIFEST_101_20260329.json"] and outbox_files(outbox) == []
    assert unsent_names(tmp_path) == []
    assert len(objects(s3_endpoint, s3_bucket)) == 3


def test_a_hand_dropped_replacement_is_a_logged_restatement_and_the_ledger_follows(s3_endpoint, s3_bucket, outbox, tmp_path):
    import sqlalchemy as sa

    from bds import changes
    from bds.config.store import default_store
    from bds.ledger import files as ledger_files
    from bds.ledger.cli import main as ledger_cli

    config = billing_config(s3_bucket)
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    name, data = next((n, d) for n, d in rendered(config.tenants[0], concurrent=5).items() if "seats_chat" in n)
    (outbox / name).write_bytes(data)  # an operator's corrected file
    [sent] = transmit(config, tmp_path, outbox)
    assert sent["sent"] == [name]
    [entry] = changes.read(tmp_path)
    assert entry["file"] == name and entry["rows"] == [{"AgentGroupName": "1", "old": "3", "new": "5"}]
    assert entry["previous"]["uploaded_at"] and entry["previous"]["sha256"] != manifest.sha256(data)
    with default_store(tmp_path).reading() as connection:
        versions = connection.execute(
            sa.select(ledger_files.c.current, ledger_files.c.state, ledger_files.c.task_id)
            .where(ledger_files.c.name == name)
            .order_by(ledger_files.c.written_at)
        ).all()
    assert [(v.current, v.state) for v in versions] == [(False, "sent"), (True, "sent")]
    assert ledger_cli(["check", str(tmp_path)]) == 0


def test_a_delivery_in_revisions_keeps_each_revision_whole_in_its_own_folder(s3_endpoint, s3_bucket, outbox, tmp_path):
    from bds.receiver import check_folder

    config = billing_config(s3_bucket, delivery="revisions")
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    first = objects(s3_endpoint, s3_bucket)
    r1 = "usage/pes/101/daily/2026/03/20260329/r1/"
    names = sorted(rendered(config.tenants[0]))
    assert sorted(first) == [r1 + n for n in [*names, "MANIFEST_101_20260329.json"]]

    produce(config, tmp_path, concurrent=4)  # a correction: one file changes, revision 2 goes out whole
    [sent] = transmit(config, tmp_path, outbox)
    assert sorted(sent["sent"]) == names and sent["manifests"] == ["MANIFEST_101_20260329.json"]
    second = objects(s3_endpoint, s3_bucket)
    r2 = r1.replace("/r1/", "/r2/")
    assert sorted(set(second) - set(first)) == [r2 + n for n in [*names, "MANIFEST_101_20260329.json"]]
    assert {k: second[k] for k in first} == first  # nothing of revision 1 was overwritten
    listed = archive_manifest(tmp_path)
    assert listed["revision"] == 2
    assert {e["s3_uri"] for e in listed["files"]} == {f"s3://{s3_bucket}/{r2}{n}" for n in names}
    assert manifest.verify_archive(tmp_path, _bucket(config)) == (2, [])

    # The receiver checks the delivered folder alone, revision 2 against revision 1 beside it.
    delivered = tmp_path / "delivered"
    for key, data in second.items():
        (delivered / key).parent.mkdir(parents=True, exist_ok=True)
        (delivered / key).write_bytes(data)
    assert check_folder(delivered) == (2, [])
    changed = next(n for n in names if "seats_chat" in n)
    r2_manifest = delivered / r2 / "MANIFEST_101_20260329.json"
    written = json.loads(r2_manifest.read_bytes())
    for e in written["files"]:
        e["supersedes"] = None  # a correction that does not say what it replaces
    r2_manifest.write_text(json.dumps(written))
    assert check_folder(delivered)[1] == [
        f"{r2_manifest}: {changed} supersedes None, but the version delivered before was {hashlib.sha256(first[r1 + changed]).hexdigest()}"
    ]


def test_in_revisions_a_file_dropped_by_hand_makes_a_revision_that_goes_out_whole(s3_endpoint, s3_bucket, outbox, tmp_path):
    from bds.receiver import check_folder
    from bds.transmission import queue

    config = billing_config(s3_bucket, delivery="revisions")
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    names = sorted(rendered(config.tenants[0]))
    by_hand = rendered(config.tenants[0], concurrent=9)
    chat = next(n for n in names if "seats_chat" in n)
    queue(outbox, parse_name(chat), by_hand[chat])  # an operator drops a corrected file into the outbox
    transmit(config, tmp_path, outbox)  # it goes out as revision 2; its manifest waits for the rest
    transmit(config, tmp_path, outbox)  # the next run sends the rest of revision 2, then its manifest
    assert outbox_files(outbox) == []
    r2 = "usage/pes/101/daily/2026/03/20260329/r2/"
    in_bucket = objects(s3_endpoint, s3_bucket)
    assert sorted(k for k in in_bucket if k.startswith(r2)) == [r2 + n for n in [*names, "MANIFEST_101_20260329.json"]]
    assert in_bucket[r2 + chat] == by_hand[chat]
    assert archive_manifest(tmp_path)["revision"] == 2 and manifest.verify_archive(tmp_path, _bucket(config)) == (2, [])
    delivered = tmp_path / "delivered"
    for key, data in in_bucket.items():
        (delivered / key).parent.mkdir(parents=True, exist_ok=True)
        (delivered / key).write_bytes(data)
    assert check_folder(delivered) == (2, [])
