"""The trader loop's live source: the score loop's LiveEngine hands out the Trader's market
events as they become final, the same objects `market_events` builds from the nightly parse,
each once, with positions a restart can resume from; the daemon wires it by default."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
import trader_daemon_kit as kit

from lotus_core.curators.config import load_curators
from lotus_core.feed.gzlines import open_lines
from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import LiveEngine, load_night_context, market_base
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.time import day_bounds_ms
from lotus_core.trader.replay import market_events
from lotus_daemon.loops import LOOPS
from lotus_daemon.market import HubTraderSource, MarketHub
from tests.helpers import small_day


def _plain(ev: Any) -> Any:
    """Rows are dicts that may hold NaN (never == itself): compare them by value."""
    if isinstance(ev, dict):
        return tuple(sorted((k, "nan" if isinstance(v, float) and math.isnan(v) else v)
                            for k, v in ev.items()))
    return ev


@pytest.fixture(scope="module")
def short_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("trader_hub")
    return small_day(kit.make_day(d / "full"), d / f"{kit.DAY}.jsonl.gz", 3)


def test_live_engine_hands_out_the_nightly_market_events_once(short_day: Path,
                                                              tmp_path: Path) -> None:
    day = str(kit.DAY)
    reader, _ = open_lines(short_day)
    with reader:
        lines = list(reader)
    recv = [orjson.loads(x)["recv_ts_ms"] for x in lines]
    params = MicroTapeParams()
    engine = LiveEngine(params, lambda d: load_night_context(tmp_path / "lake", d,
                                                             scoring=load_scoring()),
                        scoring=load_scoring(), council=load_curators())
    engine.trader_events = True
    got: list[tuple[int, Any]] = []
    cuts = [len(lines) // 5, len(lines) // 2, len(lines) // 2 + 3, len(lines)]
    done = 0
    for cut in cuts:  # every line received before `now` is in: the finality rule
        engine.add(day, done + 1, lines[done:cut])
        done = cut
        now = recv[cut] if cut < len(lines) else recv[-1] + 1
        step = engine.step(now)
        assert step is not None
        got += step.market
        assert engine.step(now).market == []  # the same clock again: nothing twice
    got += engine.step(day_bounds_ms(day)[1]).market  # the day's end: the rest
    nightly = parse_recording(short_day)
    want = list(market_events(nightly, build_microtape(nightly, params)))
    base = market_base(day)
    assert [p for p, _ in got] == list(range(base + 1, base + len(want) + 1))
    assert [_plain(e) for _, e in got] == [_plain(e) for e in want]
    kinds = {type(e).__name__ for e in want}
    assert kinds == {"Book", "Trade", "AssetCtx", "dict"}, kinds


def test_hub_source_yields_increasing_positions_after_the_start() -> None:
    hub = MarketHub()
    source = HubTraderSource(hub, idle_sec=0.01)
    hub.publish("tr_event", None, 10, [(1, "a"), (2, "b"), (3, "c")])
    hub.publish("tr_event", None, 20, [(1, "a"), (2, "b"), (3, "c"), (4, "d")])  # a restart
    hub.publish("tr_event", None, 30, [(10_000_000_001, "next day")])
    gen = source(2)  # the Trader had applied 1 and 2
    assert [next(gen) for _ in range(3)] == [(3, "c"), (4, "d"), (10_000_000_001, "next day")]
    assert next(gen) == (10_000_000_001, None)  # idle: the last position, no event
    source.close()


def test_the_trader_loop_in_the_daemon_reads_the_hub_when_a_feed_publishes() -> None:
    section = {"max_slippage_bps": 20.0}
    quiet = LOOPS["trader"]({"market": MarketHub(), "trader": section})
    assert not isinstance(quiet.source, HubTraderSource) and not quiet.market_clock
    hub = MarketHub()
    hub.has_feed = True  # what FeedLoop's constructor sets
    live = LOOPS["trader"]({"market": hub, "trader": section})
    assert isinstance(live.source, HubTraderSource) and live.market_clock
    assert hub.wanted("tr_event")  # subscribed at construction: the score loop will emit
