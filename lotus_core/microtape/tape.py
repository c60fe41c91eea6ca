"""Trade-tape features per grid interval (t - cadence, t], by receive time.

Trades are in receive order; within one message the venue's order is kept. Counts and
volumes are in trades and base-coin units. Nothing here looks at a trade received after t.
The live tape (lotus_core.microtape.flow.FlowStream) carries the same rules a trade at a
time: the size threshold is one compiled kernel for both (outliers.py), the run and sweep
rules are in its bins.

A recording may lack the trades channel, and a feature of an absent channel is missing,
never 0: every column here is NaN at a grid time t when no trade of the coin was received
by t (a replayed one included: the venue's snapshot on subscribe is not flow, but proves
the channel) and t is `trade_channel_grace_ms` or more past the coin's first grid time
(`missing_span`). A subscribed channel shows itself within that grace, so a coin with
trades reads as before (0 in an interval without trades) and one without reads NaN but
for the grace. Known at t from what was received by t, so nightly and live agree; the
columns are float64 for that NaN.
"""

from __future__ import annotations

import numpy as np

from lotus_core.microtape.grid import asof, before, bin_sum, interval_index, safe_ratio, take
from lotus_core.microtape.inputs import Books
from lotus_core.microtape.params import MicroTapeParams


def run_lengths(side: np.ndarray) -> np.ndarray:
    """Signed length of the same-side run each trade ends (+ buyer runs, - seller runs);
    FlowStream.add_trades carries it a trade at a time (run + 1 on the same side, else 1)."""
    n = len(side)
    if n == 0:
        return np.empty(0, np.int64)
    pos = np.arange(n)
    starts = np.ones(n, dtype=bool)
    starts[1:] = side[1:] != side[:-1]
    run_start = np.maximum.accumulate(np.where(starts, pos, 0))
    return (pos - run_start + 1) * side.astype(np.int64)


def _side_sweeps(
    k: np.ndarray,
    px: np.ndarray,
    sz: np.ndarray,
    opp_depth: np.ndarray,
    n: int,
    min_levels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For one aggressor side: per-interval sweep flag and volume.

    opp_depth[i] is the opposite side's top-level depth in the last book received strictly
    before trade i; the interval uses the value seen by its first trade. A sweep: at least
    `sweep_min_levels` distinct prices, or more volume than that depth (FlowStream._tape:
    the same rule per bin; both sides sweeping: the larger volume's direction).
    """
    ok = k >= 0
    k, px, sz, opp_depth = k[ok], px[ok], sz[ok], opp_depth[ok]
    vol = bin_sum(k, sz, n)
    order = np.lexsort((px, k))
    ks, ps = k[order], px[order]
    new_level = np.ones(len(ks), dtype=bool)
    new_level[1:] = (ks[1:] != ks[:-1]) | (ps[1:] != ps[:-1])
    levels = bin_sum(ks[new_level], None, n)
    first = np.ones(len(k), dtype=bool)
    first[1:] = k[1:] != k[:-1]
    depth = np.full(n, np.nan)
    depth[k[first]] = opp_depth[first]
    with np.errstate(invalid="ignore"):
        sweep = (levels >= min_levels) | (vol > depth)
    return sweep, vol


TRADE_COLUMNS = ("trade_count", "buy_vol", "sell_vol", "aggr_imb", "aggr_runlen",
                 "sweep_flag", "sweep_dir", "size_outlier_count", "vwap_px")
"""The columns `tape_features` returns, in MicroTape order: those a missing trades channel
leaves NaN (the health check reads them as the channel's, not as faults)."""


def missing_span(t: int, n: int, cadence: int, grid_start: int, trades_from: int,
                 params: MicroTapeParams) -> tuple[int, int]:
    """The rows [a, b) of the n grid times from t whose trade columns are NaN: past the
    grace after the coin's first grid time `grid_start`, before its first trade received
    `trades_from` (`inputs.NO_TRADES`: none)."""
    a = min(n, max(0, -((t - grid_start - params.trade_channel_grace_ms) // cadence)))
    return a, max(a, min(n, max(0, -((t - trades_from) // cadence))))


def tape_features(
    trades: dict[str, np.ndarray], books: Books, grid: np.ndarray, params: MicroTapeParams,
    trades_from: int,
) -> dict[str, np.ndarray]:
    """Counts, volumes, aggressor imbalance and runs, sweeps, size outliers and VWAP; NaN
    where the trades channel is not there (`trades_from`: the first trade received;
    module docstring)."""
    n = len(grid)
    recv, side, px, sz = trades["recv"], trades["side"], trades["px"], trades["sz"]
    k = interval_index(recv, grid, params.cadence_ms)
    buy, sell = side > 0, side < 0
    buy_vol = bin_sum(k, np.where(buy, sz, 0.0), n)
    sell_vol = bin_sum(k, np.where(sell, sz, 0.0), n)
    total = buy_vol + sell_vol
    notional = bin_sum(k, px * sz, n)

    runs = run_lengths(side)
    i_last = asof(recv, grid)
    runlen = np.where(i_last >= 0, runs[np.maximum(i_last, 0)] if len(runs) else 0, 0)

    from lotus_core.microtape.outliers import robust_thresholds  # numba: on first use

    thr = robust_thresholds(sz, params)
    with np.errstate(invalid="ignore"):
        outlier = sz > thr

    # depth facing each trade: the last l2Book received strictly before it
    pre = before(books.recv, recv)
    top_bid, top_ask = books.depth(params.sweep_depth_levels)
    ask_depth, bid_depth = take(top_ask, pre), take(top_bid, pre)
    buy_sweep, bv = _side_sweeps(
        k[buy], px[buy], sz[buy], ask_depth[buy], n, params.sweep_min_levels
    )
    sell_sweep, sv = _side_sweeps(
        k[sell], px[sell], sz[sell], bid_depth[sell], n, params.sweep_min_levels
    )
    both = buy_sweep & sell_sweep
    sweep_dir = np.where(buy_sweep, 1, 0) - np.where(sell_sweep, 1, 0)
    sweep_dir = np.where(both, np.sign(bv - sv), sweep_dir)

    cols = {
        "trade_count": bin_sum(k, None, n),
        "buy_vol": buy_vol,
        "sell_vol": sell_vol,
        "aggr_imb": safe_ratio(buy_vol - sell_vol, total, when_zero=0.0),
        "aggr_runlen": np.asarray(runlen, dtype=np.float64),
        "sweep_flag": (buy_sweep | sell_sweep).astype(np.float64),
        "sweep_dir": sweep_dir.astype(np.float64),
        "size_outlier_count": bin_sum(k, outlier.astype(np.float64), n),
        "vwap_px": safe_ratio(notional, total),
    }
    if n:
        a, b = missing_span(int(grid[0]), n, params.cadence_ms, int(grid[0]), trades_from,
                            params)
        for v in cols.values():
            v[a:b] = np.nan
    return cols
