"""Candle morphology of the last closed candle, as known at each grid time.

At grid time t the candle in use is the one with the latest open among candles that closed
before t (t_close_ms < t), taken at its latest update received at or before t. An update
becomes usable at max(recv_ts_ms, t_close_ms + 1) (`usable_from`), so a running maximum
over updates sorted by that time answers every grid point with one `np.searchsorted`. The
live tape (lotus_core.microtape.flow.FlowStream) reads the same `usable_from` and
`morphology`, and ranks a range with `range_pctl_of`, the one-candle form of `_range_pctl`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lotus_core.microtape.book import BPS
from lotus_core.microtape.grid import NAN, asof, safe_ratio
from lotus_core.microtape.params import MicroTapeParams

COLUMNS = ("wick_up_bps", "wick_dn_bps", "body_bps", "range_bps", "range_pctl", "close_loc")


def usable_from(candles: dict[str, np.ndarray]) -> np.ndarray:
    """When each candle update may be read: received, and its candle closed (t > t_close)."""
    return np.maximum(candles["recv"], candles["t_close"] + 1)


def select_closed(candles: dict[str, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """Index of the candle update in use at each grid time (-1: no closed candle yet): of
    the updates usable by t, the latest-opened candle's last received (the step keeps the
    same (t_open, arrival) order)."""
    m = len(candles["recv"])
    if m == 0:
        return np.full(len(grid), -1, dtype=np.int64)
    usable = usable_from(candles)
    t_rank = np.searchsorted(np.unique(candles["t_open"]), candles["t_open"]).astype(np.int64)
    key = t_rank * m + np.arange(m, dtype=np.int64)  # (open time, receive order)
    order = np.argsort(usable, kind="stable")
    best = np.maximum.accumulate(key[order])
    j = asof(usable[order], grid)
    return np.where(j >= 0, best[np.maximum(j, 0)] % m, -1)


def morphology(candles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Wicks, body and range in bps of the open, and where the close sits in the range."""
    o, h, lo, c = candles["o"], candles["h"], candles["l"], candles["c"]
    scale = np.where(o > 0, BPS / np.where(o > 0, o, 1.0), np.nan)
    return {
        "wick_up_bps": (h - np.maximum(o, c)) * scale,
        "wick_dn_bps": (np.minimum(o, c) - lo) * scale,
        "body_bps": (c - o) * scale,
        "range_bps": (h - lo) * scale,
        "close_loc": safe_ratio(c - lo, h - lo, when_zero=0.5),
    }


def _range_pctl(
    t_open: np.ndarray, rng: np.ndarray, run_u: np.ndarray, params: MicroTapeParams
) -> np.ndarray:
    """Mid-rank of each selected update's range among the previous closed candles' ranges.

    A previous candle's range is its value when it was last in use, i.e. known before the
    current candle took over. pctl = (#prev < x + 0.5 #prev == x) / #prev, in [0, 1].
    """
    opens = t_open[run_u]
    new = np.ones(len(run_u), dtype=bool)
    new[1:] = opens[1:] != opens[:-1]
    cid = np.cumsum(new) - 1
    last = np.ones(len(run_u), dtype=bool)
    last[:-1] = new[1:]
    final = rng[run_u[last]]
    w = params.candle_pctl_window
    hist = sliding_window_view(np.concatenate([np.full(w, np.nan), final]), w)[: len(final)]
    rows = hist[cid]
    x = rng[run_u][:, None]
    count = (~np.isnan(rows)).sum(axis=1)
    score = (rows < x).sum(axis=1) + 0.5 * (rows == x).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = score / count
    out[(count < params.candle_pctl_min) | np.isnan(x[:, 0])] = np.nan
    return out


def range_pctl_of(ranked: list[float], x: float, params: MicroTapeParams) -> float:
    """`_range_pctl` of one selected update: x's mid-rank among `ranked`, the previous
    `candle_pctl_window` candles' non-NaN final ranges, sorted (NaN below candle_pctl_min
    of them, or for a NaN x)."""
    if x != x or len(ranked) < params.candle_pctl_min:
        return NAN
    lo, hi = bisect_left(ranked, x), bisect_right(ranked, x)
    return (lo + 0.5 * (hi - lo)) / len(ranked)


def candle_features(
    candles: dict[str, np.ndarray], grid: np.ndarray, params: MicroTapeParams
) -> dict[str, np.ndarray]:
    """Morphology of the last closed candle on the grid; NaN before the first one."""
    n = len(grid)
    out = {name: np.full(n, np.nan) for name in COLUMNS}
    sel = select_closed(candles, grid)
    gi = np.flatnonzero(sel >= 0)
    if len(gi) == 0:
        return out
    s = sel[gi]
    change = np.ones(len(s), dtype=bool)
    change[1:] = s[1:] != s[:-1]
    run_u = s[change]
    run_of = np.cumsum(change) - 1
    shape = morphology(candles)
    for name, values in shape.items():
        out[name][gi] = values[run_u][run_of]
    pctl = _range_pctl(candles["t_open"], shape["range_bps"], run_u, params)
    out["range_pctl"][gi] = pctl[run_of]
    return out
