"""The staging location: datasets handed from one task to the next, never through XCom.

By default a folder under the data directory; set ``BDS_STAGING_URL`` to an object
store URL (e.g. ``s3://bds_s3@bds-staging/staging``: the ``bds_s3`` connection, its bucket
and prefix) when workers run on several machines, as the docker-compose deployment does.
Paths go through Airflow's ObjectStoragePath, so tasks neither know nor care which. Every
object is written whole (an object store publishes an object only once it is complete; a local
file is written under a temporary name, then renamed), and a source's
``_SUCCESS`` marker is written after its datasets, so a reader never sees half a stage.

Layout::

    <staging>/<YYYY-MM-DD>/<tenant_id>/runs/<run>/<source>/<dataset>.parquet
    <staging>/<YYYY-MM-DD>/<tenant_id>/runs/<run>/<source>/_SUCCESS     (written last, JSON)
    <staging>/<YYYY-MM-DD>/<tenant_id>/runs/<run>/daily/results.json    (the day's counts)
    <staging>/<YYYY-MM-DD>/<tenant_id>/runs/<run>/daily/agents.parquet  (who is behind Enabled)
    <staging>/<YYYY-MM-DD>/<tenant_id>/daily/agents.parquet             (as published with the day's files)

Each run stages apart (``<run>``: from its run id), so two runs of one tenant-day at once never
read each other's half-done stage; ``render`` publishes the day's agent sets, under the
archive folder's lock, together with the files the monthly rollup reads beside them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import pandas as pd

STAGING_ENV = "BDS_STAGING_URL"
DATA_DIR_ENV = "BDS_DATA_DIR"
MARKER = "_SUCCESS"
COPY_BUFFER = 8 * 2**20


class StagingError(RuntimeError):
    """The staging location could not be read or written; names the path (day, tenant) and cause."""


@contextmanager
def _named(action: str, path):
    try:
        yield
    except StagingError:
        raise
    except OSError as exc:
        from bds.errors import storage_error

        if exc.filename is None:
            exc.filename = str(path)
        raised = storage_error("staging location", exc)
        if raised is not exc:  # disk full, name too long, ...: no retry fixes it
            raise raised from exc
        raise StagingError(f"staging location: cannot {action} {path}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # the store's own error (no bucket, refused, unreachable) with the path it concerns
        raise StagingError(f"staging location: cannot {action} {path}: {type(exc).__name__}: {exc}") from exc


def data_dir() -> Path:
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        raise RuntimeError(f"{DATA_DIR_ENV} is not set: it names the folder that holds the billing files")
    return Path(value).resolve()


def staging_root():
    from airflow.sdk import ObjectStoragePath

    url = os.environ.get(STAGING_ENV) or (data_dir() / "staging").as_uri()
    conn_id = urlsplit(url).username
    if conn_id:  # without this check a missing connection silently falls back to anonymous access
        from airflow.sdk import BaseHook

        try:
            BaseHook.get_connection(conn_id)
        except Exception as exc:
            raise StagingError(f"staging location {url} ({STAGING_ENV}): connection {conn_id!r} is not defined: {exc}") from exc
    return ObjectStoragePath(url)


def run_key(run_id: str) -> str:
    """A folder name for an Airflow run id (which may hold ':' and '+'): its SHA-256, shortened."""
    return "run-" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:16]


def tenant_day(day: date, tenant_id: int):
    return staging_root() / day.isoformat() / str(tenant_id)


def exists(path) -> bool:
    with _named("look up", path):
        return path.exists()


def remove(path) -> None:
    with _named("remove", path):
        path.unlink(missing_ok=True)


def remove_tree(path) -> None:
    """Remove a folder and everything in it, if it is there."""
    with _named("remove", path):
        if path.exists():
            path.rmdir(recursive=True)


def is_local(path) -> bool:
    return path.protocol in ("", "file", "local")


def write_bytes(path, data: bytes) -> None:
    with _named("write", path), writing(path) as temporary:
        temporary.write_bytes(data)


@contextmanager
def writing(path):
    """A local file for the block to write ``path``'s content into, as it goes (a dataset too
    large to hold in memory); published whole when the block succeeds, discarded otherwise.
    A local staging folder so gets the same whole-or-nothing guarantee as an object store."""
    local = is_local(path)
    with _named("write", path):
        if local:
            target = Path(path.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
        else:
            handle, name = tempfile.mkstemp(prefix="bds-stage-", suffix=".part")
            os.close(handle)
            temporary = Path(name)
    try:
        yield temporary
        with _named("write", path):
            if local:
                os.replace(temporary, target)
            else:
                with temporary.open("rb") as source, path.open("wb") as handle:
                    shutil.copyfileobj(source, handle, COPY_BUFFER)
    finally:
        temporary.unlink(missing_ok=True)


def read_bytes(path) -> bytes:
    with _named("read", path), path.open("rb") as handle:
        return handle.read()


def write_frame(path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_bytes(path, buffer.getvalue())


def read_frame(path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(read_bytes(path)))


def read_table(path):
    """A staged Parquet file as an Arrow table, read from the file as it goes."""
    import pyarrow.parquet as pq

    with _named("read", path), path.open("rb") as handle:
        return pq.read_table(handle)


def write_json(path, payload) -> None:
    write_bytes(path, json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))


def read_json(path):
    return json.loads(read_bytes(path))
