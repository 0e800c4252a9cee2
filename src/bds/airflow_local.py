"""Airflow installations of their own on this machine, driven through Airflow's command line.

The benchmark (``bds.overhead``) and the tests that need a real scheduler and executor give
each installation its own home and run ``airflow ...`` as child processes; nothing here
imports Airflow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def source_connections(url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_BDS_GIM/GVP/CME``, each the JSON form of a postgres connection to the
    database of the SQLAlchemy ``url`` (the benchmark keeps all three sources in one)."""
    from sqlalchemy.engine import make_url

    database = make_url(url)
    connection = json.dumps({"conn_type": "postgres", "host": database.host or "127.0.0.1", "port": database.port or 5432,
                             "login": database.username or "postgres", "password": database.password or "",
                             "schema": database.database})  # fmt: skip
    return {f"AIRFLOW_CONN_BDS_{source}": connection for source in ("GIM", "GVP", "CME")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Airflow:
    """An Airflow installation of its own, driven through its command line."""

    def __init__(self, home: Path, env: dict[str, str], logs: list[Path] | None = None):
        self.home, self.env = home, env
        self.logs = logs if logs is not None else [home / "standalone.log"]

    def cli(self, *args: str, check: bool = True, tolerate: str = "") -> str:
        """stdout of ``airflow ARGS``; with ``tolerate``, a failure whose stderr names it
        returns that stderr instead of raising. A SQLite metadata database that a running
        scheduler holds locked is waited for, as an operator would simply run the command again."""
        for _ in range(10):
            done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=300)
            if not (done.returncode and "database is locked" in done.stderr):
                break
            time.sleep(3)
        if done.returncode and tolerate and tolerate in done.stderr:
            return done.stderr
        if check and done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def runs(self, dag_id: str = "bds_daily") -> list[dict]:
        out = self.cli("dags", "list-runs", dag_id, "-o", "json", check=False)
        lines = [line for line in out.splitlines() if line.startswith("[{") or line == "[]"]  # past any warnings
        return json.loads(lines[-1]) if lines else []

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """The api-server's REST API (``/api/v2/...``) as its ``admin`` user, with the password
        the simple auth manager generated in this home; the answer's JSON."""
        import urllib.request

        base = f"http://{self.env['AIRFLOW__API__HOST']}:{self.env['AIRFLOW__API__PORT']}"
        password = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]

        def call(url: str, payload: dict | None, method: str, token: str = "") -> dict:
            request = urllib.request.Request(url, method=method, data=None if payload is None else json.dumps(payload).encode(),
                                             headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})  # fmt: skip
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")

        token = call(f"{base}/auth/token", {"username": "admin", "password": password}, "POST")["access_token"]
        return call(f"{base}{path}", body, method, token)

    def tails(self, extra: list[Path] = ()) -> str:
        """The last lines of every process log (and of ``extra`` files), for an error message."""
        return "".join(f"\n--- {p.name}:\n{p.read_text(errors='replace')[-4000:]}" for p in [*self.logs, *extra] if p.exists())

    def wait(self, what, predicate, timeout: float = 600, interval: float = 3) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}; logs:{self.tails()}")

    @contextmanager
    def running(self, name: str, *args: str, env: dict[str, str] | None = None):
        """``airflow ARGS`` in the background for the block, its output in ``<home>/<name>.log``."""
        log_path = self.home / f"{name}.log"
        self.logs.append(log_path)
        with log_path.open("w") as log:
            process = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=env or self.env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    """End the process and everything it started (its own process group)."""
    signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.wait()
    # Its children (an executor's workers, their tasks) may outlive it for a moment.
    deadline = time.monotonic() + 10
    while signal_group(process.pid, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    signal_group(process.pid, signal.SIGKILL)


def signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to the process group; False when no process is left in it."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True
