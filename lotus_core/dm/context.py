"""The portfolio context a decision starts from: what the paper Trader holds.

The DM's w₀ (current weights), its equity and drawdown from peak (the ratchet) and when
each position was opened (the flip guard) are the Trader's, not the DM's own targets: a
target the Trader never reached, a stop-loss or a time-limit exit all show up in the next
decision. One definition for both drivers:

- nightly, `lotus_core.dm.joint.joint_day` reads the TraderEngine it steps
  (`from_trader(engine.positions, engine.portfolio, marks)`);
- live, the `dm` loop reads the Trader's persisted snapshot in the fabric
  (`trader_state`, written by the `trader` loop) with `from_snapshot`.

Weights are the Trader's *committed* book: each position plus what its open executions
will still trade (an order in flight or resting, TWAP slices to come, an exit under way) —
the quantity the Trader nets a new target against (`lotus_core.trader.state.open_qty`), so
a decision made while an order works neither re-orders nor re-counts turnover. Marked at
the Trader's latest mid (else the execution's decision mid, else the average price);
equity and peak are normalised by the initial equity (the DM's book starts at 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lotus_core.costs import PassiveHistory, PassiveOdds
from lotus_core.trader.state import (
    Execution,
    Portfolio,
    Position,
    execution_from,
    open_qty,
    position_from,
)


@dataclass(frozen=True)
class PortfolioContext:
    weights: Mapping[str, float]  # coin -> signed committed weight of equity
    pending: Mapping[str, float]  # coin -> the part of it open executions will still trade
    equity: float  # / initial equity
    peak: float  # / initial equity
    opened_ms: Mapping[str, int]  # coin -> when the open position was opened
    as_of_ms: int = 0  # the Trader's clock when it was read
    # the passive odds the day's executions are priced with (`TraderEngine.passive_priced`:
    # its own record and its probes'; None: the stated prior of `lotus_core.costs`)
    passive: PassiveOdds | None = None

    @property
    def drawdown(self) -> float:
        return 1.0 - self.equity / self.peak if self.peak > 0 else 0.0


def from_trader(positions: Mapping[str, Position], portfolio: Portfolio,
                marks: Mapping[str, float], executions: Iterable[Execution] = (),
                as_of_ms: int = 0, passive: PassiveOdds | None = None) -> PortfolioContext:
    """The context from the Trader's records (no mutation: reading never moves its peak)."""
    snap = portfolio.snapshot(dict(positions), {c: m for c, m in marks.items()
                                                if c in positions})
    equity = float(snap["equity"])
    execs = list(executions)
    weights: dict[str, float] = {}
    pending: dict[str, float] = {}
    for c in sorted({*positions, *(e.coin for e in execs)}):
        held = positions[c].qty if c in positions else 0.0
        todo = open_qty(execs, c)
        if not held and not todo:
            continue
        mark = marks.get(c) or next((e.decision_px for e in execs if e.coin == c
                                     and e.decision_px), None) or (
            positions[c].avg_px if c in positions else 0.0)
        if equity > 0 and mark:
            weights[c] = (held + todo) * mark / equity
            if todo:
                pending[c] = todo * mark / equity
    init = portfolio.initial_equity
    return PortfolioContext(
        weights=weights, pending=pending,
        equity=equity / init, peak=float(snap["peak_equity"]) / init,
        opened_ms={c: int(p.opened_ms) for c, p in sorted(positions.items())
                   if p.qty and p.opened_ms is not None},
        as_of_ms=as_of_ms, passive=passive)


def from_snapshot(snap: Mapping[str, Any], at_ms: int | None = None) -> PortfolioContext:
    """The context from a `TraderEngine.snapshot()` (the fabric's `trader_state.snapshot`);
    `at_ms` the decision's time, for the passive record of its day (`passive_priced`)."""
    positions = {c: position_from(dict(p)) for c, p in snap["positions"].items()}
    now = int(snap.get("now_ms", 0))
    at = now if at_ms is None else at_ms
    today = at >= int(snap.get("day_end", 0))
    key, probed = ("passive", "probed") if today else ("passive_day_start", "probed_day_start")
    passive = (PassiveOdds(PassiveHistory.from_dict(snap[key]),
                           PassiveHistory.from_dict(snap.get(probed))) if key in snap else None)
    return from_trader(positions, Portfolio(**snap["portfolio"]),
                       {c: float(m) for c, m in snap.get("top", {}).items()},
                       [execution_from(dict(e)) for e in snap.get("executions", {}).values()],
                       now, passive)
