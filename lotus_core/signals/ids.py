"""Deterministic, vectorised window ids and per-window random draws, each with its scalar
form for the live stream beside it (`DetectorStream`), built from the same constants.

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
M1, M2, M3 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1
_M1, _M2, _M3 = np.uint64(M1), np.uint64(M2), np.uint64(M3)
_U53 = 1.0 / 9007199254740992.0  # 2**-53: 53 hash bits -> U[0, 1)
_DRAW_SHIFT = 11  # 64 - 53 hash bits of a draw
# A ULID: 50 bits of ts_ms, then two 40-bit hashes of the window key, salted.
_TS_BITS, _R_BITS = 50, 40
_R_SHIFT = 64 - _R_BITS  # a 40-bit hash: the top bits of splitmix64
_SALT_R1, _SALT_R2 = 0x5157, 0x0A11
_CRC_BITS = 32  # (crc(coin) << 32) | crc(detector_id): the ts-free pair


def _crc32(s: str) -> int:
    """The 32-bit hash of a coin or detector_id in a window key."""
    return zlib.crc32(str(s).encode())


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(x, dtype=np.uint64) + _M1
    z = (z ^ (z >> np.uint64(30))) * _M2
    z = (z ^ (z >> np.uint64(27))) * _M3
    return z ^ (z >> np.uint64(31))


def _crc(values: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(values.astype(str), sort=False)
    table = np.array([_crc32(u) for u in uniques], dtype=np.uint64)
    return table[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def window_key(coin: pd.Series, detector_id: pd.Series, ts_ms: pd.Series) -> np.ndarray:
    """A 64-bit hash of (coin, detector_id, ts_ms) per row."""
    pair = (_crc(coin) << np.uint64(_CRC_BITS)) | _crc(detector_id)
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
    r1 = splitmix64(key ^ np.uint64(_SALT_R1)) >> np.uint64(_R_SHIFT)
    r2 = splitmix64(key ^ np.uint64(_SALT_R2)) >> np.uint64(_R_SHIFT)
    chars = np.concatenate([_base32(ts_ms.to_numpy(dtype=np.int64).astype(np.uint64),
                                    _TS_BITS // 5),
                            _base32(r1, _R_BITS // 5), _base32(r2, _R_BITS // 5)], axis=1)
    return np.ascontiguousarray(chars).view("S26").ravel().astype(str).astype(object)


def uniform_draws(key: np.ndarray, seed: int, day: str) -> np.ndarray:
    """A U[0, 1) draw per window key, fixed by (seed, day, window)."""
    mixed = splitmix64(key.astype(np.uint64) ^ np.uint64(draw_mix(seed, day)))
    bits = mixed >> np.uint64(_DRAW_SHIFT)
    return bits.astype(np.float64) * _U53


# Scalar forms of the same hashes, for the live stream (one window at a time, no numpy):
# Python ints masked to 64 bits wrap exactly like the uint64 arrays above.


def splitmix64_int(x: int) -> int:
    """splitmix64 on one Python int (taken mod 2**64)."""
    z = (x + M1) & _MASK64
    z = ((z ^ (z >> 30)) * M2) & _MASK64
    z = ((z ^ (z >> 27)) * M3) & _MASK64
    return z ^ (z >> 31)


def draw_mix(seed: int, day: str) -> int:
    """The (seed, day) half of every exploration draw of `day`."""
    ordinal = pd.Timestamp(day).toordinal()
    return splitmix64_int((seed & 0xFFFFFFFF) << 32 | (ordinal & 0xFFFFFFFF))


def pair_key(coin: str, detector_id: str) -> int:
    """splitmix64 of the (coin, detector_id) crc pair: the ts-free half of `window_key`."""
    pair = (_crc32(coin) << _CRC_BITS) | _crc32(detector_id)
    return splitmix64_int(pair)


def window_key_one(pair: int, ts_ms: int) -> int:
    """`window_key` of one window, from its `pair_key`."""
    return splitmix64_int(pair ^ (int(ts_ms) & _MASK64))


def uniform_draw(key: int, mix: int) -> float:
    """`uniform_draws` of one window key, with `mix = draw_mix(seed, day)`."""
    return (splitmix64_int(key ^ mix) >> _DRAW_SHIFT) * _U53


_PAIRS = [a + b for a in _CROCKFORD.tobytes().decode() for b in _CROCKFORD.tobytes().decode()]
_TS_MASK, _TS_SHIFT = (1 << _TS_BITS) - 1, 2 * _R_BITS
# 13 groups of 10 bits = 26 base32 characters (window_ids' _base32 widths, 2 per group)
_SHIFTS = tuple(range(_TS_BITS + 2 * _R_BITS - 10, -1, -10))


def window_id_one(pair: int, ts_ms: int) -> str:
    """`window_ids` of one window, from its `pair_key` (the per-row detector stream): 50
    bits of ts_ms and two 40-bit hashes, two Crockford characters per 10 bits."""
    ts = int(ts_ms) & _MASK64
    key = window_key_one(pair, ts)
    r1 = splitmix64_int(key ^ _SALT_R1) >> _R_SHIFT
    r2 = splitmix64_int(key ^ _SALT_R2) >> _R_SHIFT
    bits = ((ts & _TS_MASK) << _TS_SHIFT) | (r1 << _R_BITS) | r2
    return "".join([_PAIRS[(bits >> s) & 1023] for s in _SHIFTS])
