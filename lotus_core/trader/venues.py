"""Venue latency and the seed's venue score (liquidity 0.3, latency 0.2, slippage 0.2,
historical success 0.3), each term reported so a choice can be audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lotus_core.trader.book import BUY, Book
from lotus_core.trader.config import VenueConfig

BPS = 1e4
WEIGHTS = {"liquidity": 0.3, "latency": 0.2, "slippage": 0.2, "success": 0.3}
SUCCESS_PRIOR_WEIGHT = 10.0  # pseudo-executions behind the configured success rate


def latency_ms(venue: VenueConfig, order_id: str) -> int:
    """base + a jitter in [0, jitter_ms] fixed by the order id (replays agree)."""
    j = venue.latency.jitter_ms
    if j == 0:
        return venue.latency.base_ms
    h = int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:8], "big")
    return venue.latency.base_ms + h % (j + 1)


def expected_slippage_bps(book: Book, side: int, qty: float, scale: float) -> float:
    """Slippage vs mid of a market order for `qty` walked through the whole visible book;
    the depth beyond the book counts at the last level's price."""
    mid = book.mid
    if mid is None or qty <= 0:
        return 0.0
    far = 1e18 if side == BUY else 0.0
    fills = book.walk(side, qty, far, scale)
    got = sum(q for _, q in fills)
    if got <= 0:
        return BPS
    notional = sum(p * q for p, q in fills)
    if got < qty:
        notional += (qty - got) * fills[-1][0]
    vwap = notional / qty
    return side * (vwap - mid) / mid * BPS


@dataclass(frozen=True)
class VenueScore:
    venue: str
    liquidity: float
    latency: float
    slippage: float
    success: float
    expected_slippage_bps: float
    latency_ms: int

    @property
    def total(self) -> float:
        return (WEIGHTS["liquidity"] * self.liquidity + WEIGHTS["latency"] * self.latency
                + WEIGHTS["slippage"] * self.slippage + WEIGHTS["success"] * self.success)

    def terms(self) -> dict[str, float]:
        return {"liquidity": self.liquidity, "latency": self.latency, "slippage": self.slippage,
                "success": self.success, "total": self.total,
                "expected_slippage_bps": self.expected_slippage_bps,
                "latency_ms": float(self.latency_ms)}


def success_rate(venue: VenueConfig, done: int, ok: int) -> float:
    """The configured rate as a prior, updated by this trader's own executions."""
    k = SUCCESS_PRIOR_WEIGHT
    return (ok + k * venue.success_rate) / (done + k)


def score_venue(venue: VenueConfig, book: Book, side: int, qty: float, max_slippage_bps: float,
                max_latency_ms: int, history: tuple[int, int] = (0, 0)) -> VenueScore:
    mid = book.mid or 0.0
    cap = mid * (1 + side * max_slippage_bps / BPS)
    depth = book.depth_within(side, cap, venue.depth_scale)
    liquidity = min(1.0, depth / qty) if qty > 0 else 1.0
    lat = venue.latency.base_ms + venue.latency.jitter_ms / 2
    exp_slip = expected_slippage_bps(book, side, qty, venue.depth_scale)
    return VenueScore(
        venue=venue.name, liquidity=liquidity,
        latency=max(0.0, 1.0 - lat / max_latency_ms),
        slippage=max(0.0, 1.0 - max(exp_slip, 0.0) / max_slippage_bps),
        success=success_rate(venue, *history), expected_slippage_bps=exp_slip,
        latency_ms=int(lat),
    )
