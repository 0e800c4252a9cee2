"""Transmission to a real SFTP server on loopback (asyncssh's, with password authentication
and a host key the connection checks), through the sftp provider's hook and the ``bds_sftp``
connection, as an installation whose billing server is SFTP has it.

Each test renders a tenant-day with the pipeline's own ``store_files``, then sends the outbox
with ``plan_outbox`` and ``send_tenant``, the two steps bds_transmit runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bds import manifest
from bds.config import parse_billing_config
from bds.files import ARCHIVE, daily_dir
from bds.transmission import TransmissionError, TransmissionRefused, destination, outbox_files, plan_outbox, send_tenant
from tests.conftest import ROOT
from tests.transmission.sftp_server import PASSWORD, SftpTestServer
from tests.transmission.tenant_day import DAY, TENANT, archive_manifest, produce, rendered, transmit, unsent_names

PREFIX = "usage/pes"
FOLDER = f"{PREFIX}/101/daily/2026/03"
MANIFEST = "MANIFEST_101_20260329.json"


@pytest.fixture
def sftp(tmp_path, monkeypatch):
    yield from serving(tmp_path, monkeypatch)


def serving(tmp_path, monkeypatch, posix_rename: bool = True):
    root = tmp_path / "sftp-root"
    (root / PREFIX).mkdir(parents=True)  # the billing server's folder exists; the ones below it are made
    server = SftpTestServer(root, posix_rename)
    monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP", server.connection())
    yield server
    server.close()


def billing_config(key_prefix: str = PREFIX, online: bool = True, delivery: str = "overwrite"):
    return parse_billing_config(
        {
            "billing_process_enabled": True,
            "billing_server": {"kind": "sftp", "transmit": True, "key_prefix": key_prefix, "delivery": delivery},
            "tenants": [TENANT | {"online": online}],
        }
    )


def verify(config, data_dir, read_back: bool = True) -> tuple[int, list[str]]:
    """The archive against its manifests and the files on the SFTP server."""
    server = destination(config.billing_server)
    try:
        return manifest.verify_archive(data_dir, server, read_back)
    finally:
        server.close()


def test_upload_verify_rename_archive_and_manifest_last(sftp, outbox, tmp_path):
    config = billing_config()
    produce(config, tmp_path)
    [sent] = transmit(config, tmp_path, outbox)
    assert len(sent["sent"]) == 2 and sent["manifests"] == [MANIFEST]
    assert sent["destination"] == "sftp://bds_sftp/usage/pes/101/"
    assert outbox_files(outbox) == []
    folder = daily_dir(tmp_path, 101, DAY)
    on_server = sftp.files()
    assert on_server == {f"{FOLDER}/{p.name}": p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
    # Each file was written under its temporary name and renamed into place; the manifest last.
    names = sorted(rendered(config.tenants[0]))
    assert sftp.events == [
        *(event for name in names for event in (("write", f"{FOLDER}/.{name}.part"), ("rename", f"{FOLDER}/{name}"))),
        ("write", f"{FOLDER}/.{MANIFEST}.part"),
        ("rename", f"{FOLDER}/{MANIFEST}"),
    ]
    listed = archive_manifest(tmp_path)
    for e in listed["files"]:
        assert e["s3_uri"] == f"sftp://bds_sftp/{FOLDER}/{e['name']}"
        modified = datetime.fromtimestamp((sftp.root / FOLDER / e["name"]).stat().st_mtime, UTC)
        assert e["uploaded_at"] == modified.strftime("%Y-%m-%dT%H:%M:%SZ")  # the server's time, not ours
    assert verify(config, tmp_path) == (2, [])


def test_a_rerun_sends_nothing_and_a_restated_file_replaces_the_old_one_in_place(sftp, outbox, tmp_path):
    config = billing_config()
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    produce(config, tmp_path)
    assert outbox_files(outbox) == []  # the same files: nothing queued, nothing sent
    produce(config, tmp_path, concurrent=4)
    [sent] = transmit(config, tmp_path, outbox)
    assert sent["sent"] == ["CNT_US_PES_seats_chat_GARN-NW-0101_101_20260329.csv"]
    name = sent["sent"][0]
    assert sftp.files()[f"{FOLDER}/{name}"] == (daily_dir(tmp_path, 101, DAY) / name).read_bytes()
    assert sftp.files()[f"{FOLDER}/{name}"].decode().splitlines()[1].endswith(",4")
    assert not [path for path in sftp.files() if "/." in path]  # no temporary file left
    assert verify(config, tmp_path) == (2, [])


def test_wrong_credentials_stop_with_the_file_named_and_the_password_never_shown(sftp, outbox, tmp_path, monkeypatch):
    config = billing_config()
    produce(config, tmp_path)
    queued = sorted(outbox_files(outbox))
    monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP", sftp.connection(password="not-the-password"))
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(TransmissionRefused) as refused:
        send_tenant(work[0], tmp_path, outbox)
    message = str(refused.value)
    assert (
        "tenant 101 2026-03-29: CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv -> "
        f"sftp://bds_sftp/{FOLDER}/CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv: "
        "the SFTP server rejected the credentials of the Airflow connection 'bds_sftp'"
    ) in message
    assert "not-the-password" not in message and PASSWORD not in message
    assert sorted(outbox_files(outbox)) == queued and sftp.files() == {}
    assert unsent_names(tmp_path) == sorted(rendered(config.tenants[0]))


def test_a_missing_folder_stops_with_the_folder_named(sftp, outbox, tmp_path):
    config = billing_config(key_prefix="usage/nowhere")
    produce(config, tmp_path)
    queued = sorted(outbox_files(outbox))
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(TransmissionRefused) as refused:
        send_tenant(work[0], tmp_path, outbox)
    assert (
        "the folder 'usage/nowhere' (billing_server.key_prefix) does not exist on the SFTP server of the Airflow "
        "connection 'bds_sftp'; create it or correct billing_server.key_prefix"
    ) in str(refused.value)
    assert sorted(outbox_files(outbox)) == queued and sftp.files() == {}


def test_an_undefined_connection_stops_naming_it(sftp, outbox, tmp_path, monkeypatch):
    config = billing_config()
    produce(config, tmp_path)
    monkeypatch.delenv("AIRFLOW_CONN_BDS_SFTP")
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(TransmissionRefused, match="the Airflow connection 'bds_sftp' is not defined"):
        send_tenant(work[0], tmp_path, outbox)
    assert len(outbox_files(outbox)) == 3


def test_an_unreachable_server_is_a_retryable_failure(sftp, outbox, tmp_path, monkeypatch):
    config = billing_config()
    produce(config, tmp_path)
    monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP", sftp.connection(port=1))  # nothing listens there
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(TransmissionError) as failed:
        send_tenant(work[0], tmp_path, outbox)
    assert not isinstance(failed.value, TransmissionRefused)  # Airflow retries it with backoff
    assert "could not reach the SFTP server of the Airflow connection 'bds_sftp'" in str(failed.value)
    assert len(outbox_files(outbox)) == 3


KILLED = """
import os, signal, sys
from pathlib import Path
import bds.sftp, bds.transmission as t
from bds.config import parse_billing_config
if sys.argv[4] == "rename":  # dies with the first file written under its temporary name, before the rename
    bds.sftp.SftpServer._rename = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
else:  # dies with the first file renamed into place, before it is archived
    t.replace_keeping_previous = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
config = parse_billing_config(__import__("json").loads(sys.argv[1]))
work, _, _ = t.plan_outbox(config, Path(sys.argv[3]))
t.send_tenant(work[0], Path(sys.argv[2]), Path(sys.argv[3]))
"""


@pytest.mark.parametrize("killed_before", ["rename", "archive"])
def test_killed_half_way_then_rerun_sends_each_file_once_and_archives_it_once(sftp, outbox, tmp_path, killed_before):
    config = billing_config()
    produce(config, tmp_path)
    raw = json.dumps(config.model_dump(mode="json"))
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, raw, str(tmp_path), str(outbox), killed_before], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    first = "CNT_GLOBAL_PES_voicemail_boxes_GARN-NW-0101_101_20260329.csv"
    left = {"rename": f"{FOLDER}/.{first}.part", "archive": f"{FOLDER}/{first}"}[killed_before]
    assert list(sftp.files()) == [left]  # never half a file under a billing file's name
    assert len(outbox_files(outbox)) == 3 and unsent_names(tmp_path) == sorted(rendered(config.tenants[0]))

    sftp.events.clear()
    [sent] = transmit(config, tmp_path, outbox)
    if killed_before == "archive":
        assert sent["already"] == [first]  # found on the server, read back and verified, not written again
    else:
        assert sorted(sent["sent"]) == sorted(rendered(config.tenants[0]))
    writes = [path for kind, path in sftp.events if kind == "write"]
    assert len(writes) == len(set(writes)) == (3 if killed_before == "rename" else 2)  # each file written once
    folder = daily_dir(tmp_path, 101, DAY)
    assert sftp.files() == {f"{FOLDER}/{p.name}": p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
    assert outbox_files(outbox) == [] and unsent_names(tmp_path) == []
    archived = [p.name for p in (tmp_path / ARCHIVE).rglob("*") if p.is_file()]
    assert sorted(archived) == sorted([*rendered(config.tenants[0]), MANIFEST])  # each once, no versions
    assert verify(config, tmp_path) == (2, [])


def test_a_tampered_file_on_the_server_is_found_by_the_weekly_check(sftp, outbox, tmp_path):
    config = billing_config()
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    name = "CNT_US_PES_seats_chat_GARN-NW-0101_101_20260329.csv"
    target = sftp.root / FOLDER / name
    target.write_bytes(target.read_bytes().replace(b",3\r\n", b",9\r\n").replace(b",3\n", b",9\n"))
    checked, problems = verify(config, tmp_path, read_back=False)
    assert checked == 2
    assert problems == [f"sftp://bds_sftp/{FOLDER}/{name}: the file read back has a different SHA-256 than the file"]


def test_an_offline_tenants_files_wait_in_the_outbox_then_go_out_oldest_first_once_it_is_online(sftp, outbox, tmp_path):
    offline = billing_config(online=False)
    later, earlier = DAY, DAY - timedelta(days=1)
    assert (
        "(the tenant is offline: they wait in the outbox until it is online again)"
        in produce(offline, tmp_path, later)["summary"]
    )
    produce(offline, tmp_path, earlier)
    work, notes, rejected = plan_outbox(offline, outbox)
    assert (work, rejected) == ([], [])
    assert notes == ["tenant 'Northwind Care' (101): offline: 6 file(s) wait in the outbox, sent when the tenant is online again"]
    assert len(outbox_files(outbox)) == 6 and sftp.files() == {}
    assert unsent_names(tmp_path) == sorted(rendered(offline.tenants[0]))  # the archive has them, unsent

    [sent] = transmit(billing_config(), tmp_path, outbox)
    assert len(sent["sent"]) == 4 and len(sent["manifests"]) == 2 and outbox_files(outbox) == []
    renamed = [path.rsplit("/", 1)[1] for kind, path in sftp.events if kind == "rename"]
    files_of = {day: sorted(rendered(offline.tenants[0], day)) for day in (earlier, later)}
    assert renamed == [*files_of[earlier], *files_of[later], f"MANIFEST_101_{earlier:%Y%m%d}.json", MANIFEST]


def test_a_tenant_with_a_connection_of_its_own_sends_and_is_checked_through_it(sftp, outbox, tmp_path, monkeypatch):
    """One account per tenant (as Genesys provisions one IAM user per tenant): the shared
    connection cannot log in; the tenant's own can, and the weekly check reads through it."""
    from bds.transmission import Destinations

    monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP", sftp.connection(password="the-shared-account-is-not-this-tenants"))
    monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP_101", sftp.connection())
    raw = billing_config().model_dump(mode="json")
    raw["tenants"][0]["billing_conn_id"] = "bds_sftp_101"
    config = parse_billing_config(raw)
    produce(config, tmp_path)
    work, _, _ = plan_outbox(config, outbox)
    assert work[0]["server"]["sftp_conn_id"] == "bds_sftp_101"
    [sent] = transmit(config, tmp_path, outbox)
    assert len(sent["sent"]) == 2 and sent["destination"] == "sftp://bds_sftp_101/usage/pes/101/"
    assert {e["s3_uri"] for e in archive_manifest(tmp_path)["files"]} == {
        f"sftp://bds_sftp_101/{FOLDER}/{name}" for name in rendered(config.tenants[0])
    }
    servers = Destinations(config)
    try:
        assert manifest.verify_archive(tmp_path, servers) == (2, [])
    finally:
        servers.close()


def test_a_tenants_own_s3_connection_replaces_the_shared_one_for_its_files_only():
    raw = {
        "billing_process_enabled": True,
        "billing_server": {"transmit": True, "bucket": "bds-billing"},
        "tenants": [TENANT | {"billing_conn_id": "bds_s3_northwind"}, TENANT | {"tenant_id": 102, "name": "Contoso"}],
    }
    config = parse_billing_config(raw)
    own, shared = (config.billing_server.for_tenant(t) for t in config.tenants)
    assert (own.aws_conn_id, shared.aws_conn_id) == ("bds_s3_northwind", "bds_s3")
    assert own.model_dump() == config.billing_server.model_dump() | {"aws_conn_id": "bds_s3_northwind"}


@pytest.fixture
def plain_sftp(tmp_path, monkeypatch):
    """A server that has no posix-rename: a plain rename refuses an existing target."""
    yield from serving(tmp_path, monkeypatch, posix_rename=False)


def test_without_posix_rename_a_restated_file_still_replaces_the_old_one(plain_sftp, outbox, tmp_path):
    config = billing_config()
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    produce(config, tmp_path, concurrent=4)
    plain_sftp.events.clear()
    [sent] = transmit(config, tmp_path, outbox)
    name = "CNT_US_PES_seats_chat_GARN-NW-0101_101_20260329.csv"
    assert sent["sent"] == [name]
    # The old file was renamed aside, the new one into place, and only then the old one removed.
    assert [path for kind, path in plain_sftp.events if kind == "rename"][:2] == [
        f"{FOLDER}/.{name}.replaced.part",
        f"{FOLDER}/{name}",
    ]
    folder = daily_dir(tmp_path, 101, DAY)
    assert plain_sftp.files() == {f"{FOLDER}/{p.name}": p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
    assert verify(config, tmp_path) == (2, [])


def test_a_file_that_is_not_the_version_to_move_aside_stays_where_it_is(sftp, tmp_path):
    server = destination(billing_config().billing_server)
    key = f"{FOLDER}/old.csv"
    (sftp.root / FOLDER).mkdir(parents=True)
    (sftp.root / key).write_bytes(b"changed on the server")
    try:
        problems = server.move_aside(key, f"{PREFIX}/101/versions/old.csv", b"what was sent")
    finally:
        server.close()
    assert problems == ["21 bytes on the server, 13 in the file", "the file read back has a different SHA-256 than the file"]
    assert list(sftp.files()) == [key]  # not moved


def test_a_files_uri_is_read_whichever_connection_sent_it():
    server = destination(billing_config().billing_server)
    assert (
        server.key_of(f"sftp://bds_sftp_101/{FOLDER}/x.csv")
        == server.key_of(f"sftp://bds_sftp/{FOLDER}/x.csv")
        == f"{FOLDER}/x.csv"
    )


def test_a_connection_the_hook_cannot_use_stops_naming_it(sftp, outbox, tmp_path, monkeypatch):
    config = billing_config()
    produce(config, tmp_path)
    broken = json.loads(sftp.connection())
    broken["extra"]["host_key"] = "ssh-ed25519"  # the key's data is missing
    monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP", json.dumps(broken))
    work, _, _ = plan_outbox(config, outbox)
    with pytest.raises(TransmissionRefused, match="the Airflow connection 'bds_sftp' cannot be used: SSH host key"):
        send_tenant(work[0], tmp_path, outbox)
    assert len(outbox_files(outbox)) == 3 and sftp.files() == {}


def test_a_delivery_in_revisions_puts_each_revision_whole_in_a_folder_it_makes(sftp, outbox, tmp_path):
    from bds.receiver import check_folder

    config = billing_config(delivery="revisions")
    produce(config, tmp_path)
    transmit(config, tmp_path, outbox)
    produce(config, tmp_path, concurrent=4)
    transmit(config, tmp_path, outbox)
    names = sorted([*rendered(config.tenants[0]), MANIFEST])
    on_server = sftp.files()
    assert sorted(on_server) == [f"{FOLDER}/20260329/r{n}/{name}" for n in (1, 2) for name in names]
    assert on_server[f"{FOLDER}/20260329/r2/{MANIFEST}"] == (daily_dir(tmp_path, 101, DAY) / MANIFEST).read_bytes()
    assert verify(config, tmp_path) == (2, [])
    assert check_folder(sftp.root) == (2, [])  # the receiver's check, on the server's folder itself
