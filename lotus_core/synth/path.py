"""The latent mid price of one coin-day on a 100 ms grid, with events and effects planted.

The mid is built from increments so that planted moves compose with the ambient noise:
    ambient = diffusion (session x regime vol) + trend drift + chop mean reversion
    total   = ambient * event_vol_mult + sweep ramps + wick spikes + effect ramps
and is finally bridged (a constant drift per step) so the day closes at the next day's
open, which keeps consecutive days continuous at midnight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from lotus_core.synth.coins import CoinProfile
from lotus_core.synth.effects import AppliedEffect
from lotus_core.synth.patterns import WICK_AMBIENT_VOL_MULT, Occurrence
from lotus_core.synth.segments import RegimeTrack
from lotus_core.synth.vocab import REGIMES
from lotus_core.time import DAY_MS

STEP_MS = 100
STEPS_PER_S = 1000 // STEP_MS
STEPS_PER_DAY = DAY_MS // STEP_MS

REGIME_VOL = np.array([0.6, 1.0, 1.4])  # quiet, trend, chop (order of REGIMES)
REGIME_RATE = np.array([0.7, 1.3, 1.2])
TREND_SIGMAS = (25.0, 60.0)  # total drift of a trend segment, in local 1-s sigmas
CHOP_SD_SIGMAS = 6.0  # stationary sd of the chop oscillation, in local 1-s sigmas
CHOP_HALF_LIFE_S = 20.0
ACTIVITY_SD = 0.5  # log sd of the trade-clustering factor
ACTIVITY_TAU_S = 30.0

STALL_VOL_MULT = 0.03
STALL_RATE_MULT = 0.03
SWEEP_RATE_MULT = 0.0  # ordinary flow pauses; the sweep's own fills are explicit
AFTERSHOCK_S = 20.0  # after a standalone sweep trading is busy, unlike a stall
AFTERSHOCK_RATE_MULT = 2.5
VACUUM_RATE_MULT = 0.5
SPIKE_RATE_MULT = 3.0
assert REGIMES == ("quiet", "trend", "chop")


@dataclass(frozen=True)
class PricePath:
    """Per-step arrays over the whole day (index = (t_ms - day_start_ms) // 100)."""

    day_start_ms: int
    open_px: float
    x_bps: np.ndarray  # float64, log mid relative to open, in bps
    mid: np.ndarray  # float64 price
    sigma_1s: np.ndarray  # float32, local one-second vol in bps (coin x session x regime)
    rate_hz: np.ndarray  # float32, ordinary taker orders per second

    def step_of(self, t_ms: int | np.ndarray) -> np.ndarray:
        """Grid step containing an epoch millisecond (clamped into the day)."""
        steps = (np.asarray(t_ms, dtype=np.int64) - self.day_start_ms) // STEP_MS
        return np.clip(steps, 0, STEPS_PER_DAY - 1)


def build_path(
    rng: np.random.Generator,
    *,
    profile: CoinProfile,
    day_start_ms: int,
    open_px: float,
    close_px: float,
    hour_vol: np.ndarray,
    hour_rate: np.ndarray,
    regimes: RegimeTrack,
    occurrences: Sequence[Occurrence],
    effects: Sequence[AppliedEffect],
) -> PricePath:
    """Simulate the day's mid and ordinary trade intensity (vectorised, ~0.1 s per coin)."""
    n = STEPS_PER_DAY
    regime = np.repeat(regimes.codes, STEPS_PER_S)
    session_vol = np.repeat(hour_vol, n // 24)
    sigma_1s = (profile.vol_1s_bps * session_vol * REGIME_VOL[regime]).astype(np.float32)
    sigma_step = sigma_1s.astype(np.float64) / math.sqrt(STEPS_PER_S)

    ambient = sigma_step * rng.standard_normal(n)
    for seg in regimes.segments:
        if REGIMES[seg.value] != "trend":
            continue
        lo, hi = seg.start_s * STEPS_PER_S, seg.end_s * STEPS_PER_S
        total = float(rng.uniform(*TREND_SIGMAS)) * float(sigma_1s[lo])
        ambient[lo:hi] += regimes.trend_sign[seg.start_s] * total / (hi - lo)
    phi = 0.5 ** (1.0 / (CHOP_HALF_LIFE_S * STEPS_PER_S))
    chop_gate = (regime == REGIMES.index("chop")).astype(np.float64)
    innov = CHOP_SD_SIGMAS * sigma_1s * math.sqrt(1 - phi * phi) * chop_gate
    chop = lfilter([1.0], [1.0, -phi], innov * rng.standard_normal(n))
    ambient += np.diff(chop, prepend=0.0)

    vol_mult = np.ones(n)
    rate_mult = np.ones(n)
    planted = np.zeros(n)

    def steps(t0: int, t1: int) -> slice:
        return slice((t0 - day_start_ms) // STEP_MS, max((t0 - day_start_ms) // STEP_MS + 1,
                                                          (t1 - day_start_ms) // STEP_MS))

    for occ in occurrences:
        if occ.type == "sweep":
            span = steps(occ.start_ms, occ.end_ms)
            k = span.stop - span.start
            planted[span] += occ.direction * float(occ.params["move_bps"]) / k
            rate_mult[span] *= SWEEP_RATE_MULT
            if occ.parent_id is None:
                rate_mult[steps(occ.end_ms, occ.end_ms + round(AFTERSHOCK_S * 1000))] *= (
                    AFTERSHOCK_RATE_MULT)
        elif occ.type == "sweep_then_stall":
            stall = steps(int(occ.params["stall_start_ms"]), int(occ.params["stall_end_ms"]))
            vol_mult[stall] = STALL_VOL_MULT
            rate_mult[stall] *= STALL_RATE_MULT
        elif occ.type == "depth_vacuum":
            rate_mult[steps(occ.start_ms, occ.end_ms)] *= VACUUM_RATE_MULT
        elif occ.type == "wick_triplet":
            vol_mult[steps(occ.start_ms, occ.end_ms)] = WICK_AMBIENT_VOL_MULT
            for spike in occ.params["spikes"]:
                rise = steps(int(spike["start_ms"]), int(spike["peak_ms"]))
                fall = steps(int(spike["peak_ms"]), int(spike["end_ms"]))
                height = occ.direction * float(spike["wick_bps"])
                planted[rise] += height / (rise.stop - rise.start)
                planted[fall] -= height / (fall.stop - fall.start)
                rate_mult[rise.start:fall.stop] *= SPIKE_RATE_MULT
    for eff in effects:
        if eff.context_held and eff.delta_bps != 0.0:
            span = steps(eff.t_ms, eff.t_ms + round(eff.horizon_s * 1000))
            planted[span] += eff.direction * eff.delta_bps / (span.stop - span.start)

    x = np.cumsum(ambient * vol_mult + planted)
    target = math.log(close_px / open_px) * 1e4
    x -= (x[-1] - target) * (np.arange(1, n + 1) / n)
    mid = open_px * np.exp(x / 1e4)

    session_rate = np.repeat(hour_rate, n // 24)
    phi_a = math.exp(-1.0 / (ACTIVITY_TAU_S * STEPS_PER_S))
    act = lfilter([1.0], [1.0, -phi_a],
                  ACTIVITY_SD * math.sqrt(1 - phi_a * phi_a) * rng.standard_normal(n))
    activity = np.exp(act - ACTIVITY_SD**2 / 2)
    rate = profile.trade_rate_hz * session_rate * REGIME_RATE[regime] * activity * rate_mult
    return PricePath(day_start_ms, open_px, x, mid, sigma_1s, rate.astype(np.float32))
