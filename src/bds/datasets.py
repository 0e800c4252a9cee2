"""Staged datasets: what each source query returns, with the types the metrics rely on.

Each dataset is the result of ``include/sql/<source>/<dataset>.sql`` for one tenant and
one day. Columns are checked and cast here, so a SQLite and a PostgreSQL source stage the
same rows with the same types (rows streamed from PostgreSQL keep the order it sent them in;
no metric depends on the order).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from bds.errors import PermanentError

if TYPE_CHECKING:
    import pandas as pd

DATASETS = MappingProxyType(
    {
        ("gim", "agent_sessions"): {
            "agent": "int64",
            "media": "string",
            "switch": "string",
            "start_ts": "int64",
            "end_ts": "Int64",
            "handled_chat": "int8",
            "handled_callback": "int8",
            "handled_outbound": "int8",
        },
        ("gim", "bot_sessions"): {
            "interaction_id": "int64",
            "media": "string",
            "start_ms": "int64",
            "duration_ms": "int64",
        },
        ("gvp", "media_sessions"): {
            "resource": "string",
            "component": "string",
            "start_ms": "int64",
            "end_ms": "Int64",
        },
        ("cme", "voicemail_boxes"): {
            "object_type": "string",
            "object_id": "int64",
            "mailbox": "string",
            "start_ts": "int64",
            "end_ts": "Int64",
        },
    }
)

# Order rows so that a staged frame does not depend on the order the database returned.
SORT_KEYS = MappingProxyType(
    {
        ("gim", "agent_sessions"): ["agent", "start_ts", "media", "switch", "end_ts"],
        ("gim", "bot_sessions"): ["interaction_id", "start_ms", "duration_ms", "media"],
        ("gvp", "media_sessions"): ["resource", "start_ms", "component", "end_ms"],
        ("cme", "voicemail_boxes"): ["object_type", "object_id", "start_ts"],
    }
)


# The same types in Arrow, for rows that stream from the database into Parquet.
ARROW_TYPES = MappingProxyType({"int64": "int64", "Int64": "int64", "int8": "int8", "string": "string"})
NULLABLE = frozenset(("Int64", "string"))


class DatasetShapeError(PermanentError, ValueError):
    """A source query returned columns other than the dataset's."""


def conform(source: str, dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check the columns, cast them and sort the rows deterministically."""
    schema = DATASETS[(source, dataset)]
    frame = frame.rename(columns=str.lower)
    problem = missing_columns(source, dataset, list(frame.columns))
    if problem:
        raise problem
    frame = frame[list(schema)]
    try:
        frame = frame.astype(schema)
    except (TypeError, ValueError) as exc:
        raise DatasetShapeError(f"include/sql/{source}/{dataset}.sql returned values of the wrong type: {exc}") from None
    return frame.sort_values(SORT_KEYS[(source, dataset)], kind="mergesort", na_position="last").reset_index(drop=True)


def arrow_schema(source: str, dataset: str):
    """The dataset's columns as an Arrow schema (a column that may hold NULL is nullable)."""
    import pyarrow as pa

    schema = DATASETS[(source, dataset)]
    return pa.schema([pa.field(c, ARROW_TYPES[kind], nullable=kind in NULLABLE) for c, kind in schema.items()])


def missing_columns(source: str, dataset: str, returned: list[str]) -> DatasetShapeError | None:
    missing = [c for c in DATASETS[(source, dataset)] if c not in returned]
    if not missing:
        return None
    return DatasetShapeError(
        f"include/sql/{source}/{dataset}.sql returned no column(s) {', '.join(missing)} "
        f"(it returned {', '.join(returned) or 'nothing'})"
    )


def conform_batch(source: str, dataset: str, batch):
    """An Arrow record batch of the query's rows with the dataset's columns, in order, and
    types; rows stay in the order the database sent them (no metric depends on it)."""
    import pyarrow as pa

    schema = arrow_schema(source, dataset)
    names = [name.lower() for name in batch.schema.names]
    problem = missing_columns(source, dataset, names)
    if problem:
        raise problem
    columns = []
    for target in schema:
        column = batch.column(names.index(target.name))
        if not target.nullable and column.null_count:
            raise DatasetShapeError(
                f"include/sql/{source}/{dataset}.sql returned NULL in {target.name}, which may not be missing"
            )
        try:
            columns.append(column.cast(target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DatasetShapeError(f"include/sql/{source}/{dataset}.sql returned values of the wrong type: {exc}") from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def to_frame(source: str, dataset: str, table) -> pd.DataFrame:
    """A staged Arrow table as a frame with the dataset's pandas types, column by column (a
    column that may hold NULL converts straight to its nullable type, never through floats)."""
    import pandas as pd
    import pyarrow as pa

    nullable = {"Int64": {pa.int64(): pd.Int64Dtype()}.get, "string": {pa.string(): pd.StringDtype()}.get}
    schema = DATASETS[(source, dataset)]
    return pd.DataFrame(
        {column: table.column(column).to_pandas(types_mapper=nullable.get(kind)).astype(kind) for column, kind in schema.items()}
    )
