"""A coin's tick and lot on a venue: configured, or from the venue's metadata, never guessed.

Hyperliquid publishes `szDecimals` per perp: sizes are multiples of 10^-szDecimals, and a
price has at most 5 significant figures and at most 6 - szDecimals decimals, an integer
price always being allowed (../shared/contracts/hyperliquid-ws.md). So the tick at price
px is

    tick = min(1, max(10^(floor(log10 px) - 4), 10^(szDecimals - 6)))

A coin with neither a configured tick and lot nor a `szDecimals` is unknown: the Trader
refuses it (`symbol_not_tradeable`) instead of trading it on a made-up grid.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

from lotus_core.yaml_io import parse_yaml

SNAPSHOT = Path(__file__).resolve().parent / "sz_decimals.yaml"


class UnknownInstrument(KeyError):
    """A coin the venue has no tick or lot for (configured or from its metadata)."""


@cache
def shipped_sz_decimals() -> dict[str, int]:
    """The shipped snapshot of Hyperliquid's szDecimals (sz_decimals.yaml)."""
    return {str(k): int(v) for k, v in parse_yaml(SNAPSHOT.read_text())["sz_decimals"].items()}


def price_tick(px: float, sz_decimals: int) -> float:
    """The venue's price increment at `px` (module docstring)."""
    if not (math.isfinite(px) and px > 0):
        raise ValueError(f"a tick needs a positive price, got {px!r}")
    step = max(math.floor(math.log10(px)) - 4, sz_decimals - 6)
    return 1.0 if step >= 0 else 10.0 ** step


def size_lot(sz_decimals: int) -> float:
    """The venue's size increment: 10^-szDecimals."""
    return 10.0 ** -sz_decimals
