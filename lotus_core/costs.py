"""The one cost model: what a trade costs, priced by the Decision-Maker and charged by the
paper Trader from the same formulas and the same numbers (docs/dm.md, docs/trader.md).

Per side, in bps of the notional traded:

    cost = fee(venue, execution) + half_spread + impact
    fee          = the venue's fee schedule: `trader.venues[].taker_fee` (or `maker_fee`;
                   negative = a rebate), the one fee number in Lotus (by default the
                   venue's own: lotus_core/venues/hyperliquid/fees.py)
    half_spread  = spread_bps / 2 at the decision (a taker crosses half the spread)
    impact       = N · q / (2 D), capped at N / 2: a trade of notional q walked through
                   the displayed depth D (quote units, one side) within N bps of mid,
                   spread evenly over those N bps

and the carry of a position held for the expected holding time h (the ticket's horizon):

    funding = rate · h / funding_interval       (longs pay a positive rate, shorts receive)

`rate` is the venue's funding per interval (the asset context's `funding`, hourly on
Hyperliquid, `trader.funding_interval_ms`). Who reads what:

- the DM (`lotus_core.dm.engine`): `CostModel.price` per coin at every decision, its
  `round_trip_bps` (entry and exit, 2 × `total_bps`) the allocator's cost vector c (so its
  no-trade region: a trade pays only where the edge beats the round trip), the carry taken off
  μ over the base horizon; the ticket carries all of it (`audit_refs.cost.*`,
  `dm_decisions.edge_bps / cost_bps / execution`);
- the Trader (`lotus_core.trader.engine`, `reports`): `fee` on every fill,
  `funding_payment` every interval, `paid` in every execution report;
- the reports: `CostTally` folds priced (the DM's tickets) against paid (the Trader's
  execution reports) per coin, in both assets' metadata.

The execution the DM prices is the one the Trader's settings give (`execution_of`): `taker`
for market entries (the default), `maker` for resting ones (limit, TWAP limit slices), priced
as the maker fee alone (no spread crossed, no impact; not yet the chance of no fill or the
adverse selection of a passive fill).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from lotus_core.trader.config import TraderSettings, VenueConfig

BPS = 1e4
ROUND_TRIP = 2.0
"""Sides a position pays for: the entry and its exit."""
ExecutionKind = Literal["taker", "maker"]  # how a fill meets the book
EXECUTIONS: tuple[str, ...] = ("taker", "maker")
ASSUMED_EXECUTION: ExecutionKind = "taker"
"""What a model built without the Trader's settings prices: the default market entries."""


def fee_rate(venue: VenueConfig, liquidity: str) -> float:
    """The venue's fee as a fraction of notional for a fill that took (`taker`) or made
    (`maker`) liquidity; a negative maker fee is a rebate."""
    if liquidity == "taker":
        return venue.taker_fee
    if liquidity == "maker":
        return venue.maker_fee
    raise ValueError(f"liquidity must be taker or maker, got {liquidity!r}")


def fee(venue: VenueConfig, liquidity: str, notional: float) -> float:
    """What a fill of `notional` (quote units) pays the venue (negative: a rebate)."""
    return notional * fee_rate(venue, liquidity)


def impact_bps(trade_notional: float, depth_notional: float, within_bps: float) -> float:
    """Book-walk impact of a trade of `trade_notional` through `depth_notional` displayed
    within `within_bps` of mid (one side): N·q/(2D), capped at N/2; 0 without a depth."""
    if not (math.isfinite(depth_notional) and depth_notional > 0) or trade_notional <= 0:
        return 0.0
    return min(within_bps / 2.0, within_bps * trade_notional / (2.0 * depth_notional))


def funding_bps(rate: float, hold_ms: float, interval_ms: float) -> float:
    """Funding a long pays over `hold_ms`, bps of notional (negative: it receives); a short
    pays the negative of it. 0 for an unknown rate."""
    if not math.isfinite(rate) or interval_ms <= 0:
        return 0.0
    return rate * BPS * hold_ms / interval_ms


def funding_payment(qty: float, px: float, rate: float) -> float:
    """What a position of signed `qty` receives at one funding time (negative: it pays);
    longs pay a positive rate."""
    return -qty * px * rate


@dataclass(frozen=True)
class Priced:
    """The cost of trading one coin as priced at a decision, per side, bps of notional."""

    venue: str
    execution: str
    fee_bps: float
    half_spread_bps: float
    impact_bps: float
    funding_bps: float = 0.0  # a long's carry over the expected holding time (short: −)

    @property
    def total_bps(self) -> float:
        """The trade's cost per side; funding is the carry."""
        return self.fee_bps + self.half_spread_bps + self.impact_bps

    @property
    def round_trip_bps(self) -> float:
        """What the DM weighs an edge against (the allocator's c_i × 1e4): the side it
        trades now and the side that will take the position off again, priced alike. The
        alpha decays within its horizon, so a position the DM opens is one it will close;
        against one side only, edges between one side and two were traded at a loss."""
        return ROUND_TRIP * self.total_bps

    def refs(self) -> dict[str, str]:
        """The ticket's `audit_refs` entries (strings, as dm-decision-1.0 requires)."""
        return {"execution": self.execution, "cost_bps": repr(round(self.total_bps, 6)),
                "cost.venue": self.venue, "cost.fee_bps": repr(round(self.fee_bps, 6)),
                "cost.half_spread_bps": repr(round(self.half_spread_bps, 6)),
                "cost.impact_bps": repr(round(self.impact_bps, 6)),
                "cost.funding_bps": repr(round(self.funding_bps, 6)),
                "cost.round_trip_bps": repr(round(self.round_trip_bps, 6))}


def execution_of(settings: TraderSettings) -> ExecutionKind:
    """How the Trader's entries meet the book, so the DM prices what the Trader will do: a
    limit order at the touch (`limit_offset_ticks` behind it, post-only or good-till-cancel)
    or TWAP limit slices rest and fill as a maker; a market order or market slices take."""
    passive = settings.execution_strategy == "limit" or (
        settings.execution_strategy == "twap" and settings.twap_slice_type == "limit")
    return "maker" if passive else "taker"


@dataclass(frozen=True)
class CostModel:
    """The venues' fee schedules in the Trader's order of preference and its funding
    interval: everything the formulas above need besides the market's own numbers."""

    venues: tuple[VenueConfig, ...]
    funding_interval_ms: int = 3_600_000
    execution: str = ASSUMED_EXECUTION

    def __post_init__(self) -> None:
        if not self.venues:
            raise ValueError("a cost model needs at least one venue")
        if self.execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {self.execution!r}")

    @classmethod
    def from_trader(cls, settings: TraderSettings | None = None) -> CostModel:
        """The model of the Trader's settings (None: the packaged defaults): its preferred
        venues first, in order, then the others."""
        s = settings if settings is not None else TraderSettings()
        prefs = [s.venue(n) for n in s.venue_preferences]
        rest = [v for v in s.venues if v.name not in s.venue_preferences]
        return cls(tuple(prefs + rest), s.funding_interval_ms, execution_of(s))

    def venue_for(self, coin: str) -> VenueConfig:
        """The venue the Trader prefers for `coin` (the first that lists it; else the first)."""
        return next((v for v in self.venues if coin in v.symbols), self.venues[0])

    def price(self, coin: str, spread_bps: float, depth_notional: float,
              trade_notional: float, within_bps: float, funding_rate: float = math.nan,
              hold_ms: float = 0.0) -> Priced:
        """The cost of trading `coin` now: `spread_bps` and `depth_notional` (within
        `within_bps` of mid) from the market at the decision, `trade_notional` the size
        impact is priced at, the funding rate and the expected holding time for the carry.
        Unknown spread or depth count 0."""
        venue = self.venue_for(coin)
        fee_bps = fee_rate(venue, self.execution) * BPS
        taker = self.execution == "taker"
        half = spread_bps / 2.0 if taker and math.isfinite(spread_bps) else 0.0
        impact = impact_bps(trade_notional, depth_notional, within_bps) if taker else 0.0
        return Priced(venue.name, self.execution, fee_bps, max(half, 0.0), impact,
                      funding_bps(funding_rate, hold_ms, self.funding_interval_ms))


@dataclass(frozen=True)
class Paid:
    """What an execution cost, bps of its filled notional: the fees, and the crossing (its
    VWAP against the mid when its first order arrived: the half spread and the walk)."""

    notional: float
    fee_bps: float
    crossing_bps: float

    @property
    def total_bps(self) -> float:
        return self.fee_bps + self.crossing_bps


def paid(side: int, vwap: float | None, qty: float, fees: float,
         arrival_mid: float | None) -> Paid | None:
    """The cost an execution paid (None: nothing filled or no arrival mid)."""
    if vwap is None or qty <= 0 or not arrival_mid or arrival_mid <= 0 or side == 0:
        return None
    notional = vwap * qty
    return Paid(notional, fees / notional * BPS, side * (vwap - arrival_mid) / arrival_mid * BPS)


COST_TABLE = {
    "coin": "the coin",
    "tickets": "trade tickets the DM priced (action trade)",
    "executions": "executions of the DM's tickets that filled",
    "notional_usd": "their filled notional, USD",
    "priced_bps": "cost the DM priced (fee + half spread + impact, a side), notional-weighted "
                  "over the filled executions, bps",
    "paid_bps": "cost the Trader charged (fees + VWAP vs the arrival mid), notional-weighted, "
                "bps",
    "diff_bps": "paid_bps - priced_bps (the model's error: mostly the spread moving between "
                "decision and fill)",
    "fee_priced_bps": "the fee the DM priced, notional-weighted, bps",
    "fee_paid_bps": "the fee the Trader charged, notional-weighted, bps",
    "exits": "barrier and time-limit exits (the Trader's own; no ticket priced them)",
    "exit_paid_bps": "their cost, notional-weighted, bps",
    "funding_usd": "funding the positions received (negative: paid), USD",
}
"""The priced-vs-paid table's columns and what they mean (the assets' metadata)."""


@dataclass
class _Coin:
    tickets: int = 0
    executions: int = 0
    notional: float = 0.0
    priced: float = 0.0  # Σ notional × priced bps
    paid: float = 0.0
    fee_priced: float = 0.0
    fee_paid: float = 0.0
    exits: int = 0
    exit_notional: float = 0.0
    exit_paid: float = 0.0
    funding: float = 0.0


@dataclass
class CostTally:
    """Priced against paid, per coin, folded as the tickets and the Trader's outputs pass
    (the joint replay's sink): a trade ticket's priced cost waits for its entry
    execution's report, then both are counted."""

    coins: dict[str, _Coin] = field(default_factory=dict)
    _waiting: dict[str, tuple[str, float, float]] = field(default_factory=dict)

    def _coin(self, coin: str) -> _Coin:
        return self.coins.setdefault(coin, _Coin())

    def priced(self, decision_id: str, coin: str, ticket: Mapping[str, Any],
               trade: bool = True) -> None:
        """A ticket and its priced cost (`audit_refs.cost_bps`, `cost.fee_bps`); `trade`:
        its action moves the target (a hold may still execute: the Trader nets it against
        what it holds)."""
        refs = ticket.get("audit_refs") or {}
        if "cost_bps" not in refs:
            return
        self._coin(coin).tickets += trade
        self._waiting[decision_id] = (coin, float(refs["cost_bps"]),
                                      float(refs.get("cost.fee_bps", "nan")))

    def output(self, kind: str, data: Mapping[str, Any]) -> None:
        """One Trader output: exec reports are matched to their ticket, funding counted."""
        if kind == "position" and "funding_paid" in data:
            self._coin(str(data["coin"])).funding += float(data["funding_paid"])
            return
        if kind != "exec_report":
            return
        m = data.get("exec_metrics") or {}
        p = (Paid(float(m["vwap"]) * float(m["qty"]), float(m["fee_bps"]),
                  float(m["crossing_bps"])) if m.get("cost_bps") is not None else None)
        coin = str(data.get("symbol", ""))
        if m.get("purpose") == "exit":
            if p is not None:
                c = self._coin(coin)
                c.exits += 1
                c.exit_notional += p.notional
                c.exit_paid += p.notional * p.total_bps
            return
        waiting = self._waiting.pop(str(data.get("decision_id", "")), None)
        if waiting is None or p is None:
            return
        coin, priced_bps, fee_priced = waiting
        c = self._coin(coin)
        c.executions += 1
        c.notional += p.notional
        c.priced += p.notional * priced_bps
        c.paid += p.notional * p.total_bps
        c.fee_priced += p.notional * fee_priced
        c.fee_paid += p.notional * p.fee_bps

    def outputs(self, outs: Iterable[Any]) -> None:
        """Trader outputs (objects with `kind` and `data`), in order."""
        for o in outs:
            self.output(o.kind, o.data)

    def table(self) -> pd.DataFrame:
        """One row per coin (COST_TABLE's columns), coins in order."""
        def mean(total: float, n: float) -> float:
            return total / n if n > 0 else math.nan

        rows = []
        for coin in sorted(self.coins):
            c = self.coins[coin]
            priced_bps, paid_bps = mean(c.priced, c.notional), mean(c.paid, c.notional)
            rows.append({
                "coin": coin, "tickets": c.tickets, "executions": c.executions,
                "notional_usd": c.notional, "priced_bps": priced_bps, "paid_bps": paid_bps,
                "diff_bps": paid_bps - priced_bps,
                "fee_priced_bps": mean(c.fee_priced, c.notional),
                "fee_paid_bps": mean(c.fee_paid, c.notional), "exits": c.exits,
                "exit_paid_bps": mean(c.exit_paid, c.exit_notional), "funding_usd": c.funding})
        return pd.DataFrame(rows, columns=list(COST_TABLE)).astype(
            {"tickets": "int64", "executions": "int64", "exits": "int64"})
