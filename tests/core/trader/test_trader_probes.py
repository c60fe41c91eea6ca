"""Probes (`trader.probe`): virtual post-only orders at the touch that measure the book's
passive odds, so the execution rule and the DM price a resting entry from measurement
rather than from a prior no resting entry could ever move.

- a probe round places one order per coin with a fresh book, buys and sells in turn; it
  waits in the queue model, is marked 5 s and 60 s after a fill, and never trades: no
  output, no position, no fee; its outcome goes to the probes' record only;
- an unfilled probe is cancelled after the cancel window, like a resting entry;
- the day after, the priced odds are the probes' (own record empty), and an edge the prior
  would take is rested; the Trader's own resting entries then shrink them toward their own;
- nightly == live: the replay (quiet coins' snapshots held back) and the live stepping
  (every event) give the same probes' record, and so does a live run restored from a
  snapshot taken while a probe works.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lotus_core.costs import (
    PRIOR_FILL_PROB,
    PRIOR_WEIGHT,
    PassiveHistory,
    PassiveOdds,
    choose_execution,
)
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.tables import FeedDay
from lotus_core.synth.generator import generate_day
from lotus_core.synth.spec import default_spec
from lotus_core.trader.book import Trade
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import DAY_MS, TraderEngine
from lotus_core.trader.replay import market_events, replay_day
from tests.core.trader.trader_kit import T0, book, settings
from tests.kits.trader_live_kit import drive_live

EVERY = 300_000
T1 = T0 + 1_000  # the first book (T0 is on a round's time)
P = (T1 // EVERY + 1) * EVERY  # the first round after it
SELLS = (P // EVERY) % 2 == 1  # the round's side for the first coin (buy on even rounds)


def _engine(**probe: Any) -> TraderEngine:
    return TraderEngine(settings(probe={"every_ms": EVERY, "weight": 0.2, **probe}))


def test_a_probe_rests_at_the_touch_is_marked_and_never_trades() -> None:
    assert SELLS  # the trade below lifts the ask the probe rests on
    eng = _engine()
    out = eng.on_book(book(T1, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    out += eng.on_book(book(P - 1_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    assert eng.next_due == P  # a replay hands every held book over at the round
    out += eng.advance(P + 500)  # the round, and the probe's arrival (100 ms latency)
    (probe,) = eng.orders.values()
    assert (probe.purpose, probe.kind, probe.tif, probe.status) == (
        "probe", "limit", "post_only", "working")
    assert probe.side == -1 and probe.limit_px == 100_001.0  # the ask: the touch
    assert probe.qty == 0.01  # 0.2 x equity (10,000) at the mid, down to the lot (0.01)
    assert eng.book_mode("BTC") == 2  # a working probe reads every snapshot
    out += eng.on_trade(Trade("BTC", P + 3_000, 100_002.0, 0.5, 1))  # a buyer lifts through
    assert not eng.orders and eng.book_mode("BTC") == 2  # filled; markouts due
    out += eng.on_book(book(P + 8_000, [(100_010.0, 1.0)], [(100_011.0, 1.0)]))
    out += eng.on_book(book(P + 63_000, [(100_020.0, 1.0)], [(100_021.0, 1.0)]))
    assert out == [] and not eng.positions and eng.portfolio.fees == 0.0  # never traded
    assert eng.passive == PassiveHistory()  # the own record is the Trader's entries only
    p = eng.probed
    assert (p.orders, p.filled, p.waits) == (1, 1.0, 1)
    assert p.waited_ms == 3_000 - 100
    mid = 100_000.5
    assert p.adverse_5s == pytest.approx((100_010.5 - mid) / mid * 1e4)  # against a sell
    assert p.adverse_60s == pytest.approx((100_020.5 - mid) / mid * 1e4)
    assert eng.book_mode("BTC") == 0  # nothing left to read
    assert eng.next_due == P + EVERY


def test_an_unfilled_probe_is_cancelled_after_the_window_and_the_next_takes_the_other_side(
        ) -> None:
    eng = _engine()
    eng.on_book(book(T1, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    eng.on_book(book(P - 1_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    eng.advance(P + 61_000)  # the cancel window (60 s) passes: nothing traded
    assert not eng.orders
    assert (eng.probed.orders, eng.probed.filled, eng.probed.waits) == (1, 0.0, 0)
    eng.on_book(book(P + EVERY - 1_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    eng.advance(P + EVERY + 500)
    (probe,) = eng.orders.values()
    assert probe.side == 1 and probe.limit_px == 100_000.0  # the bid this round


def test_no_probe_without_a_fresh_two_sided_book_or_when_switched_off() -> None:
    eng = _engine()
    eng.on_book(book(T1, [(100_000.0, 1.0)], []))  # one-sided
    eng.advance(P + 500)
    assert not eng.orders
    stale = _engine()
    stale.on_book(book(T1, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    stale.advance(P + 500)  # 5 minutes after the last book: older than stale_book_ms (15 s)
    assert not stale.orders and stale.probed.orders == 0
    off = TraderEngine(settings(probe={"every_ms": 0}))
    off.on_book(book(T1, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    off.on_book(book(P - 1_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    off.advance(P + 500)
    assert not off.orders and off.next_due == 1 << 62


def _record(orders: int, share: float, wait_ms: float, adverse: float) -> PassiveHistory:
    h = PassiveHistory()
    for _ in range(orders):
        h.order_done(share, wait_ms)
        h.marked(60_000, adverse)
    return h


def test_the_probes_replace_the_prior_and_the_own_record_shrinks_toward_itself() -> None:
    probed = _record(500, 0.9, 6_000.0, 0.5)
    odds = PassiveOdds(PassiveHistory(), probed)
    assert odds.fill_prob() == pytest.approx(probed.fill_prob())
    assert probed.fill_prob() == pytest.approx((450 + PRIOR_FILL_PROB * PRIOR_WEIGHT) / 520)
    assert odds.adverse_bps() == pytest.approx(probed.adverse_bps())
    assert odds.fill_ms(60_000.0) == pytest.approx(probed.fill_ms(60_000.0))
    assert PassiveOdds() .fill_prob() == PRIOR_FILL_PROB  # nothing measured: the constants
    # an edge the prior takes (a 6 bps alpha, 1 bp spread) rests once the probes say fills
    # come often and are not picked off
    venue = trader_settings({}).venue("hyperliquid")

    def rule(history: PassiveOdds) -> str:
        return choose_execution(6.0, 300_000.0, 1.0, 0.0, venue, history, 60_000.0, 4,
                                30_000.0).execution
    assert rule(PassiveOdds()) == "taker" and rule(odds) == "maker"
    # the own entries, which follow the signals, pull the odds toward their own record
    own = _record(200, 0.2, 50_000.0, 8.0)
    mixed = PassiveOdds(own, probed)
    assert 0.2 < mixed.fill_prob() < 0.3 and mixed.adverse_bps() > 7.0
    assert rule(mixed) == "taker"


def test_the_day_after_prices_with_the_probes() -> None:
    eng = _engine()
    eng.on_book(book(T1, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    eng.on_book(book(P - 1_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    eng.advance(P + 500)
    eng.on_trade(Trade("BTC", P + 3_000, 100_002.0, 0.5, 1))
    eng.on_book(book(P + 70_000, [(100_000.0, 1.0)], [(100_001.0, 1.0)]))
    assert eng.passive_priced(P + 70_000) == PassiveOdds()  # today: as the day began
    tomorrow = (P // DAY_MS + 1) * DAY_MS
    assert eng.passive_priced(tomorrow) == PassiveOdds(PassiveHistory(), eng.probed)
    assert eng.passive_priced(tomorrow).fill_prob() > PRIOR_FILL_PROB


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[FeedDay, list[Any]]:
    """One generated hour (seed 11, BTC and ETH) and its events as the live source delivers
    them."""
    feed = generate_day(Path(tmp_path_factory.mktemp("probe_feed")), date(2026, 1, 3),
                        ["BTC", "ETH"], 11, default_spec(), hours=(12, 13))[0]
    day = parse_recording(feed)
    return day, list(market_events(day))


SETTINGS = trader_settings({"probe": {"every_ms": 120_000}})


class _Counted(TraderEngine):
    handed = 0

    def on_book(self, book: Any, quoted: bool = False) -> Any:
        self.handed += 1
        return super().on_book(book, quoted)


def test_nightly_and_live_probe_alike_and_a_restored_live_run_too(
        recorded: tuple[FeedDay, list[Any]]) -> None:
    day, events = recorded
    nightly = _Counted(SETTINGS)
    assert replay_day(nightly, day, []).outputs == []
    live = _Counted(SETTINGS)
    assert drive_live(live, events, [])[0] == []
    assert nightly.handed < len(day.books.meta) == live.handed  # the replay held books back
    assert nightly.probed.orders >= 40 and nightly.probed.filled > 0
    assert nightly.probed.marked_60s > 0
    assert live.probed == nightly.probed
    # stopped while a probe works, restored from its snapshot, run on: the same record
    first = TraderEngine(SETTINGS)
    half = len(events) // 2
    while True:
        drive_live(first, events[:half], [])
        if any(o.purpose == "probe" for o in first.orders.values()):
            break
        first, half = TraderEngine(SETTINGS), half + 50
    back = TraderEngine.restore(SETTINGS, first.snapshot())
    drive_live(back, events[half:], [])
    assert back.probed == nightly.probed
