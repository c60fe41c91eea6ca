"""Realised volatility, its percentile, trend efficiency and the causal regime label.

One definition for the nightly build and the live tape (lotus_core.microtape.flow): the
windows (`rv_window`, `rv_pctl_window`, `trend_window`), and each rule's one-point form
beside it (`rv_from_sum_list`, `efficiency_of`, `regime_of`).
"""

from __future__ import annotations

import math

import numpy as np

from lotus_core.microtape.grid import NAN, rolling_pctl, rolling_sum
from lotus_core.microtape.params import MicroTapeParams

REGIMES = ("warmup", "quiet", "trend", "chop")
FLAT_BPS = 1e-9
"""A window whose sum of |dpx| is at most this did not move (float residue): trend_eff 0."""


def rv_window(params: MicroTapeParams) -> tuple[int, int]:
    """(points, min_periods) of rv_bps' sum of squares: the full window."""
    w = params.points(params.rv_window_ms)
    return w, w


def rv_pctl_window(params: MicroTapeParams) -> tuple[int, int]:
    """(points, min_periods) of rv_pctl's trailing rank."""
    return params.points(params.rv_pctl_window_ms), params.points(params.pctl_min_ms)


def trend_window(params: MicroTapeParams) -> tuple[int, int]:
    """(points, min_periods) of trend_eff's two sums: the full window."""
    w = params.points(params.trend_window_ms)
    return w, w


def vol_features(dpx_bps: np.ndarray, params: MicroTapeParams) -> dict[str, np.ndarray]:
    """rv_bps = sqrt(sum of squared dpx over the window); rv_pctl its trailing rank."""
    rv = rv_from_sum(rolling_sum(dpx_bps * dpx_bps, *rv_window(params)))
    return {"rv_bps": rv, "rv_pctl": rv_percentile(rv, params)}


def rv_from_sum(sum_sq: np.ndarray) -> np.ndarray:
    """rv_bps from the trailing sum of squared dpx (the live tape carries that sum)."""
    return np.sqrt(np.clip(sum_sq, 0.0, None))


def rv_from_sum_list(sums: list[float]) -> list[float]:
    """`rv_from_sum` of a few points, on Python floats."""
    sqrt = math.sqrt
    return [NAN if s != s else sqrt(s if s > 0.0 else 0.0) for s in sums]


def rv_percentile(rv: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """rv_pctl: the trailing rank of rv_bps over `rv_pctl_window_ms`."""
    return rolling_pctl(rv, *rv_pctl_window(params))


def trend_efficiency(dpx_bps: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """|sum of dpx| / sum of |dpx| over the window, in [0, 1]; 0 when the mid did not move.

    1 means every move went the same way, values near 0 mean the moves cancelled out.
    """
    window = trend_window(params)
    return efficiency(rolling_sum(dpx_bps, *window), rolling_sum(np.abs(dpx_bps), *window))


def efficiency(net: np.ndarray, gross: np.ndarray) -> np.ndarray:
    """trend_eff from the trailing sums of dpx (net) and |dpx| (gross)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.abs(net) / gross
    eff[gross <= FLAT_BPS] = 0.0
    eff[np.isnan(net) | np.isnan(gross)] = np.nan
    return np.clip(eff, 0.0, 1.0)


def efficiency_of(net: float, gross: float) -> float:
    """`efficiency` of one point."""
    if net != net or gross != gross:
        return NAN
    if gross <= FLAT_BPS:
        return 0.0
    return min(max(abs(net) / gross, 0.0), 1.0)


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


def regime_of(rv_pctl: float, eff: float, params: MicroTapeParams) -> str:
    """`classify` of one point."""
    if rv_pctl != rv_pctl or eff != eff:
        return REGIMES[0]
    if rv_pctl < params.regime_quiet_pctl:
        return REGIMES[1]
    return REGIMES[2] if eff >= params.regime_trend_eff else REGIMES[3]
