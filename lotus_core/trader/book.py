"""Market events as the Trader sees them: L2 snapshots, trades and asset contexts.

A `Book` is one l2Book snapshot exactly as recorded (best level first, no NaN padding);
`walk` takes liquidity level by level up to a cap price, which is how every taker fill
in Lotus is computed. Sizes are base units, prices quote per unit, times recv ms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lotus_core.feed.tables import BookFrames

BUY, SELL = 1, -1


@dataclass(frozen=True, slots=True)
class Book:
    coin: str
    ts_ms: int
    bid_px: list[float]
    bid_sz: list[float]
    ask_px: list[float]
    ask_sz: list[float]

    @property
    def two_sided(self) -> bool:
        return bool(self.bid_px) and bool(self.ask_px)

    @property
    def mid(self) -> float | None:
        if not self.two_sided:
            return None
        return 0.5 * (self.bid_px[0] + self.ask_px[0])

    def side_levels(self, side: int) -> tuple[list[float], list[float]]:
        """The levels a `side` order would take from (BUY takes asks)."""
        return (self.ask_px, self.ask_sz) if side == BUY else (self.bid_px, self.bid_sz)

    def resting_size(self, side: int, px: float, tick: float) -> float:
        """Displayed size on `side`'s own book at `px` (0 when no level there)."""
        pxs, szs = (self.bid_px, self.bid_sz) if side == BUY else (self.ask_px, self.ask_sz)
        half = 0.5 * tick
        for p, s in zip(pxs, szs, strict=True):
            if abs(p - px) < half:
                return s
        return 0.0

    def walk(self, side: int, qty: float, cap_px: float, scale: float = 1.0,
             taken: dict[float, float] | None = None) -> list[tuple[float, float]]:
        """[(px, qty)] taken by a `side` order for `qty` at prices no worse than `cap_px`.

        `scale` multiplies displayed sizes (a venue with thinner books); `taken` is what
        earlier paper orders already took from this snapshot (updated in place), so two
        orders on one snapshot never consume the same liquidity.
        """
        pxs, szs = self.side_levels(side)
        out: list[tuple[float, float]] = []
        left = qty
        for p, s in zip(pxs, szs, strict=True):
            if left <= 1e-12 or (p > cap_px if side == BUY else p < cap_px):
                break
            avail = s * scale - (taken.get(p, 0.0) if taken is not None else 0.0)
            if avail <= 1e-12:
                continue
            q = min(avail, left)
            out.append((p, q))
            left -= q
            if taken is not None:
                taken[p] = taken.get(p, 0.0) + q
        return out

    def depth_within(self, side: int, cap_px: float, scale: float = 1.0) -> float:
        """Size a `side` order could take at prices no worse than `cap_px`."""
        pxs, szs = self.side_levels(side)
        return scale * sum(s for p, s in zip(pxs, szs, strict=True)
                           if (p <= cap_px if side == BUY else p >= cap_px))


@dataclass(frozen=True, slots=True)
class Trade:
    coin: str
    ts_ms: int
    px: float
    sz: float
    side: int  # aggressor: +1 buyer ("B"), -1 seller ("A")


@dataclass(frozen=True, slots=True)
class AssetCtx:
    coin: str
    ts_ms: int
    funding: float  # hourly rate
    mark_px: float | None
    oracle_px: float | None


def book_at(frames: BookFrames, i: int) -> Book:
    """Row `i` of the feed parser's book table as a `Book`."""
    meta = frames.meta
    nb = int(meta["n_bid"].iat[i])
    na = int(meta["n_ask"].iat[i])
    return Book(str(meta["coin"].iat[i]), int(meta["recv_ts_ms"].iat[i]),
                frames.bid_px[i, :nb].tolist(), frames.bid_sz[i, :nb].tolist(),
                frames.ask_px[i, :na].tolist(), frames.ask_sz[i, :na].tolist())


def iter_books(frames: BookFrames) -> Iterator[Book]:
    """Every snapshot of `frames` in table order (fast and slow alike)."""
    meta = frames.meta
    coins = meta["coin"].astype(str).to_numpy()
    ts = meta["recv_ts_ms"].to_numpy(np.int64)
    nb = meta["n_bid"].to_numpy(np.int64)
    na = meta["n_ask"].to_numpy(np.int64)
    bp, bs, ap, asz = frames.bid_px, frames.bid_sz, frames.ask_px, frames.ask_sz
    for i in range(len(meta)):
        b, a = nb[i], na[i]
        yield Book(coins[i], int(ts[i]), bp[i, :b].tolist(), bs[i, :b].tolist(),
                   ap[i, :a].tolist(), asz[i, :a].tolist())
