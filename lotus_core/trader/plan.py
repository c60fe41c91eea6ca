"""From a dm-decision-1.0 ticket to execution plans (seed 002's fields), and their validation.

The ticket says what to hold (a weight, delta or notional per symbol, within bounds, until
valid_until); the plan says how: direction and size from the current position, stop loss
and take profit around the entry, the execution strategy, slippage and latency limits and
the venue preferences. Those come from the `trader:` settings; the DM may hint per ticket
through `audit_refs` keys `tr.stop_loss_bps`, `tr.take_profit_bps`, `tr.execution_strategy`,
`tr.max_slippage_bps` (strings, as the schema requires).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lotus_core.fabric.envelope import parse_ts
from lotus_core.trader.book import Book
from lotus_core.trader.config import TraderSettings

REASONS = ("expired", "size_over_limit", "symbol_not_tradeable", "stale_book", "missing_price",
           "risk_reward_below_min", "invalid_ticket")
_HORIZON = re.compile(r"^([1-9][0-9]*)(ms|s|m|h|d|w)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def horizon_ms(text: str) -> int:
    m = _HORIZON.match(text)
    if m is None:
        raise ValueError(f"horizon {text!r} is not like 30s, 5m, 1h")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def ts_ms(text: str) -> int:
    return int(parse_ts(text).timestamp() * 1000)


@dataclass
class Plan:
    """One symbol of one ticket, ready to execute (or refused, with `issues`)."""

    plan_id: str
    decision_id: str
    symbol: str
    direction: str  # long | short | flat (the side of the order that reaches the target)
    target_weight: float
    position_size: float  # |target weight| (the seed's % of portfolio)
    max_position_size: float
    entry_price: float | None  # the mid at decision time
    stop_loss_bps: float
    take_profit_bps: float
    trailing_stop_bps: float | None
    risk_reward_ratio: float
    confidence: float
    execution_strategy: str
    max_slippage_bps: float
    max_latency_ms: int
    venue_preferences: list[str]
    created_ms: int
    valid_until_ms: int
    time_limit_ms: int
    bounds: tuple[float, float] | None
    entry_conditions: dict[str, Any] | None
    target_type: str
    signal_id: str | None = None
    issues: list[str] = field(default_factory=list)
    strategy_hinted: bool = False  # the DM named the strategy (tr priors then leave it)
    edge_bps: float | None = None  # the edge the DM believed (signed; None: not said)
    half_life_ms: float | None = None  # the half-life the DM priced it with (None: horizon)

    @property
    def valid(self) -> bool:
        return not self.issues

    @property
    def conditional(self) -> bool:
        return self.entry_conditions is not None


def _hint(ticket: Mapping[str, Any], key: str) -> str | None:
    refs = ticket.get("audit_refs") or {}
    value = refs.get(f"tr.{key}")
    return None if value is None else str(value)


def _float_hint(ticket: Mapping[str, Any], key: str, default: float) -> float:
    value = _hint(ticket, key)
    try:
        return default if value is None else float(value)
    except ValueError:
        return default


def _edge(ticket: Mapping[str, Any]) -> float | None:
    """The ticket's edge, the urgency the execution rule weighs: the one the DM priced the
    execution at (`audit_refs.cost.edge_bps`), else its calibrated edge (`edge_bps`);
    signed, over the ticket's horizon. None when the ticket does not say."""
    refs = ticket.get("audit_refs") or {}
    value = refs.get("cost.edge_bps", refs.get("edge_bps"))
    try:
        edge = float(value) if value is not None else None
    except ValueError:
        return None
    return edge if edge is not None and edge == edge else None


def _half_life(ticket: Mapping[str, Any]) -> float | None:
    """The half-life the DM priced the execution's edge with (`cost.half_life_ms`)."""
    value = (ticket.get("audit_refs") or {}).get("cost.half_life_ms")
    try:
        life = float(value) if value is not None else None
    except ValueError:
        return None
    return life if life is not None and life > 0 else None


def plans_from_ticket(ticket: Mapping[str, Any], cfg: TraderSettings,
                      signal_id: str | None = None) -> list[Plan]:
    """One plan per symbol of `ticket` (not yet validated against the market)."""
    hint = _hint(ticket, "execution_strategy")
    hinted = hint in ("market", "limit", "twap")
    strategy = hint if hint is not None and hinted else cfg.execution_strategy
    sl = _float_hint(ticket, "stop_loss_bps", cfg.stop_loss_bps)
    tp = _float_hint(ticket, "take_profit_bps", cfg.take_profit_bps)
    created, valid_until = ts_ms(ticket["asof_ts"]), ts_ms(ticket["valid_until"])
    bounds_all = ticket.get("bounds") or {}
    out = []
    for symbol, target in sorted(ticket["targets"].items()):
        b = bounds_all.get(symbol)
        out.append(Plan(
            plan_id=f"{ticket['decision_id']}:{symbol}", decision_id=ticket["decision_id"],
            symbol=symbol, direction="flat", target_weight=float(target),
            position_size=abs(float(target)), max_position_size=cfg.max_position_weight,
            entry_price=None, stop_loss_bps=sl, take_profit_bps=tp,
            trailing_stop_bps=cfg.trailing_stop_bps,
            risk_reward_ratio=tp / sl if sl > 0 else 0.0,
            confidence=float(ticket["confidence"]), execution_strategy=strategy,
            max_slippage_bps=_float_hint(ticket, "max_slippage_bps", cfg.max_slippage_bps),
            max_latency_ms=cfg.max_latency_ms, venue_preferences=list(cfg.venue_preferences),
            created_ms=created, valid_until_ms=valid_until,
            time_limit_ms=horizon_ms(ticket["horizon"]),
            bounds=(float(b["min"]), float(b["max"])) if b else None,
            entry_conditions=dict(ticket["dm_trigger"]) if ticket.get("dm_trigger") else None,
            target_type=ticket["target_type"], signal_id=signal_id, strategy_hinted=hinted,
            edge_bps=_edge(ticket), half_life_ms=_half_life(ticket),
        ))
    return out


def target_weight(plan: Plan, equity: float, current_weight: float) -> float:
    if plan.target_type == "delta":
        return current_weight + plan.target_weight
    if plan.target_type == "notional":
        return plan.target_weight / equity
    return plan.target_weight


def validate(plan: Plan, now_ms: int, book: Book | None, tradeable: bool, cfg: TraderSettings,
             equity: float, current_weight: float, check_market: bool = True) -> list[str]:
    """The plan's issues (empty: valid), named with REASONS codes. `check_market=False`
    skips the book checks (a conditional plan is checked again when its trigger fires)."""
    issues = []
    if now_ms >= plan.valid_until_ms:
        issues.append("expired")
    w = target_weight(plan, equity, current_weight)
    limit = plan.max_position_size
    if abs(w) > limit + 1e-12 or (plan.bounds is not None
                                  and not plan.bounds[0] - 1e-9 <= w <= plan.bounds[1] + 1e-9):
        issues.append("size_over_limit")
    if not tradeable:
        issues.append("symbol_not_tradeable")
    if check_market and tradeable:
        if book is None or book.mid is None:
            issues.append("missing_price")
        elif now_ms - book.ts_ms > cfg.stale_book_ms:
            issues.append("stale_book")
    if plan.risk_reward_ratio < cfg.min_risk_reward:
        issues.append("risk_reward_below_min")
    return issues
