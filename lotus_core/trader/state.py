"""The Trader's mutable records: orders, fills, executions, positions, the portfolio.

All plain dataclasses that round-trip through JSON (`to_dict` / `*_from`), because the
daemon persists them after every change and restores them after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lotus_core.trader.queue import QueuePos

TERMINAL = ("filled", "cancelled", "rejected")


@dataclass
class Order:
    order_id: str
    execution_id: str
    coin: str
    venue: str
    side: int  # +1 buy, -1 sell
    qty: float
    kind: str  # market | limit
    tif: str  # ioc | gtc | post_only
    limit_px: float | None
    slip_bps: float  # market orders: cap vs the mid at arrival
    created_ms: int
    arrive_ms: int
    expire_ms: int | None
    purpose: str  # entry | exit | slice | probe (the engine's `_probe_round`)
    status: str = "pending"  # pending -> working -> filled | cancelled | rejected
    filled_qty: float = 0.0
    queue: QueuePos | None = None
    n_fills: int = 0
    reason: str | None = None
    arrival_mid: float | None = None

    @property
    def leaves(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def order_from(d: dict[str, Any]) -> Order:
    d = dict(d)
    q = d.pop("queue", None)
    return Order(**d, queue=QueuePos(**q) if q else None)


@dataclass(frozen=True)
class Fill:
    fill_id: str
    order_id: str
    execution_id: str
    coin: str
    venue: str
    side: int
    px: float
    qty: float
    fee: float
    ts_ms: int
    liquidity: str  # taker | maker


@dataclass
class Execution:
    """Everything done for one plan (entry) or one exit, reported once when it ends."""

    execution_id: str
    plan_id: str
    decision_id: str
    coin: str
    venue: str
    side: int
    purpose: str  # entry | exit
    reason: str  # the plan's strategy, or why we exit (stop_loss, take_profit, ...)
    strategy: str
    qty: float
    started_ms: int
    decision_px: float | None
    expected_px: float | None
    max_slippage_bps: float
    max_latency_ms: int
    target_weight: float | None
    bounds: list[float] | None
    venue_score: dict[str, float] = field(default_factory=dict)
    signal_id: str | None = None
    order_ids: list[str] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    slices_left: int = 0
    arrival_mid: float | None = None
    pnl_impact: float = 0.0
    sl_bps: float | None = None
    tp_bps: float | None = None
    trail_bps: float | None = None
    time_limit_ms: int | None = None
    barrier_px: float | None = None  # exits: the barrier that fired
    order: str = ""  # the order type chosen (market | limit; a TWAP's slice type)
    n_slices: int = 0  # slices of a TWAP (0: the configured twap_slices)
    context: dict[str, float | None] = field(default_factory=dict)  # spread, depth, vol at decision
    tr_priors_version: int = 0  # the tr priors version the Trader used (0: none)
    tr_choice: dict[str, Any] = field(default_factory=dict)  # what those priors changed
    choice: dict[str, Any] = field(default_factory=dict)  # the execution rule's figures


def execution_from(d: dict[str, Any]) -> Execution:
    return Execution(**d)


def open_qty(executions: Iterable[Execution], coin: str) -> float:
    """The signed quantity the open executions on `coin` will still trade (orders in flight
    or resting, TWAP slices not sent yet, exits under way): with the position, what the
    Trader is committed to hold. Targets are netted against it, so a decision made while
    an order works does not send a second one."""
    return sum(e.side * max(e.qty - sum(f["qty"] for f in e.fills), 0.0)
               for e in executions if e.coin == coin and e.side)


@dataclass
class Position:
    coin: str
    qty: float = 0.0  # signed, base units
    avg_px: float = 0.0
    realised: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    opened_ms: int | None = None
    sl_px: float | None = None
    tp_px: float | None = None
    trail_bps: float | None = None
    best_px: float | None = None
    time_limit_at: int | None = None
    plan_id: str | None = None
    decision_id: str | None = None
    exit_execution: str | None = None

    def apply(self, side: int, px: float, qty: float) -> float:
        """Book a fill; returns the P&L it realised (average-cost accounting)."""
        signed = side * qty
        realised = 0.0
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg_px = (self.avg_px * abs(self.qty) + px * qty) / abs(total)
            self.qty = total
        else:
            closing = min(qty, abs(self.qty))
            realised = closing * (px - self.avg_px) * (1 if self.qty > 0 else -1)
            self.qty += signed
            if abs(self.qty) < 1e-12:
                self.qty, self.avg_px = 0.0, 0.0
            elif (self.qty > 0) == (signed > 0):  # flipped: the rest opens at px
                self.avg_px = px
        self.realised += realised
        return realised

    def unrealised(self, mark: float | None) -> float:
        return 0.0 if mark is None or self.qty == 0 else self.qty * (mark - self.avg_px)


def position_from(d: dict[str, Any]) -> Position:
    return Position(**d)


@dataclass
class Portfolio:
    """What the DM's context snapshot reads: equity, exposure, drawdown from peak."""

    initial_equity: float
    realised: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    peak_equity: float = 0.0
    max_drawdown: float = 0.0

    def equity(self, positions: dict[str, Position], marks: Mapping[str, float]
               ) -> tuple[float, float]:
        """(equity, unrealised) at `marks` (a coin without one: no unrealised P&L): the
        engine's hot path reads these alone, without the rest of the snapshot."""
        unreal = sum(p.unrealised(marks.get(c)) for c, p in positions.items())
        return self.initial_equity + self.realised - self.fees + self.funding + unreal, unreal

    def snapshot(self, positions: dict[str, Position], marks: dict[str, float]) -> dict[str, Any]:
        equity, unreal = self.equity(positions, marks)
        notionals = {c: p.qty * marks.get(c, p.avg_px) for c, p in positions.items() if p.qty}
        gross = sum(abs(v) for v in notionals.values())
        net = sum(notionals.values())
        peak = max(self.peak_equity, equity)
        return {
            "equity": equity, "cash_pnl": self.realised - self.fees + self.funding,
            "realised": self.realised, "unrealised": unreal, "fees": self.fees,
            "funding": self.funding, "gross_exposure": gross / equity if equity else 0.0,
            "net_exposure": net / equity if equity else 0.0,
            "positions": {c: p.qty for c, p in positions.items() if p.qty},
            "weights": {c: v / equity for c, v in notionals.items()} if equity else {},
            "peak_equity": peak, "drawdown": (peak - equity) / peak if peak > 0 else 0.0,
            "max_drawdown": self.max_drawdown,
        }


def to_dict(obj: Any) -> dict[str, Any]:
    """A detached plain copy of a record (containers copied, nested records converted):
    what `dataclasses.asdict` gives for these flat records, several times faster."""
    out = {}
    for k, v in obj.__dict__.items() if hasattr(obj, "__dict__") else (
            (f, getattr(obj, f)) for f in obj.__slots__):
        if isinstance(v, list):
            v = [dict(x) if isinstance(x, dict) else x for x in v]
        elif isinstance(v, dict):
            v = dict(v)
        elif hasattr(v, "__dataclass_fields__"):
            v = to_dict(v)
        out[k] = v
    return out
