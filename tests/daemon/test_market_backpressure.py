"""The hub's two queue kinds: lossy (drops the oldest) and lossless with backpressure (the
publisher waits for room, unless the consumer has stopped taking)."""

from __future__ import annotations

import threading
import time

from lotus_daemon.market import MarketEvent, MarketHub, batch_lines


def _batch(n: int) -> tuple[str, int, list[bytes], float]:
    return ("2026-01-06", 1, [b"x"] * n, 0.0)


def test_a_lossy_queue_drops_the_oldest_and_counts_it():
    hub = MarketHub()
    sub = hub.subscribe({"row"}, maxsize=3)
    for k in range(5):
        hub.publish("row", "BTC", k, k)
    assert [e.data for e in sub.drain()] == [2, 3, 4]
    assert sub.dropped == 2


def test_a_full_lossless_queue_makes_the_publisher_wait_and_loses_nothing():
    hub = MarketHub()
    sub = hub.subscribe({"batch"}, capacity=1_000, weigh=batch_lines)
    hub.publish("batch", None, 0, _batch(600))
    hub.publish("batch", None, 1, _batch(600))  # 600 < 1,000: room, so no wait
    assert sub.pending() == 1_200
    done = threading.Event()

    def publish_third() -> None:
        hub.publish("batch", None, 2, _batch(600))
        done.set()

    threading.Thread(target=publish_third, daemon=True).start()
    assert not done.wait(0.5)  # full (1,200 >= 1,000): the publisher waits
    first = sub.get(timeout=1)
    assert first is not None and first.recv_ts_ms == 0
    assert sub.pending() in (600, 1_200)
    taken = [first]
    while len(taken) < 3:  # the consumer keeps taking: the third arrives, none is lost
        ev = sub.get(timeout=2)
        assert ev is not None
        taken.append(ev)
    assert done.wait(2)
    assert [e.recv_ts_ms for e in taken] == [0, 1, 2]
    assert sub.dropped == 0 and sub.waited_s > 0.4


def test_a_consumer_that_stopped_taking_stops_the_waiting():
    """A dead or restarting scorer must not stop the feed from reading and recording."""
    hub = MarketHub()
    sub = hub.subscribe({"batch"}, capacity=10, weigh=batch_lines)
    sub.stall_s = 0.3
    hub.publish("batch", None, 0, _batch(10))
    t0 = time.monotonic()
    hub.publish("batch", None, 1, _batch(10))  # full; nobody takes for stall_s: published
    assert 0.25 < time.monotonic() - t0 < 5
    assert sub.pending() == 20
    sub.close()
    t0 = time.monotonic()
    sub.put(MarketEvent("batch", None, 2, _batch(10), False))  # closed: never waits
    assert time.monotonic() - t0 < 0.2

