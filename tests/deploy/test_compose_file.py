"""docker-compose.yaml, Dockerfile and .env.example: valid, complete and consistent."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from bds.config import load_billing_config
from tests.conftest import ROOT
from tests.deploy.conftest import (
    AIRFLOW_SERVICES,
    COMPOSE,
    DOCKERFILE,
    ENV_EXAMPLE,
    MissingVariable,
    interpolate,
    interpolated,
    minio_buckets,
    read_env_file,
    service_env,
)

TASK_SERVICES = ("airflow-worker",)  # where tasks run under the CeleryExecutor
SECRETS = {
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_DB_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "MINIO_KMS_SECRET_KEY",
    "BDS_S3_SECRET_KEY",
    "BDS_SOURCES_PASSWORD",
    "BDS_SOURCES_READER_PASSWORD",
    "BDS_RUN_NOTES_PASSWORD",
    "BDS_DB_PASSWORD",
    "BDS_SFTP_PASSWORD",
}
IMAGE_PATHS = {"/opt/airflow/include": ROOT / "include", "/opt/airflow/dags": ROOT / "dags"}  # Dockerfile COPY


def validate(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )


def test_the_compose_file_follows_the_compose_specification(tmp_path):
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    # the validator does reject what docker compose would: a misspelt key, a wrong type
    raw = yaml.safe_load(COMPOSE.read_text())
    raw["services"]["airflow-worker"]["deploy"] = {"replicas": [2]}
    raw["services"]["redis"]["healthcheck"]["intervall"] = "10s"
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(yaml.safe_dump(raw))
    result = validate(broken)
    assert result.returncode == 1
    assert "$.services['airflow-worker'].deploy.replicas: [2] is not of type 'integer', 'string'" in result.stdout
    assert "$.services.redis.healthcheck: 'intervall' does not match any of the regexes: '^x-'" in result.stdout


def test_every_required_setting_is_in_the_env_example_and_filled_by_make_compose_env(dot_env):
    raw = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z_0-9]+):\?", raw))
    example = read_env_file(ENV_EXAMPLE)
    assert required <= set(example), required - set(example)
    assert required >= {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_DB_PASSWORD", "BDS_S3_SECRET_KEY"}
    assert all(dot_env[name] for name in required)
    assert required >= SECRETS
    assert not [name for name in SECRETS if example[name]]  # no secret in the committed example
    from cryptography.fernet import Fernet

    Fernet(dot_env["AIRFLOW_FERNET_KEY"])  # a valid key, or this raises
    name, key = dot_env["MINIO_KMS_SECRET_KEY"].split(":")
    assert name and len(base64.b64decode(key)) == 32
    with pytest.raises(MissingVariable, match="AIRFLOW_FERNET_KEY: set it in .env"):
        interpolated(yaml.safe_load(raw), {**dot_env, "AIRFLOW_FERNET_KEY": ""})  # compose refuses to start
    assert interpolate("$${HOSTNAME} ${X:-d} ${Y}", {"Y": "y"}) == "${HOSTNAME} d y"


def test_make_compose_env_adds_what_a_newer_example_asks_for_and_keeps_every_value(dot_env, tmp_path):
    """An installation's .env from before a setting existed: the setting is added with a fresh
    secret, every value already there stays as it is, and no secret is printed."""
    older = tmp_path / ".env"
    older.write_text("".join(f"{k}={v}\n" for k, v in dot_env.items() if k != "BDS_RUN_NOTES_PASSWORD"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "include/deploy/compose_env.py"), str(ENV_EXAMPLE), str(older)],
        capture_output=True,
        text=True,
        check=True,
    )
    now = read_env_file(older)
    assert {k: v for k, v in now.items() if k != "BDS_RUN_NOTES_PASSWORD"} == {
        k: v for k, v in dot_env.items() if k != "BDS_RUN_NOTES_PASSWORD"
    }
    assert len(now["BDS_RUN_NOTES_PASSWORD"]) == 64 and now["BDS_RUN_NOTES_PASSWORD"] != dot_env["BDS_RUN_NOTES_PASSWORD"]
    assert done.stdout == f"added BDS_RUN_NOTES_PASSWORD to {older}; its other values are kept\n"
    assert older.stat().st_mode & 0o077 == 0


def test_services_in_the_shape_of_airflows_compose_file(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "minio", "minio-init", "sources-db", "sources-seed", *AIRFLOW_SERVICES}
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-worker"] == "celery worker"
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2
    assert "airflow pools import /opt/airflow/include/airflow/pools.json" in commands["airflow-init"][1]
    assert (IMAGE_PATHS["/opt/airflow/include"] / "airflow/pools.json").is_file()
    init_env = service_env(compose, "airflow-init")
    assert init_env["_AIRFLOW_DB_MIGRATE"] == init_env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    images = {services[name]["image"] for name in (*AIRFLOW_SERVICES, "sources-seed")}
    assert len(images) == 1  # one image, built from ./Dockerfile, everywhere
    assert all(services[name]["build"] == "." for name in (*AIRFLOW_SERVICES, "sources-seed"))
    for name, service in services.items():  # every dependency exists; every image is pinned
        assert set(service.get("depends_on", {})) <= set(services), name
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest") or "build" in service, (name, image)
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE.read_text()


def test_every_airflow_container_has_the_same_secrets_executor_and_connections(compose, dot_env):
    from airflow.models.connection import Connection

    envs = {name: service_env(compose, name) for name in AIRFLOW_SERVICES}
    shared = (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API_AUTH__JWT_ISSUER",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CELERY__BROKER_URL",
        "BDS_CONFIG",
        "BDS_CONFIG_SOURCE",
        "BDS_DATA_DIR",
        "BDS_STAGING_URL",
        "AIRFLOW_CONN_BDS_DB",
    )
    for key in shared:
        assert len({env[key] for env in envs.values()}) == 1, key
    env = envs["airflow-worker"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == dot_env["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == dot_env["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).hostname == "airflow-apiserver"
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    expected = {"bds_gim": ("postgres", "gim"), "bds_gvp": ("postgres", "gvp"), "bds_cme": ("postgres", "cme")}
    for conn_id, (conn_type, database) in expected.items():
        conn = Connection.from_json(env[f"AIRFLOW_CONN_{conn_id.upper()}"], conn_id=conn_id)
        assert (conn.conn_type, conn.host, conn.schema, conn.login) == (conn_type, "sources-db", database, "bds_reader")
        assert conn.password == dot_env["BDS_SOURCES_READER_PASSWORD"]
    s3 = Connection.from_json(env["AIRFLOW_CONN_BDS_S3"], conn_id="bds_s3")
    assert (s3.conn_type, s3.login, s3.password) == ("aws", dot_env["BDS_S3_ACCESS_KEY"], dot_env["BDS_S3_SECRET_KEY"])
    assert urlsplit(s3.extra_dejson["endpoint_url"]).hostname == "minio"
    outbox = Connection.from_json(env["AIRFLOW_CONN_BDS_OUTBOX"], conn_id="bds_outbox")
    assert PurePosixPath(outbox.extra_dejson["path"]).parent == PurePosixPath(env["BDS_DATA_DIR"])
    seed = service_env(compose, "sources-seed")
    assert json.loads(seed["AIRFLOW_CONN_BDS_GIM"])["login"] == "bds_owner"  # the seed writes; tasks only read
    # The configuration store: its own database on Airflow's PostgreSQL, made by the init script there.
    store = Connection.from_json(env["AIRFLOW_CONN_BDS_DB"], conn_id="bds_db")
    assert (store.conn_type, store.host, store.schema, store.login, store.password) == (
        "postgres",
        "postgres",
        "bds",
        "bds",
        dot_env["BDS_DB_PASSWORD"],
    )
    assert env["BDS_CONFIG_SOURCE"] == "store"
    postgres = compose["services"]["postgres"]
    assert "./include/deploy/config-db-init.sh:/docker-entrypoint-initdb.d/20-bds-config-db.sh:ro" in postgres["volumes"]
    assert postgres["environment"]["BDS_DB_PASSWORD"] == dot_env["BDS_DB_PASSWORD"]


def test_the_pipelines_storage_is_the_object_store_and_one_shared_volume(compose):
    env = service_env(compose, "airflow-worker")
    buckets = minio_buckets(compose)
    staging = urlsplit(env["BDS_STAGING_URL"])
    assert (staging.scheme, staging.username, staging.hostname) == ("s3", "bds_s3", "bds-staging")
    assert staging.hostname in buckets
    assert urlsplit(env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"]).hostname in buckets
    layers = env["BDS_CONFIG"].split(":")
    local = [IMAGE_PATHS["/opt/airflow/include"] / PurePosixPath(p).relative_to("/opt/airflow/include") for p in layers]
    config = load_billing_config(":".join(str(p) for p in local))
    assert config.billing_server.transmit and config.billing_server.bucket in buckets
    assert config.billing_server.aws_conn_id == "bds_s3"
    for name in TASK_SERVICES + ("airflow-scheduler", "airflow-apiserver"):
        mounts = dict(v.split(":", 1) for v in compose["services"][name]["volumes"])
        assert mounts["bds-data"] == env["BDS_DATA_DIR"], name  # the archive and outbox, shared
    assert "bds-data" in compose["volumes"]
    assert not [v for v in compose["services"]["airflow-worker"]["volumes"] if v.split(":")[0].startswith((".", "/"))]


def test_the_sftp_profile_seeds_an_sftp_billing_server_that_the_connection_reaches(dot_env):
    """With BDS_BILLING_SERVER_CONFIG=compose-sftp.yaml, the configuration transmits through
    bds_sftp to the sftp service (profile sftp) on the port and account its script serves."""
    from airflow.models.connection import Connection

    compose = interpolated(yaml.safe_load(COMPOSE.read_text()), dot_env | {"BDS_BILLING_SERVER_CONFIG": "compose-sftp.yaml"})
    sftp = compose["services"]["sftp"]
    assert (
        sftp["profiles"] == ["sftp"] and sftp["build"] == "." and sftp["image"] == compose["services"]["airflow-worker"]["image"]
    )
    script = PurePosixPath(sftp["entrypoint"][-1])
    assert (IMAGE_PATHS["/opt/airflow/include"] / script.relative_to("/opt/airflow/include")).is_file()
    assert sftp["environment"]["BDS_SFTP_PASSWORD"] == dot_env["BDS_SFTP_PASSWORD"]
    assert dict(v.split(":", 1) for v in sftp["volumes"])["sftp-data"] == sftp["environment"]["SFTP_ROOT"]
    env = service_env(compose, "airflow-worker")
    layers = env["BDS_CONFIG"].split(":")
    local = [IMAGE_PATHS["/opt/airflow/include"] / PurePosixPath(p).relative_to("/opt/airflow/include") for p in layers]
    server = load_billing_config(":".join(str(p) for p in local)).billing_server
    assert (server.kind, server.transmit, server.sftp_conn_id, server.key_prefix) == ("sftp", True, "bds_sftp", "billing")
    conn = Connection.from_json(env["AIRFLOW_CONN_BDS_SFTP"], conn_id="bds_sftp")
    assert (conn.conn_type, conn.host, conn.port, conn.login) == ("sftp", "sftp", 2222, "bds")
    assert conn.password == dot_env["BDS_SFTP_PASSWORD"]
    default = service_env(interpolated(yaml.safe_load(COMPOSE.read_text()), dot_env), "airflow-worker")
    assert default["BDS_CONFIG"].endswith("/compose.yaml")  # without the setting: MinIO, as before


def test_the_dockerfile_extends_the_official_image_with_exactly_the_pinned_requirements():
    text = DOCKERFILE.read_text()
    instructions = [line for line in re.sub(r"\s*\\\n\s*", " ", text).splitlines() if line and not line.startswith("#")]
    requirements = {
        name.lower(): version
        for name, version in re.findall(
            r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", (ROOT / "requirements.txt").read_text(), re.M
        )
    }
    python = re.search(r"on Python (\d+\.\d+)", (ROOT / "constraints.txt").read_text()).group(1)
    assert instructions[0] == f"FROM apache/airflow:{requirements['apache-airflow']}-python{python}"
    installs = [line for line in instructions if line.startswith("RUN pip install")]
    assert installs == [
        'RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/bds/requirements.txt -c /opt/bds/constraints.txt',
        "RUN pip install --no-cache-dir --no-deps /opt/bds",
    ]
    assert "COPY --chown=airflow:0 requirements.txt constraints.txt /opt/bds/" in instructions
    for folder in ("src", "dags", "plugins", "include"):
        assert any(line.startswith(f"COPY --chown=airflow:0 {folder} ") for line in instructions), folder
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"!requirements.txt", "!constraints.txt", "!src/", "!dags/", "!plugins/", "!include/"} <= set(ignored)
    assert "ENV BDS_SQL_DIR=/opt/airflow/include/sql" in instructions


def image_pip_install(*options: str) -> list[dict]:
    """What the Dockerfile's pip call would install here (pip's report), with ``options``."""
    constraints = dict(line.lower().split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", *options]
    command += [
        "apache-airflow==" + constraints["apache-airflow"],
        "-r",
        str(ROOT / "requirements.txt"),
        "-c",
        str(ROOT / "constraints.txt"),
    ]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)["install"]


def test_the_pins_are_the_versions_this_suite_runs_on():
    """What the image's pip call installs, resolved here: nothing differs from this environment,
    so the image gets exactly the versions the suite tested."""
    constraints = dict(line.lower().split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    for line in [
        *(ROOT / "requirements.txt").read_text().splitlines(),
        *(ROOT / "requirements-dev.txt").read_text().splitlines(),
    ]:
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line)
        if match:
            assert constraints[match.group(1).lower()] == match.group(2), line
    assert image_pip_install() == []


def test_the_image_gets_no_development_package():
    """The image's pip call, resolved as on an empty machine: the runtime only, none of the
    suite's, the benchmark's or the linters' packages (requirements-dev.txt)."""
    installed = {item["metadata"]["name"].lower().replace("_", "-") for item in image_pip_install("--ignore-installed")}
    assert {"apache-airflow", "apache-airflow-providers-common-sql", "pandas", "pyarrow", "plotly"} <= installed
    development = {
        "pytest",
        "hypothesis",
        "schemathesis",
        "playwright",
        "check-jsonschema",
        "moto",
        "flask-cors",
        "ruff",
        "sqlfluff",
    }
    assert installed & development == set()
    # Flask itself comes with the FAB auth manager (the deployment's users and roles), not for moto.
    assert "flask-appbuilder" in installed
