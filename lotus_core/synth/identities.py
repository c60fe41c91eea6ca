"""Trade identities: transaction hashes, 50-bit trade ids and trader addresses.

Addresses come from a per-day pool with a heavy-tailed popularity (a few market makers
and busy takers appear on most fills), which is what real tapes look like and keeps the
recordings compressible. Trade ids are unique across a whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TID_LIMIT = 2**50
ZERO_HASH_SHARE = 0.35  # the venue reports many fills with an all-zero hash (a third in
# the real sample)
ZERO_HASH = "0x" + "0" * 64
N_TAKERS = 500
N_MAKERS = 12


def _addresses(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(20 * n).hex()
    return ["0x" + raw[40 * i:40 * (i + 1)] for i in range(n)]


def _zipf_weights(n: int, offset: float) -> np.ndarray:
    w = 1.0 / (np.arange(n) + offset)
    return w / w.sum()


@dataclass(frozen=True)
class UserPool:
    """Taker and maker addresses with their popularity."""

    takers: list[str]
    makers: list[str]
    taker_p: np.ndarray
    maker_p: np.ndarray

    @staticmethod
    def draw(rng: np.random.Generator) -> UserPool:
        return UserPool(_addresses(rng, N_TAKERS), _addresses(rng, N_MAKERS),
                        _zipf_weights(N_TAKERS, 3.0), _zipf_weights(N_MAKERS, 1.0))


def trade_ids(rng: np.random.Generator, n: int, seen: set[int]) -> list[int]:
    """`n` fresh tids below 2**50, unique against (and added to) `seen`."""
    out = rng.integers(1, TID_LIMIT, size=n).tolist()
    for i, tid in enumerate(out):
        while tid in seen:
            tid = (tid * 6364136223846793005 + 1442695040888963407) % TID_LIMIT or 1
        seen.add(tid)
        out[i] = tid
    return out


def tx_hashes(rng: np.random.Generator, n: int) -> list[str]:
    """0x + 64 hex per fill; a share of them all zeros, as on the venue."""
    raw = rng.bytes(32 * n).hex()
    zero = (rng.random(n) < ZERO_HASH_SHARE).tolist()
    return [ZERO_HASH if zero[i] else "0x" + raw[64 * i:64 * (i + 1)] for i in range(n)]


def counterparties(rng: np.random.Generator, pool: UserPool, side: np.ndarray
                   ) -> tuple[list[str], list[str]]:
    """(buyer, seller) per fill: the aggressor is a taker, the other side a maker."""
    n = len(side)
    takers = rng.choice(len(pool.takers), size=n, p=pool.taker_p).tolist()
    makers = rng.choice(len(pool.makers), size=n, p=pool.maker_p).tolist()
    buy = (side > 0).tolist()
    buyers = [pool.takers[t] if b else pool.makers[m]
              for t, m, b in zip(takers, makers, buy, strict=True)]
    sellers = [pool.makers[m] if b else pool.takers[t]
               for t, m, b in zip(takers, makers, buy, strict=True)]
    return buyers, sellers
