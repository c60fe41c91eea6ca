"""The coin list's one default: `DEFAULT_COINS`, the `coins:` a lotus.yaml may override.

Every per-coin setting (`feed.coins`, `dm.coins`, each trader venue's `symbols`,
`fixtures.coins`) and the few code defaults that name coins (the synthetic windows, the
fabric's example envelopes) start from this list. It lives here, not in
`lotus_core.config`: that package's settings hold the sections that default to it, so
importing it from them would be a cycle. `Settings` (lotus_core/config/settings.py) fills
and checks the sections against the loaded `coins:`.
"""

from __future__ import annotations

DEFAULT_COINS: tuple[str, ...] = ("BTC", "ETH", "SOL")
"""Hyperliquid perp names; each must be in the shipped universe or `extra_coins`."""


def default_coins() -> tuple[str, ...]:
    """The default coin list (`DEFAULT_COINS`)."""
    return DEFAULT_COINS
