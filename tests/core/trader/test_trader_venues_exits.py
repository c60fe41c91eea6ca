"""Venue score terms by hand, IOC limits, take profit and trailing stop exits."""

from __future__ import annotations

import pytest
from trader_kit import T0, book, kinds, settings, ticket

from lotus_core.trader.book import BUY
from lotus_core.trader.config import VenueConfig
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.venues import score_venue


def test_venue_score_terms_by_hand() -> None:
    b = book(T0, [(99.0, 1.0)], [(100.0, 1.0), (101.0, 1.0), (120.0, 10.0)])
    v = VenueConfig(name="v", latency={"base_ms": 500}, success_rate=0.8)
    s = score_venue(v, b, BUY, 4.0, max_slippage_bps=200.0, max_latency_ms=2000)
    # depth within mid 99.5 * 1.02 = 101.49: 2 of 4 wanted
    assert s.liquidity == pytest.approx(0.5)
    assert s.latency == pytest.approx(1 - 500 / 2000)
    vwap = (100 + 101 + 2 * 120) / 4
    exp = (vwap - 99.5) / 99.5 * 1e4
    assert s.expected_slippage_bps == pytest.approx(exp)
    assert s.slippage == 0.0  # expected slippage beyond the cap
    assert s.success == pytest.approx(0.8)
    assert s.total == pytest.approx(0.3 * 0.5 + 0.2 * 0.75 + 0.2 * 0.0 + 0.3 * 0.8)


def test_better_venue_is_chosen_and_every_term_reported() -> None:
    cfg = settings(venues=[
        {"name": "slow", "latency": {"base_ms": 1900}, "tick_size": {"BTC": 1.0},
         "lot_size": {"BTC": 0.01}, "success_rate": 0.5},
        {"name": "fast", "latency": {"base_ms": 100}, "tick_size": {"BTC": 1.0},
         "lot_size": {"BTC": 0.01}, "success_rate": 0.99}],
        venue_preferences=["slow", "fast"], max_slippage_bps=100.0)
    eng = TraderEngine(cfg)
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_decision(ticket("v1", 1.0 * 99.5 / 10_000), T0)
    (rep,) = kinds(eng.advance(T0 + 200), "exec_report")
    assert rep["venue"] == "fast"
    terms = rep["exec_metrics"]["venue_score"]
    assert {"liquidity", "latency", "slippage", "success", "total", "alt.slow"} <= set(terms)
    assert terms["alt.slow"] < terms["total"] == pytest.approx(rep["venue_score"])


def test_ioc_limit_takes_what_crosses_and_cancels_the_rest() -> None:
    eng = TraderEngine(settings(execution_strategy="limit", limit_time_in_force="ioc"))
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_decision(ticket("i1", 2.0 * 99.5 / 10_000), T0)
    out = eng.advance(T0 + 100)  # rests at the bid: nothing crosses, IOC cancels
    (rep,) = kinds(out, "exec_report")
    assert rep["status"] == "cancelled" and not rep["fills"]


def test_take_profit_and_trailing_stop() -> None:
    eng = TraderEngine(settings(max_slippage_bps=100.0, stop_loss_bps=200.0,
                                take_profit_bps=300.0))
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_decision(ticket("t1", 1.0 * 99.5 / 10_000), T0)
    eng.advance(T0 + 100)  # long 1 at 100: take profit at 103
    out = eng.on_book(book(T0 + 1000, [(103.0, 5.0)], [(104.0, 5.0)]))  # mid 103.5
    out += eng.advance(T0 + 1100)
    (rep,) = kinds(out, "exec_report")
    assert rep["exec_metrics"]["reason"] == "take_profit" and rep["fills"][0]["px"] == 103.0

    eng = TraderEngine(settings(max_slippage_bps=100.0, stop_loss_bps=500.0,
                                take_profit_bps=2000.0, trailing_stop_bps=100.0))
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_decision(ticket("t2", 1.0 * 99.5 / 10_000), T0)
    eng.advance(T0 + 100)
    out = eng.on_book(book(T0 + 1000, [(109.0, 5.0)], [(111.0, 5.0)]))  # best mid 110
    assert not kinds(out, "order")
    out = eng.on_book(book(T0 + 2000, [(108.0, 5.0)], [(109.0, 5.0)]))  # 108.5 < 108.9
    out += eng.advance(T0 + 2100)
    (rep,) = kinds(out, "exec_report")
    assert rep["exec_metrics"]["reason"] == "trailing_stop"
    assert rep["expected_price"] == pytest.approx(110 * 0.99)


def test_a_flip_to_a_smaller_position_takes_the_new_sides_barriers() -> None:
    """Long 1 -> short 0.5: the short's stop is above its entry, not the long's old stop
    below it (which a short would hit at once)."""
    eng = TraderEngine(settings(max_slippage_bps=100.0, stop_loss_bps=200.0,
                                take_profit_bps=300.0))
    eng.on_book(book(T0, [(99.0, 5.0)], [(100.0, 5.0)]))
    eng.on_decision(ticket("t1", 1.0 * 99.5 / 10_000), T0)
    eng.advance(T0 + 100)  # long 1 at 100: stop at 98
    assert eng.positions["BTC"].qty == pytest.approx(1.0)
    eng.on_decision(ticket("t2", -0.5 * 99.5 / 10_000, T0 + 1000), T0 + 1000)
    out = eng.advance(T0 + 1100)  # sells ~1.5 at 99: short ~0.5 (lots of 0.01) at 99
    pos = eng.positions["BTC"]
    short = pos.qty
    assert -0.5 <= short < -0.4 and pos.avg_px == pytest.approx(99.0)
    assert pos.sl_px == pytest.approx(99.0 * 1.02) and pos.tp_px == pytest.approx(99.0 * 0.97)
    out += eng.on_book(book(T0 + 2000, [(99.0, 5.0)], [(100.0, 5.0)]))  # mid 99.5: no stop
    out += eng.advance(T0 + 2100)
    assert not [r for r in kinds(out, "exec_report")
                if r["exec_metrics"]["purpose"] == "exit"]
    assert eng.positions["BTC"].qty == short
