"""The Trader's settings (`trader:` in lotus.yaml), validated once; a bad value names its key.

Venues are data: fees, tick and lot sizes, a latency model and a historical success rate.
The Hyperliquid paper venue is the default (its fee schedule and instruments from
lotus_core/venues/hyperliquid); a second venue is configured so that venue scoring has a
real choice to make (docs/trader.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from lotus_core.coin_list import default_coins
from lotus_core.strict import StrictModel
from lotus_core.venues.hyperliquid import fees as hyperliquid_fees
from lotus_core.venues.hyperliquid.instruments import (
    UnknownInstrument,
    price_tick,
    shipped_sz_decimals,
    size_lot,
)


class TraderConfigError(ValueError):
    """A `trader:` setting is unknown or out of range; the message names the key.

    Its own class (not lotus_core.config's ConfigError): `Settings` holds this section, so
    this module must not import the settings module."""


class LatencyModel(StrictModel):
    """Order latency: `base_ms` plus a deterministic jitter in [0, jitter_ms] drawn from the
    order id (so a replay gives the same arrival times)."""

    base_ms: int = Field(120, ge=0, le=60_000)
    jitter_ms: int = Field(0, ge=0, le=60_000)


class VenueConfig(StrictModel):
    """One paper venue. Fees are fractions of notional (negative maker fee = rebate); a venue
    that names none pays Hyperliquid's (lotus_core/venues/hyperliquid/fees.py)."""

    name: str = Field(min_length=1, pattern=r"^[^\s]+$")
    maker_fee: float = Field(hyperliquid_fees.MAKER_FEE, ge=-0.01, le=0.01)
    taker_fee: float = Field(hyperliquid_fees.TAKER_FEE, ge=0.0, le=0.01)
    tick_size: dict[str, float] = Field(default_factory=dict)  # a coin's fixed tick
    lot_size: dict[str, float] = Field(default_factory=dict)  # and lot (paper venues, tests)
    sz_decimals: dict[str, int] = Field(default_factory=dict)  # the venue's metadata: the
    # lot and the price rule's tick of every other coin (lotus_core/venues/hyperliquid)
    latency: LatencyModel = LatencyModel()
    success_rate: float = Field(0.98, ge=0.0, le=1.0)
    depth_scale: float = Field(1.0, gt=0.0, le=10.0)
    symbols: list[str] = Field(default_factory=lambda: list(default_coins()))

    def knows(self, coin: str) -> bool:
        """The venue has a tick and a lot for `coin` (configured or from its metadata)."""
        return coin in self.sz_decimals or (coin in self.tick_size and coin in self.lot_size)

    def tick(self, coin: str, px: float | None = None) -> float:
        """The price increment of `coin` (at `px`, for a tick from the venue's price rule);
        UnknownInstrument for a coin the venue has none for: never a guessed grid."""
        if coin in self.tick_size:
            return self.tick_size[coin]
        if coin not in self.sz_decimals:
            raise UnknownInstrument(f"venue {self.name}: no tick for {coin} (tick_size or "
                                    "sz_decimals)")
        if px is None:
            raise ValueError(f"venue {self.name}: {coin}'s tick depends on its price")
        return price_tick(px, self.sz_decimals[coin])

    def lot(self, coin: str) -> float:
        """The size increment of `coin`; UnknownInstrument when the venue has none."""
        if coin in self.lot_size:
            return self.lot_size[coin]
        if coin not in self.sz_decimals:
            raise UnknownInstrument(f"venue {self.name}: no lot for {coin} (lot_size or "
                                    "sz_decimals)")
        return size_lot(self.sz_decimals[coin])


class QueueSettings(StrictModel):
    """The probabilistic queue model (hftbacktest's ProbQueueModel, power function 3).

    A size decrease at the order's price not explained by trades is a cancellation; the
    share of it taken from ahead of the order is 1 - f(back) / (f(back) + f(front)) with
    f(x) = x ** power. `mode: expected` applies that share (hftbacktest's behaviour);
    `mode: sampled` draws, per decrease, ahead-or-behind with that probability from a
    generator seeded by `seed` and the order id.
    """

    power: float = Field(3.0, gt=0.0, le=20.0)
    mode: Literal["expected", "sampled"] = "expected"
    seed: int = 20260105


class ProbeSettings(StrictModel):
    """Virtual post-only orders at the touch that measure the book's passive odds (fill
    share, wait, the mid's move after a fill) without trading: every `every_ms` (0: never)
    each coin with a fresh two-sided book gets one of `weight` x equity, buy and sell in
    turn, working `limit_cancel_after_ms` through the same queue model as a resting entry.
    Their record is what the execution rule and the DM price a resting entry with until the
    Trader's own resting entries say otherwise (`lotus_core.costs.PassiveOdds`)."""

    every_ms: int = Field(300_000, ge=0)
    weight: float = Field(0.01, gt=0, le=1)


class TraderSettings(StrictModel):
    equity: float = Field(100_000.0, gt=0)  # paper equity in quote currency
    venues: list[VenueConfig] = Field(default_factory=lambda: [
        VenueConfig(name="hyperliquid", maker_fee=hyperliquid_fees.MAKER_FEE,
                    taker_fee=hyperliquid_fees.TAKER_FEE,
                    tick_size={"BTC": 1.0, "ETH": 0.1, "SOL": 0.01},
                    lot_size={"BTC": 0.00001, "ETH": 0.0001, "SOL": 0.01},
                    sz_decimals=dict(shipped_sz_decimals()),
                    latency=LatencyModel(base_ms=120, jitter_ms=0), success_rate=0.98),
        VenueConfig(name="paper_alt", maker_fee=0.0002, taker_fee=0.0005,
                    tick_size={"BTC": 1.0, "ETH": 0.1, "SOL": 0.01},
                    lot_size={"BTC": 0.0001, "ETH": 0.001, "SOL": 0.1},
                    latency=LatencyModel(base_ms=350, jitter_ms=0), success_rate=0.9,
                    depth_scale=0.5),
    ])
    venue_preferences: list[str] = Field(default_factory=lambda: ["hyperliquid", "paper_alt"])
    # auto: per ticket, by the execution rule (lotus_core.costs.choose_execution) from the
    # ticket's edge and horizon and the book; market / limit / twap fix it; a ticket may
    # hint another (tr.execution_strategy)
    execution_strategy: Literal["auto", "market", "limit", "twap"] = "auto"
    # market orders fill no worse than this vs the mid at arrival
    max_slippage_bps: float = Field(10.0, gt=0, le=1000)
    exit_max_slippage_bps: float = Field(200.0, gt=0, le=5000)
    max_latency_ms: int = Field(2000, gt=0)
    max_position_weight: float = Field(0.5, gt=0, le=10)
    stop_loss_bps: float = Field(50.0, gt=0, le=5000)  # barriers around the entry price
    take_profit_bps: float = Field(100.0, gt=0, le=10_000)
    trailing_stop_bps: float | None = Field(None, gt=0, le=5000)
    # refuse plans whose take-profit / stop-loss distance ratio is lower
    min_risk_reward: float = Field(1.0, ge=0, le=100)
    stale_book_ms: int = Field(15_000, gt=0)
    min_order_notional: float = Field(10.0, ge=0)
    limit_offset_ticks: int = Field(0, ge=0, le=1000)
    limit_time_in_force: Literal["gtc", "post_only", "ioc"] = "gtc"
    limit_cancel_after_ms: int = Field(60_000, gt=0)
    twap_slices: int = Field(4, ge=1, le=1000)
    twap_horizon_ms: int = Field(120_000, gt=0)
    twap_slice_type: Literal["market", "limit"] = "market"
    queue: QueueSettings = QueueSettings()
    probe: ProbeSettings = ProbeSettings()
    funding_interval_ms: int = Field(3_600_000, gt=0)

    @model_validator(mode="after")
    def _venues_known(self) -> TraderSettings:
        names = [v.name for v in self.venues]
        if len(set(names)) != len(names):
            raise ValueError(f"venues: duplicate names in {names}")
        unknown = [p for p in self.venue_preferences if p not in names]
        if unknown:
            raise ValueError(f"venue_preferences: unknown venues {unknown}; known {names}")
        return self

    def venue(self, name: str) -> VenueConfig:
        for v in self.venues:
            if v.name == name:
                return v
        raise KeyError(f"unknown venue {name!r}")


def trader_settings(section: dict[str, Any] | TraderSettings | None = None) -> TraderSettings:
    """Validate the `trader:` section (None or {}: the defaults; a validated section is
    returned as is); TraderConfigError names the key."""
    if isinstance(section, TraderSettings):
        return section
    try:
        return TraderSettings.model_validate(section or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"trader.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise TraderConfigError(f"invalid trader settings: {problems}") from None
