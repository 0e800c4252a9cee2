"""Interval arithmetic behind every count: clipping, per-key merging and peak sweeps.

All times are integer seconds since the Unix epoch (UTC). An interval ``[start, end)``
covers the seconds ``start, start + 1, ..., end - 1``: a session that ends at second t
and another that starts at t never overlap. Peaks are therefore measured with
one-second precision, as BDS measures them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Peak:
    """The highest number of intervals active in one second, and the first second it occurred."""

    count: int
    at: int | None  # epoch second of the first occurrence; None when count is 0


def clip(starts: np.ndarray, ends: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip intervals to ``[lo, hi)``; return clipped starts, ends and the mask of non-empty ones."""
    s = np.maximum(np.asarray(starts, dtype=np.int64), lo)
    e = np.minimum(np.asarray(ends, dtype=np.int64), hi)
    keep = e > s
    return s, e, keep


def peak_concurrency(starts: np.ndarray, ends: np.ndarray) -> Peak:
    """Peak number of simultaneously active intervals (each interval counts once)."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    nonempty = ends > starts
    starts, ends = starts[nonempty], ends[nonempty]
    if starts.size == 0:
        return Peak(0, None)
    # The count only rises at a start, so the peak is at one: the intervals active at second t
    # are those started at or before t less those ended at or before t ([s, e) is half-open).
    # Two sorted arrays and two binary searches: a quarter of the memory of sorting 2n events.
    starts, ends = np.sort(starts), np.sort(ends)
    active = np.searchsorted(starts, starts, side="right") - np.searchsorted(ends, starts, side="right")
    best = int(np.argmax(active))
    return Peak(int(active[best]), int(starts[best]))


def merge_per_key(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """Union the intervals of each key, so one agent on overlapping sessions counts once.

    Returns a frame with columns ``key``, ``start``, ``end`` of disjoint, non-adjacent intervals.
    """
    frame = pd.DataFrame({"key": np.asarray(keys), "start": np.asarray(starts, np.int64), "end": np.asarray(ends, np.int64)})
    frame = frame[frame["end"] > frame["start"]]
    if frame.empty:
        return frame.reset_index(drop=True)
    frame = frame.sort_values(["key", "start", "end"], kind="mergesort").reset_index(drop=True)
    reach = frame.groupby("key", sort=False)["end"].cummax()
    prev_reach = reach.groupby(frame["key"], sort=False).shift(1)
    # A new block starts at a key's first interval or after a gap; touching intervals merge.
    new_block = prev_reach.isna() | (frame["start"] > prev_reach)
    block = new_block.cumsum()
    merged = frame.groupby(block, sort=False).agg(key=("key", "first"), start=("start", "min"), end=("end", "max"))
    return merged.reset_index(drop=True)


def peak_distinct(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Peak:
    """Peak number of distinct keys active in one second."""
    merged = merge_per_key(keys, starts, ends)
    return peak_concurrency(merged["start"].to_numpy(), merged["end"].to_numpy())


def distinct_active(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> int:
    """Number of distinct keys with at least one non-empty interval."""
    keys = np.asarray(keys)
    nonempty = np.asarray(ends, np.int64) > np.asarray(starts, np.int64)
    return int(pd.unique(keys[nonempty]).size)
