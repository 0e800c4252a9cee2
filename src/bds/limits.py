"""How long the source queries may run: one setting, read where the queries run (bds.sources)
and where the DAG files set the extracts' execution timeout (bds.dag_common). Standard library
only: DAG files read it at parse time."""

from __future__ import annotations

import os
from datetime import timedelta

from bds.errors import PermanentError

QUERY_TIMEOUT_ENV = "BDS_QUERY_TIMEOUT_MINUTES"
QUERY_TIMEOUT_DEFAULT = 60.0
# The most queries one extract task runs: two per dataset (the malformed-row check, then the
# rows) of the source with the most datasets (Info Mart: agent and bot sessions).
QUERIES_PER_EXTRACT = 4


class LimitSettingError(PermanentError, ValueError):
    """The setting is not a number of minutes the limit can be."""


def query_timeout_minutes() -> float:
    """``$BDS_QUERY_TIMEOUT_MINUTES`` (default 60; fractions allowed), checked."""
    value = os.environ.get(QUERY_TIMEOUT_ENV, "").strip()
    if not value:
        return QUERY_TIMEOUT_DEFAULT
    try:
        minutes = float(value)
        if not 0 < minutes <= 24 * 60:
            raise ValueError(value)
    except ValueError:
        raise LimitSettingError(
            f"{QUERY_TIMEOUT_ENV}={value!r}: expected the minutes a source query may run, more than 0 and at most 1440"
        ) from None
    return minutes


def extract_timeout() -> timedelta:
    """An extract task's execution timeout: each of its queries may run to the limit, and the
    task ten minutes more."""
    return timedelta(minutes=QUERIES_PER_EXTRACT * query_timeout_minutes() + 10)
