"""Staged datasets: what each source query returns, with the types the metrics rely on.

Each dataset is the result of ``include/sql/<source>/<dataset>.sql`` for one tenant and
one day. Columns are checked and cast here, so a SQLite and a PostgreSQL source stage
byte-for-byte the same frame.
"""

from __future__ import annotations

from types import MappingProxyType

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


class DatasetShapeError(ValueError):
    """A source query returned columns other than the dataset's."""


def conform(source: str, dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check the columns, cast them and sort the rows deterministically."""
    schema = DATASETS[(source, dataset)]
    frame = frame.rename(columns=str.lower)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise DatasetShapeError(
            f"include/sql/{source}/{dataset}.sql returned no column(s) {', '.join(missing)} "
            f"(it returned {', '.join(frame.columns) or 'nothing'})"
        )
    frame = frame[list(schema)]
    try:
        frame = frame.astype(schema)
    except (TypeError, ValueError) as exc:
        raise DatasetShapeError(f"include/sql/{source}/{dataset}.sql returned values of the wrong type: {exc}") from None
    return frame.sort_values(SORT_KEYS[(source, dataset)], kind="mergesort", na_position="last").reset_index(drop=True)
