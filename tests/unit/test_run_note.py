"""The run's note: its text, where the REST API is, and what happens when the API says no.
(The note written through a real api-server is checked in tests/e2e/test_backfill_cli.py and
tests/e2e/test_make_airflow.py.)"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from bds import run_note
from bds_tools.airflow_local import api_users, passwords_file


def test_the_note_names_the_period_and_the_tenants():
    assert run_note.text("2026-03-29", 3) == "Bills 2026-03-29 (3 tenants)"
    assert run_note.text("2026-03", 1) == "Bills 2026-03 (1 tenant)"
    assert run_note.text("2026-03-29", 0) == "Bills 2026-03-29 (0 tenants)"
    # A monthly run of two months restated for tenant 101, one of them for 102 too: two tenants.
    work = [{"tenant": {"tenant_id": t}, "month": m} for t, m in ((101, "2026-02"), (101, "2026-03"), (102, "2026-03"))]
    assert run_note.text("2026-02, 2026-03", run_note.tenants_of(work)) == "Bills 2026-02, 2026-03 (2 tenants)"


@pytest.mark.parametrize(
    ("host", "port", "schema", "url"),
    [
        ("127.0.0.1", 8080, None, "http://127.0.0.1:8080"),
        ("airflow.example.com", None, "https", "https://airflow.example.com"),
        ("https://airflow.example.com/", None, None, "https://airflow.example.com"),
    ],
)
def test_the_api_servers_address_comes_from_the_connection(host, port, schema, url):
    assert run_note.base_url(SimpleNamespace(host=host, port=port, schema=schema)) == url


def test_without_the_connection_the_note_is_left_alone_and_the_log_says_so(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_BDS_AIRFLOW_API", raising=False)
    assert run_note.set_note("bds_daily", "manual__x", "Bills 2026-03-29 (3 tenants)") == (
        "run note not set (no connection bds_airflow_api): Bills 2026-03-29 (3 tenants)"
    )


class Api(BaseHTTPRequestHandler):
    """An api-server that answers every request with ``status`` (and counts the requests)."""

    status, requests, note = 200, [], None

    def log_message(self, *args):
        pass

    def answer(self, body: dict) -> None:
        Api.requests.append(f"{self.command} {self.path.split('?')[0]}")
        data = json.dumps(body).encode()
        self.send_response(Api.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer({"access_token": "t"})

    def do_GET(self):
        self.answer({"note": Api.note})

    def do_PATCH(self):
        Api.note = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["note"]
        self.answer({"note": Api.note})


@pytest.fixture
def api(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Api.status, Api.requests, Api.note = 200, [], None
    connection = {"conn_type": "http", "host": "127.0.0.1", "port": server.server_port, "login": "bds", "password": "pw"}
    monkeypatch.setenv("AIRFLOW_CONN_BDS_AIRFLOW_API", json.dumps(connection))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    yield server
    server.shutdown()


def test_the_note_is_written_and_an_operators_note_is_kept(api):
    run = "/api/v2/dags/bds_daily/dagRuns/backfill__2026-03-30T00%3A00%3A00%2B00%3A00"
    assert run_note.set_note("bds_daily", "backfill__2026-03-30T00:00:00+00:00", "Bills 2026-03-29 (3 tenants)") == (
        "run note: Bills 2026-03-29 (3 tenants)"
    )
    assert Api.requests == ["POST /auth/token", f"GET {run}", f"PATCH {run}"] and Api.note == "Bills 2026-03-29 (3 tenants)"
    assert run_note.set_note("bds_daily", "backfill__2026-03-30T00:00:00+00:00", "Bills 2026-03-29 (2 tenants)") == (
        "run note: Bills 2026-03-29 (2 tenants)"  # its own note is replaced on a rerun
    )
    Api.note = "checked by Ana: 102 is late"
    assert run_note.set_note("bds_daily", "backfill__2026-03-30T00:00:00+00:00", "Bills 2026-03-29 (3 tenants)") == (
        "run note left as the operator wrote it ('checked by Ana: 102 is late'); this run: Bills 2026-03-29 (3 tenants)"
    )
    assert Api.note == "checked by Ana: 102 is late"


def test_a_busy_api_server_is_asked_again_a_refusal_is_not(api):
    Api.status = 500
    line = run_note.set_note("bds_daily", "r", "Bills 2026-03-29 (3 tenants)")
    assert line == (
        f"run note not set: bds_airflow_api (http://127.0.0.1:{api.server_port}) answered 500 to POST /auth/token: "
        "Bills 2026-03-29 (3 tenants)"
    )
    assert Api.requests == ["POST /auth/token"] * run_note.ATTEMPTS
    Api.status, Api.requests = 401, []
    assert "answered 401 to POST /auth/token" in run_note.set_note("bds_daily", "r", "Bills 2026-03-29 (3 tenants)")
    assert Api.requests == ["POST /auth/token"]


def test_the_users_passwords_are_made_once_and_kept_for_the_owner_alone(tmp_path):
    first = api_users(tmp_path)
    assert set(first) == {"admin", "bds"} and all(len(p) >= 24 for p in first.values())
    assert passwords_file(tmp_path).stat().st_mode & 0o777 == 0o600
    assert api_users(tmp_path) == first
    passwords_file(tmp_path).write_text(json.dumps({"admin": "chosen"}))  # an installation that had only admin
    again = api_users(tmp_path)
    assert again["admin"] == "chosen" and again["bds"] and again["bds"] != first["bds"]
