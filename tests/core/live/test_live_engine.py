"""The engine with its buffer trimmed (short MicroTape windows, so the trailing cut moves
within a fixture's minutes): the rows it emits equal the nightly MicroTape, and the
Trader's market events it hands out are the nightly `market_events`, each once, numbered
by their place in the day, although the feed rows behind them have been forgotten."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import LiveEngine, load_night_context, market_base
from lotus_core.microtape import build_microtape
from lotus_core.time import day_bounds_ms
from lotus_core.trader.replay import market_events
from tests.helpers import small_day
from tests.kits.live_kit import FIXTURE, SHORT
from tests.kits.midnight import lines_of, recv_of

pytestmark = pytest.mark.slow  # whole fixture minutes through the streaming path

DAY = "2026-01-02"


def _plain(ev: Any) -> Any:
    if isinstance(ev, dict):
        return tuple(sorted((k, "nan" if isinstance(v, float) and math.isnan(v) else v)
                            for k, v in ev.items()))
    return ev


def test_trimmed_engine_rows_and_trader_events_equal_the_nightly(tmp_path: Path):
    path = small_day(FIXTURE, tmp_path / f"{DAY}.jsonl.gz", 16)
    lines = lines_of(path)
    engine = LiveEngine(SHORT, lambda d: load_night_context(tmp_path / "lake", d))
    engine.trader_events = True
    rng = random.Random(11)
    rows, got, done = [], [], 0
    while done < len(lines):
        n = rng.choice([50, 400, 1500])
        engine.add(DAY, done + 1, lines[done:done + n])
        done = min(done + n, len(lines))
        step = engine.step(recv_of(lines[done]) if done < len(lines) else recv_of(lines[-1]) + 1)
        assert step is not None
        rows.append(step.rows)
        got += step.market
    last = engine.step(day_bounds_ms(DAY)[1])
    assert last is not None
    rows.append(last.rows)
    got += last.market
    assert engine.buf.rows() < len(lines) // 2  # the buffer was trimmed behind the Trader
    nightly = parse_recording(path)
    tape = build_microtape(nightly, SHORT)
    live = pd.concat(rows, ignore_index=True).sort_values(["coin", "ts_ms"], ignore_index=True)
    pd.testing.assert_frame_equal(live, tape, rtol=1e-9, check_exact=False)
    want = list(market_events(nightly, tape))
    base = market_base(DAY)
    assert [p for p, _ in got] == list(range(base + 1, base + len(want) + 1))
    assert [_plain(e) for _, e in got] == [_plain(e) for e in want]
