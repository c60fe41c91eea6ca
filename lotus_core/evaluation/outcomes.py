"""Paper outcomes of every scored window at fixed horizons (docs/evaluation.md).

For a window at `ts_ms` on `coin` with `direction` d and a horizon h:

- entry frame: the coin's frame as of `ts_ms` (last frame with ts <= ts_ms);
- exit frame: the coin's frame as of `ts_ms + h*1000`;
- fwd_ret_bps = d * (mid_exit / mid_entry - 1) * 1e4;
- net_ret_bps = fwd_ret_bps - fee_bps - spread_bps_entry / 2;
- mfe_bps / mae_bps: max / min of d * (mid / mid_entry - 1) * 1e4 over the frames from entry
  to exit inclusive (gross, so mfe >= 0 >= mae);
- hit = net_ret_bps > 0.

A row is `done` only when the tape covers the horizon end: a frame of the coin exists at or
after it, and the exit frame lies at most GAP_TOLERANCE_S before it. Otherwise (the data
ends before the horizon - e.g. the next day is not there yet - or the horizon end falls in
a gap of the recording) the row is `pending` with NaN outcomes: never filled from partial
data. Pure and deterministic; no dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from lotus_core.arrays import positions_by
from lotus_core.columns import STR
from lotus_core.malloc import release_free_heap
from lotus_core.microtape.schema import empty_frame
from lotus_core.store.by_coin import CoinDay, CoinTape
from lotus_core.store.spill import CoinSpill

DEFAULT_HORIZONS_S: tuple[int, ...] = (30, 60, 300, 900)
DEFAULT_FEE_BPS = 2.5
GAP_TOLERANCE_S = 5

WINDOW_COLUMNS = ["window_id", "ts_ms", "coin", "detector_id", "direction", "published",
                  "propensity"]
TAPE_COLUMNS = ["coin", "ts_ms", "mid_px", "spread_bps"]
READ_COLUMNS = [*TAPE_COLUMNS, "gap"]
"""What outcomes read of a MicroTape (`gap` when present): a step reads only these."""
OUTPUT_COLUMNS = ["window_id", "ts_ms", "coin", "detector_id", "direction", "horizon_s",
                  "fwd_ret_bps", "net_ret_bps", "mfe_bps", "mae_bps", "hit", "status",
                  "published", "propensity"]
OUTCOME_COLUMNS = ["fwd_ret_bps", "net_ret_bps", "mfe_bps", "mae_bps", "hit", "status"]
"""What a later tape can change in a row (lotus_core.evaluation.late)."""


def _range_reduce(ufunc: np.ufunc, values: np.ndarray, start: np.ndarray,
                  stop: np.ndarray) -> np.ndarray:
    """ufunc.reduce over values[start:stop] for each pair (stop > start), vectorised.
    `reduceat` also reduces each [stop_i, start_i+1) between two pairs: taken in window
    order those spans jump across coins and grow with the tape (at 30 coins, 16 s of
    signal_eval's 17), so the pairs go in order of their start, where the spans between
    them add up to at most the tape once; each pair's own reduction is the same."""
    if len(start) == 0:
        return np.empty(0, dtype=values.dtype)
    padded = np.append(values, values[-1])  # stop may equal len(values)
    order = np.argsort(start, kind="stable")
    idx = np.column_stack([start[order], stop[order]]).ravel()
    out = np.empty(len(start), dtype=padded.dtype)
    out[order] = ufunc.reduceat(padded, idx)[::2]
    return out


def evaluate_windows(windows: pd.DataFrame, tape: pd.DataFrame,
                     horizons_s: Sequence[int] = DEFAULT_HORIZONS_S,
                     fee_bps: float = DEFAULT_FEE_BPS,
                     gap_tolerance_s: float = GAP_TOLERANCE_S) -> pd.DataFrame:
    """One row per (window, horizon), ordered as `windows` then by horizon.

    `windows`: WINDOW_COLUMNS (e.g. `signal_events`); `tape`: TAPE_COLUMNS of the day and any
    later days available, in any order (e.g. concatenated `microtape_frames` partitions)."""
    horizons = np.asarray(sorted({int(h) for h in horizons_s}), dtype=np.int64)
    if len(horizons) == 0 or (horizons <= 0).any():
        raise ValueError(f"horizons must be positive seconds, got {list(horizons_s)}")
    cols = TAPE_COLUMNS + (["gap"] if "gap" in tape.columns else [])
    tape = (tape[cols].sort_values(["coin", "ts_ms"], kind="stable")
            .drop_duplicates(["coin", "ts_ms"], keep="last").reset_index(drop=True))
    gap = (tape["gap"].fillna(False).to_numpy(dtype=np.int8) if "gap" in tape.columns
           else np.zeros(len(tape), dtype=np.int8))
    tcoin = tape["coin"].astype(object).to_numpy()
    ts = tape["ts_ms"].to_numpy(dtype=np.int64)
    mid = tape["mid_px"].to_numpy(dtype=np.float64)
    spread = tape["spread_bps"].to_numpy(dtype=np.float64)

    n, k = len(windows), len(horizons)
    wcoin = windows["coin"].astype(object).to_numpy()
    wts = windows["ts_ms"].to_numpy(dtype=np.int64)
    wdir = windows["direction"].to_numpy(dtype=np.float64)
    target = wts[:, None] + horizons[None, :] * 1000  # (n, k)
    entry = np.full(n, -1, dtype=np.int64)
    exit_ = np.full((n, k), -1, dtype=np.int64)
    covered = np.zeros((n, k), dtype=bool)
    tol_ms = int(round(gap_tolerance_s * 1000))

    # per-coin blocks of the sorted tape
    if len(tape):
        starts = np.flatnonzero(np.r_[True, tcoin[1:] != tcoin[:-1]])
        stops = np.r_[starts[1:], len(tape)]
        by_coin = positions_by(wcoin)  # one pass, not a scan of every window per coin
        for a, b in zip(starts, stops, strict=True):
            sel = by_coin.get(tcoin[a])
            if sel is None:
                continue
            block = ts[a:b]
            e = np.searchsorted(block, wts[sel], side="right") - 1
            entry[sel] = np.where(e >= 0, e + a, -1)
            x = np.searchsorted(block, target[sel], side="right") - 1  # (m, k)
            exit_[sel] = np.where(x >= 0, x + a, -1)
            xi = np.clip(x, 0, None) + a
            covered[sel] = ((x >= 0) & (target[sel] <= block[-1])
                            & (target[sel] - ts[xi] <= tol_ms))

    done = covered & (entry >= 0)[:, None] & (exit_ >= entry[:, None])
    # flatten to rows (window-major, horizon-minor)
    rows = np.repeat(np.arange(n), k)
    d = done.ravel()
    ent = entry[rows]
    ext = exit_.ravel()
    sign = wdir[rows]
    fwd = np.full(n * k, np.nan)
    net = np.full(n * k, np.nan)
    mfe = np.full(n * k, np.nan)
    mae = np.full(n * k, np.nan)
    if d.any():
        e0, x0, s0 = ent[d], ext[d], sign[d]
        m0 = mid[e0]
        fwd[d] = s0 * (mid[x0] / m0 - 1.0) * 1e4
        net[d] = fwd[d] - fee_bps - spread[e0] / 2.0
        hi = (_range_reduce(np.maximum, mid, e0, x0 + 1) / m0 - 1.0) * 1e4
        lo = (_range_reduce(np.minimum, mid, e0, x0 + 1) / m0 - 1.0) * 1e4
        mfe[d] = np.where(s0 > 0, hi, -lo)
        mae[d] = np.where(s0 > 0, lo, -hi)
    status = np.where(d, "done", "pending").astype(object)
    if d.any() and gap.any():
        crossed = _range_reduce(np.maximum, gap, ent[d], ext[d] + 1) > 0
        status[np.flatnonzero(d)[crossed]] = "gap"
    hit = pd.array(np.where(d, net > 0, False), dtype="boolean")
    hit[~d] = pd.NA

    out = pd.DataFrame({
        "window_id": windows["window_id"].to_numpy()[rows],
        "ts_ms": wts[rows],
        "coin": wcoin[rows],
        "detector_id": windows["detector_id"].to_numpy()[rows],
        "direction": windows["direction"].to_numpy(dtype=np.int8)[rows],
        "horizon_s": np.tile(horizons, n),
        "fwd_ret_bps": fwd,
        "net_ret_bps": net,
        "mfe_bps": mfe,
        "mae_bps": mae,
        "hit": hit,
        "status": status,
        "published": windows["published"].to_numpy(dtype=bool)[rows],
        "propensity": windows["propensity"].to_numpy(dtype=np.float64)[rows],
    })
    for col in ("window_id", "coin", "detector_id", "status"):
        out[col] = out[col].astype(STR)
    return out[OUTPUT_COLUMNS]


def evaluate_by_coin(windows: pd.DataFrame, tape: CoinDay,
                     horizons_s: Sequence[int] = DEFAULT_HORIZONS_S,
                     fee_bps: float = DEFAULT_FEE_BPS,
                     gap_tolerance_s: float = GAP_TOLERANCE_S) -> pd.DataFrame:
    """`evaluate_windows` over a MicroTape partition read one coin at a time (outcomes are
    per coin: tests/core/signals/test_per_coin.py), in its order: as `windows`, then by
    horizon. One coin's tape columns are held at a time; the windows and rows are held
    whole (windows in any order): what a `signal_eval` run (one coin of a day) calls, and
    the reference `evaluate_in_order` is held to (the tests, `bench.score_memory --whole`)."""
    coins = positions_by(windows["coin"].to_numpy(dtype=object))
    if not coins:
        return evaluate_windows(windows, empty_frame()[READ_COLUMNS], horizons_s, fee_bps,
                                gap_tolerance_s)
    k = len({int(h) for h in horizons_s})
    parts, where = [], []
    for coin in sorted(coins, key=str):
        rows = coins[coin]
        parts.append(evaluate_windows(windows.iloc[rows], tape.read(str(coin), READ_COLUMNS),
                                      horizons_s, fee_bps, gap_tolerance_s))
        where.append(np.repeat(rows, k))
    out = pd.concat(parts, ignore_index=True)
    order = np.argsort(np.concatenate(where), kind="stable")  # a window's horizons in order
    return out.iloc[order].reset_index(drop=True)


def evaluate_in_order(windows: CoinTape, tape: CoinTape, spill: CoinSpill,
                      horizons_s: Sequence[int] = DEFAULT_HORIZONS_S,
                      fee_bps: float = DEFAULT_FEE_BPS,
                      gap_tolerance_s: float = GAP_TOLERANCE_S,
                      each: Callable[[pd.DataFrame], None] | None = None,
                      ) -> tuple[pd.DataFrame, Callable[[], Iterator[pd.DataFrame]]]:
    """`evaluate_by_coin` of windows in (ts_ms, coin, ...) order (signal_events' order),
    neither the windows nor the rows held whole: each coin's windows are read
    and evaluated, its rows put in `spill` and handed to `each` (a fold: the metadata),
    then read back merged into the day's order. Returns the empty table (its columns) and
    the merged slices (read once, before `spill` is closed). The whole day's form: what
    the daily `signal_eval` ran before it was partitioned by coin, kept for the
    memory benches (`bench.eval_memory`, `bench.score_memory --eval`)."""
    empty: pd.DataFrame | None = None
    for coin in sorted(windows.coins()):
        rows = evaluate_windows(windows.read(coin, WINDOW_COLUMNS), tape.read(coin, READ_COLUMNS),
                                horizons_s, fee_bps, gap_tolerance_s)
        if empty is None:
            empty = rows.iloc[:0]
        if each is not None:
            each(rows)
        if len(rows):
            spill.put("signal_eval", coin, rows)
        del rows
        release_free_heap()  # coins of unequal sizes leave freed pages in glibc's heap
    if empty is None:  # no window: the empty table's columns
        empty = evaluate_windows(windows.whole(WINDOW_COLUMNS), empty_frame()[READ_COLUMNS],
                                 horizons_s, fee_bps, gap_tolerance_s)
    return empty, lambda: spill.merged("signal_eval")
