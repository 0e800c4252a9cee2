"""The compose deployment's sftp service, run here as its container runs it: the script on the
bds image's Python, serving a folder; bds transmits a tenant-day to it through an ``sftp``
connection that checks the host key the script printed, and the key survives a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bds.config import parse_billing_config
from bds_tools.airflow_local import free_port
from tests.conftest import ROOT
from tests.transmission.tenant_day import TENANT, produce, transmit

SCRIPT = ROOT / "include" / "deploy" / "sftp_server.py"


def start(root, port: int, password: str) -> tuple[subprocess.Popen, str]:
    """The running server and the host key it printed."""
    env = os.environ | {"SFTP_ROOT": str(root), "SFTP_PORT": str(port), "BDS_SFTP_PASSWORD": password}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    line = process.stdout.readline()
    assert line.startswith(f"SFTP server on port {port}, files in {root / 'files'}, host key ssh-ed25519 "), line
    return process, line.rsplit("host key ", 1)[1].strip()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def test_the_service_takes_a_tenant_days_files_and_keeps_its_host_key(tmp_path, outbox, monkeypatch):
    root, port, password = tmp_path / "srv", free_port(), "compose-sftp-password"
    process, host_key = start(root, port, password)
    try:
        assert (root / "files" / "billing").is_dir()  # compose-sftp.yaml's key_prefix is there
        connection = {"conn_type": "sftp", "host": "127.0.0.1", "port": port, "login": "bds", "password": password}
        monkeypatch.setenv("AIRFLOW_CONN_BDS_SFTP", json.dumps(connection | {"extra": {"host_key": host_key}}))
        config = parse_billing_config(
            {
                "billing_process_enabled": True,
                "billing_server": {"kind": "sftp", "transmit": True, "key_prefix": "billing"},
                "tenants": [TENANT],
            }
        )
        produce(config, tmp_path)
        [sent] = transmit(config, tmp_path, outbox)
        assert len(sent["sent"]) == 2 and len(sent["manifests"]) == 1
        folder = root / "files" / "billing" / "101" / "daily" / "2026" / "03"
        archived = tmp_path / "archive" / "101" / "daily" / "2026" / "03"
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
            p.name: p.read_bytes() for p in archived.iterdir() if not p.name.startswith(".")
        }
    finally:
        stop(process)
    process, again = start(root, port, password)
    stop(process)
    assert again == host_key  # the same server after a restart: a checked host key still matches


def test_the_service_refuses_to_start_without_a_password(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=os.environ | {"SFTP_ROOT": str(tmp_path), "BDS_SFTP_PASSWORD": ""},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "BDS_SFTP_PASSWORD is empty" in done.stderr
    assert not (tmp_path / "files").exists()
