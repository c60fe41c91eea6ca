"""Interval estimates shared by the benches and the measurements inside lotus_core."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (0..1); (0, 1) when n is 0.
    Unlike the normal approximation it stays inside [0, 1] and is sane at k = 0 or n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def t_interval(x: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % Student-t interval of the mean (NaN bounds below two values): the
    spread of a figure over seeds, few enough that the normal interval would be too narrow."""
    import numpy as np  # here: the modules that read only `wilson` stay light
    from scipy import stats

    a = np.asarray(x, dtype=float)
    m = float(a.mean())
    if len(a) < 2:
        return m, math.nan, math.nan
    h = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return m, m - h, m + h


def rate_text(k: int, n: int,
              interval: Callable[[int, int], tuple[float, float]] = wilson) -> str:
    """`k/n = p % [lo, hi]`: a rate with its 95 % interval (Wilson unless another is
    given, e.g. Clopper-Pearson), in percent; "-" when n is 0."""
    if not n:
        return "-"
    lo, hi = interval(k, n)
    return f"{k}/{n} = {100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"
