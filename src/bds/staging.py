"""The staging location: datasets handed from one task to the next, never through XCom.

By default a folder under the data directory; set ``BDS_STAGING_URL`` to an object
store URL (e.g. ``s3://bds_s3@bucket/staging``) when workers run on several machines.
Paths go through Airflow's ObjectStoragePath, so tasks neither know nor care which.

Layout::

    <staging>/<YYYY-MM-DD>/<tenant_id>/<source>/<dataset>.parquet
    <staging>/<YYYY-MM-DD>/<tenant_id>/<source>/_SUCCESS        (written last, JSON)
    <staging>/<YYYY-MM-DD>/<tenant_id>/daily/results.json       (the day's counts)
    <staging>/<YYYY-MM-DD>/<tenant_id>/daily/agents.parquet     (who is behind Enabled)
"""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path

import pandas as pd

STAGING_ENV = "BDS_STAGING_URL"
DATA_DIR_ENV = "BDS_DATA_DIR"
MARKER = "_SUCCESS"


def data_dir() -> Path:
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        raise RuntimeError(f"{DATA_DIR_ENV} is not set: it names the folder that holds the billing files")
    return Path(value).resolve()


def staging_root():
    from airflow.sdk import ObjectStoragePath

    url = os.environ.get(STAGING_ENV) or (data_dir() / "staging").as_uri()
    return ObjectStoragePath(url)


def tenant_day(day: date, tenant_id: int):
    return staging_root() / day.isoformat() / str(tenant_id)


def write_bytes(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)


def write_frame(path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_bytes(path, buffer.getvalue())


def read_frame(path) -> pd.DataFrame:
    with path.open("rb") as handle:
        return pd.read_parquet(io.BytesIO(handle.read()))


def write_json(path, payload) -> None:
    write_bytes(path, json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))


def read_json(path):
    with path.open("rb") as handle:
        return json.loads(handle.read())
