"""Reading the sources: SQL files, bound parameters and Airflow connections.

Queries live in ``include/sql/<source>/<dataset>.sql`` and use named parameters
(``:tenant_id``, ``:day_start`` ...), bound by SQLAlchemy for whatever driver the
connection's hook uses, so the same file runs on SQLite, PostgreSQL or any database
the common-sql provider reaches. A source that needs its own dialect can ship
``<dataset>.<dialect>.sql`` beside it, which then takes precedence.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bds.calendar import DayWindow
from bds.catalogue import SOURCES
from bds.datasets import DATASETS, DatasetShapeError, arrow_schema, conform, conform_batch
from bds.errors import PermanentError
from bds.limits import QUERY_TIMEOUT_ENV, LimitSettingError, query_timeout_minutes

if TYPE_CHECKING:  # pandas is imported where rows are read: the steps that read none start faster
    import pandas as pd

SQL_DIR_ENV = "BDS_SQL_DIR"
CSV_BLOCK = 8 * 2**20  # bytes of COPY output per record batch (and Parquet row group)


class SourceError(RuntimeError):
    """A source could not be read; the message names tenant, day, source and cause."""


class SourceSetupError(PermanentError, SourceError):
    """The source's connection cannot work as defined (undefined, unknown type, a SQLite file
    that does not exist): no retry fixes it."""


class MalformedRowsError(PermanentError, SourceError):
    """Source rows the day's query reads cannot be billed as they are; the message names
    table, column and row. Only correcting the rows (or tolerating them) helps."""


class QueryTimeoutError(SourceError):
    """A source query ran past the limit and was cancelled (a retry may find the source less busy)."""


# How many malformed rows a message or a summary names; the rest are counted.
MALFORMED_NAMED = 20


def _timeout_ms(minutes: float) -> str:
    return str(max(1, round(minutes * 60_000)))


def limit_queries(engine, minutes: float) -> None:
    """Every query on ``engine`` ends after ``minutes``: PostgreSQL cancels it on the server
    (``statement_timeout`` for the transaction, so a pooled connection keeps no setting) and
    SQLite interrupts it (a progress handler). Other databases: the task's execution timeout."""
    import time

    from sqlalchemy import event

    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "begin")
        def _statement_timeout(connection):
            connection.exec_driver_sql("SELECT set_config('statement_timeout', %s, true)", (_timeout_ms(minutes),))

    elif engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _interruptible(dbapi_connection, record):
            deadline = record.info.setdefault("bds_deadline", [None])
            dbapi_connection.set_progress_handler(lambda: int(deadline[0] is not None and time.monotonic() > deadline[0]), 10_000)

        @event.listens_for(engine, "before_cursor_execute")
        def _start(connection, cursor, statement, parameters, context, executemany):
            connection.info.setdefault("bds_deadline", [None])[0] = time.monotonic() + minutes * 60


# The queries concatenate with the standard ``||``, which MySQL and MariaDB read as OR unless
# the session says otherwise.
MYSQL_SESSION = "SET SESSION sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT')"


def standard_sql(engine) -> None:
    """On MySQL and MariaDB, every session of ``engine`` reads ``||`` as the standard's
    concatenation (the other dialects bds runs on do already)."""
    from sqlalchemy import event

    if engine.dialect.name in ("mysql", "mariadb"):

        @event.listens_for(engine, "connect")
        def _pipes_as_concat(dbapi_connection, record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute(MYSQL_SESSION)


def timed_out(exc: BaseException) -> bool:
    """Whether a database error (or one it caused) is the query limit's cancellation."""
    seen = exc
    while seen is not None:
        for error in (seen, getattr(seen, "orig", None)):
            if error is None:
                continue
            # PostgreSQL cancels for other reasons too (57014 is also an operator's pg_cancel_backend).
            if "statement timeout" in str(error) or str(error).strip() == "interrupted":
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def sql_dir() -> Path:
    configured = os.environ.get(SQL_DIR_ENV)
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "include" / "sql"
    if not path.is_dir():
        raise SourceError(f"SQL folder {path} does not exist; set {SQL_DIR_ENV} to the include/sql folder")
    return path


def sql_file(source: str, dataset: str, dialect: str | None = None) -> Path:
    folder = sql_dir() / source
    if dialect and (folder / f"{dataset}.{dialect}.sql").is_file():
        return folder / f"{dataset}.{dialect}.sql"
    return folder / f"{dataset}.sql"


def malformed_sql_file(source: str, dataset: str) -> Path:
    """The query that finds the rows ``dataset`` reads but cannot bill (one row per problem:
    source_table, row_key, column_name, found, problem)."""
    return sql_dir() / source / "malformed" / f"{dataset}.sql"


def read_sql(source: str, dataset: str, dialect: str | None = None) -> str:
    """The query text, without its comment lines (they may mention parameter names)."""
    return sql_text(sql_file(source, dataset, dialect))


def sql_text(path: Path) -> str:
    """A SQL file's text without its comment lines."""
    text = path.read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def database_cause(exc: BaseException) -> str:
    """The database driver's own words for an error, without the statement text."""
    seen = exc
    while seen is not None:
        orig = getattr(seen, "orig", None)
        if orig is not None:
            return " ".join(str(orig).split())
        seen = seen.__cause__ or seen.__context__
    return " ".join(str(exc).split())[:500]


# Databases that keep any value in any column (a time may be text): only there do the
# malformed-row checks read a table for nothing but values that are not numbers.
TYPELESS_DIALECTS = frozenset({"sqlite"})  # MySQL, MariaDB, PostgreSQL, SQL Server, Oracle type their columns


def query_parameters(tenant_id: int, window: DayWindow, lookback_days: int, dialect: str | None = None) -> dict[str, int]:
    """Bound parameters every dataset query may use: UTC epoch seconds, and the same in
    milliseconds with a ``_ms`` suffix (for sources that keep milliseconds); and ``typeless``,
    1 unless ``dialect`` (SQLAlchemy's name for the database) is known to type its columns."""
    seconds = {
        "day_start": window.start,
        "day_end": window.end,
        # Local midnight lookback_days before the day; also bounds Info Mart's partition keys
        # (the 15-minute interval a fact starts in).
        "lookback_start": window.days_before(lookback_days),
        # The day's end plus its look-ahead: facts that belong to the day start before it.
        "lookahead_end": window.horizon,
    }
    typeless = int(dialect is None or dialect in TYPELESS_DIALECTS)
    return {"tenant_id": tenant_id, **seconds, **{f"{k}_ms": v * 1000 for k, v in seconds.items()}, "typeless": typeless}


def run_query(engine, sql: str, parameters: dict) -> pd.DataFrame:
    import pandas as pd
    from sqlalchemy import text

    with engine.connect() as connection:
        return pd.read_sql(text(sql), connection, params=parameters)


def scalar_query(engine, sql: str, parameters: dict):
    """The first column of the query's first row (None without rows)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return connection.execute(text(sql), parameters).scalar()


def fetch_dataset(engine, sql: str, parameters: dict, text_columns: list[str]) -> pd.DataFrame:
    """A dataset query's rows as a frame. On PostgreSQL (psycopg) the rows leave the server as
    one ``COPY ... TO STDOUT`` stream parsed by Arrow's CSV reader, several times faster than
    fetching rows one by one; elsewhere through the driver's cursor. ``text_columns`` stay
    text (a switch named ``007`` is not the number 7); ``conform`` sets the other types."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return copy_query(engine, sql, parameters, text_columns)
    return run_query(engine, sql, parameters)


def psycopg_style(sql: str) -> str:
    """``:name`` placeholders as psycopg's ``%(name)s``: psycopg binds the values (COPY takes
    no server-side parameters, so psycopg quotes them itself)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))


class CopyStream(io.RawIOBase):
    """A ``COPY ... TO STDOUT`` as a readable file: the server's rows, read as they arrive."""

    def __init__(self, copy) -> None:
        self._rows, self._pending = iter(copy), memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        filled, size = 0, len(buffer)
        while filled < size:
            if not self._pending:
                row = next(self._rows, None)
                if row is None:
                    break
                self._pending = memoryview(row)
            taken = min(size - filled, len(self._pending))
            buffer[filled : filled + taken] = self._pending[:taken]
            self._pending, filled = self._pending[taken:], filled + taken
        return filled


# Queries run without PostgreSQL's JIT compilation. agent_sessions' cost estimate, high for
# its many index probes, triggers it, and compiling then took a second of a two-second query
# at contact-centre scale; the hash joins of the others gain a little from it, so they keep it.
WITHOUT_JIT = frozenset({("gim", "agent_sessions")})


def without_jit(dialect, execute) -> None:
    """Turn PostgreSQL's JIT compilation off for the transaction under way, through ``execute``
    (a cursor's or a SQLAlchemy connection's); ``dialect`` is the engine's (11 and later have it)."""
    if dialect.server_version_info >= (11,):
        execute("SET LOCAL jit = off")


@contextmanager
def copy_csv(engine, sql: str, parameters: dict, column_types: dict, jit: bool = True):
    """Arrow's streaming CSV reader over ``COPY (sql) TO STDOUT`` (CSV with a header): record
    batches of about ``CSV_BLOCK`` bytes, never the whole result at once. ``column_types``
    (Arrow types by column) keeps text text, and spares guessing types from the first block."""
    from pyarrow import csv

    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            # A raw connection fires no SQLAlchemy events: the query limit is set here, for this transaction.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", (_timeout_ms(query_timeout_minutes()),))
            if not jit:
                without_jit(engine.dialect, cursor.execute)
            with cursor.copy(f"COPY ({psycopg_style(sql)}) TO STDOUT WITH (FORMAT csv, HEADER)", parameters) as copy:
                stream = io.BufferedReader(CopyStream(copy), CSV_BLOCK)
                # Every dataset has several columns, so no row is an empty line; an empty field
                # (NULL or '') is missing, as both mean "none" to every metric.
                yield csv.open_csv(
                    stream,
                    read_options=csv.ReadOptions(block_size=CSV_BLOCK),
                    convert_options=csv.ConvertOptions(column_types=column_types, strings_can_be_null=True),
                )
    finally:
        raw.close()


def copy_query(engine, sql: str, parameters: dict, text_columns: list[str]) -> pd.DataFrame:
    from pyarrow import Table, string

    with copy_csv(engine, sql, parameters, dict.fromkeys(text_columns, string())) as reader:
        return Table.from_batches(list(reader), reader.schema).to_pandas()


def connection_name(source: str, conn_id: str | None = None) -> str:
    """How messages name a source's connection: ``Genesys Info Mart (bds_gim)``; ``conn_id``
    is the tenant's or location's connection, the source's shared one if not given."""
    return f"{SOURCES[source][1]} ({conn_id or SOURCES[source][0]})"


def source_engine(source: str, context: str, conn_id: str | None = None, hook_for=None):
    """SQLAlchemy engine of a source's Airflow connection (``conn_id``; the source's shared one,
    bds_gim, bds_gvp or bds_cme, if not given), through its hook: ``hook_for(conn_id)`` if
    given (an extract operator's ``get_hook``), else the connection's own."""
    from airflow.sdk import BaseHook

    conn_id = conn_id or SOURCES[source][0]
    try:
        engine = (hook_for or BaseHook.get_hook)(conn_id).get_sqlalchemy_engine()
    except Exception as exc:  # undefined connection, unknown type, missing driver
        raise SourceSetupError(f"{context}: {SOURCES[source][1]}: connection '{conn_id}' is unusable: {exc}") from exc
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not Path(database).is_file():
        engine.dispose()  # SQLite would create an empty database there and report "no such table"
        raise SourceSetupError(
            f"{context}: {connection_name(source, conn_id)}: the connection's SQLite database {database} does not "
            f"exist (a wrong path, or a volume not mounted); nothing was read or created"
        )
    standard_sql(engine)
    try:
        limit_queries(engine, query_timeout_minutes())
    except LimitSettingError as exc:
        engine.dispose()
        raise SourceSetupError(f"{context}: {exc}") from None
    return engine


def dataset_queries(source: str, datasets: list[str], dialect: str | None) -> dict[str, str]:
    """The SQL an extract of ``datasets`` from ``source`` runs, by name: each dataset's query
    (its ``<dataset>.<dialect>.sql`` variant where there is one) and, as ``malformed/<dataset>``,
    the query that finds the rows it cannot bill. What the extract tasks show as rendered."""
    queries = {}
    for dataset in datasets:
        queries[dataset] = read_sql(source, dataset, dialect)
        queries[f"malformed/{dataset}"] = sql_text(malformed_sql_file(source, dataset))
    return queries


def dataset_sql(engine, source: str, dataset: str, context: str) -> str:
    try:
        return read_sql(source, dataset, engine.dialect.name)
    except OSError as exc:
        raise SourceError(f"{context}: cannot read the SQL of {source}/{dataset}: {exc}") from None


@contextmanager
def querying(source: str, dataset: str, context: str, conn_id: str | None = None):
    """Turn the driver's error, or a wrongly shaped result, into one that names ``context`` and
    the connection."""
    name = connection_name(source, conn_id)
    try:
        yield
    except DatasetShapeError as exc:
        raise DatasetShapeError(f"{context}: {exc}") from None
    except Exception as exc:  # the drivers' errors share no base class worth naming
        if timed_out(exc):
            raise QueryTimeoutError(
                f"{context}: {name} query {source}/{dataset} ran past the limit of "
                f"{query_timeout_minutes():g} minute(s) ({QUERY_TIMEOUT_ENV}) and was cancelled by the "
                f"database: {database_cause(exc)}"
            ) from exc
        raise SourceError(f"{context}: {name} query {source}/{dataset} failed: {database_cause(exc)}") from exc


def malformed_rows(
    engine,
    source: str,
    dataset: str,
    parameters: dict,
    context: str,
    sql: str | None = None,
    conn_id: str | None = None,
    billed_here=None,
) -> list[str]:
    """Each malformed source row that the dataset's query reads for the day (which that query
    leaves out), as one line naming table, row key, column, value and problem; sorted. ``sql``
    is the query (``dataset_queries``), read from its file if not given; ``conn_id`` the
    connection ``engine`` reaches (for messages). A check whose rows also name their component
    (GVP's) keeps, given ``billed_here(component)``, only the rows billed from this connection."""
    from sqlalchemy import text

    if sql is None:
        path = malformed_sql_file(source, dataset)
        try:
            sql = sql_text(path)
        except OSError as exc:
            raise SourceError(f"{context}: cannot read {path}: {exc}") from None
    with querying(source, f"malformed/{dataset}", context, conn_id), engine.connect() as connection:
        if connection.dialect.name == "postgresql":  # filtered scans of a handful of rows: compiling took longer than running
            without_jit(connection.dialect, connection.exec_driver_sql)
        found = connection.execute(text(sql), parameters).all()
    kept = [row for row in found if billed_here is None or len(row) < 6 or billed_here(row[5])]
    return sorted(describe_malformed(*row[:5]) for row in kept)


def describe_malformed(table: str, row_key: str, column: str, found: str | None, problem: str) -> str:
    if problem == "missing":
        return f"{table} {row_key}: {column} is missing"
    return f"{table} {row_key}: {column} is {'NULL' if found is None else repr(found)}: {problem}"


def malformed_listing(lines: list[str], count: int | None = None) -> str:
    """The first ``MALFORMED_NAMED`` of ``lines``, and how many more of ``count`` (all of
    ``lines`` unless given) there are."""
    count = len(lines) if count is None else count
    named = lines[:MALFORMED_NAMED]
    return "; ".join(named) + (f"; and {count - len(named)} more" if count > len(named) else "")


def malformed_failure(
    source: str, dataset: str, lines: list[str], context: str, conn_id: str | None = None
) -> MalformedRowsError:
    return MalformedRowsError(
        f"{context}: {connection_name(source, conn_id)} has {len(lines)} malformed value(s) in rows that {source}/{dataset} reads: "
        f"{malformed_listing(lines)}. Nothing is billed for the day until they are corrected, or until "
        f"sources.malformed_rows is 'tolerate' (the day is then billed without them, and they are counted and named)"
    )


def text_columns(source: str, dataset: str) -> list[str]:
    return [c for c, kind in DATASETS[(source, dataset)].items() if kind == "string"]


def extract_dataset(engine, source: str, dataset: str, parameters: dict, context: str) -> pd.DataFrame:
    """Run one dataset query and return its conformed frame (rows sorted); errors name ``context``."""
    sql = dataset_sql(engine, source, dataset, context)
    with querying(source, dataset, context):
        frame = fetch_dataset(engine, sql, parameters, text_columns(source, dataset))
    return conform(source, dataset, frame)


def stage_dataset(
    engine,
    source: str,
    dataset: str,
    parameters: dict,
    context: str,
    target: Path,
    sql: str | None = None,
    conn_id: str | None = None,
) -> int:
    """Run one dataset query (``sql``, read from its file if not given) into the Parquet file
    ``target``; returns its row count. ``conn_id``: the connection ``engine`` reaches (for messages).

    On PostgreSQL (psycopg) the rows stream from COPY through Arrow into Parquet row groups,
    one block at a time, so a day of millions of rows never sits in memory whole; they keep
    the order the database sent them. Elsewhere the conformed frame is written. Either way the
    file has the dataset's Arrow schema (``arrow_schema``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sql = sql if sql is not None else dataset_sql(engine, source, dataset, context)
    schema = arrow_schema(source, dataset)
    with querying(source, dataset, context, conn_id):
        if not (engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"):
            frame = conform(source, dataset, fetch_dataset(engine, sql, parameters, text_columns(source, dataset)))
            pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), target)
            return len(frame)
        rows = 0
        types, jit = {f.name: f.type for f in schema}, (source, dataset) not in WITHOUT_JIT
        with copy_csv(engine, sql, parameters, types, jit) as reader, pq.ParquetWriter(target, schema) as writer:
            for batch in reader:
                writer.write_batch(conform_batch(source, dataset, batch))
                rows += batch.num_rows
        return rows
