"""Trade flow of one coin-hour: ordinary takers, planted sweeps and wick spikes, as fills.

Ordinary takers arrive per 100 ms block (Poisson at the latent intensity), lean towards
the side the mid is about to move (informed flow), have lognormal notionals, and walk up
to five levels when larger than the touch. A planted sweep eats every occupied level
between the touch and its target within 1-2 s, one fill per level; a wick spike prints
aggressive fills at its extreme so the candle's high/low shows the wick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lotus_core.synth.absorption import absorbed_p_buy
from lotus_core.synth.book import Levels
from lotus_core.synth.latent import TRADE_LOG_SD, CoinLatent
from lotus_core.synth.path import STEP_MS, STEPS_PER_DAY, STEPS_PER_S

WALK_DEPTH = 5
FLOW_LEAD_S = 2.0
FLOW_LEAN = 0.35  # max deviation of P(buy) from 1/2
SPIKE_FILLS = (3, 6)
SPIKE_SIZE_MULT = 3.0
MIN_SWEEP_LEVELS = 4
TRADE_Z_CLIP = 3.0  # ordinary takers stay below ~70x the median size: only sweeps are huge


@dataclass(frozen=True)
class Fills:
    """Fills in time order; `side` is +1 for a buying aggressor, -1 for a selling one."""

    step: np.ndarray
    side: np.ndarray
    px: np.ndarray
    lots: np.ndarray

    @staticmethod
    def concat(parts: list[Fills]) -> Fills:
        """Merge, ordering by step and keeping each part's internal order (stable)."""
        step = np.concatenate([p.step for p in parts]) if parts else np.zeros(0, np.int64)
        order = np.argsort(step, kind="stable")
        return Fills(
            step[order],
            np.concatenate([p.side for p in parts])[order],
            np.concatenate([p.px for p in parts])[order],
            np.concatenate([p.lots for p in parts])[order],
        )


@dataclass(frozen=True)
class Touch:
    """Best bid/ask ticks and the vacuum mask for each step of a window."""

    first_step: int
    bid: np.ndarray
    ask: np.ndarray
    thin: np.ndarray

    def rows(self, steps: np.ndarray) -> np.ndarray:
        return steps - self.first_step


def _walk(levels: Levels, size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consume levels in order until `size` lots are filled: (row, px, lots) per fill."""
    cum = np.cumsum(levels.lots, axis=1)
    size = np.minimum(size, cum[:, -1])
    before = cum - levels.lots
    take = np.clip(size[:, None] - before, 0, levels.lots)
    rows, cols = np.nonzero(take > 0)
    return rows, levels.px[rows, cols], take[rows, cols]


def ordinary_fills(rng: np.random.Generator, lat: CoinLatent, touch: Touch) -> Fills:
    """Every ordinary taker of the window, walked through the book."""
    n_steps = len(touch.bid)
    steps = touch.first_step + np.arange(n_steps)
    counts = rng.poisson(lat.path.rate_hz[steps].astype(np.float64) * (STEP_MS / 1000))
    taker_steps = np.repeat(steps, counts)
    k = len(taker_steps)
    ahead = np.minimum(taker_steps + round(FLOW_LEAD_S * STEPS_PER_S), STEPS_PER_DAY - 1)
    move = lat.path.x_bps[ahead] - lat.path.x_bps[taker_steps]
    scale = lat.path.sigma_1s[taker_steps] * math.sqrt(FLOW_LEAD_S) + 1e-9
    p_buy = 0.5 + FLOW_LEAN * np.tanh(move / scale)
    p_buy = absorbed_p_buy(p_buy, lat.book.lean, taker_steps)  # opt-in edge; else unchanged
    side = np.where(rng.random(k) < p_buy, 1, -1).astype(np.int8)
    z = np.clip(rng.standard_normal(k), -TRADE_Z_CLIP, TRADE_Z_CLIP)
    notional = lat.profile.trade_notional * np.exp(TRADE_LOG_SD * z)
    size = np.maximum(1, np.rint(notional / lat.path.mid[taker_steps] / lat.lot_size))
    size = size.astype(np.int64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for sign in (1, -1):
        idx = np.flatnonzero(side == sign)
        rows = touch.rows(taker_steps[idx])
        best = touch.ask[rows] if sign > 0 else touch.bid[rows]
        levels = lat.book.side(taker_steps[idx], best, sign, WALK_DEPTH, touch.thin[rows])
        r, px, lots = _walk(levels, size[idx])
        parts.append((idx[r], np.full(len(r), sign, np.int8), px, lots))
    taker = np.concatenate([p[0] for p in parts])
    order = np.argsort(taker, kind="stable")
    return Fills(
        taker_steps[taker[order]],
        np.concatenate([p[1] for p in parts])[order],
        np.concatenate([p[2] for p in parts])[order],
        np.concatenate([p[3] for p in parts])[order],
    )


def sweep_fills(lat: CoinLatent, touch: Touch, start_ms: int, end_ms: int, direction: int,
                move_bps: float) -> Fills:
    """Every occupied level from the touch to the sweep's target, spread over its duration."""
    first = int(lat.path.step_of(start_ms))
    last = max(first + 1, int(lat.path.step_of(end_ms)))
    row = first - touch.first_step
    best = int(touch.ask[row] if direction > 0 else touch.bid[row])
    n_ticks = max(MIN_SWEEP_LEVELS, math.ceil(move_bps / lat.book.tick_bps))
    levels = lat.book.span(first, best, direction, n_ticks)
    while levels.px.shape[1] < MIN_SWEEP_LEVELS:
        n_ticks *= 2
        levels = lat.book.span(first, best, direction, n_ticks)
    m = levels.px.shape[1]
    steps = first + (np.arange(m) * (last - first)) // m
    return Fills(steps.astype(np.int64), np.full(m, direction, np.int8),
                 levels.px[0], levels.lots[0])


def spike_fills(rng: np.random.Generator, lat: CoinLatent, touch: Touch, peak_ms: int,
                direction: int) -> Fills:
    """Aggressive prints at a wick's extreme, so the candle records the spike."""
    step = int(lat.path.step_of(peak_ms))
    row = step - touch.first_step
    best = int(touch.ask[row] if direction > 0 else touch.bid[row])
    m = int(rng.integers(SPIKE_FILLS[0], SPIKE_FILLS[1] + 1))
    notional = (SPIKE_SIZE_MULT * lat.profile.trade_notional
                * np.exp(TRADE_LOG_SD * rng.standard_normal(m)))
    lots = np.maximum(1, np.rint(notional / lat.path.mid[step] / lat.lot_size)).astype(np.int64)
    return Fills(np.full(m, step, np.int64), np.full(m, direction, np.int8),
                 np.full(m, best, np.int64), lots)
