"""A coin whose trades channel is absent has missing trade features, never 0.

Real captures lack channels (an l2Book-only recording, a coin subscribed without its
trades). The rule, one definition nightly and live (lotus_core.microtape.tape): a coin's
tape columns are NaN at a grid time t when no trade of it was received by t (a replayed
one included: the venue's snapshot on subscribe proves the channel though it is not flow)
and t is `trade_channel_grace_ms` or more past the coin's first grid time; otherwise as
before (0 in an interval without trades). Batch: `build_microtape` on days where one coin
has no trades, or only a late replay; equality: the same days row by row (`TapeStream`)
and a grid time at a time (`FlowStream`), NaN in the same places."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.tables import FeedDay
from lotus_core.microtape import MICROTAPE_SCHEMA, MicroTapeParams, build_microtape
from lotus_core.microtape.flow import FLOW_COLUMNS
from lotus_core.microtape.inputs import NO_TRADES, coin_inputs
from lotus_core.microtape.warm import warm_span_ms
from lotus_core.time import day_start_ms
from tests.core.microtape.test_microtape import BOOK_A, T0, _row
from tests.core.microtape.test_microtape_book import DEFAULT, _compare, _cut, _stream, _tape
from tests.core.microtape.test_microtape_flow import _errors
from tests.core.microtape.test_microtape_flow import _stream as _flow_stream
from tests.kits.live_kit import SHORT
from tests.kits.microtape_kit import book, make_feed, random_feed, trade

TAPE = FLOW_COLUMNS[:9]
"""The columns made of trades alone (trade_count .. vwap_px)."""
COUNTS = TAPE[:-1]
"""Those that read 0 in an interval without trades (not VWAP)."""
GRACE = DEFAULT.trade_channel_grace_ms


def _without_trades(feed: FeedDay, coin: str, keep: pd.DataFrame | None = None) -> FeedDay:
    """`feed` with none of `coin`'s trades (or only `keep`), as a recording without its
    trades channel."""
    trades = feed.trades.loc[feed.trades["coin"] != coin]
    if keep is not None:
        trades = pd.concat([trades, keep], ignore_index=True).astype(feed.trades.dtypes)
    trades = trades.sort_values("recv_ts_ms", kind="stable").reset_index(drop=True)
    counts = {k: v for k, v in feed.counts.items() if k != ("trades", coin)}
    if keep is not None and len(keep):
        counts[("trades", coin)] = 1
    return dataclasses.replace(feed, trades=trades, counts=counts)


def _day() -> FeedDay:
    """Three minutes of BTC and ETH; ETH has no trades channel."""
    return _without_trades(random_feed(3, duration_ms=180_000), "ETH")


def test_a_coin_without_trades_has_missing_trade_features_and_one_with_trades_has_them():
    df = build_microtape(_day())
    MICROTAPE_SCHEMA.validate(df)
    eth, btc = (df[df["coin"] == c].reset_index(drop=True) for c in ("ETH", "BTC"))
    graced = eth["ts_ms"].to_numpy() < eth["ts_ms"].iloc[0] + GRACE
    assert graced.sum() == GRACE // DEFAULT.cadence_ms and (~graced).sum() > 100
    assert eth.loc[~graced, list(TAPE)].isna().all().all()
    assert (eth.loc[graced, list(COUNTS)] == 0).all().all()  # the grace: as a quiet tape
    # BTC, with trades: as before, never missing (0 in its quiet seconds)
    assert btc[list(COUNTS)].notna().all().all()
    assert (btc["trade_count"] == 0).any() and (btc["trade_count"] > 0).any()
    for col in TAPE:
        assert df[col].dtype == np.float64, col


def test_only_the_trade_columns_of_the_coin_without_trades_move():
    """Every other column of ETH, and every column of BTC, are those of the day with ETH's
    trades (a coin's frame depends on its own inputs; cancel_rate nets out traded size, so
    it moves with the trades, not with the channel rule)."""
    full = random_feed(3, duration_ms=180_000)
    a, b = build_microtape(full), build_microtape(_without_trades(full, "ETH"))
    assert a["coin"].tolist() == b["coin"].tolist()
    btc = (a["coin"] == "BTC").to_numpy()
    pd.testing.assert_frame_equal(a[btc], b[btc], check_exact=True)
    same = [c for c in a.columns if c not in (*TAPE, "cancel_rate")]
    pd.testing.assert_frame_equal(a.loc[~btc, same], b.loc[~btc, same], check_exact=True)


def test_the_channel_is_missing_after_the_grace_until_a_trade_even_a_replayed_one():
    """Grid from T0 + 1 s, grace 3 s: rows up to T0 + 3 s read as a quiet tape, rows from
    T0 + 4 s are missing until a snapshot of old trades (not flow: received long after
    their venue time) shows the channel at T0 + 6.5 s; 0 from then on."""
    params = MicroTapeParams(trade_channel_grace_ms=3_000)
    books = [book(T0 + 50, **BOOK_A), book(T0 + 9_500, **BOOK_A)]
    replay = [trade(T0 + 6_500, 1, 101.0, 1.0, time=T0 - 30_000)]
    df = build_microtape(make_feed(books=books, trades=replay), params)
    for s in range(1, 10):
        r = _row(df, T0 + s * 1_000)
        if 4 <= s <= 6:
            assert np.isnan([r[c] for c in TAPE]).all(), s
        else:
            assert [r[c] for c in COUNTS] == [0.0] * len(COUNTS) and np.isnan(r.vwap_px), s
    inp = coin_inputs(make_feed(books=books, trades=replay), "BTC", "1m", 3_000)
    assert len(inp.trades["recv"]) == 0 and inp.trades_from() == T0 + 6_500
    inp = coin_inputs(make_feed(books=books), "BTC", "1m", 3_000)
    assert inp.trades_from() == NO_TRADES


@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
@pytest.mark.parametrize("seed", [1, 2])
def test_row_by_row_the_day_without_trades_equals_the_nightly_tape(params, seed):
    """`TapeStream` fed the day in random batches: every column of every row is the
    nightly's, NaN in the same places (`_compare`)."""
    feed = _day()
    want = build_microtape(feed, params)
    assert want.loc[want["coin"] == "ETH", "trade_count"].isna().sum() > 100
    _compare(_stream(_tape(feed.day, params), _cut(feed, seed)), want)


@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_row_by_row_a_channel_seen_only_in_a_replay_equals_the_nightly_tape(params):
    """ETH's only trades are one replayed frame after the grace (dropped as flow, kept as
    proof of the channel): NaN from the grace's end to it, 0 after, live as nightly."""
    base = random_feed(4, duration_ms=180_000)
    at = int(base.books.meta["recv_ts_ms"].min()) + GRACE + 30_000
    old = pd.DataFrame({"recv_ts_ms": [at, at], "coin": ["ETH", "ETH"],
                        "time_ms": [at - 40_000, at - 39_000], "side": [1, -1],
                        "px": [3_000.0, 3_000.1], "sz": [0.1, 0.2], "tid": [7, 8]})
    feed = _without_trades(base, "ETH", keep=old)
    want = build_microtape(feed, params)
    eth = want[want["coin"] == "ETH"]
    ts = eth["ts_ms"].to_numpy()
    missing = (ts >= ts[0] + GRACE) & (ts < at)
    assert missing.sum() > 20 and (ts >= at).sum() > 20
    assert eth.loc[missing, list(TAPE)].isna().all().all()
    assert (eth.loc[~missing, list(COUNTS)] == 0).all().all()
    _compare(_stream(_tape(feed.day, params), _cut(feed, 5, sizes=(1, 3, 40))), want)


@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_a_grid_time_at_a_time_the_day_without_trades_equals_the_batch(params):
    """`FlowStream` (the per-row flow columns) against `build_microtape`, coin by coin."""
    feed = _day()
    frames = build_microtape(feed, params)
    assert frames.loc[frames["coin"] == "ETH", "trade_count"].isna().sum() > 100
    for n, (coin, frame) in enumerate(frames.groupby("coin", sort=True, observed=True)):
        frame = frame.reset_index(drop=True)
        inp = coin_inputs(feed, str(coin), params.candle_interval, params.trade_max_lag_ms)
        errors = _errors(_flow_stream(inp, params, frame, 9 + n, most=50), frame)
        assert not [k for k, v in errors.items() if v == np.inf], (coin, errors)


@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_a_warm_day_starts_with_the_channel_as_the_previous_days_tail_left_it(params):
    """The grace runs from the coin's first grid time in the warm input (the previous
    day's tail): ETH, without trades on both days, is missing from today's first row (cold,
    its first minute would read as a quiet tape); the live tape, fed the tail from the warm
    input start and then today, gives the warm build's rows."""
    start = day_start_ms("2026-01-02")
    prev = _without_trades(random_feed(5, start_ms=start - 150_000, duration_ms=140_000), "ETH")
    today = _without_trades(random_feed(6, start_ms=start, duration_ms=120_000), "ETH")
    want = build_microtape(today, params, warm=prev)
    eth = want[want["coin"] == "ETH"]
    assert len(eth) > 100 and eth[list(TAPE)].isna().all().all()
    cold = build_microtape(today, params)
    assert (cold.loc[cold["coin"] == "ETH", "trade_count"].iloc[:GRACE // 1000] == 0).all()
    tape = _tape(today.day, params, start - warm_span_ms(params))
    got = _stream(tape, [*_cut(prev, 1), *_cut(today, 2)])
    _compare(got, want)
