"""Per-coin market parameters: price level, size decimals, volatility, activity, liquidity.

A small table covers the coins fixtures use; any other name gets parameters derived
deterministically from its name, so `generate_day(coins=["FOO"])` works and is stable.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class CoinProfile:
    """What makes one coin's synthetic market look like that coin.

    Notionals are in USD; `vol_1s_bps` is the baseline one-second mid volatility before
    session and regime multipliers; `spread_probs[i]` is P(spread = i + 1 ticks) normally.
    """

    name: str
    ref_px: float
    sz_decimals: int
    vol_1s_bps: float
    trade_rate_hz: float
    trade_notional: float
    touch_notional: float
    occupancy: float
    oi_notional: float
    day_volume_notional: float
    spread_probs: tuple[float, float, float]


_KNOWN: dict[str, CoinProfile] = {
    p.name: p
    for p in (
        CoinProfile("BTC", 100_000.0, 5, 0.45, 1.0, 900.0, 25_000.0, 0.70, 3.5e9, 4.0e9,
                    (0.75, 0.18, 0.07)),
        CoinProfile("ETH", 3_500.0, 4, 0.60, 0.8, 600.0, 15_000.0, 0.80, 1.5e9, 1.5e9,
                    (0.80, 0.15, 0.05)),
        CoinProfile("SOL", 200.0, 2, 0.85, 0.6, 400.0, 8_000.0, 0.85, 5.0e8, 5.0e8,
                    (0.85, 0.12, 0.03)),
        CoinProfile("HYPE", 25.0, 2, 1.00, 0.7, 300.0, 5_000.0, 0.85, 3.0e8, 3.0e8,
                    (0.85, 0.12, 0.03)),
        CoinProfile("DOGE", 0.35, 0, 1.00, 0.6, 250.0, 4_000.0, 0.85, 1.5e8, 2.0e8,
                    (0.85, 0.12, 0.03)),
    )
}


def coin_profile(name: str) -> CoinProfile:
    """The table entry for `name`, or a profile derived from a hash of the name."""
    if not name or not name.strip() or name != name.strip():
        raise ValueError(f"coin name must be a non-empty string without spaces, got {name!r}")
    if name in _KNOWN:
        return _KNOWN[name]
    h = zlib.crc32(name.encode())
    log_px = -1.0 + 4.0 * ((h & 0xFFFF) / 0xFFFF)
    ref_px = float(f"{10**log_px:.4g}")
    sz_decimals = min(5, max(0, round(math.log10(ref_px))))
    return CoinProfile(name, ref_px, sz_decimals, 1.1, 0.5, 200.0, 3_000.0, 0.85, 5.0e7, 5.0e7,
                       (0.85, 0.12, 0.03))
