"""Latent piecewise-constant states on a one-second grid: regimes, contexts, decoys.

States live as one small int per second of the day (86,400 values), which makes them
trivial to look up at any event time, to stretch onto the 100 ms price grid, and to
turn back into [start, end) segments for the truth file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotus_core.synth.vocab import REGIMES
from lotus_core.time import DAY_S, SECOND_MS

REGIME_MINUTES: dict[str, tuple[float, float]] = {
    "quiet": (4.0, 20.0),
    "trend": (3.0, 12.0),
    "chop": (3.0, 12.0),
}
REGIME_TRANSITIONS: dict[str, dict[str, float]] = {
    "quiet": {"trend": 0.5, "chop": 0.5},
    "trend": {"quiet": 0.6, "chop": 0.4},
    "chop": {"quiet": 0.6, "trend": 0.4},
}


@dataclass(frozen=True)
class Segment:
    """A run [start_s, end_s) of one state, in seconds from the start of the day."""

    start_s: int
    end_s: int
    value: int


@dataclass(frozen=True)
class RegimeTrack:
    """The regime of each second, and for trend runs the sign of the drift."""

    codes: np.ndarray  # int8 per second, index into REGIMES
    segments: tuple[Segment, ...]
    trend_sign: dict[int, int]  # segment start_s -> +1 / -1 for trend segments


def regime_track(rng: np.random.Generator) -> RegimeTrack:
    """Markov-switching regimes with minutes-long uniform durations."""
    codes = np.empty(DAY_S, dtype=np.int8)
    segments: list[Segment] = []
    trend_sign: dict[int, int] = {}
    state = REGIMES[int(rng.integers(len(REGIMES)))]
    t = 0
    while t < DAY_S:
        lo, hi = REGIME_MINUTES[state]
        end = min(DAY_S, t + round(60 * rng.uniform(lo, hi)))
        code = REGIMES.index(state)
        codes[t:end] = code
        segments.append(Segment(t, end, code))
        sign = 1 if rng.random() < 0.5 else -1
        if state == "trend":
            trend_sign[t] = sign
        nxt = REGIME_TRANSITIONS[state]
        state = str(rng.choice(list(nxt), p=list(nxt.values())))
        t = end
    return RegimeTrack(codes, tuple(segments), trend_sign)


def alternating_states(rng: np.random.Generator, minutes: tuple[float, float]) -> np.ndarray:
    """A two-state (bool) Markov chain per second, each run lasting U(minutes) minutes."""
    states = np.empty(DAY_S, dtype=bool)
    value = bool(rng.random() < 0.5)
    t = 0
    while t < DAY_S:
        end = min(DAY_S, t + max(1, round(60 * rng.uniform(*minutes))))
        states[t:end] = value
        value = not value
        t = end
    return states


def decoy_states(rng: np.random.Generator, tracked: np.ndarray, agreement: float) -> np.ndarray:
    """`tracked` with one flipped interval per hour covering exactly (1 - agreement) of it.

    Flipping a fixed share of every hour (instead of an independent Markov flip process)
    makes the realised agreement equal the target in any window of whole hours.
    """
    decoy = tracked.copy()
    flip_s = round((1.0 - agreement) * 3600)
    if flip_s == 0:
        return decoy
    for hour in range(DAY_S // 3600):
        start = hour * 3600 + int(rng.integers(0, 3600 - flip_s + 1))
        decoy[start:start + flip_s] = ~decoy[start:start + flip_s]
    return decoy


def runs(values: np.ndarray, first_s: int = 0, last_s: int = DAY_S) -> list[Segment]:
    """Run-length segments of a per-second array, clipped to [first_s, last_s)."""
    window = np.asarray(values[first_s:last_s])
    if window.size == 0:
        return []
    change = np.flatnonzero(window[1:] != window[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [window.size]))
    return [Segment(int(s) + first_s, int(e) + first_s, int(window[s]))
            for s, e in zip(starts, ends, strict=True)]


def at_ms(values: np.ndarray, t_ms: int, day_start_ms: int) -> int:
    """The per-second state in force at epoch millisecond `t_ms` (clamped into the day)."""
    second = min(DAY_S - 1, max(0, (t_ms - day_start_ms) // SECOND_MS))
    return int(values[second])
