"""The queue-position model by hand (hftbacktest's ProbQueueModel formula)."""

from __future__ import annotations

import pytest
from trader_kit import T0, book, kinds, settings, ticket

from lotus_core.trader import queue as qm
from lotus_core.trader.book import Trade
from lotus_core.trader.engine import TraderEngine


def test_cancellation_share_follows_the_power_function() -> None:
    q = qm.QueuePos(ahead=5.0)
    qm.on_depth(q, prev_qty=10.0, new_qty=8.0, power=3.0)  # front 5, back 5: p = 1/2
    assert q.ahead == pytest.approx(5.0 - 0.5 * 2.0)
    q = qm.QueuePos(ahead=1.0)
    qm.on_depth(q, prev_qty=10.0, new_qty=8.0, power=3.0)  # front 1, back 9: p = 729/730
    assert q.ahead == pytest.approx(1.0 - (1 / 730) * 2.0)
    q = qm.QueuePos(ahead=4.0)
    qm.on_trade(q, 3.0)  # a trade of 3 then the book shows the level 3 smaller: no cancel
    qm.on_depth(q, prev_qty=6.0, new_qty=3.0, power=3.0)
    assert q.ahead == pytest.approx(1.0) and q.cum_trade == 0.0
    q = qm.QueuePos(ahead=4.0)
    qm.on_depth(q, prev_qty=6.0, new_qty=9.0, power=3.0)  # growth behind us
    assert q.ahead == 4.0


def test_sampled_mode_is_reproducible_and_cancels_move_the_queue() -> None:
    def run(seed: int) -> list[tuple[float, int]]:
        cfg = settings(execution_strategy="limit", queue={"mode": "sampled", "seed": seed})
        eng = TraderEngine(cfg)
        bids, asks = [(99.0, 6.0)], [(100.0, 5.0)]
        eng.on_book(book(T0, bids, asks))
        eng.on_decision(ticket("q1", 1.0 * 99.5 / 10_000), T0)
        eng.advance(T0 + 100)
        out = []
        for k, sz in enumerate([9.0, 8.0, 7.0, 6.0, 5.0]):  # 3 join behind us, then cancels
            out += eng.on_book(book(T0 + 1000 * (k + 1), [(99.0, sz)], asks))
        out += eng.on_trade(Trade("BTC", T0 + 9000, 99.0, 3.0, -1))
        return [(f["qty"], f["ts_ms"]) for f in kinds(out, "fill")]

    # 6 ahead, 3 behind, then 4 cancelled: the draws decide how much of it was ahead of us
    # (p = back^3 / (back^3 + front^3) per decrease), so a trade of 3 fills us or not
    runs = {s: run(s) for s in range(6)}
    assert run(3) == runs[3]
    assert any(runs.values())
    assert len({tuple(r) for r in runs.values()}) > 1  # the seed matters
