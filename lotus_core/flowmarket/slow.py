"""The slow state besides funding: open interest and each day's opening price level.

Open interest is a log AR(1) on hourly anchors (mean-reverting over about a day), linear
between anchors; the price level a day opens at is a log AR(1) over days around the coin's
reference price. Both hash their innovations on the absolute hour or day, like funding, so
consecutive days agree on them. Within a day the price is made by the order flow alone.
"""

from __future__ import annotations

import math

import numpy as np

from lotus_core.flowmarket.funding import EPOCH, EPOCH_MS, ar1
from lotus_core.flowmarket.seeds import Part, hash_normals
from lotus_core.synth.coins import CoinProfile
from lotus_core.time import HOUR_MS

OI_SD = 0.04  # stationary log sd
OI_TAU_H = 24.0
LEVEL_SD = 0.08  # stationary log sd of the daily price level
LEVEL_TAU_D = 30.0


def open_interest(seed: int, profile: CoinProfile, times_ms: np.ndarray) -> np.ndarray:
    """Open interest (coin units) at each time, times inside one contiguous span."""
    times_ms = np.asarray(times_ms, dtype=np.int64)
    if len(times_ms) == 0:
        return np.zeros(0)
    pos = (times_ms - EPOCH_MS) / HOUR_MS
    last = int(pos.max()) + 2
    z = hash_normals(seed, profile.name, Part.OPEN_INTEREST, np.arange(last))
    anchors = ar1(z, math.exp(-1.0 / OI_TAU_H), OI_SD)
    base = profile.oi_notional / profile.ref_px
    return np.asarray(base * np.exp(np.interp(pos, np.arange(last), anchors)))


def day_level(seed: int, profile: CoinProfile, day_ordinal: int) -> float:
    """The price a day opens at (before the flow moves it)."""
    d = day_ordinal - EPOCH.toordinal()
    if d < 0:
        raise ValueError(f"day before the flow market's epoch {EPOCH}")
    z = hash_normals(seed, profile.name, Part.PRICE_LEVEL, np.arange(d + 1))
    level = ar1(z, math.exp(-1.0 / LEVEL_TAU_D), LEVEL_SD)
    return float(profile.ref_px * math.exp(level[d]))
