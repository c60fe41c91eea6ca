"""The execution rule (`lotus_core.costs.choose_execution`): how an entry meets the book,
chosen from the ticket's edge and horizon and the book, the one the Decision-Maker prices.

- the rule itself, against its own break-even: a market order exactly where the edge lost
  by waiting (decay over the expected wait, the chance of no fill) exceeds taker − p · maker;
  the Trader's passive record moves the break-even the way it should; TWAP only where the
  walk costs more than the later slices' decay;
- the engine: a ticket whose edge does not pay for taking rests post-only at the touch,
  fills as a maker through the queue, and its fill, wait and the mid's move against it
  5 s and 60 s later go into the passive record; the record as the day began is what the
  rule and the DM read all day, in a live snapshot too; the day's execution figures in
  `paper_trades`' metadata.
"""

from __future__ import annotations

import math

import pytest

from lotus_core.costs import (
    PRIOR_ADVERSE_BPS,
    PRIOR_FILL_PROB,
    CostModel,
    PassiveHistory,
    PassiveOdds,
    choose_execution,
)
from lotus_core.dm.context import from_snapshot
from lotus_core.trader.book import Trade
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import DAY_MS, TraderEngine
from lotus_core.trader.nightly import day_metadata, paper_table
from tests.core.trader.trader_kit import T0, book, kinds, settings, ticket

VENUE = trader_settings({}).venue("hyperliquid")  # maker 1.5, taker 4.5 bps
HALF_LIFE = 300_000.0
WAIT = 60_000.0


def _rule(edge: float, spread: float = 1.0, impact: float = 0.0,
          history: PassiveHistory | None = None, slices: int = 4):  # noqa: ANN202
    return choose_execution(edge, HALF_LIFE, spread, impact, VENUE,
                            history or PassiveHistory(), WAIT, slices, 30_000.0)


def _break_even(spread: float, history: PassiveHistory) -> float:
    """The edge at which taking and resting make the same (the rule's formula solved)."""
    p, t, adverse = history.fill_prob(), history.fill_ms(WAIT), history.adverse_bps()
    decay = 0.5 ** (t / HALF_LIFE)
    taker = 4.5 + spread / 2
    maker = 1.5 - spread / 2 + adverse
    return (taker - p * maker) / (1 - p * decay)


def test_the_rule_takes_exactly_where_waiting_costs_more_than_taking() -> None:
    prior = PassiveHistory()
    assert prior.fill_prob() == PRIOR_FILL_PROB and prior.adverse_bps() == PRIOR_ADVERSE_BPS
    for spread in (0.2, 1.0, 4.0):
        e = _break_even(spread, prior)
        below, above = _rule(e - 0.01, spread), _rule(e + 0.01, spread)
        assert (below.execution, below.order) == ("maker", "limit"), (spread, e)
        assert (above.execution, above.order, above.slices) == ("taker", "market", 1)
    # a wider spread makes taking dearer and resting cheaper: the break-even rises
    assert _break_even(4.0, prior) > _break_even(0.2, prior) + 2.0
    assert _rule(0.0).execution == "maker"  # nothing to lose by waiting
    assert _rule(-5.0).execution == "maker"  # a trade against the edge
    assert _rule(math.nan).execution == "taker"  # a ticket that does not say: take
    assert _rule(5.0, spread=math.nan).execution == "taker"  # no book to rest on
    c = _rule(3.0)
    assert c.taker_bps == pytest.approx(4.5 + 0.5)
    assert c.maker_bps == pytest.approx(1.5 - 0.5 + PRIOR_ADVERSE_BPS)
    assert c.wait_bps == pytest.approx(3.0 * (1 - 0.5 ** (c.fill_ms / HALF_LIFE)))


def test_the_traders_record_moves_the_break_even() -> None:
    """Passive orders that fill often and are not picked off make resting worth more edge;
    fills the mid runs through make it worth less."""
    good = PassiveHistory()
    for _ in range(200):
        good.order_done(1.0, 5_000.0)
        good.marked(60_000, 0.0)
    bad = PassiveHistory()
    for _ in range(200):
        bad.order_done(0.2, 50_000.0)
        bad.marked(60_000, 8.0)
    prior = _break_even(1.0, PassiveHistory())
    assert _break_even(1.0, good) > prior + 3.0
    assert _break_even(1.0, bad) < prior
    assert good.fill_prob() > 0.9 and good.adverse_bps() < 0.5
    edge = (prior + _break_even(1.0, good)) / 2
    assert _rule(edge).execution == "taker" and _rule(edge, history=good).execution == "maker"
    # a passive fill is never priced as a gain beyond the half spread it earns
    lucky = PassiveHistory(marked_60s=1000, adverse_60s=-5000.0)
    assert lucky.adverse_bps() == 0.0


def test_twap_only_where_the_walk_costs_more_than_the_wait() -> None:
    deep = _rule(20.0, impact=0.05)
    assert (deep.execution, deep.slices) == ("taker", 1)
    thin = _rule(20.0, impact=5.0)
    assert thin.execution == "taker" and thin.slices > 1
    urgent = choose_execution(20.0, 10_000.0, 1.0, 5.0, VENUE, PassiveHistory(), WAIT, 4,
                              30_000.0)
    assert urgent.slices == 1  # a fast alpha is gone before the second slice
    assert _rule(math.nan, impact=5.0).slices == 1


def test_a_fixed_strategy_is_what_the_model_prices() -> None:
    for strategy, execution in (("market", "taker"), ("limit", "maker")):
        model = CostModel.from_trader(trader_settings({"execution_strategy": strategy}))
        assert model.choose("BTC", 0.0, HALF_LIFE, 1.0, 0.0, None).execution == execution
        assert model.choose("BTC", 50.0, HALF_LIFE, 1.0, 0.0, None).execution == execution


def _passive_day() -> tuple[TraderEngine, list]:
    """A buy whose edge (0.5 bps) does not pay for taking: it rests at the bid, a seller
    hits it, the mid falls 1 bp in 5 s and 2 bps in 60 s."""
    eng = TraderEngine(settings())  # maker 1, taker 5 bps
    out = eng.on_book(book(T0, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    out += eng.on_decision(ticket("p", 0.5, audit_refs={"edge_bps": "0.5"}), T0)
    out += eng.on_book(book(T0 + 1_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    out += eng.on_trade(Trade("BTC", T0 + 2_000, 99_999.0, 0.2, -1))  # through our bid
    assert eng.book_mode("BTC") == 2 and not eng.quiet("BTC")  # markouts due: every book
    out += eng.on_book(book(T0 + 7_000, [(99_990.0, 1.0)], [(99_991.0, 1.0)]))
    out += eng.on_book(book(T0 + 62_000, [(99_980.0, 1.0)], [(99_981.0, 1.0)]))
    return eng, out


def test_a_passive_entry_rests_post_only_and_is_recorded() -> None:
    eng, out = _passive_day()
    orders = [o for o in kinds(out, "order") if o["status"] == "working"]
    assert orders and orders[0]["kind"] == "limit" and orders[0]["tif"] == "post_only"
    assert orders[0]["limit_px"] == 100_000.0  # the touch
    fills = kinds(out, "fill")
    assert [f["liquidity"] for f in fills] == ["maker"] and fills[0]["px"] == 100_000.0
    (rep,) = kinds(out, "exec_report")
    m = rep["exec_metrics"]
    assert (m["strategy"], m["reason"], m["execution_choice"]["execution"]) == (
        "limit", "auto", "maker")
    assert m["fee_bps"] == pytest.approx(1.0)  # the venue's maker fee
    assert m["crossing_bps"] == pytest.approx(-0.05, abs=1e-3)  # half a 0.1 bps spread earned
    p = eng.passive
    assert (p.orders, p.filled, p.waits) == (1, 1.0, 1)
    assert p.waited_ms == pytest.approx(2_000 - 100)  # arrival (100 ms latency) -> the fill
    mid = 100_000.5
    assert p.adverse_5s / p.marked_5s == pytest.approx((mid - 99_990.5) / mid * 1e4)
    assert p.adverse_60s / p.marked_60s == pytest.approx((mid - 99_980.5) / mid * 1e4)
    assert not eng._markouts and not eng._markout_coins  # both read
    meta = day_metadata(paper_table(out, eng), eng)
    assert meta["maker_share"] == 1.0 and meta["passive_orders"] == 1
    assert meta["passive_fill_rate"] == 1.0 and meta["passive_fills_marked"] == 1
    assert meta["adverse_5s_bps"] == pytest.approx(1.0, abs=1e-3)
    assert meta["adverse_60s_bps"] == pytest.approx(2.0, abs=1e-3)
    assert meta["slippage_vs_arrival_bps"] == pytest.approx(-0.05, abs=1e-3)


def test_an_unfilled_passive_order_lowers_the_fill_probability() -> None:
    eng = TraderEngine(settings())
    eng.on_book(book(T0, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    out = eng.on_decision(ticket("q", 0.5, audit_refs={"edge_bps": "0.5"}), T0)
    out += eng.advance(T0 + 61_000)  # the cancel window passes
    (rep,) = kinds(out, "exec_report")
    assert rep["status"] == "cancelled" and not kinds(out, "fill")
    assert (eng.passive.orders, eng.passive.filled, eng.passive.waits) == (1, 0.0, 0)
    assert eng.passive.fill_prob() < PRIOR_FILL_PROB


def test_the_day_prices_with_the_record_as_it_began() -> None:
    """The rule and the DM read the passive records as the UTC day began: the same figure
    all day, whether read from the engine (nightly) or from its snapshot (the live DM)."""
    eng, _ = _passive_day()
    now = eng.now_ms
    assert eng.passive_priced(now).own.orders == 0  # today's fill counts from tomorrow
    tomorrow = (now // DAY_MS + 1) * DAY_MS
    assert eng.passive_priced(tomorrow) == PassiveOdds(eng.passive, eng.probed)
    snap = eng.snapshot()
    assert from_snapshot(snap, now).passive == PassiveOdds()
    assert from_snapshot(snap, tomorrow).passive == PassiveOdds(eng.passive, eng.probed)
    back = TraderEngine.restore(eng.cfg, snap)
    assert back.passive == eng.passive and back.passive_priced(now).own.orders == 0
    back.advance(tomorrow + 1)
    assert back.passive_day_start == eng.passive  # the day rolled
    # the DM prices a passive fill's adverse selection from that record
    model = CostModel.from_trader(trader_settings({}))
    odds = back.passive_priced(tomorrow + 1)
    priced = model.price("BTC", 0.2, 1e7, 2_000.0, 10.0, hold_ms=HALF_LIFE, edge_bps=0.5,
                         history=odds)
    assert priced.execution == "maker"
    assert priced.adverse_bps == pytest.approx(odds.adverse_bps())
    assert priced.fill_prob == pytest.approx(odds.fill_prob())
