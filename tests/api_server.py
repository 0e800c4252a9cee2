"""A real Airflow api-server with the bds plugin loaded, on a loopback port of its own, for the
tests of the configuration API: the simple auth manager with a user of every role."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bds_tools.airflow_local import Airflow, free_port, passwords_file, postgres_connection
from tests.conftest import ROOT

ROLES = ("admin", "op", "user", "viewer")  # the simple auth manager's roles; each user is named after its role
API = "/bds/api/v1"


@dataclass
class ConfigApi:
    base: str
    airflow: Airflow
    tokens: dict[str, str]
    env: dict[str, str]

    def call(self, method: str, path: str, role: str | None = "admin", **kwargs) -> httpx.Response:
        """``path`` below the API (``/tenants``) or absolute (``/bds/docs``); ``role`` None: anonymous."""
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        url = self.base + (path if path.startswith("/bds") or path.startswith("/api") else API + path)
        return httpx.request(method, url, headers=headers, timeout=60, **kwargs)

    def revision(self) -> int:
        return int(self.call("GET", "/configuration").headers["ETag"].strip('"'))


@contextmanager
def config_api(home: Path, store_url: str, data: Path, config: Path | None = None, **extra: str):
    """The api-server of a migrated Airflow home of its own, its configuration store the
    PostgreSQL database of ``store_url`` (connection ``bds_db``), seeded from ``config``."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BDS_"))} | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",  # a plugin that cannot load stops the start
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{role}:{role}" for role in ROLES),
        "AIRFLOW_CONN_BDS_DB": postgres_connection(store_url),
        "BDS_DATA_DIR": str(data),
        **({"BDS_CONFIG": str(config)} if config else {}),
        **extra,
    }
    airflow = Airflow(home, env)
    airflow.cli("db", "migrate")
    base = f"http://127.0.0.1:{port}"
    with airflow.running("api-server", "api-server", "--port", str(port)) as server:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/api/v2/version", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the api-server did not start:{airflow.tails()}")
            time.sleep(1)
        passwords = json.loads(passwords_file(home).read_text())
        tokens = {
            role: httpx.post(f"{base}/auth/token", json={"username": role, "password": passwords[role]}, timeout=30).json()[
                "access_token"
            ]
            for role in ROLES
        }
        yield ConfigApi(base, airflow, tokens, env)
