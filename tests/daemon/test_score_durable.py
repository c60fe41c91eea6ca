"""The score loop scores a batch as it arrives but stores, publishes and posts nothing the
recording does not hold yet: its output waits for the feed loop's `durable` mark (so
nothing handed on can be lost to `kill -9`), and is released in order once the mark
covers it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from lotus_core.config import load_settings
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.live.store import LiveStore
from lotus_daemon.loops import LoopContext
from lotus_daemon.loops.score import ScoreLoop
from lotus_daemon.market import MarketHub
from tests.helpers import REAL_RECORDING, wait_for
from tests.kits.midnight import lines_of, recv_of

DAY = "2025-01-26"


def test_output_waits_for_the_recording_then_is_released_in_order(tmp_path: Path):
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home)}, env={})
    hub = MarketHub()
    hub.has_feed = True
    rows = hub.subscribe({"row"})
    loop = ScoreLoop(settings, hub)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(LoopContext(
        settings.fabric, home / "keys", home, stop, market=hub),))
    thread.start()
    lines = lines_of(REAL_RECORDING)
    half = len(lines) // 2
    try:
        hub.publish("batch", None, recv_of(lines[half - 1]),
                    (DAY, 1, lines[:half], time.perf_counter()))
        hub.publish("batch", None, recv_of(lines[-1]),
                    (DAY, half + 1, lines[half:], time.perf_counter()))
        wait_for(lambda: loop.steps >= 2, what="both batches scored")
        time.sleep(0.3)
        assert loop.rows == 0 and not rows.drain()  # scored, but nothing handed on yet
        assert loop.latencies == type(loop.latencies)()
        hub.publish("durable", None, recv_of(lines[half - 1]), (DAY, half))
        wait_for(lambda: loop.rows > 0, what="the first batch's rows released")
        first = loop.rows
        time.sleep(0.3)
        assert loop.rows == first  # the second batch's lines are not on disk yet
        hub.publish("durable", None, recv_of(lines[-1]), (DAY, len(lines)))
        wait_for(lambda: loop.rows > first, what="the second batch's rows released")
        published = [e.data["ts_ms"] for e in rows.drain()]
        assert published == sorted(published) and len(published) == loop.rows
        wait_for(lambda: len(loop.latencies) == 2, what="a latency per released step")
    finally:
        hub.publish("batch", None, 0, None)  # the feed's end
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    stored = LiveStore(home / "live").emitted(DAY)[0]
    assert stored  # released rows were stored at stop
