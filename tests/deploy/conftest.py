"""The docker-compose deployment as files: the compose file with ``.env`` interpolated as
docker compose does it, the Dockerfile, and the values ``make compose-env`` writes.

No Docker engine runs here, so what can be checked without one is checked on the files, and
what the containers would run (their environment, the seed, the source databases) is run on
this machine with the service names pointed at local servers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(KeyError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        value = env.get(name)
        empty = value is None or (value == "" and op and op.startswith(":"))
        if op in (":-", "-"):
            return arg if empty else value
        if op in (":?", "?") and empty:
            raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return VARIABLE.sub(one, text)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.lstrip().startswith("#"))
    return {name.strip(): value for name, value in pairs}


@pytest.fixture(scope="session")
def dot_env(tmp_path_factory) -> dict[str, str]:
    """The ``.env`` that ``make compose-env`` writes, made by the same script."""
    target = tmp_path_factory.mktemp("compose") / ".env"
    subprocess.run([sys.executable, str(ROOT / "include/deploy/compose_env.py"), str(ENV_EXAMPLE), str(target)], check=True)
    return read_env_file(target)


@pytest.fixture(scope="session")
def compose(dot_env) -> dict:
    """docker-compose.yaml as docker compose sees it with that ``.env`` (values interpolated)."""
    return interpolated(yaml.safe_load(COMPOSE.read_text()), dot_env)


def interpolated(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def service_env(compose: dict, service: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose["services"][service].get("environment", {}).items()}


def minio_buckets(compose: dict) -> set[str]:
    """The buckets the ``minio-init`` service creates."""
    script = compose["services"]["minio-init"]["command"][0]
    assert 'do mc mb --ignore-existing "local/$bucket"; done' in script
    return set(re.search(r"for bucket in ([^;]+);", script).group(1).split())
