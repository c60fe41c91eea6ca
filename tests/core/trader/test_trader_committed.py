"""Targets are netted against the committed book (position + open executions): a second
decision for the same target while the first order still works sends nothing, and the
DM's context reads the same committed weight (`lotus_core.dm.context`)."""

from __future__ import annotations

import pytest
from trader_kit import T0, book, kinds, settings, ticket

from lotus_core.dm.context import from_snapshot
from lotus_core.dm.joint import trader_context
from lotus_core.trader.engine import TraderEngine

BIDS = [(99.0, 10.0), (98.0, 10.0)]
ASKS = [(100.0, 10.0), (101.0, 10.0)]
W = 2.0 * 99.5 / 10_000  # 2 BTC at the mid 99.5 of equity 10 000


@pytest.mark.parametrize("strategy", ["market", "limit"])
def test_a_repeated_target_while_an_order_works_is_not_ordered_twice(strategy: str) -> None:
    eng = TraderEngine(settings(max_slippage_bps=500.0, stop_loss_bps=1000.0,
                                take_profit_bps=2000.0))
    eng.on_book(book(T0 - 1000, BIDS, ASKS))
    refs = {"tr.execution_strategy": strategy}
    first = eng.on_decision(ticket("a", W, audit_refs=refs), T0)
    assert len(kinds(first, "order")) == 1
    ctx = trader_context(eng)  # nothing filled yet, 2 BTC committed
    assert ctx.weights["BTC"] == pytest.approx(W) and ctx.pending["BTC"] == pytest.approx(W)
    assert from_snapshot(eng.snapshot()) == ctx  # live reads the same from the fabric
    again = eng.on_decision(ticket("b", W, T0 + 10, audit_refs=refs), T0 + 10)
    assert not kinds(again, "order")
    (rep,) = kinds(again, "exec_report")
    assert rep["decision_id"] == "b" and "already_at_target" in str(rep)
    # the first order fills (market at arrival; limit when the ask side comes down to it)
    out = eng.on_book(book(T0 + 200, BIDS, ASKS))
    out += eng.on_book(book(T0 + 400, [(98.0, 10.0)], [(99.0, 10.0)]))
    assert [f["side"] for f in kinds(out, "fill")] == [1] * len(kinds(out, "fill"))
    assert sum(f["qty"] for f in kinds(out, "fill")) == pytest.approx(2.0)
    assert eng.positions["BTC"].qty == pytest.approx(2.0)
    assert trader_context(eng).pending == {}
