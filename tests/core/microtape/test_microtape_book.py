"""The MicroTape's book side and grid walk, nightly and live, one definition.

Batch: top of book, imbalances, depth and slope, the depth-vacuum ratio and the cancel rate
of `build_microtape` on hand-built days. Equality: the MicroTape row by row (`TapeStream`)
equals the nightly `build_microtape` on every column of every row: recordings go through
`extract_chunk` and the streaming assembler in random batch sizes (1 to 1,500 lines,
seeded), and `rows(now)` is asked after every batch with now = the next line's receive
time; default and short windows; a whole fixture day, the real sample and a coarse clock
full of same-millisecond ties; and across a midnight, where the new day starts warm from
the old day's tail exactly as `build_microtape(..., warm=previous)` does (those are
`slow`)."""

from __future__ import annotations

import dataclasses
import random
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from lotus_core.feed.assemble import Parsed, StreamAssembler
from lotus_core.feed.chunks import extract_chunk
from lotus_core.feed.parse import parse_recording
from lotus_core.feed.tables import BookFrames, FeedDay
from lotus_core.microtape import MICROTAPE_COLUMNS, MicroTapeParams, build_microtape
from lotus_core.microtape.build import TapeStream
from lotus_core.microtape.grid import RollingMedian, rolling_median
from lotus_core.microtape.schema import COLUMNS
from lotus_core.microtape.warm import warm_span_ms
from lotus_core.time import day_bounds_ms
from tests.core.microtape.test_microtape import BOOK_A, BPS, T0, _ladder, _row
from tests.helpers import REAL_RECORDING, write_recording
from tests.kits.live_kit import FIXTURE, SHORT
from tests.kits.microtape_kit import bbo, book, ctx, make_feed, random_feed, trade
from tests.kits.midnight import lines_of, recv_of, write_midnight

# ------------------------------------------------------------------------ book / top


def test_mid_micro_spread_and_the_latest_quote_wins():
    feed = make_feed(
        books=[book(T0 + 500, **BOOK_A), book(T0 + 2_300, **BOOK_A)],
        bbos=[bbo(T0 + 1_700, (100.5, 1.0), (101.0, 1.0))],
    )
    df = build_microtape(feed)
    assert df["ts_ms"].tolist() == [T0 + 1_000, T0 + 2_000]
    r0, r1 = df.iloc[0], df.iloc[1]
    assert (r0.bid_px, r0.ask_px, r0.mid_px) == (100.0, 101.0, 100.5)
    assert r0.micro_px == pytest.approx((100.0 * 1.0 + 101.0 * 3.0) / 4.0)
    assert r0.spread_bps == pytest.approx(1.0 / 100.5 * BPS)
    assert r0.microprice_drift_bps == pytest.approx((100.75 - 100.5) / 100.5 * BPS)
    assert np.isnan(r0.dpx_bps) and r0.stale_ms == 500
    # the bbo received at +1700 is newer than the book of +500
    assert (r1.bid_px, r1.mid_px, r1.micro_px, r1.stale_ms) == (100.5, 100.75, 100.75, 300)
    assert r1.dpx_bps == pytest.approx((100.75 - 100.5) / 100.5 * BPS)


def test_imbalances_depth_and_slope():
    slow = book(T0 + 100, bids=_ladder(100.0, 10, -1.0), asks=_ladder(101.0, 10, 1.0))
    fast = book(T0 + 1_500, bids=[(100.0, 3.0), (99.0, 1.0)], asks=[(101.0, 1.0)], fast=True)
    df = build_microtape(make_feed(books=[slow, fast, book(T0 + 2_500, **BOOK_A, fast=True)]))
    r0, r1 = df.iloc[0], df.iloc[1]
    assert r0.book_imb_1 == 0.0 and r0.book_imb_5 == 0.0 and r0.book_imb_10 == 0.0
    assert (r0.depth_5_bid, r0.depth_5_ask) == (5.0, 5.0)
    width = (110.0 - 91.0) / 100.5 * BPS
    assert r0.depth_slope == pytest.approx(20.0 / width)
    # the fast frame moves the top-1/5 imbalances; top-10 and slope stay on the slow frame
    assert r1.book_imb_1 == pytest.approx((3 - 1) / (3 + 1))
    assert r1.book_imb_5 == pytest.approx((4 - 1) / (4 + 1))
    assert (r1.depth_5_bid, r1.depth_5_ask) == (4.0, 1.0)
    assert r1.book_imb_10 == 0.0 and r1.depth_slope == r0.depth_slope


def test_depth_5_rel_is_depth_over_its_trailing_median():
    books = [book(T0 + 1_000 * i + 10, bids=[(100.0, 2.0)], asks=[(101.0, 2.0)])
             for i in range(8)]
    books.append(book(T0 + 8_010, bids=[(100.0, 0.5)], asks=[(101.0, 0.5)]))
    books.append(book(T0 + 9_500, bids=[(100.0, 2.0)], asks=[(101.0, 2.0)]))
    params = MicroTapeParams(depth_rel_window_ms=5_000, depth_rel_min_ms=3_000)
    df = build_microtape(make_feed(books=books), params)
    rel = df["depth_5_rel"].to_numpy()
    assert np.isnan(rel[:2]).all() and (rel[2:-1] == 1.0).all()
    assert len(rel) == 9  # T0+1000 .. T0+9000
    assert rel[-1] == pytest.approx(1.0 / 4.0)  # median of the last 5 depths is 4, now 1


# ------------------------------------------------------------------------ cancels

P_BIDS = [(100.0, 5.0), (99.0, 5.0), (98.0, 5.0)]
P_ASKS = [(101.0, 5.0), (102.0, 5.0), (103.0, 5.0)]


def _cancel_rate(c_bids, c_asks=P_ASKS, trades=()) -> float:
    feed = make_feed(
        books=[book(T0 + 1_200, P_BIDS, P_ASKS), book(T0 + 1_800, c_bids, c_asks)],
        trades=list(trades),
        ctxs=[ctx(T0 + 2_100)],  # extends the grid to T0+2000, the interval holding C
    )
    df = build_microtape(feed)
    assert df["ts_ms"].tolist() == [T0 + 2_000]
    return df.iloc[0].cancel_rate


def test_cancel_rate_counts_size_that_left_without_trading():
    assert _cancel_rate([(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)]) == pytest.approx(2 / 30)
    # a level gone entirely inside the visible range is cancelled in full
    assert _cancel_rate([(100.0, 5.0), (98.0, 5.0)]) == pytest.approx(5 / 30)
    # both sides add up
    asks = [(101.0, 4.0), (102.0, 5.0), (103.0, 5.0)]
    assert _cancel_rate([(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)], asks) == pytest.approx(3 / 30)


def test_cancel_rate_ignores_traded_size_and_levels_out_of_view():
    sell = trade(T0 + 1_500, -1, 100.0, 2.0)
    assert _cancel_rate([(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)], trades=[sell]) == 0.0
    # a buy does not explain a bid that shrank
    buy = trade(T0 + 1_500, 1, 101.0, 2.0)
    assert _cancel_rate([(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)], trades=[buy]) == (
        pytest.approx(2 / 30))
    # partially traded: only the excess counts
    small = trade(T0 + 1_500, -1, 100.0, 0.5)
    assert _cancel_rate([(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)], trades=[small]) == (
        pytest.approx(1.5 / 30))
    # 98 scrolled below the deepest visible bid (99): not a cancel
    assert _cancel_rate([(100.0, 5.0), (99.0, 5.0)]) == 0.0
    # a trade received after C belongs to the next pair
    late = trade(T0 + 1_900, -1, 100.0, 2.0)
    assert _cancel_rate([(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)], trades=[late]) == (
        pytest.approx(2 / 30))


def test_cancel_rate_uses_the_fast_stream_while_it_is_live():
    shrink = [(100.0, 3.0), (99.0, 5.0), (98.0, 5.0)]
    books = [
        book(T0 + 1_100, P_BIDS, P_ASKS, fast=True),
        book(T0 + 1_200, P_BIDS, P_ASKS),
        book(T0 + 1_800, shrink, P_ASKS),  # slow stream cancels 2 ...
        book(T0 + 1_900, P_BIDS, P_ASKS, fast=True),  # ... the fast one nothing
        book(T0 + 13_500, P_BIDS, P_ASKS),
        book(T0 + 13_600, shrink, P_ASKS),  # fast stream is 11.7 s old: slow counts
    ]
    df = build_microtape(make_feed(books=books, ctxs=[ctx(T0 + 14_100)]))
    assert _row(df, T0 + 2_000).cancel_rate == 0.0
    assert _row(df, T0 + 14_000).cancel_rate == pytest.approx(2 / 30)


# ------------------------------------------------------------------------ row by row

DEFAULT = MicroTapeParams()
SIZES = (1, 3, 40, 300, 1500)
DAY0, DAY1 = "2026-01-01", "2026-01-02"


def _batches(day: str, lines: list[bytes], seed: int) -> list[tuple[Parsed, int]]:
    """Each batch's accepted rows, with the receive time of the line after it."""
    rng = random.Random(seed)
    asm, out, i = StreamAssembler(day), [], 0
    while i < len(lines):
        batch = lines[i:i + rng.choice(SIZES)]
        parsed = asm.add(extract_chunk(i + 1, batch), [hash(x) for x in batch])
        i += len(batch)
        out.append((parsed, recv_of(lines[i]) if i < len(lines) else day_bounds_ms(day)[1]))
    return out


@cache
def _recorded(path: Path, day: str, seed: int) -> list[tuple[Parsed, int]]:
    return _batches(day, lines_of(path), seed)


@cache
def _feed(path: Path) -> FeedDay:
    return parse_recording(path)


def _nightly(path: Path, params: MicroTapeParams) -> pd.DataFrame:
    return build_microtape(_feed(path), params)


def _stream(tape: TapeStream, batches: list[tuple[Parsed, int]]) -> list[dict[str, Any]]:
    """All rows, each call's in (ts_ms, coin) order; every coin's rows in grid order
    (a coin's row t may come in a later call than another coin's row t + 1: row t exists
    once the coin has a message received at or after t)."""
    out: list[dict[str, Any]] = []
    last: dict[str, int] = {}
    for parsed, now in batches:
        tape.add(parsed)
        rows = tape.rows(now)
        keys = [(r["ts_ms"], r["coin"]) for r in rows]
        assert keys == sorted(keys)
        for ts, coin in keys:
            assert last.get(coin, -1) < ts < now  # once each, and only final rows
            last[coin] = ts
        out += rows
    return out


def _compare(rows: list[dict[str, Any]], want: pd.DataFrame) -> dict[str, float]:
    """Assert the streamed rows are the batch frame's; the worst relative error of each
    float column."""
    rows = sorted(rows, key=lambda r: (r["ts_ms"], r["coin"]))
    want = want.sort_values(["ts_ms", "coin"], kind="stable").reset_index(drop=True)
    assert len(rows) == len(want) > 0
    assert all(list(r) == list(MICROTAPE_COLUMNS) for r in rows)
    worst = {}
    for name in MICROTAPE_COLUMNS:
        got = [r[name] for r in rows]
        exp = want[name].to_numpy()
        kind = np.dtype(COLUMNS[name].dtype.type).kind if name not in (
            "coin", "session", "regime") else "U"
        if kind == "f":
            assert {type(v) for v in got} == {float}, name
            g = np.asarray(got, dtype=np.float64)
            w = exp.astype(np.float64)
            nan = np.isnan(w)
            assert np.array_equal(np.isnan(g), nan), name
            err = np.abs(g[~nan] - w[~nan]) / np.maximum(np.abs(w[~nan]), 1e-12)
            worst[name] = float(err.max()) if len(err) else 0.0
            assert worst[name] <= 1e-9, (name, worst[name])
        elif kind in "iu":
            assert {type(v) for v in got} == {int}, name
            assert got == exp.astype(np.int64).tolist(), name
        elif kind == "b":
            assert {type(v) for v in got} == {bool}, name
            assert got == exp.astype(bool).tolist(), name
        else:
            assert {type(v) for v in got} == {str}, name
            assert got == [str(v) for v in exp], name
    return worst


def _tape(day: str, params: MicroTapeParams, start: int | None = None) -> TapeStream:
    return TapeStream(day, params, day_bounds_ms(day)[0] if start is None else start)


@pytest.mark.slow
@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_a_fixture_day_row_by_row_equals_the_nightly_tape(params):
    batches = _recorded(FIXTURE, DAY1, 11)
    got = _stream(_tape(DAY1, params), batches)
    _compare(got, _nightly(FIXTURE, params))


@pytest.mark.slow
@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_real_sample_row_by_row_equals_the_nightly_tape(params, seed):
    got = _stream(_tape("2025-01-26", params), _recorded(REAL_RECORDING, "2025-01-26", seed))
    _compare(got, _nightly(REAL_RECORDING, params))


@pytest.mark.slow
@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_across_midnight_the_new_day_starts_warm_like_the_nightly(params, tmp_path):
    write_midnight(FIXTURE, tmp_path, DAY0, DAY1, 12, 6)
    before, after = (lines_of(tmp_path / f"{d}.jsonl.gz") for d in (DAY0, DAY1))
    start1 = day_bounds_ms(DAY1)[0]
    tape0, tape1 = _tape(DAY0, params), _tape(DAY1, params, start1 - warm_span_ms(params))
    got0: list[dict[str, Any]] = []
    for parsed, now in _batches(DAY0, before, 7):  # the old day's tail warms the new day
        tape0.add(parsed)
        tape1.add(parsed)
        got0 += tape0.rows(now)
        assert tape1.rows(now) == []  # rows before the day's start are not returned
    got1 = _stream(tape1, _batches(DAY1, after, 8))
    day0, day1 = (parse_recording(tmp_path / f"{d}.jsonl.gz") for d in (DAY0, DAY1))
    _compare(got0, build_microtape(day0, params))
    want1 = build_microtape(day1, params, warm=day0)
    _compare(got1, want1)
    if params is SHORT:  # the warm start matters here (windows shorter than the tail)
        assert not build_microtape(day1, params)["rv_pctl"].equals(want1["rv_pctl"])


@pytest.mark.slow
@pytest.mark.parametrize(("step", "params"), [(1000, SHORT), (50, DEFAULT)],
                         ids=["1s-short", "50ms-default"])
@pytest.mark.slow
def test_a_coarse_clock_full_of_ties_row_by_row_equals_the_nightly_tape(step, params,
                                                                         tmp_path):
    """Receive times floored to `step` ms: quotes, frames and trades share milliseconds
    (across batch boundaries too), and at 1 s every message lands on a grid time, so every
    tie rule (the top of book's order, a trade at a pair's last millisecond, as-of <= t)
    is exercised."""
    lines = []
    for line in lines_of(FIXTURE, 20_000):
        rec = orjson.loads(line)
        rec["recv_ts_ms"] = rec["recv_ts_ms"] // step * step
        lines.append(orjson.dumps(rec) + b"\n")
    path = write_recording(tmp_path / f"{DAY1}.jsonl.gz", [x.rstrip(b"\n") for x in lines])
    got = _stream(_tape(DAY1, params), _batches(DAY1, lines, 3))
    _compare(got, build_microtape(parse_recording(path), params))


def _floored(feed: FeedDay, step: int) -> FeedDay:
    """The day with receive and venue times floored to `step` ms (each table re-sorted by
    receive time, stably): ties everywhere."""
    def floor(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for col in ("recv_ts_ms", "time_ms"):
            if col in df:
                df[col] = df[col] // step * step
        return df.sort_values("recv_ts_ms", kind="stable").reset_index(drop=True)

    meta = feed.books.meta.copy()
    meta["recv_ts_ms"] //= step
    meta["recv_ts_ms"] *= step
    meta["time_ms"] = meta["time_ms"] // step * step
    order = np.argsort(meta["recv_ts_ms"].to_numpy(), kind="stable")
    books = BookFrames(meta.iloc[order].reset_index(drop=True),
                       *(getattr(feed.books, m)[order]
                         for m in ("bid_px", "bid_sz", "ask_px", "ask_sz")))
    return dataclasses.replace(feed, books=books, **{
        name: floor(getattr(feed, name)) for name in ("trades", "bbo", "ctx", "candles")})


def _cut(feed: FeedDay, seed: int, sizes: tuple[int, ...] = SIZES
         ) -> list[tuple[Parsed, int]]:
    """The day's rows as batches of 1 to 1,500 rows in receive order (a millisecond may be
    split between two batches), each with the receive time of the next row."""
    names = ("books", "trades", "bbo", "ctx", "candles")
    recv = [(feed.books.meta if n == "books" else getattr(feed, n))["recv_ts_ms"].to_numpy()
            for n in names]
    table = np.concatenate([np.full(len(r), k) for k, r in enumerate(recv)])
    merged = np.argsort(np.concatenate(recv), kind="stable")
    table, all_recv = table[merged], np.concatenate(recv)[merged]
    rng, out, i = random.Random(seed), [], 0
    pos = [0] * len(names)
    while i < len(merged):
        j = min(len(merged), i + rng.choice(sizes))
        counts = np.bincount(table[i:j], minlength=len(names))
        lo, hi = list(pos), [a + int(c) for a, c in zip(pos, counts, strict=True)]
        b = feed.books
        books = BookFrames(b.meta.iloc[lo[0]:hi[0]].reset_index(drop=True),
                           *(getattr(b, m)[lo[0]:hi[0]]
                             for m in ("bid_px", "bid_sz", "ask_px", "ask_sz")))
        parts = {n: getattr(feed, n).iloc[lo[k]:hi[k]].reset_index(drop=True)
                 for k, n in enumerate(names) if k}
        now = int(all_recv[j]) if j < len(merged) else day_bounds_ms(feed.day)[1]
        out.append((Parsed(books=books, **parts), now))
        pos, i = hi, j
    return out


@pytest.mark.slow
@pytest.mark.parametrize("step", [1, 100, 1000])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_days_full_of_ties_row_by_row_equal_the_nightly_tape(step, seed):
    """`random_feed`: fast books that stop and start (the cancel stream switch), replayed
    trades, candle updates after the close; receive and venue clocks floored to `step` ms
    give same-millisecond quotes of either source (at equal venue times too), trades at a
    frame's millisecond, messages on grid times, and milliseconds split across batches."""
    feed = _floored(random_feed(seed, duration_ms=600_000, coins=("BTC", "ETH", "SOL")),
                    step)
    for params in (DEFAULT, SHORT):
        got = _stream(_tape(feed.day, params), _cut(feed, seed))
        _compare(got, build_microtape(feed, params))


@pytest.mark.slow
def test_a_book_stream_that_widens_later_stays_within_tolerance():
    """The one place the stream is not bit for bit: a cancel pair's row sums run over the
    widest frame of its stream so far, the batch's over the widest of the day; here the
    slow frames of the first 200 s have 9 levels, then 20 (last-bit differences only)."""
    feed = random_feed(1, duration_ms=600_000, coins=("BTC", "ETH", "SOL"))
    meta = feed.books.meta.copy()
    mats = [getattr(feed.books, m).copy() for m in ("bid_px", "bid_sz", "ask_px", "ask_sz")]
    recv = meta["recv_ts_ms"].to_numpy()
    narrow = ~meta["fast"].to_numpy() & (recv < recv.min() + 200_000)
    for m in mats:
        m[narrow, 9:] = np.nan
    meta.loc[narrow, ["n_bid", "n_ask"]] = 9
    feed = dataclasses.replace(feed, books=BookFrames(meta, *mats))
    got = _stream(_tape(feed.day, DEFAULT), _cut(feed, 1))
    assert _compare(got, build_microtape(feed, DEFAULT))["cancel_rate"] < 1e-13


@pytest.mark.slow
def test_the_cancel_pairs_edges_one_row_per_batch():
    """Hand-made edges of `pair_cancel_rates`, fed one row per batch: a trade received at
    the millisecond of its stream's first frame (after it) belongs to no pair, also when
    it arrives before the second frame; a pair completed at exactly g0 - cadence (one-sided
    frames before the first two-sided quote) is off the grid."""
    one_sided = [(100.0, 1.0), (99.0, 1.0)]
    feed = make_feed(
        books=[book(1000, one_sided, [], coin="ETH"),
               book(2500, [(100.0, 0.5), (99.0, 1.0)], [], coin="ETH"),
               book(1500, [(100.0, 1.0)], [], coin="BTC", fast=True),
               book(2000, [(100.0, 0.2)], [], coin="BTC", fast=True)],
        trades=[trade(1000, -1, 100.0, 0.3, coin="ETH", time=950)],
        bbos=[bbo(2100, (100.0, 1.0), (101.0, 1.0), coin=c) for c in ("BTC", "ETH")]
        + [bbo(3100, (100.0, 1.0), (101.0, 1.0), coin=c) for c in ("BTC", "ETH")],
        day="1970-01-01")
    want = build_microtape(feed, DEFAULT)
    rate = dict(zip(want["coin"].astype(str) + want["ts_ms"].astype(str),
                    want["cancel_rate"], strict=True))
    assert rate == {"BTC3000": 0.0, "ETH3000": 0.25}
    _compare(_stream(_tape(feed.day, DEFAULT), _cut(feed, 0, (1,))), want)


@pytest.mark.slow
def test_a_skipped_batch_is_caught():
    """The comparison can fail: one l2Book batch left out changes the rows."""
    batches = _recorded(REAL_RECORDING, "2025-01-26", 1)
    want = _nightly(REAL_RECORDING, DEFAULT)
    with_books = [k for k, (p, _) in enumerate(batches) if len(p.books)]
    skip = with_books[len(with_books) // 2]
    got = _stream(_tape("2025-01-26", DEFAULT), batches[:skip] + batches[skip + 1:])
    with pytest.raises(AssertionError):
        _compare(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_the_carried_median_is_the_rolling_one(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=3000) * rng.choice([1e-3, 1.0, 1e5], size=3000)
    x[rng.random(3000) < 0.2] = np.nan
    x[:40] = np.nan
    x[rng.random(3000) < 0.2] = 1.5  # ties
    for window, minp in ((1, 1), (2, 1), (7, 3), (600, 60), (50, 0)):
        med = RollingMedian(window, minp)
        got = np.array([med.push(v) for v in x.tolist()])
        want = rolling_median(x, window, minp)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True,
                                   err_msg=str((window, minp)))  # 1e-12 relative


def _same(a: Any, b: Any) -> bool:
    """Same type and value: floats within 1e-12 relative (the per-row Python path and the
    numpy path are two computations), NaN where NaN; everything else exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b) or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return bool(a == b)


@pytest.mark.slow
@pytest.mark.parametrize(("step", "params"), [(1, DEFAULT), (1000, SHORT)],
                         ids=["1ms-default", "1s-short"])
@pytest.mark.slow
def test_the_per_row_and_the_vectorised_paths_give_the_same_bits(step, params):
    """A batch of a few rows takes the per-row Python path (`_SMALL`, `_FEW`) and a short run
    of rows the per-row loop (`RUN`); big batches and long runs take numpy. Fed one row per
    batch and asked for rows after each, or fed 1,500 rows a batch and asked at the end,
    the tape gives the same rows (floats within 1e-12 relative; ties everywhere with a
    coarse clock)."""
    feed = _floored(random_feed(3, duration_ms=300_000, coins=("BTC", "ETH", "SOL")), step)
    one = _stream(_tape(feed.day, params), _cut(feed, 0, (1,)))
    big = _tape(feed.day, params)
    batches = _cut(feed, 0, (1500,))
    for parsed, _ in batches:
        big.add(parsed)
    many = big.rows(batches[-1][1])
    one.sort(key=lambda r: (r["ts_ms"], r["coin"]))  # a coin's row t may come late
    assert len(one) == len(many) > 0
    assert all(list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
               for a, b in zip(one, many, strict=True))
    _compare(many, build_microtape(feed, params))


@pytest.mark.slow
def test_the_per_row_and_the_vectorised_paths_see_a_wrong_state():
    """The comparison above can fail: a one-row batch left out changes the rows."""
    feed = random_feed(3, duration_ms=300_000, coins=("BTC", "ETH", "SOL"))
    batches = _cut(feed, 0, (1,))
    with_books = [k for k, (p, _) in enumerate(batches) if len(p.books)]
    skip = with_books[len(with_books) // 2]
    one = _stream(_tape(feed.day, DEFAULT), batches[:skip] + batches[skip + 1:])
    with pytest.raises(AssertionError):
        _compare(one, build_microtape(feed, DEFAULT))
