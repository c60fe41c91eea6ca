"""Causal array helpers for one coin's MicroTape slice: every value at row t uses rows <= t.

The MicroTape grid is continuous per coin (one row per cadence), so a window of w seconds is
w * 1000 / cadence rows. Callers loop over coins only; everything inside is numpy/pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def coin_blocks(coins: np.ndarray) -> list[tuple[str, int, int]]:
    """(coin, start, stop) of each contiguous block (the MicroTape is sorted by coin, ts)."""
    n = len(coins)
    if n == 0:
        return []
    cut = np.flatnonzero(coins[1:] != coins[:-1]) + 1
    starts = np.r_[0, cut]
    stops = np.r_[cut, n]
    return [(str(coins[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def cadence_ms(ts_ms: np.ndarray, coins: np.ndarray) -> int:
    """The grid step: the smallest positive step between consecutive rows of one coin."""
    if len(ts_ms) < 2:
        return 1000
    d = np.diff(ts_ms)
    same = coins[1:] == coins[:-1]
    steps = d[same & (d > 0)]
    return int(steps.min()) if len(steps) else 1000


def rows(seconds: float, cadence: int) -> int:
    """How many grid rows `seconds` spans (at least 1)."""
    return max(1, int(round(seconds * 1000.0 / cadence)))


def log_bps(px: np.ndarray) -> np.ndarray:
    """ln(price) in bps: differences are bps moves. Absolute, not relative to the slice's
    first price, so a row's value (and every tie between rows) is the same wherever the
    tape starts: a window computed on a trailing slice equals the one on the whole day."""
    return np.log(np.asarray(px, dtype=np.float64)) * 1e4


def prev_max(x: np.ndarray, w: int) -> np.ndarray:
    """max of x over rows [t - w, t - 1]; NaN until w earlier rows exist."""
    return pd.Series(x).shift(1).rolling(w, min_periods=w).max().to_numpy()


def prev_min(x: np.ndarray, w: int) -> np.ndarray:
    """min of x over rows [t - w, t - 1]; NaN until w earlier rows exist."""
    return pd.Series(x).shift(1).rolling(w, min_periods=w).min().to_numpy()


def window_range(x: np.ndarray, w: int) -> np.ndarray:
    """max - min of x over rows [t - w + 1, t]; NaN until the window is full."""
    r = pd.Series(x).rolling(w, min_periods=w)
    return (r.max() - r.min()).to_numpy()


def window_sum(x: np.ndarray, w: int) -> np.ndarray:
    """sum of x over rows [t - w + 1, t] (shorter at the start)."""
    c = np.cumsum(np.nan_to_num(np.asarray(x, dtype=np.float64)))
    out = c.copy()
    out[w:] = c[w:] - c[:-w]
    return out


def recent_any(flag: np.ndarray, w: int) -> np.ndarray:
    """True where `flag` held on any of rows [t - w, t - 1]."""
    return window_sum(np.r_[0.0, flag[:-1].astype(np.float64)], w) > 0


def segment_ids(start: np.ndarray) -> np.ndarray:
    """0 before the first start, then 1, 2, ... : each start opens a new segment."""
    return np.cumsum(start.astype(np.int64))


def seg_cummax(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running max of x since the start of its segment, exact: the value does not depend on
    how many segments came before (a BIG-offset trick lost ~1e-5 bps once the offsets grew,
    so a window's strength depended on where the tape started)."""
    return pd.Series(np.asarray(x, dtype=np.float64)).groupby(seg).cummax().to_numpy()


def seg_cummin(x: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running min of x since the start of its segment."""
    return -seg_cummax(-x, seg)


def seg_ffill(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The value at the segment's start, carried forward (NaN before the first start)."""
    idx = np.where(start, np.arange(len(start)), -1)
    idx = np.maximum.accumulate(idx)
    out = np.full(len(start), np.nan)
    ok = idx >= 0
    out[ok] = np.asarray(values, dtype=np.float64)[idx[ok]]
    return out


def seg_start_index(start: np.ndarray) -> np.ndarray:
    """Row index of the current segment's start (-1 before the first start)."""
    idx = np.where(start, np.arange(len(start)), -1)
    return np.maximum.accumulate(idx)


def first_in_segment(cond: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """True at the first row of each segment where `cond` holds (segment 0 excluded)."""
    c = np.cumsum(cond.astype(np.int64))
    seg_change = np.r_[True, seg[1:] != seg[:-1]]
    before = np.where(seg_change, c - cond.astype(np.int64), 0)
    before = np.maximum.accumulate(np.where(seg_change, before, -1))
    return cond & (c - before == 1) & (seg > 0)
