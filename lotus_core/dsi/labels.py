"""The mechanical label every expert's reliability is counted against.

y(t) = 1{ |mid(t + h) / mid(t) - 1| * 1e4 >= k * rv_ref(t) }: did the mid move at least k
typical 60 s volatilities within the horizon? It looks ahead by design, so it is only ever
computed on earlier days (to learn) or after the day is over (to report), never to annotate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.dsi.features import rv_ref
from lotus_core.dsi.grammar import coin_slices
from lotus_core.dsi.registry import LabelParams


def move_label(frames: pd.DataFrame, label: LabelParams) -> tuple[np.ndarray, np.ndarray]:
    """(y float64 with NaN where undefined, signed forward move in bps) per frame.

    Undefined: no frame exactly h later (end of day), or rv_ref still warming up.
    """
    n = len(frames)
    y = np.full(n, np.nan)
    move = np.full(n, np.nan)
    h_ms = label.horizon_s * 1000
    ts_all = frames["ts_ms"].to_numpy()
    mid_all = frames["mid_px"].to_numpy(dtype="float64")
    rv_all = frames["rv_bps"].to_numpy(dtype="float64")
    for lo, hi in coin_slices(frames):
        ts, mid = ts_all[lo:hi], mid_all[lo:hi]
        j = np.searchsorted(ts, ts + h_ms)
        ok = j < len(ts)
        ok[ok] = ts[j[ok]] == ts[ok] + h_ms
        fwd = np.full(len(ts), np.nan)
        fwd[ok] = (mid[j[ok]] / mid[ok] - 1.0) * 1e4
        ref = rv_ref(rv_all[lo:hi], label)
        with np.errstate(invalid="ignore"):
            hit = (np.abs(fwd) >= label.k * ref).astype("float64")
        hit[np.isnan(fwd) | np.isnan(ref)] = np.nan
        y[lo:hi], move[lo:hi] = hit, fwd
    return y, move
