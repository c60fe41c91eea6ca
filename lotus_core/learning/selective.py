"""Intervals that hold after selection: a lesson is reported only when its estimate cleared
the night's bar, so its raw interval is too optimistic (the winner's curse).

An activated lesson's estimate x with standard error s cleared |x| / s >= c (the night's
z_crit for its length). Conditional on that event, Z = x / s is a normal N(m, 1) truncated to
|Z| >= c, m = tau / s. Its CDF is monotone in m, so inverting it at the observed z gives an
exact conditional (selective) confidence interval and a median-unbiased estimate (Lee et al.
2016, for one threshold): with probability `level` the interval covers tau among the rules
that cleared the bar. Far above the bar the truncation is irrelevant and the interval is the
normal one; near it, the estimate shrinks toward zero and the interval widens downward.

The lessons table keeps the raw `uplift_bps`, `ci_lo`, `ci_hi` (what the gates judged) and
adds `sel_uplift_bps`, `sel_ci_lo`, `sel_ci_hi`: conditional on |z| >= z_crit whenever the
estimate clears tonight's bar, else the raw values. Selection by rank (top_k) is not modelled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_ndtr


def _log_upper(m: float, z: float, c: float) -> float:
    """log P(Z >= z | |Z| >= c), Z ~ N(m, 1), for z >= c."""
    return float(log_ndtr(m - z) - np.logaddexp(log_ndtr(-c - m), log_ndtr(m - c)))


def _solve(z: float, c: float, q: float) -> float:
    """The m at which P(Z >= z | |Z| >= c) = q (increasing in m)."""
    from scipy.optimize import brentq  # scipy.optimize costs every process ~0.3 s to load

    lq = float(np.log(q))
    return float(brentq(lambda m: _log_upper(m, z, c) - lq, z - 60.0, z + 20.0,
                        xtol=1e-6))


def selective(uplift: float, se: float, z_crit: float,
              level: float) -> tuple[float, float, float] | None:
    """(median-unbiased estimate, lower, upper) of tau given that |uplift| / se >= z_crit,
    at two-sided `level`; None when the estimate did not clear the bar (no selection to
    condition on) or the inputs are not finite."""
    if not (np.isfinite(uplift) and np.isfinite(se) and se > 0 and np.isfinite(z_crit)):
        return None
    z = abs(uplift) / se
    if z < z_crit or z_crit <= 0:
        return None
    a = (1.0 - level) / 2
    lo, mid, hi = (_solve(z, z_crit, q) for q in (a, 0.5, 1.0 - a))
    sign = 1.0 if uplift >= 0 else -1.0
    pts = sorted((sign * lo * se, sign * hi * se))
    return sign * mid * se, pts[0], pts[1]


def with_selective(lessons: pd.DataFrame, level: float) -> pd.DataFrame:
    """The lessons table with `sel_uplift_bps`, `sel_ci_lo`, `sel_ci_hi` (module docstring).
    The standard error is the one the bar judged: |uplift| / z."""
    up = lessons["uplift_bps"].to_numpy(dtype=np.float64)
    z = lessons["z"].to_numpy(dtype=np.float64)
    zc = lessons["z_crit"].to_numpy(dtype=np.float64)
    est, lo, hi = (up.copy(), lessons["ci_lo"].to_numpy(dtype=np.float64).copy(),
                   lessons["ci_hi"].to_numpy(dtype=np.float64).copy())
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.abs(up) / z
    for i in np.flatnonzero(np.isfinite(z) & np.isfinite(zc) & (z >= zc) & (z > 0)):
        got = selective(float(up[i]), float(se[i]), float(zc[i]), level)
        if got is not None:
            est[i], lo[i], hi[i] = got
    return lessons.assign(sel_uplift_bps=est, sel_ci_lo=lo, sel_ci_hi=hi)
