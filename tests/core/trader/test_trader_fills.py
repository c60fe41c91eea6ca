"""Hand-computed fills on known books: market walks, slippage caps, limit queues, post-only
and IOC, gapped stops, funding, idempotence, validation and TWAP reports."""

from __future__ import annotations

import pytest
from trader_kit import T0, book, kinds, settings, ticket

from lotus_core.fabric.contracts import first_error
from lotus_core.time import DAY_MS
from lotus_core.trader.book import AssetCtx, Trade
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.reports import report_payload

ASKS = [(100.0, 1.0), (101.0, 2.0), (102.0, 3.0), (103.0, 10.0)]
BIDS = [(99.0, 1.0), (98.0, 2.0), (97.0, 3.0)]


def _valid(report: dict) -> None:
    schema = f"urn:lotus:schema:{report['schema_ver']}"
    assert first_error(schema, report_payload(report), "report") is None


def test_market_order_walks_three_levels_after_latency() -> None:
    # equity 10 000, target weight 0.4955 at mid 99.5 -> 49.80 BTC? no: keep it small:
    # weight w gives qty = w * 10 000 / 99.5; choose qty 4.5 -> w = 4.5 * 99.5 / 10 000.
    eng = TraderEngine(settings(max_slippage_bps=500.0))
    eng.on_book(book(T0 - 1000, BIDS, [(100.0, 9.0)]))  # the book at decision time
    out = eng.on_decision(ticket("d1", 4.5 * 99.5 / 10_000), T0)
    assert not kinds(out, "fill")  # nothing before the latency has passed
    out = eng.on_book(book(T0 + 50, BIDS, ASKS))  # arrives at T0+100: this is the book then
    out += eng.on_book(book(T0 + 150, BIDS, [(200.0, 50.0)]))  # later: must not be used
    fills = kinds(out, "fill")
    assert [(f["px"], f["qty"]) for f in fills] == [(100.0, 1.0), (101.0, 2.0), (102.0, 1.5)]
    assert all(f["ts_ms"] == T0 + 100 for f in fills)
    fee = (100 * 1 + 101 * 2 + 102 * 1.5) * 0.0005
    assert sum(f["fee"] for f in fills) == pytest.approx(fee)
    (rep,) = kinds(out, "exec_report")
    _valid(rep)
    assert rep["status"] == "filled"
    assert rep["executed_price"] == pytest.approx((100 + 202 + 153) / 4.5)
    # slippage vs the decision mid 99.5 (expected) and vs the arrival mid (99 + 100) / 2
    vwap = 455 / 4.5
    assert rep["slippage_bps"] == pytest.approx((vwap - 99.5) / 99.5 * 1e4)
    assert rep["exec_metrics"]["slippage_vs_arrival_bps"] == pytest.approx(
        (vwap - 99.5) / 99.5 * 1e4)
    assert rep["latency_ms"] == 100.0
    assert rep["position_after"] == {"BTC": 4.5}
    assert rep["pnl_impact"] == pytest.approx(-fee)


def test_partial_fill_at_the_slippage_cap() -> None:
    # cap 150 bps over the arrival mid 99.5 -> 100.9925: levels 100 and below only
    eng = TraderEngine(settings(max_slippage_bps=150.0))
    eng.on_book(book(T0, BIDS, ASKS))
    out = eng.on_decision(ticket("d2", 3.0 * 99.5 / 10_000), T0)
    out += eng.advance(T0 + 100)
    assert [(f["px"], f["qty"]) for f in kinds(out, "fill")] == [(100.0, 1.0)]
    (rep,) = kinds(out, "exec_report")
    _valid(rep)
    assert rep["status"] == "partial"
    assert rep["executed_quantity"] == 1.0
    assert any("filled 1 of 3" in s for s in rep["what_didnt_work"])


def test_limit_queue_eaten_by_trades_then_filled() -> None:
    # buy 2 at the best bid 99 behind 5 displayed: trades at 99 of 3 then 3.5 eat the 5
    # ahead and 1.5 of ours; a cancellation of 1 at 99 (prev 5 -> book 4 after trades)...
    cfg = settings(execution_strategy="limit", limit_cancel_after_ms=60_000)
    eng = TraderEngine(cfg)
    bids = [(99.0, 5.0), (98.0, 2.0)]
    eng.on_book(book(T0, bids, ASKS))
    eng.on_decision(ticket("d3", 2.0 * 99.5 / 10_000), T0)
    out = eng.advance(T0 + 100)
    (working,) = [o for o in kinds(out, "order") if o["status"] == "working"]
    assert working["limit_px"] == 99.0 and working["queue"]["ahead"] == 5.0
    out = eng.on_trade(Trade("BTC", T0 + 200, 99.0, 3.0, -1))
    assert not kinds(out, "fill")
    out = eng.on_trade(Trade("BTC", T0 + 300, 100.0, 9.0, +1))  # buyer: not our side
    assert not kinds(out, "fill")
    out = eng.on_trade(Trade("BTC", T0 + 400, 99.0, 3.5, -1))  # 2 ahead left -> 1.5 ours
    assert [(f["px"], f["qty"], f["liquidity"]) for f in kinds(out, "fill")] == [
        (99.0, 1.5, "maker")]
    out = eng.on_trade(Trade("BTC", T0 + 500, 99.0, 4.0, -1))  # the remaining 0.5
    assert [(f["px"], f["qty"]) for f in kinds(out, "fill")] == [(99.0, 0.5)]
    (rep,) = kinds(out, "exec_report")
    _valid(rep)
    assert rep["status"] == "filled" and rep["executed_price"] == 99.0
    assert rep["fills"][0]["fee"] == pytest.approx(99 * 1.5 * 0.0001)
    assert rep["slippage_bps"] == 0.0  # expected = the limit price


def test_limit_never_filled_is_cancelled_at_expiry() -> None:
    cfg = settings(execution_strategy="limit", limit_cancel_after_ms=5_000)
    eng = TraderEngine(cfg)
    eng.on_book(book(T0, BIDS, ASKS))
    eng.on_decision(ticket("d4", 1.0 * 99.5 / 10_000), T0)
    out = eng.on_trade(Trade("BTC", T0 + 1000, 99.0, 0.5, -1))  # 1 ahead, only 0.5 traded
    out += eng.on_book(book(T0 + 2000, BIDS, ASKS))
    out += eng.advance(T0 + 10_000)
    assert not kinds(out, "fill")
    (rep,) = kinds(out, "exec_report")
    _valid(rep)
    assert rep["status"] == "cancelled" and rep["executed_quantity"] == 0
    assert eng.positions.get("BTC") is None or eng.positions["BTC"].qty == 0


def test_limit_trade_through_fills_whole() -> None:
    eng = TraderEngine(settings(execution_strategy="limit"))
    eng.on_book(book(T0, BIDS, ASKS))
    eng.on_decision(ticket("d5", 2.0 * 99.5 / 10_000), T0)
    eng.advance(T0 + 100)
    out = eng.on_trade(Trade("BTC", T0 + 200, 98.0, 0.1, -1))  # traded below our 99
    assert [(f["px"], f["qty"]) for f in kinds(out, "fill")] == [(99.0, 2.0)]


def test_post_only_that_would_cross_is_cancelled_and_ioc_takes() -> None:
    cfg = settings(execution_strategy="limit", limit_time_in_force="post_only")
    eng = TraderEngine(cfg)
    eng.on_book(book(T0, BIDS, ASKS))
    eng.on_decision(ticket("d6", 1.0 * 99.5 / 10_000), T0)
    # by arrival the ask has come down to our bid price: a post-only buy at 99 would cross
    out = eng.on_book(book(T0 + 50, [(99.0, 1.0)], [(99.0, 1.0), (100.0, 1.0)]))
    out += eng.advance(T0 + 100)
    (rep,) = kinds(out, "exec_report")
    assert rep["status"] == "cancelled"
    assert [o["reason"] for o in kinds(out, "order") if o["status"] == "cancelled"] == [
        "post_only_would_cross"]


def test_stop_loss_hit_inside_a_gap_fills_at_the_gapped_book() -> None:
    # long 1 BTC bought at 100 (+fee); stop 50 bps under 100 = 99.5; the book gaps to 95
    eng = TraderEngine(settings(stop_loss_bps=50.0, take_profit_bps=100.0, max_slippage_bps=100.0))
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_decision(ticket("d7", 1.0 * 99.5 / 10_000), T0)
    eng.advance(T0 + 100)
    assert eng.positions["BTC"].sl_px == pytest.approx(99.5)
    out = eng.on_book(book(T0 + 1000, [(95.0, 0.4), (94.0, 5.0)], [(96.0, 5.0)]))
    out += eng.advance(T0 + 1100)
    fills = kinds(out, "fill")
    assert [(f["px"], f["qty"], f["side"]) for f in fills] == [(95.0, 0.4, -1), (94.0, 0.6, -1)]
    (rep,) = kinds(out, "exec_report")
    _valid(rep)
    assert rep["status"] == "filled" and "exit on stop_loss" in rep["what_worked"]
    vwap = (95 * 0.4 + 94 * 0.6)
    assert rep["expected_price"] == pytest.approx(99.5)
    assert rep["slippage_bps"] == pytest.approx((99.5 - vwap) / 99.5 * 1e4)
    realised = vwap - 100.0
    fees = vwap * 0.0005
    assert rep["pnl_impact"] == pytest.approx(realised - fees)
    assert eng.positions["BTC"].qty == 0


def test_funding_over_a_held_hour() -> None:
    # long 2 BTC from 12:00:00.1; hourly rate 0.0001 at oracle 101 -> pays 2*101*1e-4 at 13:00
    eng = TraderEngine(settings(stop_loss_bps=5000.0, take_profit_bps=9000.0,
                                 max_slippage_bps=100.0))
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_ctx(AssetCtx("BTC", T0 + 10, 0.0001, 100.5, 101.0))
    eng.on_decision(ticket("d8", 2.0 * 99.5 / 10_000, horizon="2h"), T0)
    out = eng.advance(T0 + 3_599_000)
    assert eng.positions["BTC"].funding == 0.0
    out = eng.advance(T0 + 3_600_000)
    (pos,) = [p for p in kinds(out, "position") if "funding_paid" in p]
    assert pos["funding_paid"] == pytest.approx(-2 * 101.0 * 0.0001)
    state = eng.portfolio_state()
    assert state["funding"] == pytest.approx(-0.0202)
    mid = 99.5
    assert state["equity"] == pytest.approx(
        10_000 - 200 * 0.0005 - 0.0202 + 2 * (mid - 100.0))
    assert state["drawdown"] > 0


def test_same_decision_twice_executes_once() -> None:
    eng = TraderEngine(settings(max_slippage_bps=100.0))
    eng.on_book(book(T0, BIDS, ASKS))
    t = ticket("d9", 1.0 * 99.5 / 10_000)
    eng.on_decision(t, T0)
    assert eng.on_decision(t, T0 + 10) == []
    out = eng.advance(T0 + 200)
    assert len(kinds(out, "exec_report")) == 1


def test_a_decision_is_remembered_while_valid_and_forgotten_at_the_next_days_roll() -> None:
    eng = TraderEngine(settings(max_slippage_bps=100.0))
    eng.on_book(book(T0, BIDS, ASKS))
    eng.on_decision(ticket("d9", 1.0 * 99.5 / 10_000, valid_ms=600_000), T0)
    eng.on_decision(ticket("d8", 1.0 * 99.5 / 10_000, valid_ms=2 * DAY_MS), T0)
    snap = eng.snapshot()
    assert [k for k, _ in snap["seen"]] == ["d8", "d9"]
    restored = TraderEngine.restore(settings(max_slippage_bps=100.0), snap)
    assert restored.on_decision(ticket("d9", 0.01, valid_ms=600_000), T0 + 10) == []  # kept
    roll = (T0 // DAY_MS + 1) * DAY_MS
    eng.advance(roll + 1)  # a new UTC day: d9's validity has passed, d8's has not
    assert [k for k, _ in eng.snapshot()["seen"]] == ["d8"]
    # a snapshot written with the ids alone keeps them until the next day's roll
    old = {**snap, "seen": ["d9"]}
    assert TraderEngine.restore(settings(), old).seen == {"d9": snap["now_ms"]}


@pytest.mark.parametrize(("over", "tkt", "reason"), [
    ({}, {"ts_shift": 700_000}, "expired"),
    ({"max_position_weight": 0.01}, {}, "size_over_limit"),
    ({}, {"coin": "DOGE"}, "symbol_not_tradeable"),
    ({"stale_book_ms": 500}, {"ts_shift": 1000, "valid_ms": 10**7}, "stale_book"),
    ({}, {"book": "one_sided"}, "missing_price"),
    ({"min_risk_reward": 3.0}, {}, "risk_reward_below_min"),
])
def test_validation_refuses_with_named_reasons(over: dict, tkt: dict, reason: str) -> None:
    eng = TraderEngine(settings(**over))
    eng.on_book(book(T0, BIDS, [] if tkt.get("book") == "one_sided" else ASKS))
    t = ticket("dv", 0.02, coin=tkt.get("coin", "BTC"), valid_ms=tkt.get("valid_ms", 600_000))
    out = eng.on_decision(t, T0 + tkt.get("ts_shift", 0))
    (rep,) = kinds(out, "exec_report")
    _valid(rep)
    assert rep["status"] == "failed" and reason in rep["what_didnt_work"]


def test_twap_slices_aggregate_into_one_report() -> None:
    eng = TraderEngine(settings(execution_strategy="twap", twap_slices=4,
                                twap_horizon_ms=4000, max_slippage_bps=500.0,
                                stop_loss_bps=200.0, take_profit_bps=400.0))
    eng.on_book(book(T0, BIDS, ASKS))
    eng.on_decision(ticket("d10", 2.0 * 99.5 / 10_000), T0)
    out = []
    for k in range(1, 6):
        out += eng.on_book(book(T0 + k * 1000, BIDS, ASKS))
    fills = kinds(out, "fill")
    assert [f["qty"] for f in fills] == [0.5, 0.5, 0.5, 0.5]
    assert [f["ts_ms"] - T0 for f in fills] == [100, 1100, 2100, 3100]
    (rep,) = kinds(out, "exec_report")
    assert rep["status"] == "filled" and len(rep["order_ids"]) == 4
