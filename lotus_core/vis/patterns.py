"""Pattern flags with stated, testable definitions over a digitised close path.

The path (closes, in price) is resampled to N = 64 points by linear interpolation over its
index, in log price; r are its 63 one-step changes. With t = mean(r) / (sd(r) / sqrt(63))
(the drift t-statistic: the slope of price on time under a random walk with drift) and
R = (max - min) / (sd(r) * sqrt(63)) (the path's range in units of what a driftless walk
of that volatility covers; a walk averages about 1.6):

- trend_up: t >= T_TREND; trend_down: t <= -T_TREND.
- range: |t| < T_FLAT and R < R_RANGE (the path keeps inside a band a walk would leave).
- higher_highs: split into 4 equal parts, the highs and the lows both rise part to part;
  lower_lows: both fall.
- breakout_up (only with a drawn level L): at least PRE_SHARE of the first 60% of the
  points lie below L and every point of the last 15% lies above it; breakout_down mirrors.

A flag holds or does not; its value in pattern_flags is the confidence of the path it was
computed on (the reading's confidence), and flags below the module's min_confidence are not
reported.

The direction a chart states (`direction_of`, what the Decision-Maker reads a chart as):
long (+1) when an up flag (trend_up, breakout_up) holds and no down flag does, short (-1)
when a down flag (trend_down, breakout_down) holds and no up flag does, and no direction (0)
otherwise: range alone, higher_highs / lower_lows alone, no flag, or up and down together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N = 64
T_TREND = 2.5
T_FLAT = 1.5
R_RANGE = 0.9
PRE_SHARE = 0.9
FLAGS = ("trend_up", "trend_down", "range", "higher_highs", "lower_lows", "breakout_up",
         "breakout_down")


UP_FLAGS = ("trend_up", "breakout_up")
DOWN_FLAGS = ("trend_down", "breakout_down")


def direction_of(flags: object) -> int:
    """+1, -1 or 0 for a reading's reported flags (`pattern_flags`: flag -> confidence, or
    the flag names): see the module docstring."""
    held = set(flags) if isinstance(flags, (dict, list, tuple, set, frozenset)) else set()
    up, down = bool(held & set(UP_FLAGS)), bool(held & set(DOWN_FLAGS))
    return int(up) - int(down)


@dataclass(frozen=True)
class PathStats:
    """The statistics the flags are defined on."""

    t_drift: float
    range_ratio: float


def resample(values: np.ndarray, n: int = N) -> np.ndarray:
    """`values` linearly interpolated at n evenly spaced positions of its index."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 1:
        return np.full(n, v[0])
    return np.interp(np.linspace(0, v.size - 1, n), np.arange(v.size), v)


def path_stats(close: np.ndarray) -> PathStats:
    lp = resample(np.log(np.asarray(close, dtype=np.float64)))
    r = np.diff(lp)
    sd = float(r.std(ddof=1))
    if sd <= 1e-12:  # a flat path (up to float noise)
        return PathStats(t_drift=0.0, range_ratio=0.0)
    scale = sd * np.sqrt(r.size)
    return PathStats(t_drift=float(r.mean() / (sd / np.sqrt(r.size))),
                     range_ratio=float((lp.max() - lp.min()) / scale))


def _steps(parts: list[np.ndarray], sign: int) -> bool:
    highs = np.array([p.max() for p in parts])
    lows = np.array([p.min() for p in parts])
    return bool(np.all(sign * np.diff(highs) > 0) and np.all(sign * np.diff(lows) > 0))


def flags_of(close: np.ndarray, level: float | None = None) -> dict[str, bool]:
    """Every flag's truth for a close path (and the drawn level, if any)."""
    st = path_stats(close)
    lp = resample(np.asarray(close, dtype=np.float64))
    parts = np.array_split(lp, 4)
    out = {
        "trend_up": st.t_drift >= T_TREND,
        "trend_down": st.t_drift <= -T_TREND,
        "range": abs(st.t_drift) < T_FLAT and st.range_ratio < R_RANGE,
        "higher_highs": _steps(parts, +1),
        "lower_lows": _steps(parts, -1),
        "breakout_up": False,
        "breakout_down": False,
    }
    if level is not None:
        pre, post = lp[: int(0.6 * N)], lp[-int(0.15 * N):]
        out["breakout_up"] = bool(np.mean(pre < level) >= PRE_SHARE and np.all(post > level))
        out["breakout_down"] = bool(np.mean(pre > level) >= PRE_SHARE and np.all(post < level))
    return out
