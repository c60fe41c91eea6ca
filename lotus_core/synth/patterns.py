"""Scheduling of planted microstructure events, with sizes chosen to stand out from noise.

Events are placed hour by hour (one random stream per coin-hour), never overlapping and
never crossing an hour boundary: each keeps 30 s of normal market before it and the
longest effect horizon plus 30 s after it. So every whole-hour window holds whole events
with clean before/after context, and an hours window reproduces the full day's events.

Magnitudes are in units of the coin's one-second volatility in the current session (not
regime: a wick planted in a quiet spell must still beat the hour's choppy minutes), so a
signature has the same size relative to the noise at any time of day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lotus_core.time import HOUR_MS, MINUTE_MS, SECOND_MS

GAP_BEFORE_S = 30.0
GAP_AFTER_EXTRA_S = 30.0

SWEEP_SECONDS = (1.0, 2.0)
SWEEP_MOVE_SIGMAS = (12.0, 18.0)  # mid move over the sweep, in session 1-s sigmas
STALL_SECONDS = (10.0, 30.0)
VACUUM_SECONDS = (5.0, 30.0)
VACUUM_SPREAD_TICKS = (8, 16)
VACUUM_DEPTH_FACTOR = 0.04  # near-touch size relative to the normal touch size
VACUUM_LEVELS = 6  # levels per side thinned during a vacuum
WICK_SIGMAS = (45.0, 65.0)  # spike height per minute, in session 1-s sigmas
WICK_AMBIENT_VOL_MULT = 0.5  # the three minutes are otherwise calm, so the wicks stand out
WICK_SLOT_S = 240.0  # 3 aligned minutes need up to 4 minutes of slot
SHOCK_SECONDS = 3.0
FUNDING_SHOCK = (3.0e-5, 5.0e-5)  # hourly funding rate step
OI_SHOCK = (0.025, 0.04)  # relative open-interest step
SHOCK_DECAY_S = 1200.0  # shocks decay back with this time constant


@dataclass(frozen=True)
class Occurrence:
    """One planted pattern instance; times are venue epoch milliseconds.

    `direction` is +1 (buy side / upward), -1 (sell side / downward) or 0 (no side).
    `params` holds the type-specific magnitudes and phase times written to the truth file.
    """

    id: str
    type: str
    coin: str
    start_ms: int
    end_ms: int
    direction: int
    params: Mapping[str, Any] = field(default_factory=dict)
    parent_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "coin": self.coin,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "direction": self.direction,
            "parent_id": self.parent_id,
        }
        out.update(self.params)
        return out


GRID_MS = 100
"""Event times sit on the simulation's 100 ms grid, so "inside the event" is exact."""

SessionVol = Callable[[int], float]
"""The coin's one-second mid volatility (bps) in the session of an epoch millisecond."""


def schedule_hour(
    rng: np.random.Generator,
    *,
    coin: str,
    day_label: str,
    hour_start_ms: int,
    rates: Mapping[str, float],
    gap_after_s: float,
    session_vol: SessionVol,
) -> list[Occurrence]:
    """Draw this coin-hour's events (Poisson counts) and lay them out without overlap."""
    kinds: list[str] = []
    for kind in sorted(rates):
        kinds += [kind] * int(rng.poisson(rates[kind]))
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    phases = [_phases_s(rng, kind) for kind in kinds]
    slots = [sum(p) + GAP_BEFORE_S + gap_after_s for p in phases]
    while slots and sum(slots) > 3600.0:
        kinds.pop()
        phases.pop()
        slots.pop()
    slack = 3600.0 - sum(slots)
    cuts = np.sort(rng.uniform(0.0, slack, size=len(slots)))
    out: list[Occurrence] = []
    offset = 0.0
    hour = (hour_start_ms // HOUR_MS) % 24
    for k, (kind, phase, slot, cut) in enumerate(zip(kinds, phases, slots, cuts, strict=True)):
        start_ms = _after(hour_start_ms, offset + cut + GAP_BEFORE_S)
        occ_id = f"{day_label}/{coin}/h{hour:02d}/{k:02d}-{kind}"
        out += _build(rng, kind, occ_id, coin, start_ms, phase, session_vol)
        offset += slot
    return out


def _phases_s(rng: np.random.Generator, kind: str) -> tuple[float, ...]:
    """Durations (seconds) of an occurrence's phases; their sum is its length."""
    if kind == "sweep":
        return (float(rng.uniform(*SWEEP_SECONDS)),)
    if kind == "sweep_then_stall":
        return (float(rng.uniform(*SWEEP_SECONDS)), float(rng.uniform(*STALL_SECONDS)))
    if kind == "depth_vacuum":
        return (float(rng.uniform(*VACUUM_SECONDS)),)
    if kind == "wick_triplet":
        return (WICK_SLOT_S,)
    if kind in ("funding_shock", "oi_shock"):
        return (SHOCK_SECONDS,)
    raise ValueError(f"unknown pattern type {kind!r}")


def _after(t_ms: int, seconds: float) -> int:
    """`t_ms` plus `seconds`, rounded to the grid (t_ms is on the grid)."""
    return t_ms + round(seconds * SECOND_MS / GRID_MS) * GRID_MS


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def _build(rng: np.random.Generator, kind: str, occ_id: str, coin: str, start_ms: int,
           phases_s: tuple[float, ...], session_vol: SessionVol) -> list[Occurrence]:
    """Magnitudes and phase times for one occurrence (plus its sweep phase, if any)."""
    direction = _sign(rng)
    duration_s = phases_s[0]
    if kind in ("sweep", "sweep_then_stall"):
        sweep_end = _after(start_ms, phases_s[0])
        move = float(rng.uniform(*SWEEP_MOVE_SIGMAS)) * session_vol(start_ms)
        sweep_params = {"move_bps": round(move, 4)}
        if kind == "sweep":
            return [Occurrence(occ_id, kind, coin, start_ms, sweep_end, direction, sweep_params)]
        end_ms = _after(sweep_end, phases_s[1])
        parent = Occurrence(occ_id, kind, coin, start_ms, end_ms, direction,
                            {**sweep_params, "sweep_end_ms": sweep_end,
                             "stall_start_ms": sweep_end, "stall_end_ms": end_ms})
        child = Occurrence(f"{occ_id}/sweep", "sweep", coin, start_ms, sweep_end, direction,
                           sweep_params, parent_id=occ_id)
        return [parent, child]
    if kind == "depth_vacuum":
        end_ms = _after(start_ms, duration_s)
        lo, hi = VACUUM_SPREAD_TICKS
        return [Occurrence(occ_id, kind, coin, start_ms, end_ms, 0, {
            "spread_ticks": int(rng.integers(lo, hi + 1)),
            "depth_factor": VACUUM_DEPTH_FACTOR,
            "levels_thinned": VACUUM_LEVELS,
        })]
    if kind == "wick_triplet":
        first_minute = -(-start_ms // MINUTE_MS) * MINUTE_MS
        spikes = []
        for m in range(3):
            minute = first_minute + m * MINUTE_MS
            spike_start = _after(minute, float(rng.uniform(10.0, 35.0)))
            peak = _after(spike_start, float(rng.uniform(2.0, 4.0)))
            spike_end = _after(peak, float(rng.uniform(4.0, 8.0)))
            height = float(rng.uniform(*WICK_SIGMAS)) * session_vol(spike_start)
            spikes.append({"minute_ms": minute, "start_ms": spike_start, "peak_ms": peak,
                           "end_ms": spike_end, "wick_bps": round(height, 4)})
        return [Occurrence(occ_id, kind, coin, first_minute, first_minute + 3 * MINUTE_MS,
                           direction, {"spikes": spikes})]
    if kind in ("funding_shock", "oi_shock"):
        start_ms = -(-start_ms // SECOND_MS) * SECOND_MS  # OI and funding live on a 1 s grid
    if kind == "funding_shock":
        size = direction * float(rng.uniform(*FUNDING_SHOCK))
        return [Occurrence(occ_id, kind, coin, start_ms, _after(start_ms, SHOCK_SECONDS),
                           direction, {"funding_step": round(size, 10),
                                       "decay_s": SHOCK_DECAY_S})]
    if kind == "oi_shock":
        size = direction * float(rng.uniform(*OI_SHOCK))
        return [Occurrence(occ_id, kind, coin, start_ms, _after(start_ms, SHOCK_SECONDS),
                           direction, {"oi_step_rel": round(size, 6),
                                       "decay_s": SHOCK_DECAY_S})]
    raise ValueError(f"unknown pattern type {kind!r}")
