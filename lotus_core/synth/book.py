"""The order book: touch from the mid and the spread, levels from a persistent hash.

A price level is keyed by its absolute tick. Whether it holds orders, its size and its
order count are pure functions of (tick, refresh epoch), where each tick refreshes on
its own period of 3-40 s. So consecutive snapshots share most levels exactly, as on the
venue (and gzip finds the repeats), and any snapshot can be computed at any instant
without replaying history. A level's size grows with its distance from the mid at the
moment it was (re)posted, giving depth that grows away from the touch, plus round-price
walls. During a depth vacuum the first levels of both sides shrink to dust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import ndtri

from lotus_core.synth.absorption import thick_lots
from lotus_core.synth.path import STEP_MS, STEPS_PER_DAY
from lotus_core.synth.patterns import VACUUM_DEPTH_FACTOR, VACUUM_LEVELS
from lotus_core.synth.rng import hash_uniform

PERIOD_MS = (3_000.0, 40_000.0)
PROFILE_BPS = 2.0  # size doubles this far (bps) from the mid
SIZE_LOG_SD = 0.8
WALL_EVERY = 10  # ticks; "round" prices attract walls
WALL_PROB = 0.6
WALL_MULT = (3.0, 8.0)
DUST_LOG_SD = 0.4
QUOTE_HOLD_BPS = 0.3  # makers requote only when the mid leaves a band this wide


def sticky(values: np.ndarray, hold: float) -> np.ndarray:
    """Backlash (play) operator: follows `values` only when they leave a +/-hold band.

    Quotes do not move on every tiny change of the fair price; this is what makes the
    touch sit still for a while, as on the venue, instead of flickering every block.
    """
    return _sticky(np.ascontiguousarray(values, dtype=np.float64), float(hold))


@numba.njit(cache=True)
def _sticky(values: np.ndarray, hold: float) -> np.ndarray:
    """The band's carried state, row by row; each step is Python's
    `min(max(c, x - hold), x + hold)` (ties keep the carried value)."""
    out = np.empty_like(values)
    if values.size == 0:
        return out
    c = values[0]
    out[0] = c
    for i in range(1, values.size):
        x = values[i]
        lo = x - hold
        if lo > c:
            c = lo
        hi = x + hold
        if hi < c:
            c = hi
        out[i] = c
    return out


@dataclass(frozen=True)
class Levels:
    """(rows, depth) matrices: price in ticks, size in lots, order count; best level first."""

    px: np.ndarray
    lots: np.ndarray
    n: np.ndarray


@dataclass(frozen=True)
class BookModel:
    """Everything needed to compute the book of one coin-day at any grid step."""

    salt: np.uint64
    occupancy: float
    base_lots: float
    tick_bps: float
    m_ticks: np.ndarray  # mid in ticks at each grid step of the day
    lean: np.ndarray | None = None  # opt-in absorption edge: +1 bids thick, -1 asks thick

    def touch(self, steps: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best bid and ask ticks, `spread` apart, around a sticky copy of the mid.

        `steps` must be consecutive: the quote centre restarts from the mid at steps[0].
        """
        hold = max(0.5, QUOTE_HOLD_BPS / self.tick_bps)
        centre = sticky(self.m_ticks[steps], hold)
        bid = np.floor(centre - spread / 2.0 + 0.5).astype(np.int64)
        return bid, bid + spread

    def side(self, steps: np.ndarray, best: np.ndarray, sign: int, depth: int,
             thin: np.ndarray | None = None) -> Levels:
        """The first `depth` occupied levels from `best` outwards (sign -1 bids, +1 asks)."""
        width = int(math.ceil(depth / self.occupancy * 1.6)) + 8
        ticks, epochs, period, phase, occ = self._scan(steps, best, sign, width)
        short = occ.sum(axis=1) < depth
        occ[short] = True
        rank = np.cumsum(occ, axis=1)
        cols = np.nonzero(occ & (rank <= depth))[1].reshape(len(steps), depth)
        pick = [np.take_along_axis(a, cols, axis=1) for a in (ticks, epochs, period, phase)]
        lots, n = self._sizes(*pick)
        if thin is not None and thin.any():
            k = min(depth, VACUUM_LEVELS)
            dust_lots, dust_n = self._dust(pick[0][thin, :k], pick[1][thin, :k])
            lots[thin, :k] = dust_lots
            n[thin, :k] = dust_n
        return Levels(pick[0], thick_lots(lots, self.lean, steps, sign), n)

    def span(self, step: int, best: int, sign: int, n_ticks: int) -> Levels:
        """Every occupied level within `n_ticks` of `best` (one row), e.g. what a sweep eats."""
        steps = np.array([step])
        ticks, epochs, period, phase, occ = self._scan(steps, np.array([best]), sign,
                                                       n_ticks + 1)
        keep = occ[0]
        lots, n = self._sizes(ticks[:, keep], epochs[:, keep], period[:, keep], phase[:, keep])
        return Levels(ticks[:, keep], lots, n)

    # --- internals ----------------------------------------------------------------------

    def _scan(self, steps: np.ndarray, best: np.ndarray, sign: int, width: int
              ) -> tuple[np.ndarray, ...]:
        ticks = best[:, None] + sign * np.arange(width, dtype=np.int64)[None, :]
        t_ms = (steps.astype(np.int64) * STEP_MS)[:, None]
        lo, hi = PERIOD_MS
        period = np.floor(lo + (hi - lo) * hash_uniform(ticks, 0, 1, self.salt)).astype(np.int64)
        phase = np.floor(hash_uniform(ticks, 0, 2, self.salt) * period).astype(np.int64)
        epochs = (t_ms + phase) // period
        occ = hash_uniform(ticks, epochs, 3, self.salt) < self.occupancy
        occ[:, 0] = True
        return ticks, epochs, period, phase, occ

    def _sizes(self, ticks: np.ndarray, epochs: np.ndarray, period: np.ndarray,
               phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        posted_step = np.clip((epochs * period - phase) // STEP_MS, 0, STEPS_PER_DAY - 1)
        distance_bps = np.abs(ticks - self.m_ticks[posted_step]) * self.tick_bps
        z = ndtri(np.clip(hash_uniform(ticks, epochs, 4, self.salt), 1e-9, 1 - 1e-9))
        size = (self.base_lots * (1.0 + distance_bps / PROFILE_BPS)
                * np.exp(SIZE_LOG_SD * z - SIZE_LOG_SD**2 / 2))
        wall = (ticks % WALL_EVERY == 0) & (hash_uniform(ticks, epochs, 5, self.salt) < WALL_PROB)
        lo, hi = WALL_MULT
        size = np.where(wall, size * (lo + (hi - lo) * hash_uniform(ticks, epochs, 6, self.salt)),
                        size)
        lots = np.maximum(1, np.rint(size)).astype(np.int64)
        u_n = hash_uniform(ticks, epochs, 7, self.salt)
        n = 1 + np.floor(u_n * (1.0 + 2.5 * np.sqrt(lots / self.base_lots))).astype(np.int64)
        return lots, n

    def _dust(self, ticks: np.ndarray, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = ndtri(np.clip(hash_uniform(ticks, epochs, 8, self.salt), 1e-9, 1 - 1e-9))
        size = self.base_lots * VACUUM_DEPTH_FACTOR * np.exp(DUST_LOG_SD * z)
        lots = np.maximum(1, np.rint(size)).astype(np.int64)
        n = 1 + (hash_uniform(ticks, epochs, 9, self.salt) < 0.25).astype(np.int64)
        return lots, n
