"""Deterministic random streams and a counter-based hash.

Every draw comes from a numpy Generator seeded by a SeedSequence keyed on
(seed, day ordinal, coin key, stream[, hour]). Giving each model component and each hour
its own stream means (a) adding a component or changing a window never shifts another
component's draws, and (b) a window of hours reproduces exactly those hours of the
full day. The coin key is the CRC-32 of the coin name rather than its position in the
list, so adding a coin never changes another coin's data.

The hash (splitmix64) gives book levels a state that persists between snapshots: a
level's size is a pure function of (price tick, refresh epoch), not of the draw order.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numba
import numpy as np


class Stream(IntEnum):
    """One independent random stream per model component."""

    OPEN = 1
    REGIMES = 2
    CONTEXTS = 3
    DECOYS = 4
    PATTERNS = 5
    PATH = 6
    FUNDING_OI = 7
    USERS = 8
    SALT = 9
    ABSORPTION = 10  # the opt-in planted edge (synth/absorption.py)
    SPREAD = 20
    TRADES = 21
    BOOK_TIMES = 22
    CTX_TIMES = 23
    IDS = 24
    LATENCY = 25


NO_COIN = "<no coin>"
"""Coin placeholder for streams shared by all coins of a file (receive latency)."""


def coin_key(coin: str) -> int:
    """A stable integer for a coin name (its CRC-32)."""
    return zlib.crc32(coin.encode())


def stream(seed: int, day_ordinal: int, coin: str, which: Stream, hour: int | None = None
           ) -> np.random.Generator:
    """The Generator for one component of one coin-day (or coin-day-hour)."""
    key = [seed, day_ordinal, coin_key(coin), int(which)]
    if hour is not None:
        key.append(1000 + hour)
    return np.random.default_rng(np.random.SeedSequence(key))


def salt(seed: int, day_ordinal: int, coin: str) -> np.uint64:
    """A 64-bit salt for the level hash of one coin-day."""
    ss = np.random.SeedSequence([seed, day_ordinal, coin_key(coin), int(Stream.SALT)])
    return np.uint64(ss.generate_state(1, np.uint64)[0])


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K1 = np.uint64(0xD6E8FEB86659FD93)
_K2 = np.uint64(0xA0761D6478BD642F)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 1.0 / 9007199254740992.0  # 2**-53: the top 53 bits as a float in [0, 1)


@numba.njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    """splitmix64's finaliser (wrapping uint64 arithmetic: exact on every CPU)."""
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True)
def _hash_kernel(a: np.ndarray, b: np.ndarray, tag: np.uint64, salt_: np.uint64
                 ) -> np.ndarray:
    """One pass over the (broadcast, flattened) keys: no temporaries per operation, which
    made the numpy form the generator's costliest line."""
    out = np.empty(a.size, np.float64)
    for i in range(a.size):
        z = _mix(np.uint64(a[i]) * _K1 + salt_ + tag)
        z = _mix(z ^ (np.uint64(b[i]) * _K2))
        out[i] = np.float64(z >> _S11) * _UNIT
    return out


def hash_uniform(a: np.ndarray, b: np.ndarray | int, tag: int, salt_: np.uint64) -> np.ndarray:
    """Uniform [0, 1) floats that depend only on (a, b, tag, salt); a and b are int arrays."""
    ua, ub = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    flat = _hash_kernel(np.ascontiguousarray(ua).ravel(), np.ascontiguousarray(ub).ravel(),
                        np.uint64(tag), np.uint64(salt_))
    return flat.reshape(ua.shape)
