"""The docker-compose deployment's environment, run on this machine without Docker.

Every Airflow process gets the environment docker-compose.yaml gives its container, verbatim
but for where the other services are: the metadata database and the source databases on the
local PostgreSQL, the Celery broker on the local Redis, MinIO replaced by the loopback S3
server, the image's folders by this checkout. The source databases are made by the same
init script as in the ``sources-db`` container and filled by the ``sources-seed`` command.

Then an api-server, a scheduler, a dag-processor and two Celery workers, each with an Airflow
home of its own (as on separate machines), bill two days by backfill and transmit them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from bds.config import load_billing_config
from bds.demo import day_range
from bds.manifest import verify_archive
from bds.pipeline import plan_day
from bds.transmission import Bucket
from tests.airflow_cli import Airflow, backfilled, free_port
from tests.conftest import PG_ADMIN_URL, ROOT, s3_client
from tests.deploy.conftest import minio_buckets, service_env
from tests.e2e.conftest import expected_names, files

FIRST, LAST = pendulum.date(2026, 3, 28), pendulum.date(2026, 3, 29)
REDIS = os.environ.get("BDS_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
SOURCES = ("gim", "gvp", "cme")


def run_script(script: Path, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def source_databases():
    """Databases and a read-only account made by ``include/deploy/sources-init.sh``."""
    suffix = uuid.uuid4().hex[:8]
    names = {s: f"bds_{s}_{suffix}" for s in SOURCES}
    reader = f"bds_reader_{suffix}"
    admin = sa.engine.make_url(PG_ADMIN_URL)
    env = os.environ | {
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "PGUSER": admin.username or "postgres",
        "POSTGRES_USER": admin.username or "postgres",
        "BDS_SOURCE_DATABASES": " ".join(names.values()),
        "BDS_SOURCES_READER": reader,
        "BDS_SOURCES_READER_PASSWORD": uuid.uuid4().hex,
    }
    run_script(ROOT / "include/deploy/sources-init.sh", env)
    run_script(ROOT / "include/deploy/sources-init.sh", env)  # a second start of the container changes nothing
    yield names, reader
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in names.values():
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {reader}"))
    engine.dispose()


@pytest.fixture
def config_database():
    """The configuration store's database and account, made by ``include/deploy/config-db-init.sh``."""
    suffix = uuid.uuid4().hex[:8]
    name, owner, password = f"bds_config_{suffix}", f"bds_config_{suffix}", uuid.uuid4().hex
    admin = sa.engine.make_url(PG_ADMIN_URL)
    env = os.environ | {
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "PGUSER": admin.username or "postgres",
        "BDS_DB_NAME": name,
        "BDS_DB_USER": owner,
        "BDS_DB_PASSWORD": password,
    }
    run_script(ROOT / "include/deploy/config-db-init.sh", env)
    run_script(ROOT / "include/deploy/config-db-init.sh", env)  # a second start of the container changes nothing
    yield {"schema": name, "login": owner, "password": password}
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {owner}"))
    engine.dispose()


def on_this_machine(
    compose_env: dict[str, str],
    *,
    metadata: str,
    api_port: int,
    s3_endpoint: str,
    databases: dict[str, str],
    reader: str,
    config_db: dict[str, str],
    data_dir: Path,
    home: Path,
) -> dict[str, str]:
    """The container's environment with the service names and image folders replaced."""
    places = {
        "http://airflow-apiserver:8080": f"http://127.0.0.1:{api_port}",
        "http://minio:9000": s3_endpoint,
        "/opt/airflow/include": str(ROOT / "include"),
        "/opt/bds/data": str(data_dir),
        "redis://:@redis:6379/0": REDIS,
    }
    env = {}
    for key, value in compose_env.items():
        for there, here in places.items():
            value = value.replace(there, here)
        env[key] = value
    for source in SOURCES:
        conn = json.loads(env[f"AIRFLOW_CONN_BDS_{source.upper()}"])
        assert (conn["host"], conn["schema"]) == ("sources-db", source)
        conn |= {
            "host": "127.0.0.1",
            "schema": databases[source],
            "login": reader if conn["login"] == "bds_reader" else "postgres",
        }
        env[f"AIRFLOW_CONN_BDS_{source.upper()}"] = json.dumps(conn)
    store = json.loads(env["AIRFLOW_CONN_BDS_DB"])
    assert (store["host"], store["schema"], store["login"]) == (
        "postgres",
        "bds",
        "bds",
    )  # Airflow's server, a database of its own
    env["AIRFLOW_CONN_BDS_DB"] = json.dumps(store | config_db | {"host": "127.0.0.1"})
    notes = json.loads(env["AIRFLOW_CONN_BDS_AIRFLOW_API"])
    assert (notes["host"], notes["port"]) == ("airflow-apiserver", 8080)
    env["AIRFLOW_CONN_BDS_AIRFLOW_API"] = json.dumps(notes | {"host": "127.0.0.1", "port": api_port})
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata.replace("postgresql+psycopg:", "postgresql+psycopg2:")
    env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + metadata.replace("postgresql+psycopg:", "postgresql:")
    unchanged = {k for k in env if env[k] == compose_env[k]}
    assert {
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__EXECUTOR",
        "BDS_STAGING_URL",
    } <= unchanged
    return (
        {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BDS_"))}
        | env
        | {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),  # the image's /opt/airflow/dags
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",  # two workers on a small machine
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        }
    )


def test_two_celery_workers_bill_and_transmit_with_the_compose_environment(
    compose, source_databases, config_database, pg_url, s3_endpoint, tmp_path, monkeypatch
):
    import redis

    databases, reader = source_databases
    data_dir = tmp_path / "shared-volume"
    (data_dir / "outbox").mkdir(parents=True)  # what airflow-init makes on the shared volume
    client = s3_client(s3_endpoint)
    for bucket in sorted(minio_buckets(compose)):
        client.create_bucket(Bucket=bucket)
    redis.Redis.from_url(REDIS).flushdb()
    api_port = free_port()

    def machine(service: str, name: str) -> dict[str, str]:
        home = tmp_path / name
        home.mkdir(exist_ok=True)
        return on_this_machine(
            service_env(compose, service),
            metadata=pg_url,
            api_port=api_port,
            s3_endpoint=s3_endpoint,
            databases=databases,
            reader=reader,
            config_db=config_database,
            data_dir=data_dir,
            home=home,
        )

    # sources-seed: its command, as the owner account of its environment
    seed = compose["services"]["sources-seed"]["command"]
    assert seed[:3] == ["python", "-m", "bds.demo"]
    command = [sys.executable, *seed[1:]]
    command = [arg.replace("/opt/airflow/include", str(ROOT / "include")) for arg in command]
    done = subprocess.run(command, env=machine("sources-seed", "seed"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    gim = sa.create_engine(sa.engine.make_url(pg_url).set(database=databases["gim"]))
    with gim.connect() as conn:  # the pipelines' account reads what the owner wrote, and only reads
        conn.execute(sa.text(f"SET ROLE {reader}"))
        assert conn.execute(sa.text("SELECT count(*) FROM INTERACTION_RESOURCE_FACT")).scalar() > 0
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text("DELETE FROM CTL_AUDIT_LOG"))
    gim.dispose()

    init = Airflow(tmp_path / "init", machine("airflow-init", "init"))
    init.cli("db", "migrate")
    init.cli("pools", "import", str(ROOT / "include/airflow/pools.json"))
    init.cli(
        "users",
        "create",
        "--username",
        "bds-runs",
        "--role",
        "User",
        "--firstname",
        "bds",
        "--lastname",
        "runs",
        "--email",
        "bds-runs@localhost",
        "--password",
        init.env["BDS_RUN_NOTES_PASSWORD"],
    )  # as airflow-init does
    init_script = compose["services"]["airflow-init"]["command"][1]
    for command in ("migrate", "seed"):  # the configuration store: its schema, then the demo's tenants as revision 1
        assert f"/entrypoint python -m bds.config {command}\n" in init_script
        done = subprocess.run(
            [sys.executable, "-m", "bds.config", command], env=init.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
    api = Airflow(tmp_path / "api", machine("airflow-apiserver", "api"), logs=[])
    with (
        api.running("api-server", "api-server"),
        api.running("scheduler", "scheduler", env=machine("airflow-scheduler", "scheduler")),
        api.running("dag-processor", "dag-processor", env=machine("airflow-dag-processor", "dag-processor")),
        api.running("worker-1", "celery", "worker", "--celery-hostname", "worker1@%h", env=machine("airflow-worker", "worker-1")),
        api.running("worker-2", "celery", "worker", "--celery-hostname", "worker2@%h", env=machine("airflow-worker", "worker-2")),
    ):
        api.wait("bds_daily to be parsed", lambda: "bds_daily" in api.cli("dags", "list", "-o", "plain", check=False))
        api.cli("backfill", "create", "--dag-id", "bds_daily", "--from-date", str(FIRST), "--to-date", str(LAST))
        api.cli("dags", "unpause", "bds_daily")
        api.wait("the backfill", lambda: backfilled(api.runs(), day_range(FIRST, LAST)), timeout=900)
        api.cli("dags", "trigger", "bds_transmit")
        api.cli("dags", "unpause", "bds_transmit")
        api.wait("bds_transmit", lambda: any(r["state"] == "success" for r in api.runs("bds_transmit")), timeout=600)
        worker_logs = [(tmp_path / "api" / f"worker-{n}.log").read_text(errors="replace") for n in (1, 2)]

    # The mapped tenant tasks fanned out over both workers.
    for log in worker_logs:
        assert len(re.findall(r"Task execute_workload\[[0-9a-f-]+\] received", log)) >= 5, log[-3000:]
    built = files(data_dir)
    assert set(built) == expected_names(FIRST) | expected_names(LAST)
    assert not (data_dir / "staging").exists()  # staged in the bucket, not on the shared volume
    staged = {o["Key"] for o in client.list_objects_v2(Bucket="bds-staging", Prefix="staging/").get("Contents", [])}
    # What render read stays in the bucket; the extracts went once the day's files were stored.
    assert any(k.startswith(f"staging/{LAST}/101/runs/") and k.endswith("/daily/results.json") for k in staged)
    assert not [k for k in staged if k.endswith("/_SUCCESS") or "/gim/" in k or "/gvp/" in k or "/cme/" in k]
    assert f"staging/{LAST}/101/daily/agents.parquet" in staged  # published with the day's files
    layers = service_env(compose, "airflow-worker")["BDS_CONFIG"].replace("/opt/airflow/include", str(ROOT / "include"))
    server = load_billing_config(layers).billing_server
    monkeypatch.setenv("AIRFLOW_CONN_BDS_S3", machine("airflow-worker", "worker-1")["AIRFLOW_CONN_BDS_S3"])
    assert verify_archive(data_dir, Bucket(server)) == (len(built), [])
    manifests = [json.loads(p.read_bytes()) for p in (data_dir / "archive").rglob("MANIFEST_*.json")]
    assert {f["config_revision"] for m in manifests for f in m["files"]} == {1}  # every file traced to the seeded revision
    assert list((data_dir / "outbox").rglob("*.*")) == []
    logs = client.list_objects_v2(Bucket="bds-logs").get("Contents", [])  # the UI reads any worker's logs from here
    assert any("dag_id=bds_daily" in o["Key"] for o in logs)
    metadata = sa.create_engine(pg_url)
    with metadata.connect() as conn:  # each run's note, written by its plan as bds-runs through the REST API
        notes = dict(
            conn.execute(
                sa.text(
                    "SELECT r.logical_date, n.content FROM dag_run r JOIN dag_run_note n ON n.dag_run_id = r.id "
                    "WHERE r.dag_id = 'bds_daily' AND r.run_id LIKE 'backfill__%'"
                )
            ).all()
        )
    metadata.dispose()
    assert {str(day.astimezone(UTC).date()): note for day, note in notes.items()} == {
        str(d): f"Bills {d} ({len(plan_day(load_billing_config(layers), d)[0])} tenants)" for d in day_range(FIRST, LAST)
    }
