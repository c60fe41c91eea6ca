"""Realised outcomes of detector windows from the same day's forward mid moves.

Used two ways, never for the day being scored: a day's `detector_windows` (its windows and
their outcomes) becomes history for *later* days' sq_*, and the curator KPIs of a day are
judged after the fact. A window whose horizon runs past the coin's last frame has no
outcome (`outcome_ok` False); it is never filled from partial data. A window whose
frame or horizon touches a MicroTape row flagged `gap` (a recorded hole in the feed, or the
warm-up after it) is marked `gap`: the audits and lessons leave it out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.arrays import positions_by
from lotus_core.microtape.schema import gap_of
from lotus_core.signals.features import coin_blocks


def window_outcomes(windows: pd.DataFrame, frames: pd.DataFrame, fee_bps: float) -> pd.DataFrame:
    """fwd_ret_bps (mid at ts + horizon vs mid at ts), signed by direction, the round-trip
    cost (entry spread + 2 fees) and the net result, for `windows` of `frames`."""
    n = len(windows)
    mid = frames["mid_px"].to_numpy(dtype=np.float64)
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    fi = windows["frame_idx"].to_numpy(dtype=np.int64)
    target = windows["ts_ms"].to_numpy(dtype=np.int64) + windows["horizon_s"].to_numpy(
        dtype=np.int64) * 1000
    exit_idx = np.full(n, -1, dtype=np.int64)
    gap = np.zeros(n, dtype=bool)
    held = np.concatenate([[0], np.cumsum(gap_of(frames))])  # gap rows before each row
    wcoin = windows["coin"].to_numpy(dtype=object)
    by_coin = positions_by(wcoin)  # one pass, not a scan of every window per coin
    for coin, a, b in coin_blocks(frames["coin"].to_numpy(dtype=object)):
        sel = by_coin.get(coin)
        if sel is None:
            continue
        j = np.searchsorted(ts[a:b], target[sel], side="right") - 1  # as of the target
        inside = target[sel] <= ts[b - 1]
        exit_idx[sel] = np.where(inside & (j >= 0), j + a, -1)
        last = np.minimum(j + a, b - 1) + 1  # rows from the window's frame to its exit
        gap[sel] = held[last] - held[fi[sel]] > 0
    ok = exit_idx >= 0
    fwd = np.full(n, np.nan)
    fwd[ok] = (mid[exit_idx[ok]] / mid[fi[ok]] - 1.0) * 1e4
    signed = fwd * windows["direction"].to_numpy(dtype=np.float64)
    cost = frames["spread_bps"].to_numpy(dtype=np.float64)[fi] + 2.0 * fee_bps
    hit = np.where(ok, np.where(signed > 0, 1.0, np.where(signed == 0, 0.5, 0.0)), np.nan)
    return pd.DataFrame({
        "fwd_ret_bps": fwd,
        "signed_ret_bps": signed,
        "cost_bps": cost,
        "net_ret_bps": signed - cost,
        "hit": hit,
        "outcome_ok": ok,
        "gap": gap,
    }, index=windows.index)
