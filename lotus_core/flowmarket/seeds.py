"""Random streams of the flow market, one per model component (and per hour).

Each component draws from its own numpy Generator seeded by a SeedSequence keyed on
(model tag, seed, day, coin, component[, hour]), so a planted market and its null twin,
which differ only in what is planted, consume exactly the same draws: planting never draws.
Slow processes that must agree across days (funding, open interest, the daily price level)
draw from a counter-based hash of the absolute hour or day instead, so every day computes
the same history for them without replaying it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from scipy.special import ndtri

from lotus_core.synth.rng import coin_key, hash_uniform

MODEL_TAG = 0xF10F
"""Keeps these streams apart from `lotus_core.synth`'s for the same seed."""


class Part(IntEnum):
    """One independent stream per component."""

    FLOW = 1  # the queue-reactive event loop (best queues)
    DEEP = 2  # deeper levels' arrivals and cancels
    WARMUP = 3  # the minutes simulated before the first hour
    TIMES = 4  # snapshot jitter
    CTX = 5  # premium noise of asset-context pushes
    IDS = 6  # trade ids, hashes, counterparties
    USERS = 7  # the day's address pool (all coins)
    LATENCY = 8  # receive latency (all coins)
    FUNDING = 11  # hash tags of the slow processes
    OPEN_INTEREST = 12
    PRICE_LEVEL = 13


ALL_COINS = "<all coins>"


def rng(seed: int, day_ordinal: int, coin: str, part: Part, hour: int | None = None
        ) -> np.random.Generator:
    """The Generator of one component of one coin-day (or coin-day-hour)."""
    key = [MODEL_TAG, seed, day_ordinal, coin_key(coin), int(part)]
    if hour is not None:
        key.append(1000 + hour)
    return np.random.default_rng(np.random.SeedSequence(key))


def _salt(seed: int, coin: str, part: Part) -> np.uint64:
    ss = np.random.SeedSequence([MODEL_TAG, seed, coin_key(coin), int(part)])
    return np.uint64(ss.generate_state(1, np.uint64)[0])


def hash_normals(seed: int, coin: str, part: Part, index: np.ndarray) -> np.ndarray:
    """Standard normals that depend only on (seed, coin, part, index): the innovation of
    absolute hour (or day) `index`, the same whichever day asks for it."""
    u = hash_uniform(np.asarray(index, dtype=np.int64), coin_key(coin), int(part),
                     _salt(seed, coin, part))
    return np.asarray(ndtri(np.clip(u, 1e-12, 1 - 1e-12)))
