"""Realised volatility, its percentile, trend efficiency and the causal regime label."""

from __future__ import annotations

import numpy as np

from lotus_core.microtape.grid import rolling_pctl, rolling_sum
from lotus_core.microtape.params import MicroTapeParams

REGIMES = ("warmup", "quiet", "trend", "chop")


def vol_features(dpx_bps: np.ndarray, params: MicroTapeParams) -> dict[str, np.ndarray]:
    """rv_bps = sqrt(sum of squared dpx over the window); rv_pctl its trailing rank."""
    w = params.points(params.rv_window_ms)
    rv = rv_from_sum(rolling_sum(dpx_bps * dpx_bps, w, w))
    return {"rv_bps": rv, "rv_pctl": rv_percentile(rv, params)}


def rv_from_sum(sum_sq: np.ndarray) -> np.ndarray:
    """rv_bps from the trailing sum of squared dpx (the live tape carries that sum)."""
    return np.sqrt(np.clip(sum_sq, 0.0, None))


def rv_percentile(rv: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """rv_pctl: the trailing rank of rv_bps over `rv_pctl_window_ms`."""
    return rolling_pctl(
        rv, params.points(params.rv_pctl_window_ms), params.points(params.pctl_min_ms)
    )


def trend_efficiency(dpx_bps: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """|sum of dpx| / sum of |dpx| over the window, in [0, 1]; 0 when the mid did not move.

    1 means every move went the same way, values near 0 mean the moves cancelled out.
    """
    w = params.points(params.trend_window_ms)
    return efficiency(rolling_sum(dpx_bps, w, w), rolling_sum(np.abs(dpx_bps), w, w))


def efficiency(net: np.ndarray, gross: np.ndarray) -> np.ndarray:
    """trend_eff from the trailing sums of dpx (net) and |dpx| (gross)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.abs(net) / gross
    eff[gross <= 1e-9] = 0.0  # float residue of a window with no moves
    eff[np.isnan(net) | np.isnan(gross)] = np.nan
    return np.clip(eff, 0.0, 1.0)


def classify(rv_pctl: np.ndarray, trend_eff: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """warmup until both inputs exist; quiet if rv_pctl is low; else trend or chop."""
    with np.errstate(invalid="ignore"):
        code = np.where(
            rv_pctl < params.regime_quiet_pctl,
            1,
            np.where(trend_eff >= params.regime_trend_eff, 2, 3),
        )
    code[np.isnan(rv_pctl) | np.isnan(trend_eff)] = 0
    return np.asarray(REGIMES, dtype=object)[code]
