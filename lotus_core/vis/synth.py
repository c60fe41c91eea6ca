"""Known price series with planted patterns: the ground truth the chart reader is judged on.

    bars = planted_bars("breakout_up", seed=7)

Each pattern is a seeded generator over log prices, built from 8 sub-steps per bar (so
highs and lows are real extremes, not decorations). The label is what was planted; a
pattern flag is right when it says the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATTERNS = ("trend_up", "trend_down", "range", "breakout_up", "breakout_down", "none")
SUB = 8  # sub-steps per bar

# (symbol, typical price) pairs the renderer titles its charts with
COINS = (("BTC", 68000.0), ("ETH", 3400.0), ("SOL", 160.0), ("DOGE", 0.16), ("AVAX", 36.0))


@dataclass(frozen=True)
class Bars:
    """OHLC bars of one planted series; `level` is the drawn horizontal line, if any."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    pattern: str
    symbol: str
    level: float | None
    seed: int

    @property
    def n(self) -> int:
        return int(self.close.size)


def _ou(rng: np.random.Generator, steps: int, theta: float, sd: float) -> np.ndarray:
    """Mean-reverting (Ornstein-Uhlenbeck) log-price path around 0, started at 0."""
    x = np.empty(steps)
    v = 0.0
    for i in range(steps):
        v += -theta * v + sd * rng.standard_normal()
        x[i] = v
    return x


def _path(rng: np.random.Generator, pattern: str, n: int,
          vol: float) -> tuple[np.ndarray, float | None]:
    """Log-price sub-step path (n * SUB steps) and, for breakouts, the level (log)."""
    steps = n * SUB
    sd = vol / np.sqrt(SUB)
    if pattern in ("trend_up", "trend_down"):
        drift = rng.uniform(0.35, 0.6) * vol / SUB
        sign = 1.0 if pattern == "trend_up" else -1.0
        return np.cumsum(sign * drift + sd * rng.standard_normal(steps)), None
    if pattern == "range":
        return _ou(rng, steps, theta=0.25 / SUB, sd=sd), None
    if pattern in ("breakout_up", "breakout_down"):
        sign = 1.0 if pattern == "breakout_up" else -1.0
        cut = int(steps * rng.uniform(0.7, 0.8))
        base = _ou(rng, cut, theta=0.25 / SUB, sd=sd)
        level = sign * (float(np.max(sign * base)) + 0.3 * vol)
        jump = level + sign * rng.uniform(1.0, 1.8) * vol
        drift = sign * 0.3 * vol / SUB
        tail = jump + np.cumsum(drift + sd * rng.standard_normal(steps - cut))
        return np.concatenate([base, tail]), level
    if pattern == "none":
        return np.cumsum(sd * rng.standard_normal(steps)), None
    raise ValueError(f"unknown pattern {pattern!r}; known: {PATTERNS}")


def planted_bars(pattern: str, seed: int, n: int | None = None,
                 vol: float | None = None) -> Bars:
    """OHLC bars of `pattern` (one of PATTERNS), reproducible from `seed`.

    n bars (default 60-140) with per-bar log volatility `vol` (default 0.15%-0.4%).
    """
    rng = np.random.default_rng(seed)
    n = int(n if n is not None else rng.integers(60, 141))
    vol = float(vol if vol is not None else rng.uniform(0.0015, 0.004))
    symbol, price = COINS[int(rng.integers(len(COINS)))]
    price *= float(np.exp(rng.uniform(-0.2, 0.2)))
    logp, level = _path(rng, pattern, n, vol)
    sub = price * np.exp(np.concatenate([[0.0], logp]))
    close = sub[SUB::SUB]
    open_ = sub[0:-1:SUB]
    blocks = sub[1:].reshape(n, SUB)
    high = np.maximum(blocks.max(axis=1), open_)
    low = np.minimum(blocks.min(axis=1), open_)
    lvl = None if level is None else price * float(np.exp(level))
    return Bars(open=open_, high=high, low=low, close=close, pattern=pattern,
                symbol=symbol, level=lvl, seed=seed)
