"""The engine with its buffer trimmed (short MicroTape windows, so the trailing cut moves
within a fixture's minutes): the rows it emits equal the nightly MicroTape, and the
Trader's market events it hands out are the nightly `market_events`, each once, numbered
by their place in the day, although the feed rows behind them have been forgotten."""

from __future__ import annotations

import gzip
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.feed.parse import parse_recording
from lotus_core.live.engine import LiveEngine, _tail_of, load_night_context, market_base
from lotus_core.live.frames import blocks_frame, rows_frame
from lotus_core.microtape import build_microtape
from lotus_core.signals.config import load_scoring
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
    engine = LiveEngine(SHORT, lambda d: load_night_context(tmp_path / "lake", d,
                                                            scoring=load_scoring()),
                        scoring=load_scoring(), council=load_curators())
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


def test_the_stored_columns_are_the_row_dicts(tmp_path: Path):
    """What the daemon stores (`blocks_frame` of each step's `RowBlock`s) is exactly
    `rows_frame` of the very row dicts the stages read, step by step and over many steps,
    also when a restart's `mark_emitted` cuts one coin's rows in the middle of a step."""
    path = small_day(FIXTURE, tmp_path / f"{DAY}.jsonl.gz", 6)
    lines = lines_of(path)
    engine = LiveEngine(SHORT, lambda d: load_night_context(tmp_path / "lake", d,
                                                            scoring=load_scoring()),
                        scoring=load_scoring(), council=load_curators())
    steps, done, cut = [], 0, None
    for k, n in enumerate([300, 1200, 50, 2500] * 20):
        if done >= len(lines):
            break
        engine.add(DAY, done + 1, lines[done:done + n])
        done = min(done + n, len(lines))
        if k == 3:  # BTC's next 30 rows were stored by an earlier run
            cut = engine.emitted_ts["BTC"] + 30 * SHORT.cadence_ms
            engine.mark_emitted({"BTC": cut}, set())
        step = engine.step(recv_of(lines[done]) if done < len(lines) else recv_of(lines[-1]) + 1)
        assert step is not None
        steps.append(step)
        pd.testing.assert_frame_equal(step.rows, rows_frame(step.row_dicts), check_exact=True)
        # the chain goes coin by coin; what it hands out is in (ts_ms, coin) order
        for made in (step.row_dicts, step.window_dicts):
            keys = [(r["ts_ms"], r["coin"]) for r in made]
            assert keys == sorted(keys)
    btc = [r["ts_ms"] for r in steps[3].row_dicts if r["coin"] == "BTC"]
    assert cut is not None and btc and min(btc) == cut + SHORT.cadence_ms
    assert len({r["coin"] for r in steps[3].row_dicts}) > 1
    every = blocks_frame([s.row_blocks for s in steps])
    assert len(every) > 1000
    pd.testing.assert_frame_equal(every, rows_frame([d for s in steps for d in s.row_dicts]),
                                  check_exact=True)


def test_the_warm_start_tail_is_the_whole_parse_of_its_span(tmp_path: Path):
    """`_tail_of` streams the previous day's recording through the assembler and keeps
    only its tail, yet its rows are exactly the whole-file parse's rows of that span: the
    rules that reach back before the tail (a trades frame re-sent after `lo` whose trades
    came before it; an l2Book frame older than its stream's latest) are judged with the
    state carried from the day's first line."""
    lines = lines_of(small_day(FIXTURE, tmp_path / "src.jsonl.gz", 10))
    lo = recv_of(lines[0]) + 6 * 60_000
    trades = next(x for x in lines
                  if b'"channel":"trades"' in x and recv_of(x) < lo - 60_000)
    book = next(x for x in lines if b'"channel":"l2Book"' in x and recv_of(x) < lo - 60_000)
    at = next(i for i, x in enumerate(lines) if recv_of(x) > lo + 30_000)
    late = [orjson.dumps({**orjson.loads(x), "recv_ts_ms": recv_of(lines[at])}) + b"\n"
            for x in (trades, book)]
    path = tmp_path / f"{DAY}.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(lines[:at + 1] + late + lines[at + 1:])))
    whole = parse_recording(path, day=DAY)
    tail = _tail_of(path, DAY, lo).feed(DAY, lo)
    assert len(tail.trades) and len(tail.books)
    for name in ("trades", "bbo", "ctx", "candles"):
        a, b = getattr(whole, name), getattr(tail, name)
        a = a[a["recv_ts_ms"] >= lo].reset_index(drop=True)
        pd.testing.assert_frame_equal(b.drop(columns="line_no", errors="ignore"),
                                      a.drop(columns="line_no", errors="ignore"),
                                      check_dtype=False, obj=name)
    keep = whole.books.meta["recv_ts_ms"].to_numpy() >= lo
    pd.testing.assert_frame_equal(
        tail.books.meta.drop(columns="line_no", errors="ignore").reset_index(drop=True),
        whole.books.meta[keep].drop(columns="line_no", errors="ignore").reset_index(drop=True),
        check_dtype=False)
    assert (tail.books.bid_px == whole.books.bid_px[keep]).sum() == np.isfinite(
        whole.books.bid_px[keep]).sum()
    reasons = {d.reason for d in whole.dead}  # the two, refused by state before `lo`
    assert {"duplicate_trades", "out_of_order"} <= reasons, reasons


def test_a_replay_batched_by_its_coins_gives_the_same_windows(tmp_path: Path):
    """`replay_windows` batches a many-coin day by its coins (BATCH_LINES_PER_COIN lines a
    coin); the windows are those of small fixed batches, every column but the running
    fingerprint (which moves with where batches end) exact."""
    from datetime import date

    from lotus_core.dsi import fit_dsi, load_registry
    from lotus_core.live.engine import NightContext
    from lotus_core.live.parity import BATCH_LINES, compare_windows, replay_windows
    from lotus_core.signals.priors import NO_PRIORS
    from lotus_core.synth import default_spec, generate_day

    coins = ["BTC", "ETH", "SOL", "DOGE", "AVAX", "LINK"]
    path = generate_day(tmp_path, date(2026, 1, 6), coins, 5, default_spec(),
                        hours=(0, 1))[0]
    assert len(lines_of(path)) > BATCH_LINES  # more than one batch of either kind
    ctx = NightContext("2026-01-06", None, fit_dsi(pd.DataFrame(), registry=load_registry()), None)
    by_coins = replay_windows(path, "2026-01-06", ctx, NO_PRIORS,
                              scoring=load_scoring(), council=load_curators())
    small = replay_windows(path, "2026-01-06", ctx, NO_PRIORS, batch_lines=700,
                           scoring=load_scoring(), council=load_curators())
    report = compare_windows(small, by_coins)
    assert report.ok and report.compared == len(small) == len(by_coins) > 100
