"""The one cost model: what a trade costs, priced by the Decision-Maker and charged by the
paper Trader from the same formulas and the same numbers (docs/dm.md, docs/trader.md).

Per side, in bps of the notional traded:

    cost = fee(venue, execution) + half_spread + impact
    fee          = the venue's fee schedule: `trader.venues[].taker_fee` (or `maker_fee`;
                   negative = a rebate), the one fee number in Lotus (by default the
                   venue's own: lotus_core/venues/hyperliquid/fees.py)
    half_spread  = spread_bps / 2 at the decision (a taker crosses half the spread; a
                   resting fill earns it: −spread_bps / 2)
    impact       = N · q / (2 D), capped at N / 2: a trade of notional q walked through
                   the displayed depth D (quote units, one side) within N bps of mid,
                   spread evenly over those N bps

and the carry of a position held for the expected holding time h (the ticket's horizon):

    funding = rate · h / funding_interval       (longs pay a positive rate, shorts receive)

`rate` is the venue's funding per interval (the asset context's `funding`, hourly on
Hyperliquid, `trader.funding_interval_ms`). Who reads what:

- the DM (`lotus_core.dm.engine`): `CostModel.price` per coin at every decision, its
  `round_trip_bps` (the entry's `total_bps` and a taker exit) the allocator's cost vector c
  (so its
  no-trade region: a trade pays only where the edge beats the round trip), the carry taken off
  μ over the base horizon; the ticket carries all of it (`audit_refs.cost.*`,
  `dm_decisions.edge_bps / cost_bps / execution`);
- the Trader (`lotus_core.trader.engine`, `reports`): `CostModel.choose` at every entry,
  `fee` on every fill, `funding_payment` every interval, `paid` in every execution report;
- the reports: `CostTally` folds priced (the DM's tickets) against paid (the Trader's
  execution reports) per coin, in both assets' metadata.

The execution is chosen per ticket by one rule (`choose_execution`), the Trader's at each
entry and the DM's when it prices: post-only at the touch where waiting pays, a market
order where the edge lost by waiting (its decay over the expected time to fill, and the
chance of no fill) costs more than the taker-minus-maker fee plus the spread, TWAP market
slices where the walk through the depth costs more than the later slices' wait. A passive
fill is priced at the maker fee, the half spread it earns (negative), the adverse selection
measured after the Trader's own passive fills and its probes of the book (`PassiveOdds`:
the own record shrunk to the probes', the probes' to a stated conservative prior) and the
edge decayed while it waits; the exit that takes the position off again is a
market order (the Trader's barriers and time limit), priced as a taker side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import pandas as pd

from lotus_core.trader.config import TraderSettings, VenueConfig

BPS = 1e4
ExecutionKind = Literal["taker", "maker"]  # how a fill meets the book
EXECUTIONS: tuple[str, ...] = ("taker", "maker")
POLICIES: tuple[str, ...] = ("auto", "taker", "maker")
"""How entries are executed: `auto` chooses per ticket (`choose_execution`); `taker` and
`maker` are fixed by the Trader's settings (a market or a resting strategy named)."""
ASSUMED_EXECUTION = "auto"
"""What a model built without the Trader's settings prices: the packaged default."""

# The conservative prior of a passive order's outcome, before the Trader has its own history
# (each a pseudo-count of PRIOR_WEIGHT orders or fills): three in ten post-only orders at the
# touch fill within the cancel window, half of it spent waiting, and a passive fill is
# followed by the mid moving 3 bps against it (about what the fixture days showed when every
# entry rested: gross P&L per dollar traded 3.7 bps below taker entries).
PRIOR_FILL_PROB = 0.3
PRIOR_FILL_SHARE_OF_WAIT = 0.5
PRIOR_ADVERSE_BPS = 3.0
PRIOR_WEIGHT = 20.0
MARKOUTS_MS: tuple[int, ...] = (5_000, 60_000)
"""After a passive fill, the mid is read again this long after it (adverse selection)."""


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


class PassivePricing(Protocol):
    """What the execution rule reads of a passive order's outcome (`PassiveHistory` alone,
    shrunk to the stated constants, or `PassiveOdds`)."""

    def fill_prob(self) -> float: ...

    def fill_ms(self, wait_ms: float) -> float: ...

    def adverse_bps(self) -> float: ...


@dataclass
class PassiveHistory:
    """The Trader's own record of its passive (post-only, resting) entry orders: how often
    they filled, how long they waited, and how far the mid moved against each passive fill
    5 s and 60 s after it (bps, positive = against the position). Shrunk to the stated
    prior by PRIOR_WEIGHT pseudo-orders; kept in the Trader's snapshot across days."""

    orders: int = 0  # passive orders that ended (filled, partly filled or cancelled)
    filled: float = 0.0  # the sum of their filled shares
    waited_ms: float = 0.0  # the sum, over those that filled, of arrival -> first fill
    waits: int = 0
    adverse_5s: float = 0.0  # Σ bps over the fills marked at 5 s
    marked_5s: int = 0
    adverse_60s: float = 0.0
    marked_60s: int = 0

    def fill_prob(self) -> float:
        """The share of a passive order that fills (the prior shrunk by the history)."""
        return (self.filled + PRIOR_FILL_PROB * PRIOR_WEIGHT) / (self.orders + PRIOR_WEIGHT)

    def fill_ms(self, wait_ms: float) -> float:
        """Expected time from arrival to a fill (`wait_ms`: the cancel window)."""
        prior = PRIOR_FILL_SHARE_OF_WAIT * wait_ms
        return (self.waited_ms + prior * PRIOR_WEIGHT) / (self.waits + PRIOR_WEIGHT)

    def adverse_bps(self) -> float:
        """The adverse selection priced on a passive fill: the 60 s markout (the one nearer
        the alphas' horizons), shrunk to the prior, never below 0 (no fill is priced as a
        gain beyond the half spread it earns)."""
        return max(0.0, (self.adverse_60s + PRIOR_ADVERSE_BPS * PRIOR_WEIGHT)
                   / (self.marked_60s + PRIOR_WEIGHT))

    def order_done(self, share: float, waited_ms: float | None) -> None:
        self.ended(share)
        if waited_ms is not None:
            self.first_fill(waited_ms)

    def ended(self, share: float) -> None:
        """An order ended having filled `share` of its size."""
        self.orders += 1
        self.filled += min(max(share, 0.0), 1.0)

    def first_fill(self, waited_ms: float) -> None:
        """An order's first fill came `waited_ms` after it arrived."""
        self.waited_ms += waited_ms
        self.waits += 1

    def marked(self, after_ms: int, bps: float) -> None:
        if after_ms == MARKOUTS_MS[0]:
            self.adverse_5s += bps
            self.marked_5s += 1
        else:
            self.adverse_60s += bps
            self.marked_60s += 1

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in PASSIVE_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PassiveHistory:
        d = d or {}
        return cls(**{k: type(getattr(cls(), k))(d[k]) for k in PASSIVE_FIELDS if k in d})

    def since(self, start: PassiveHistory) -> PassiveHistory:
        """What was added after `start` (a day's figures: the end minus the day's start)."""
        return PassiveHistory(**{k: getattr(self, k) - getattr(start, k)
                                 for k in PASSIVE_FIELDS})


PASSIVE_FIELDS = ("orders", "filled", "waited_ms", "waits", "adverse_5s", "marked_5s",
                  "adverse_60s", "marked_60s")


@dataclass(frozen=True)
class PassiveOdds:
    """What a resting entry is priced with: the Trader's own passive record (`own`: its
    resting entries, which follow its signals) shrunk by PRIOR_WEIGHT pseudo-orders to what
    its probes measured (`probed`: virtual post-only orders at the touch on a schedule,
    `trader.probe`; itself shrunk to the stated constants). Without probes it is the own
    record shrunk to the constants, as before; with a day of probes, the book's own odds
    replace the constants, so the rule is not stuck at a prior no resting entry can move
    (every edge worth trading under the prior is taken, so nothing ever rests)."""

    own: PassiveHistory = field(default_factory=PassiveHistory)
    probed: PassiveHistory = field(default_factory=PassiveHistory)

    def fill_prob(self) -> float:
        return (self.own.filled + self.probed.fill_prob() * PRIOR_WEIGHT) / (
            self.own.orders + PRIOR_WEIGHT)

    def fill_ms(self, wait_ms: float) -> float:
        return (self.own.waited_ms + self.probed.fill_ms(wait_ms) * PRIOR_WEIGHT) / (
            self.own.waits + PRIOR_WEIGHT)

    def adverse_bps(self) -> float:
        return max(0.0, (self.own.adverse_60s + self.probed.adverse_bps() * PRIOR_WEIGHT)
                   / (self.own.marked_60s + PRIOR_WEIGHT))


@dataclass(frozen=True)
class ExecutionChoice:
    """How an entry meets the book, and what each way was expected to cost (bps of the
    notional, a side): `order` market | limit (post-only at the touch), `slices` > 1 a
    TWAP of market slices."""

    execution: str  # taker | maker
    order: str  # market | limit
    slices: int
    taker_bps: float  # fee + half spread + impact
    maker_bps: float  # maker fee - half spread + adverse selection, if it fills
    fill_prob: float
    fill_ms: float
    adverse_bps: float
    wait_bps: float  # the edge decayed while a passive order waits, if it fills

    def refs(self) -> dict[str, str]:
        return {"exec.order": self.order, "exec.slices": str(self.slices),
                "exec.fill_prob": repr(round(self.fill_prob, 6)),
                "exec.adverse_bps": repr(round(self.adverse_bps, 6)),
                "exec.wait_bps": repr(round(self.wait_bps, 6)),
                "exec.taker_bps": repr(round(self.taker_bps, 6)),
                "exec.maker_bps": repr(round(self.maker_bps, 6))}


def choose_execution(edge_bps: float, half_life_ms: float, spread_bps: float,
                     impact: float, venue: VenueConfig, history: PassivePricing,
                     wait_ms: float, max_slices: int, slice_ms: float) -> ExecutionChoice:
    """The one execution rule (pure): how to enter a trade whose expected edge in its
    direction is `edge_bps` over an alpha decaying with `half_life_ms`, on a book quoting
    `spread_bps`, the whole trade walking `impact` bps through the displayed depth.

    Per unit of notional wanted, a market order makes edge − taker, taker = taker fee +
    half spread + `impact`; a post-only order at the touch fills with probability p after
    t (the history's), and then makes edge · 0.5^(t / half-life) − (maker fee − half spread
    + adverse selection). The market order is chosen only where it makes more: where the
    edge lost by waiting, edge · (1 − p · decay), exceeds taker − p · maker. A non-positive
    edge has nothing to lose by waiting; an unknown edge (a ticket that does not say its
    urgency) or an unknown spread takes. A taker order is cut into n TWAP market slices
    `slice_ms` apart (n ≤ `max_slices`) where that costs least: the walk falls to impact / n
    (the book refilling between slices), the later slices lose the edge's decay over their
    mean wait (n − 1) / 2 · `slice_ms`."""
    hs = spread_bps / 2.0 if math.isfinite(spread_bps) else math.nan
    p, t = history.fill_prob(), history.fill_ms(wait_ms)
    adverse = history.adverse_bps()
    decay = 0.5 ** (t / half_life_ms) if half_life_ms > 0 else 0.0
    e = edge_bps if math.isfinite(edge_bps) else 0.0
    taker = fee_rate(venue, "taker") * BPS + (hs if math.isfinite(hs) else 0.0) + impact
    maker = fee_rate(venue, "maker") * BPS - (hs if math.isfinite(hs) else 0.0) + adverse
    wait = max(e, 0.0) * (1.0 - decay)
    passive_value = p * (max(e, 0.0) * decay - maker)
    take = not (math.isfinite(hs) and math.isfinite(edge_bps)) or (e - taker) > passive_value
    slices = 1
    if take and impact > 0 and half_life_ms > 0 and math.isfinite(edge_bps):
        def sliced(n: int) -> float:
            return impact / n + max(e, 0.0) * (
                1.0 - 0.5 ** ((n - 1) / 2.0 * slice_ms / half_life_ms))
        slices = min(range(1, max(max_slices, 1) + 1), key=lambda n: (sliced(n), n))
    return ExecutionChoice("taker" if take else "maker", "market" if take else "limit",
                           max(slices, 1), taker, maker, p, t, adverse, wait)


@dataclass(frozen=True)
class Priced:
    """The cost of trading one coin as priced at a decision, per side, bps of notional."""

    venue: str
    execution: str
    fee_bps: float
    half_spread_bps: float
    impact_bps: float
    funding_bps: float = 0.0  # a long's carry over the expected holding time (short: −)
    adverse_bps: float = 0.0  # a passive fill's adverse selection (the Trader's history)
    wait_bps: float = 0.0  # the edge a passive order loses while it waits
    fill_prob: float = 1.0  # the chance the entry fills (a market order: 1)
    exit_bps: float = math.nan  # the side that takes the position off (NaN: as this one)
    edge_bps: float = math.nan  # the edge the execution was chosen for (signed as μ)
    half_life_ms: float = math.nan  # and the half-life it decays with

    @property
    def at_fill_bps(self) -> float:
        """What the fill itself is charged, a side: fee + half spread (a maker earns it:
        negative) + impact. The Trader's `paid` cost is checked against this."""
        return self.fee_bps + self.half_spread_bps + self.impact_bps

    @property
    def total_bps(self) -> float:
        """The entry's cost per side if it fills: what the fill is charged, the adverse
        selection and the edge lost waiting (never below 0); funding is the carry."""
        return max(0.0, self.at_fill_bps + self.adverse_bps + self.wait_bps)

    @property
    def expected_fee_bps(self) -> float:
        """The fee per unit of notional wanted: the fee times the chance of a fill."""
        return self.fee_bps * self.fill_prob

    @property
    def round_trip_bps(self) -> float:
        """What the DM weighs an edge against (the allocator's c_i × 1e4): the side it
        trades now and the side that will take the position off again (a market order:
        the Trader's barriers and time limit take). The alpha decays within its horizon,
        so a position the DM opens is one it will close; against one side only, edges
        between one side and two were traded at a loss."""
        exit_side = self.total_bps if math.isnan(self.exit_bps) else self.exit_bps
        return self.total_bps + exit_side

    def refs(self) -> dict[str, str]:
        """The ticket's `audit_refs` entries (strings, as dm-decision-1.0 requires)."""
        return {"execution": self.execution, "cost_bps": repr(round(self.total_bps, 6)),
                "cost.venue": self.venue, "cost.fee_bps": repr(round(self.fee_bps, 6)),
                "cost.half_spread_bps": repr(round(self.half_spread_bps, 6)),
                "cost.impact_bps": repr(round(self.impact_bps, 6)),
                "cost.at_fill_bps": repr(round(self.at_fill_bps, 6)),
                "cost.adverse_bps": repr(round(self.adverse_bps, 6)),
                "cost.wait_bps": repr(round(self.wait_bps, 6)),
                "cost.fill_prob": repr(round(self.fill_prob, 6)),
                "cost.expected_fee_bps": repr(round(self.expected_fee_bps, 6)),
                "cost.funding_bps": repr(round(self.funding_bps, 6)),
                "cost.round_trip_bps": repr(round(self.round_trip_bps, 6)),
                **({"cost.edge_bps": repr(round(self.edge_bps, 6)),
                    "cost.half_life_ms": repr(round(self.half_life_ms))}
                   if math.isfinite(self.edge_bps) and math.isfinite(self.half_life_ms)
                   else {})}


def execution_of(settings: TraderSettings) -> str:
    """How the Trader's entries meet the book, so the DM prices what the Trader will do:
    `auto` (the default strategy) chooses per ticket (`choose_execution`); a limit order at
    the touch or TWAP limit slices rest and fill as a `maker`; a market order or market
    slices take (`taker`)."""
    if settings.execution_strategy == "auto":
        return "auto"
    passive = settings.execution_strategy == "limit" or (
        settings.execution_strategy == "twap" and settings.twap_slice_type == "limit")
    return "maker" if passive else "taker"


@dataclass(frozen=True)
class CostModel:
    """The venues' fee schedules in the Trader's order of preference, its funding interval
    and the passive order's cancel window (the wait a passive fill is expected within):
    everything the formulas above need besides the market's own numbers and the Trader's
    passive history."""

    venues: tuple[VenueConfig, ...]
    funding_interval_ms: int = 3_600_000
    execution: str = ASSUMED_EXECUTION
    wait_ms: int = 60_000  # trader.limit_cancel_after_ms
    max_slices: int = 4  # trader.twap_slices
    slice_ms: float = 30_000.0  # trader.twap_horizon_ms / twap_slices

    def __post_init__(self) -> None:
        if not self.venues:
            raise ValueError("a cost model needs at least one venue")
        if self.execution not in POLICIES:
            raise ValueError(f"execution must be one of {POLICIES}, got {self.execution!r}")

    @classmethod
    def from_trader(cls, settings: TraderSettings | None = None) -> CostModel:
        """The model of the Trader's settings (None: the packaged defaults): its preferred
        venues first, in order, then the others."""
        s = settings if settings is not None else TraderSettings()
        prefs = [s.venue(n) for n in s.venue_preferences]
        rest = [v for v in s.venues if v.name not in s.venue_preferences]
        return cls(tuple(prefs + rest), s.funding_interval_ms, execution_of(s),
                   s.limit_cancel_after_ms, s.twap_slices, s.twap_horizon_ms / s.twap_slices)

    def venue_for(self, coin: str) -> VenueConfig:
        """The venue the Trader prefers for `coin` (the first that lists it; else the first)."""
        return next((v for v in self.venues if coin in v.symbols), self.venues[0])

    def choose(self, coin: str, edge_bps: float, half_life_ms: float, spread_bps: float,
               impact: float, history: PassivePricing | None) -> ExecutionChoice:
        """The execution of a trade of `coin` under this model's policy: `auto` by the rule
        (`choose_execution`), else the fixed one. The Trader's entries and the DM's prices
        both come from here."""
        venue = self.venue_for(coin)
        choice = choose_execution(edge_bps, half_life_ms, spread_bps, impact, venue,
                                  history or PassiveHistory(), self.wait_ms, self.max_slices,
                                  self.slice_ms)
        if self.execution == "auto":
            return choice
        order = "market" if self.execution == "taker" else "limit"
        return replace(choice, execution=self.execution, order=order, slices=1)

    def price(self, coin: str, spread_bps: float, depth_notional: float,
              trade_notional: float, within_bps: float, funding_rate: float = math.nan,
              hold_ms: float = 0.0, edge_bps: float = math.nan,
              history: PassivePricing | None = None,
              half_life_ms: float | None = None) -> Priced:
        """The cost of trading `coin` now: `spread_bps` and `depth_notional` (within
        `within_bps` of mid) from the market at the decision, `trade_notional` the size
        impact is priced at, the funding rate and the expected holding time for the carry
        (also the alpha's half-life unless `half_life_ms` says), `edge_bps` the coin's edge
        (signed; the trade is
        priced as one in its direction, as the ticket's `cost.edge_bps` tells the
        Trader) and `history`
        the Trader's passive record (None: the prior) for the execution the rule picks.
        Unknown spread or depth count 0. A taker entry is priced as fee + half spread +
        impact; a maker entry as maker fee − half spread + adverse selection + the edge
        decayed while waiting; the exit as a taker side."""
        venue = self.venue_for(coin)
        half = max(spread_bps / 2.0, 0.0) if math.isfinite(spread_bps) else 0.0
        impact = impact_bps(trade_notional, depth_notional, within_bps)
        carry = funding_bps(funding_rate, hold_ms, self.funding_interval_ms)
        life = hold_ms if half_life_ms is None else half_life_ms
        taker = Priced(venue.name, "taker", fee_rate(venue, "taker") * BPS, half, impact, carry,
                       edge_bps=edge_bps, half_life_ms=life)
        choice = self.choose(coin, abs(edge_bps), life, spread_bps, impact, history)
        if choice.execution == "taker":
            return taker
        return Priced(venue.name, "maker", fee_rate(venue, "maker") * BPS, -half, 0.0, carry,
                      choice.adverse_bps, choice.wait_bps, choice.fill_prob, taker.total_bps,
                      edge_bps, life)


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
    "priced_bps": "cost the DM priced for the fill (fee + half spread + impact, a side; a "
                  "maker earns the half spread), notional-weighted over the filled "
                  "executions, bps",
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
        """A ticket and its priced cost at the fill (`audit_refs.cost.at_fill_bps`,
        `cost.fee_bps`); `trade`:
        its action moves the target (a hold may still execute: the Trader nets it against
        what it holds)."""
        refs = ticket.get("audit_refs") or {}
        if "cost_bps" not in refs:
            return
        self._coin(coin).tickets += trade
        at_fill = refs.get("cost.at_fill_bps", refs["cost_bps"])
        self._waiting[decision_id] = (coin, float(at_fill),
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
