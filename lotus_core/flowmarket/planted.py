"""Contexts on the market's own state, and the planted move they trigger.

Both contexts are read at every fast l2Book snapshot, from what that snapshot and the
hour's asset context publish, so a reader of the recording can recompute them exactly:

- interaction: the hour's funding is above the chosen percentile of the previous
  `lookback_hours` hourly values AND the top `lean_levels` levels lean one way,
  (B - A) > threshold * (B + A) for bids, the mirror for asks (B, A: summed sizes);
- decoy: the hour's funding is above its trailing `mean_hours` mean AND the same lean.
  It tracks funding (it agrees with the interaction much of the time) and plants nothing.

A trigger is a snapshot where the interaction holds while no planted move is running; the
mid then drifts linearly by `delta_bps` (of the mid at the trigger) in the lean's direction
over `horizon_min` minutes, and keeps the level it reached. The drift is a shift of the
reference price: every queue moves with it and no random draw changes, so the null twin
(nothing planted) is the same market with the drift left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lotus_core.time import MINUTE_MS

DIRECTION = {1: "up", -1: "down"}


def lean(bid_lots: np.ndarray, ask_lots: np.ndarray, threshold: float) -> np.ndarray:
    """+1 where the bids outweigh the asks beyond `threshold`, -1 the mirror, else 0.

    Rows are snapshots, columns the levels to sum (best first)."""
    b = np.asarray(bid_lots, dtype=np.float64).sum(axis=1)
    a = np.asarray(ask_lots, dtype=np.float64).sum(axis=1)
    up = (b - a) > threshold * (b + a)
    down = (a - b) > threshold * (b + a)
    return up.astype(np.int64) - down.astype(np.int64)


def runs(times_ms: np.ndarray, direction: np.ndarray, end_ms: int) -> list[dict[str, Any]]:
    """Maximal runs of consecutive snapshots holding the same non-zero direction, as
    [start_ms, end_ms): from the run's first snapshot to the first one after it (or `end_ms`
    when the run reaches the window's end)."""
    d = np.asarray(direction, dtype=np.int64)
    if len(d) == 0:
        return []
    change = np.flatnonzero(np.diff(d) != 0) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [len(d)]))
    out = []
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        if d[a] != 0:
            out.append({"start_ms": int(times_ms[a]),
                        "end_ms": int(times_ms[b]) if b < len(d) else int(end_ms),
                        "direction": DIRECTION[int(d[a])]})
    return out


@dataclass(frozen=True)
class Effect:
    """One planted move: [start_ms, end_ms), +1 up / -1 down, its size in ticks."""

    start_ms: int
    end_ms: int
    sign: int
    delta_ticks: float
    delta_bps: float
    imbalance: float  # the top-levels imbalance (B - A) / (B + A) at the trigger
    planted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"start_ms": self.start_ms, "end_ms": self.end_ms,
                "direction": DIRECTION[self.sign], "delta_bps": self.delta_bps,
                "delta_ticks": round(self.delta_ticks, 6),
                "trigger_imbalance": round(self.imbalance, 6), "planted": self.planted}

    def ramp(self, times_ms: np.ndarray) -> np.ndarray:
        frac = np.clip((times_ms - self.start_ms) / (self.end_ms - self.start_ms), 0.0, 1.0)
        return np.asarray(self.sign * self.delta_ticks * frac)


@dataclass
class Planter:
    """Triggers and offsets of one coin, carried from hour to hour."""

    delta_bps: float
    horizon_min: int
    planted: bool
    effects: list[Effect] = field(default_factory=list)

    @property
    def busy_until(self) -> int:
        return self.effects[-1].end_ms if self.effects else -1

    def trigger(self, times_ms: np.ndarray, direction: np.ndarray, imbalance: np.ndarray,
                mid_ticks: np.ndarray) -> None:
        """Start an effect at every snapshot where the context holds and none is running.

        `mid_ticks` is the unplanted mid at each snapshot; the size is taken on the mid
        the market shows there (unplanted mid plus what earlier effects moved)."""
        for i in np.flatnonzero(direction != 0).tolist():
            t = int(times_ms[i])
            if t < self.busy_until:
                continue
            mid = float(mid_ticks[i]) + (float(self.offset_float(np.array([t]))[0])
                                         if self.planted else 0.0)
            self.effects.append(Effect(
                start_ms=t, end_ms=t + self.horizon_min * MINUTE_MS, sign=int(direction[i]),
                delta_ticks=self.delta_bps * 1e-4 * mid, delta_bps=self.delta_bps,
                imbalance=float(imbalance[i]), planted=self.planted))

    def offset_float(self, times_ms: np.ndarray) -> np.ndarray:
        times_ms = np.asarray(times_ms, dtype=np.int64)
        first = int(times_ms.min()) if len(times_ms) else 0
        done = sum(e.sign * e.delta_ticks for e in self.effects if e.end_ms <= first)
        out = np.full(len(times_ms), float(done))
        for e in self.effects:
            if e.end_ms > first:
                out += e.ramp(times_ms)
        return out

    def offset(self, times_ms: np.ndarray) -> np.ndarray:
        """Ticks the planted moves add to every price at these times (0 in the null twin)."""
        if not self.planted:
            return np.zeros(len(times_ms), dtype=np.int64)
        return np.rint(self.offset_float(times_ms)).astype(np.int64)
