"""Hourly funding: a slow mean-reverting (AR(1) / discretised OU) rate, set on the hour.

Hyperliquid settles funding hourly, so the rate is one value per UTC hour, drifting over
days around the venue's baseline. Values are integers in units of 1e-10 (the wire's
decimals), so the flags below read exactly what the recording says. The path runs from a
fixed epoch with innovations hashed on the absolute hour, so every day (and every hours
window) sees the same history, including the trailing days the contexts look back over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.signal import lfilter

from lotus_core.flowmarket.seeds import Part, hash_normals
from lotus_core.flowmarket.spec import FlowSpec
from lotus_core.time import HOUR_MS, day_start_ms

EPOCH = date(2020, 1, 1)
EPOCH_MS = day_start_ms(EPOCH)
FUNDING_UNIT = 1e-10  # the wire writes 10 decimals
FUNDING_MEAN = 1.25e-5  # the venue's hourly baseline (interest component)
FUNDING_SD = 1.5e-5  # stationary standard deviation
FUNDING_TAU_H = 48.0  # mean-reversion time: drifts over days


def hour_index(ms: int) -> int:
    """Absolute hour since the epoch of a venue time."""
    return (int(ms) - EPOCH_MS) // HOUR_MS


def ar1(innovations: np.ndarray, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) with coefficient `phi` and stationary sd `sd`, from N(0,1)
    innovations; the first value is drawn from the stationary law."""
    scaled = sd * math.sqrt(1.0 - phi * phi) * innovations
    zi = [sd * float(innovations[0])]
    out, _ = lfilter([1.0], [1.0, -phi], np.concatenate(([0.0], scaled[1:])), zi=zi)
    return np.asarray(out)


def funding_phi() -> float:
    return math.exp(-1.0 / FUNDING_TAU_H)


def hourly_funding(seed: int, coin: str, end_hour: int) -> np.ndarray:
    """Funding (integer 1e-10 units) of absolute hours [0, end_hour)."""
    if end_hour < 1:
        raise ValueError(f"end_hour must be >= 1, got {end_hour}")
    z = hash_normals(seed, coin, Part.FUNDING, np.arange(end_hour))
    rate = FUNDING_MEAN + ar1(z, funding_phi(), FUNDING_SD)
    return np.rint(rate / FUNDING_UNIT).astype(np.int64)


@dataclass(frozen=True)
class FundingHours:
    """Per hour of a window: its funding and the two flags defined on its own history."""

    hour_start_ms: np.ndarray
    funding: np.ndarray  # 1e-10 units
    threshold: np.ndarray  # the trailing percentile (1e-10 units)
    high: np.ndarray  # funding > threshold: the interaction's funding literal
    trailing_mean: np.ndarray
    above_mean: np.ndarray  # funding > trailing mean: the decoy's funding literal
    history_start_ms: int
    history: np.ndarray  # every hourly value the flags looked at, from history_start_ms

    def at(self, times_ms: np.ndarray) -> np.ndarray:
        """Row index of the hour holding each time."""
        return np.asarray((times_ms - self.hour_start_ms[0]) // HOUR_MS, dtype=np.int64)


def funding_hours(seed: int, coin: str, start_ms: int, end_ms: int, spec: FlowSpec
                  ) -> FundingHours:
    """Funding of the hours in [start_ms, end_ms) with the interaction's and the decoy's
    funding literals: above the trailing percentile / the trailing mean of the previous
    hours (the hour itself excluded)."""
    first, last = hour_index(start_ms), hour_index(end_ms - 1) + 1
    look = max(spec.interaction.lookback_hours, spec.decoy.mean_hours)
    if first < look:
        raise ValueError(f"day too early: the flow market's history starts {EPOCH}, and "
                         f"its contexts look back {look} hours")
    f = hourly_funding(seed, coin, last)
    hours = np.arange(first, last)
    lb, mh = spec.interaction.lookback_hours, spec.decoy.mean_hours
    thr = np.array([np.percentile(f[k - lb:k], spec.interaction.funding_percentile)
                    for k in hours.tolist()])
    mean = np.array([f[k - mh:k].mean() for k in hours.tolist()])
    now = f[first:last]
    return FundingHours(
        hour_start_ms=EPOCH_MS + hours * HOUR_MS, funding=now, threshold=thr,
        high=now > thr, trailing_mean=mean, above_mean=now > mean,
        history_start_ms=EPOCH_MS + (first - look) * HOUR_MS, history=f[first - look:last])
