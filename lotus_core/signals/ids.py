"""Deterministic, vectorised window ids and per-window random draws.

A window is identified by (coin, detector_id, ts_ms). Its id is a ULID whose time part is
ts_ms and whose 80 "random" bits are a hash of the three, so ids sort by time, are stable
across re-runs and cuts of the tape, and can serve directly as a sig_strand id. The
exploration draw is a hash of (seed, day, window) too: the same window always gets the
same draw, whatever else fired that day.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

_CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(x, dtype=np.uint64) + _M1
    z = (z ^ (z >> np.uint64(30))) * _M2
    z = (z ^ (z >> np.uint64(27))) * _M3
    return z ^ (z >> np.uint64(31))


def _crc(values: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(values.astype(str), sort=False)
    table = np.array([zlib.crc32(str(u).encode()) for u in uniques], dtype=np.uint64)
    return table[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def window_key(coin: pd.Series, detector_id: pd.Series, ts_ms: pd.Series) -> np.ndarray:
    """A 64-bit hash of (coin, detector_id, ts_ms) per row."""
    pair = (_crc(coin) << np.uint64(32)) | _crc(detector_id)
    return splitmix64(splitmix64(pair) ^ ts_ms.to_numpy(dtype=np.int64).astype(np.uint64))


def _base32(values: np.ndarray, chars: int) -> np.ndarray:
    """(n, chars) uint8 Crockford characters of the low 5*chars bits of each value."""
    v = values.astype(np.uint64)
    shifts = np.arange(chars - 1, -1, -1, dtype=np.uint64) * np.uint64(5)
    return _CROCKFORD[((v[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.intp)]


def window_ids(coin: pd.Series, detector_id: pd.Series, ts_ms: pd.Series) -> np.ndarray:
    """26-character ULIDs: ts_ms in the time part, a hash of the window in the rest."""
    n = len(ts_ms)
    if n == 0:
        return np.array([], dtype=object)
    key = window_key(coin, detector_id, ts_ms)
    r1 = splitmix64(key ^ np.uint64(0x5157)) >> np.uint64(24)  # 40 bits
    r2 = splitmix64(key ^ np.uint64(0x0A11)) >> np.uint64(24)
    chars = np.concatenate([_base32(ts_ms.to_numpy(dtype=np.int64).astype(np.uint64), 10),
                            _base32(r1, 8), _base32(r2, 8)], axis=1)
    return np.ascontiguousarray(chars).view("S26").ravel().astype(str).astype(object)


def uniform_draws(key: np.ndarray, seed: int, day: str) -> np.ndarray:
    """A U[0, 1) draw per window key, fixed by (seed, day, window)."""
    ordinal = pd.Timestamp(day).toordinal()
    mix = splitmix64(np.array([(seed & 0xFFFFFFFF) << 32 | (ordinal & 0xFFFFFFFF)],
                              dtype=np.uint64))[0]
    bits = splitmix64(key.astype(np.uint64) ^ mix) >> np.uint64(11)
    return bits.astype(np.float64) * (1.0 / 9007199254740992.0)
