"""Live Trader == nightly Trader, through real sockets: a recorded day replayed by the replay
server at --speed max into the daemon's feed, score and trader loops (built by their daemon
factories: the trader on the hub's `tr_event` source, the score loop in its own process),
with DM_DECISIONs in tr_inbox, gives the fills `replay_day` gives for the same decisions
on the recorded day."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import trader_daemon_kit as kit

from lotus_core.config import load_settings
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import market_base
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.replay import event_ts, market_events, replay_day
from lotus_core.trader.store import read_fills
from lotus_daemon.loops import LOOPS, LoopContext
from lotus_daemon.loops.feed import FeedLoop
from lotus_daemon.loops.score_proc import ScoreProcess
from lotus_daemon.market import HubTraderSource, MarketHub
from lotus_replay.server import ReplayConfig, ReplayThread
from tests.helpers import small_day

pytestmark = pytest.mark.slow
KEY = ("fill_id", "px", "qty", "ts_ms", "side", "fee")


def _wait(pred, what: str, timeout: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_live_trader_on_the_hub_fills_as_the_nightly_replay(tmp_path: Path) -> None:
    src = tmp_path / "src"
    path = small_day(kit.make_day(tmp_path / "full"), src / f"{kit.DAY}.jsonl.gz", 4)
    day = parse_recording(path)
    decs = kit.decisions(day, n=10)
    nightly = [o.data for o in replay_day(TraderEngine(kit.settings()), day, decs).outputs
               if o.kind == "fill"]
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(src),
                                        "verify_manifest": False}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay"})})
    with open_opsdb(settings.fabric) as fabric:
        kit.deliver(fabric, decs, Keyring(home / "keys").private_key("dm"))
    hub = MarketHub()
    seen = hub.subscribe({"tr_event"}, maxsize=0)
    with ReplayThread(ReplayConfig(src, speed=None)) as srv:
        feed = FeedLoop(settings.feed, url=srv.url, hub=hub)
        score = LOOPS["score"]({"settings": settings, "market": hub})
        assert isinstance(score, ScoreProcess)  # the daemon's: events come over a pipe
        trader = LOOPS["trader"]({"market": hub, "trader": dict(kit.SECTION),
                                  "settings": settings})
        assert isinstance(trader.source, HubTraderSource)
        stop_market, stop_trader = threading.Event(), threading.Event()
        threads = [threading.Thread(target=loop.run, args=(LoopContext(
            settings.fabric, home / "keys", home, stop, market=hub),))
            for loop, stop in ((feed, stop_market), (score, stop_market),
                               (trader, stop_trader))]
        for t in threads:
            t.start()
        try:
            assert srv.server.done.wait(120)
            _wait(lambda: feed.info()["data_frames"] == srv.server.stats.frames_sent,
                  "the client to read every frame")
            stop_market.set()
            for t in threads[:2]:
                t.join(120)
            live_events = [pe for ev in seen.drain(1_000_000) for pe in ev.data]
            _wait(lambda: trader.stats["events"] == len(live_events),
                  "the trader to apply every event")
        finally:
            stop_market.set()
            stop_trader.set()
            for t in threads:
                t.join(120)
    # the events are the nightly replay's own, each once, numbered from the day's start
    base = market_base(str(kit.DAY))
    assert [p for p, _ in live_events] == list(range(base + 1, base + len(live_events) + 1))
    market = [e for _, e in live_events if not isinstance(e, dict)]
    assert market == list(market_events(day))[:len(market)]
    cut = event_ts(live_events[-1][1])  # the stream stops at the last row of the slowest coin
    assert cut > decs[-1].ts_ms + 30_000
    with open_opsdb(settings.fabric, migrate=False) as fabric, fabric.transaction() as tx:
        live = read_fills(tx)
    want = sorted((f for f in nightly if f["ts_ms"] <= cut),
                  key=lambda f: (f["ts_ms"], f["fill_id"]))
    assert len(want) > 10
    assert [tuple(f[k] for k in KEY) for f in live] == [tuple(f[k] for k in KEY) for f in want]
    assert trader.stats["decisions"] == len(decs)

