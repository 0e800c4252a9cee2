"""Airflow installations of their own on this machine, driven through Airflow's command line.

The benchmark (``bds_tools.overhead``) and the tests that need a real scheduler and executor give
each installation its own home and run ``airflow ...`` as child processes; ``make demo`` and
``make airflow`` start the demo's (``python -m bds_tools.airflow_local``). Nothing here imports
Airflow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def postgres_connection(url: str) -> str:
    """The JSON form of an Airflow ``postgres`` connection to the database of the SQLAlchemy ``url``."""
    from sqlalchemy.engine import make_url

    database = make_url(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": database.host or "127.0.0.1",
            "port": database.port or 5432,
            "login": database.username or "postgres",
            "password": database.password or "",
            "schema": database.database,
        }
    )


def source_connections(url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_BDS_GIM/GVP/CME``, each a postgres connection to the database of the
    SQLAlchemy ``url`` (the benchmark keeps all three sources in one)."""
    return dict.fromkeys(("AIRFLOW_CONN_BDS_GIM", "AIRFLOW_CONN_BDS_GVP", "AIRFLOW_CONN_BDS_CME"), postgres_connection(url))


# The Airflow pools that cap the queries running on each source at once.
POOLS = Path(__file__).resolve().parents[2] / "include" / "airflow" / "pools.json"

# The simple auth manager's users of an installation of its own: ``admin`` for the operator,
# ``bds`` (role user: may edit DAG runs) for the plan tasks, which write each run's note.
USERS = {"admin": "admin", "bds": "user"}


def passwords_file(home: Path) -> Path:
    return home / "simple_auth_manager_passwords.json.generated"


def api_users(home: Path) -> dict[str, str]:
    """The users' passwords, made once (random, readable by the owner only) and kept in the
    simple auth manager's passwords file, so Airflow neither makes nor prints them."""
    import secrets

    path = passwords_file(home)
    known = json.loads(path.read_text()) if path.exists() else {}
    if set(USERS) - set(known):
        known = {user: known.get(user) or secrets.token_urlsafe(18) for user in USERS} | known
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)  # also a file Airflow made with looser permissions
        path.write_text(json.dumps(known))
    return known


def api_server_env(home: Path, port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment of an installation whose api-server listens on ``host:port``: the tasks'
    execution API moves with it, and the plan tasks reach the REST API as ``bds``
    (connection ``bds_airflow_api``) to set each run's note."""
    password = api_users(home)["bds"]
    return {
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in USERS.items()),
        "AIRFLOW_CONN_BDS_AIRFLOW_API": json.dumps(
            {"conn_type": "http", "host": host, "port": port, "login": "bds", "password": password}
        ),
    }


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
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=300
            )
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

    @property
    def base_url(self) -> str:
        return f"http://{self.env['AIRFLOW__API__HOST']}:{self.env['AIRFLOW__API__PORT']}"

    def serving(self) -> bool:
        """Whether the api-server answers its health check."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return False

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """The api-server's REST API (``/api/v2/...``) as its ``admin`` user, with the password
        the simple auth manager generated in this home; the answer's JSON. An api-server still
        starting (``airflow standalone`` starts it after the scheduler) is waited for."""
        base = self.base_url
        self.wait("the api-server to answer", self.serving, timeout=300, interval=1)
        password = json.loads(passwords_file(self.home).read_text())["admin"]

        def call(url: str, payload: dict | None, method: str, token: str = "") -> dict:
            request = urllib.request.Request(
                url,
                method=method,
                data=None if payload is None else json.dumps(payload).encode(),
                headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")

        token = call(f"{base}/auth/token", {"username": "admin", "password": password}, "POST")["access_token"]
        # An api-server on a SQLite metadata database answers 500 when the scheduler or the
        # dag-processor holds the database's lock (as the command line says "database is
        # locked"): the request's transaction was rolled back, so it is sent again, as an
        # operator would.
        for attempt in range(5):
            try:
                return call(f"{base}{path}", body, method, token)
            except urllib.error.HTTPError as exc:
                if exc.code != 500 or attempt == 4:
                    raise
                time.sleep(3)

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
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=env or self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
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


def prepared(home: Path, env: dict[str, str]) -> bool:
    """Migrate the metadata database of ``home`` and import the bds pools (both idempotent);
    their output goes to ``<home>/airflow-prepare.log``. False, said on stderr, if either fails."""
    print(f"Preparing Airflow's metadata database in {home}", flush=True)
    with (home / "airflow-prepare.log").open("w") as log:
        for args in (["db", "migrate"], ["pools", "import", str(POOLS)]):
            if subprocess.run([sys.executable, "-m", "airflow", *args], env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
                print(f"airflow {' '.join(args)} failed; see {home / 'airflow-prepare.log'}", file=sys.stderr)
                return False
    return True


def with_api_server(home: Path, port: int, command: list[str]) -> int:
    """Run ``command`` while an ``airflow api-server`` of ``home`` listens on ``port``, with
    the environment that lets ``airflow dags test --use-executor`` run each task as a worker
    does (through the execution API, its log kept where the UI reads it) and set run notes.
    The metadata database is prepared first. The api-server's output goes to
    ``<home>/api-server.log``; returns the command's code."""
    import secrets
    import urllib.request

    env = (
        os.environ
        | api_server_env(home, port)
        | {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # The api-server checks the tokens the executor signs: both need the same secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        }
    )
    if not prepared(home, env):
        return 1

    def leave(signum, frame):  # terminated or hung up: stop the api-server too, as on Ctrl-C
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)
    with Airflow(home, env).running("api-server", "api-server", "--port", str(port)) as server:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/version", timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(f"the api-server did not start; see {home / 'api-server.log'}", file=sys.stderr)
                    return 1
                time.sleep(1)
        return subprocess.run(command, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    """``python -m bds_tools.airflow_local standalone --port N`` (``make airflow``): ``airflow
    standalone`` in ``$AIRFLOW_HOME`` with its api-server on 127.0.0.1:N; it prints where the
    UI is and where the password is kept, never a password or a connection.
    ``python -m bds_tools.airflow_local with-api-server -- COMMAND...`` (``make demo``): COMMAND while
    an api-server of ``$AIRFLOW_HOME`` listens on a free port (see ``with_api_server``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bds_tools.airflow_local")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("standalone").add_argument("--port", type=int, default=8080)
    wrapping = commands.add_parser("with-api-server")
    wrapping.add_argument("--port", type=int, default=0, help="default: a free port")
    wrapping.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    home.mkdir(parents=True, exist_ok=True)
    if args.command == "with-api-server":
        command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not command:
            wrapping.error("give the command to run after --")
        return with_api_server(home, args.port or free_port(), command)
    port = args.port
    env = os.environ | api_server_env(home, port)
    if not prepared(home, env):
        return 1
    print(f"Airflow UI: http://127.0.0.1:{port}  user admin, password in {passwords_file(home)}", flush=True)
    print(f"Billing console: Billing in the UI's navigation, or http://127.0.0.1:{port}/bds/console/tenants", flush=True)
    print(
        f"Billing configuration API: http://127.0.0.1:{port}/bds/api/v1  Swagger UI: http://127.0.0.1:{port}/bds/docs  "
        f"(behind the same login)",
        flush=True,
    )
    os.execvpe("airflow", ["airflow", "standalone"], env)


if __name__ == "__main__":
    sys.exit(main())
