"""Open interest, funding and premium on a one-second grid, carrying contexts and shocks.

Contexts are made observable here: while `oi_high` holds, open interest sits OI_HIGH_LIFT
above its slowly drifting base (a causal rolling percentile over a few hours finds it);
while `funding_high` holds, funding sits FUNDING_HIGH_LIFT above baseline. Both ramp over
CONTEXT_RAMP_S so a context switch is a gradual move, never a step, while shocks are
single-update steps many times larger than the normal 3-second change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from lotus_core.synth.patterns import Occurrence
from lotus_core.time import DAY_S

BASE_FUNDING = 1.25e-5  # the venue's hourly baseline (interest component)
FUNDING_HIGH_LIFT = 3.0e-5
FUNDING_NOISE_SD = 2.0e-6
FUNDING_NOISE_TAU_S = 600.0
OI_HIGH_LIFT = 0.06  # log lift of open interest while oi_high holds
OI_DRIFT_SD = 0.015  # stationary log sd of the slow OI drift
OI_DRIFT_TAU_S = 6 * 3600.0
CONTEXT_RAMP_S = 300
PREMIUM_PER_FUNDING = 4.0
PREMIUM_NOISE_SD = 5.0e-5
PREMIUM_NOISE_TAU_S = 60.0


@dataclass(frozen=True)
class FundingOI:
    """Per-second series for one coin-day."""

    open_interest: np.ndarray  # coin units
    funding: np.ndarray  # hourly rate
    premium: np.ndarray


def _ou(rng: np.random.Generator, sd: float, tau_s: float, n: int = DAY_S) -> np.ndarray:
    phi = math.exp(-1.0 / tau_s)
    start = sd * rng.standard_normal()
    innov = sd * math.sqrt(1 - phi * phi) * rng.standard_normal(n)
    out, _ = lfilter([1.0], [1.0, -phi], innov, zi=[phi * start])
    return np.asarray(out)


def ramp(states: np.ndarray, width_s: int = CONTEXT_RAMP_S) -> np.ndarray:
    """A causal moving average: a state switch becomes a linear ramp over `width_s`."""
    x = states.astype(np.float64)
    padded = np.concatenate((np.full(width_s - 1, x[0]), x))
    c = np.cumsum(np.concatenate(([0.0], padded)))
    return (c[width_s:] - c[:-width_s]) / width_s


def _shock_path(occurrences: Sequence[Occurrence], kind: str, key: str,
                day_start_ms: int) -> np.ndarray:
    out = np.zeros(DAY_S)
    seconds = np.arange(DAY_S)
    for occ in occurrences:
        if occ.type != kind:
            continue
        t0 = (occ.start_ms - day_start_ms) // 1000
        after = seconds[t0:] - t0
        out[t0:] += float(occ.params[key]) * np.exp(-after / float(occ.params["decay_s"]))
    return out


def build_funding_oi(
    rng: np.random.Generator,
    *,
    base_oi: float,
    contexts: Mapping[str, np.ndarray],
    occurrences: Sequence[Occurrence],
    day_start_ms: int,
) -> FundingOI:
    """Simulate the day's open interest, funding and premium."""
    oi_shock = _shock_path(occurrences, "oi_shock", "oi_step_rel", day_start_ms)
    log_oi = (_ou(rng, OI_DRIFT_SD, OI_DRIFT_TAU_S)
              + OI_HIGH_LIFT * ramp(contexts["oi_high"])
              + np.log1p(oi_shock))
    funding = (BASE_FUNDING
               + FUNDING_HIGH_LIFT * ramp(contexts["funding_high"])
               + _ou(rng, FUNDING_NOISE_SD, FUNDING_NOISE_TAU_S)
               + _shock_path(occurrences, "funding_shock", "funding_step", day_start_ms))
    premium = ((funding - BASE_FUNDING) * PREMIUM_PER_FUNDING
               + _ou(rng, PREMIUM_NOISE_SD, PREMIUM_NOISE_TAU_S))
    return FundingOI(base_oi * np.exp(log_oi), funding, premium)
