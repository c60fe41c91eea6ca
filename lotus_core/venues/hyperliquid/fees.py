"""Hyperliquid's perp fee schedule, as fractions of the notional traded (negative maker fee =
a rebate): the default Trader venue's `maker_fee` / `taker_fee` (lotus_core.trader.config),
which the one cost model prices and charges (lotus_core.costs).

The numbers are the base tier (tier 0, 14-day weighted volume up to $5M) of the venue's
published perps schedule (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees):
4.5 bps taker, 1.5 bps maker, before the volume tiers, HYPE staking discounts, referral
discounts and maker-rebate tiers, none of which a new account has.
"""

MAKER_FEE = 0.00015
"""A resting order's fill (adds liquidity)."""
TAKER_FEE = 0.00045
"""An order that crosses the spread (takes liquidity)."""
