"""Suite-wide setup: an isolated Airflow home, and real databases for the SQL tests.

Airflow reads its configuration when it is first imported, so the environment is set
here, before any test module imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Test modules import ROOT from here too: the home must be made once per process.
_HOME = Path(os.environ.get("BDS_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="bds-airflow-home-"))
os.environ["BDS_TEST_AIRFLOW_HOME"] = str(_HOME)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__MAX_TEMPLATED_FIELD_LENGTH": "65536",  # as deployed: the extracts' whole SQL
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
    }
)
for name in ("BDS_CONFIG", "BDS_DATA_DIR", "BDS_STAGING_URL", "BDS_SQL_DIR"):
    os.environ.pop(name, None)


def pytest_configure(config):
    """Migrate the metadata database and create the source pools, as an installation does,
    before any test module imports Airflow."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from bds_tools.airflow_local import POOLS

    subprocess.run([sys.executable, "-m", "airflow", "pools", "import", str(POOLS)], check=True, capture_output=True)


# PostgreSQL is not optional: a missing server fails the SQL tests rather than skipping them.
PG_ADMIN_URL = os.environ.get("BDS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_pg_database():
    """A fresh PostgreSQL database (its SQLAlchemy URL), dropped afterwards."""
    import sqlalchemy as sa

    name = f"bds_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise RuntimeError(f"PostgreSQL is needed for the SQL tests ({PG_ADMIN_URL}): {exc.orig}") from None
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def source_url(request, tmp_path):
    """One database URL per dialect the pipeline is tested on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}"
    return request.getfixturevalue("pg_url")


# MariaDB is not optional either: it stands in for a third engine the source queries must run on.
MARIADB_ADMIN_URL = os.environ.get("BDS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")


@pytest.fixture
def mariadb_url():
    """A fresh MariaDB database for one test, dropped afterwards; its sessions read ``||`` as
    concatenation, as ``bds.sources.standard_sql`` makes a source connection's do."""
    import sqlalchemy as sa

    from bds.sources import MYSQL_SESSION

    name = f"bds_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MARIADB_ADMIN_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise RuntimeError(f"MariaDB is needed for the SQL tests ({MARIADB_ADMIN_URL}): {exc.orig}") from None
    url = sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name, query={"init_command": MYSQL_SESSION})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def query_url(request, tmp_path):
    """One database URL per engine the source queries are tested on: the pipeline's two, and
    MariaDB for a third dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}"
    return request.getfixturevalue({"postgres": "pg_url", "mariadb": "mariadb_url"}[request.param])


# --- S3: moto's server mode on loopback, reached over HTTP through the bds_s3 connection ---


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto's server) on 127.0.0.1, for the whole session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_connection(endpoint: str, key: str = "bds-test-key", secret: str = "bds-test-secret", **extra) -> str:
    """The JSON form of an Airflow ``aws`` connection to an S3-compatible endpoint."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": key,
            "password": secret,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1", **extra},
        }
    )


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bds-test-key",
        aws_secret_access_key="bds-test-secret",
    )


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A new bucket for one test; the ``bds_s3`` connection points at its server."""
    name = f"bds-test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    monkeypatch.setenv("AIRFLOW_CONN_BDS_S3", aws_connection(s3_endpoint))
    return name


@pytest.fixture
def outbox(tmp_path, monkeypatch):
    """The outbox folder, named by the ``bds_outbox`` connection as in production."""
    folder = tmp_path / "outbox"
    folder.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_BDS_OUTBOX", json.dumps({"conn_type": "fs", "extra": {"path": str(folder)}}))
    return folder


class Webhook:
    """A webhook on loopback that records what is posted to it (path, headers, JSON body) and
    answers with ``status``."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hook = self
        self.received: list[dict] = []
        self.status = 204

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(hook.status)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()
