"""The fixed grid and the only two ways data may reach it: as-of joins and interval bins.

Both use the recorder's clock (`recv_ts_ms`) and sorted arrays, so a value at grid time t can
only depend on data received at or before t. Every rolling statistic here runs forward over
the grid (pandas' sequential window kernels), so a prefix of the data gives a prefix of the
result, bit for bit — the property the no-look-ahead test checks.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

import numpy as np
import pandas as pd


def make_grid(first_ms: int, last_ms: int, cadence_ms: int) -> np.ndarray:
    """Epoch-aligned grid points from the first >= first_ms to the last <= last_ms."""
    start = -(-first_ms // cadence_ms) * cadence_ms
    stop = (last_ms // cadence_ms) * cadence_ms
    if stop < start:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, stop + cadence_ms, cadence_ms, dtype=np.int64)


def asof(event_ts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the last event received at or before each grid time (-1: none yet)."""
    return np.searchsorted(event_ts, grid, side="right") - 1


def take(values: np.ndarray, idx: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """`values[idx]` as float64, with `fill` where idx is -1 (nothing known yet)."""
    if len(values) == 0:
        return np.full(len(idx), fill, dtype=np.float64)
    out = np.asarray(values, dtype=np.float64)[np.maximum(idx, 0)]
    out[idx < 0] = fill
    return out


def interval_index(ts: np.ndarray, grid: np.ndarray, cadence_ms: int) -> np.ndarray:
    """Grid index k whose interval (t_k - cadence, t_k] holds each ts; -1 if off the grid."""
    if len(grid) == 0:
        return np.full(len(ts), -1, dtype=np.int64)
    k = -((grid[0] - np.asarray(ts, dtype=np.int64)) // cadence_ms)
    k[(k < 0) | (k >= len(grid))] = -1
    return k


def bin_sum(k: np.ndarray, weights: np.ndarray | None, n: int) -> np.ndarray:
    """Per-interval sums (counts if weights is None) of events with interval index k."""
    ok = k >= 0
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    return np.bincount(k[ok], weights=w, minlength=n)[:n].astype(np.float64)


def rolling_pctl(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing percentile rank of each value in its own window (current value included).

    pctl = (rank - 1) / (count - 1) with average ranks over the non-NaN values of the
    window, so the window's minimum is 0, its maximum 1, ties share; 0.5 when count is 1.
    NaN where the value itself is NaN or fewer than `min_periods` values are present.
    """
    roll = pd.Series(x, dtype=np.float64).rolling(window, min_periods=min_periods)
    rank = roll.rank(method="average").to_numpy()
    count = roll.count().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 1, (rank - 1.0) / (count - 1.0), 0.5)
    out[np.isnan(rank) | np.isnan(np.asarray(x, dtype=np.float64))] = np.nan
    return np.clip(out, 0.0, 1.0)


def rolling_sum(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing sum over `window` grid points (NaN until `min_periods` values exist)."""
    roll = pd.Series(x, dtype=np.float64).rolling(window, min_periods=min_periods)
    return roll.sum().to_numpy()


def rolling_median(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing median over `window` grid points, skipping NaN."""
    roll = pd.Series(x, dtype=np.float64).rolling(window, min_periods=min_periods)
    return roll.median().to_numpy()


def safe_ratio(num: np.ndarray, den: np.ndarray, when_zero: float = np.nan) -> np.ndarray:
    """num / den, `when_zero` where den is 0, NaN where either is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[den == 0] = when_zero
    return out


class RollingSum:
    """`rolling_sum` one grid point at a time, bit for bit.

    pandas' fixed-window sum is a running sum with Kahan compensation (one term for adds,
    one for removes) and a run-of-equal-values rule, so its last bits depend on every
    value since the series began, not only on the window: a sum recomputed from a later
    start can differ in the last place, which flips ties of the rv percentile. The live
    tape carries this state instead (the same arithmetic as pandas 2-3's `roll_sum`;
    tests/core/microtape/test_rolling_stream.py checks it equals `rolling_sum`)."""

    def __init__(self, window: int, min_periods: int) -> None:
        from collections import deque

        self.window, self.min_periods = window, min_periods
        self.values: deque[float] = deque()
        self.nobs = 0
        self.total = self.comp_add = self.comp_remove = 0.0
        self.same = 0
        self.prev: float | None = None

    def push(self, value: float) -> float:
        """Append the next point; the trailing sum at it."""
        if self.prev is None:
            self.prev = value
        if len(self.values) == self.window:
            old = self.values.popleft()
            if old == old:
                self.nobs -= 1
                y = -old - self.comp_remove
                t = self.total + y
                self.comp_remove = t - self.total - y
                self.total = t
        if value == value:
            self.nobs += 1
            y = value - self.comp_add
            t = self.total + y
            self.comp_add = t - self.total - y
            self.total = t
            self.same = self.same + 1 if value == self.prev else 1
            self.prev = value
        self.values.append(value)
        if self.nobs == 0 == self.min_periods:
            return 0.0
        if self.nobs >= self.min_periods:
            return self.prev * self.nobs if self.same >= self.nobs else self.total
        return float("nan")

    def extend(self, values: np.ndarray) -> np.ndarray:
        push = self.push
        return np.fromiter((push(v) for v in np.asarray(values, np.float64).tolist()),
                           np.float64, len(values))


class RollingMedian:
    """`rolling_median` one grid point at a time: the window's non-NaN values kept sorted
    (bisect), so a point costs O(log w) compares and one short memmove. A median is a
    selection, not a sum, so it equals pandas' skiplist value exactly (the mean of the two
    middle values for an even count); tests/core/live/test_stream_tape.py checks it."""

    def __init__(self, window: int, min_periods: int) -> None:
        self.window, self.min_periods = window, max(min_periods, 1)
        self.values: deque[float] = deque()
        self.sorted: list[float] = []

    def push(self, value: float) -> float:
        """Append the next point; the trailing median at it (NaN below `min_periods`)."""
        values, ordered = self.values, self.sorted
        if len(values) == self.window:
            old = values.popleft()
            if old == old:
                del ordered[bisect_left(ordered, old)]
        values.append(value)
        if value == value:
            insort(ordered, value)
        n = len(ordered)
        if n < self.min_periods:
            return float("nan")
        h = n >> 1
        return ordered[h] if n & 1 else (ordered[h - 1] + ordered[h]) / 2
