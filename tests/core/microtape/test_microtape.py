"""The MicroTape: causal (no look-ahead), exact on hand-built days, schema-tight, deterministic."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import (
    MICROTAPE_COLUMNS,
    MICROTAPE_SCHEMA,
    MicroTapeParams,
    build_microtape,
    cut_feed,
)
from lotus_core.microtape.grid import rolling_pctl
from lotus_core.microtape.regime import classify
from tests.helpers import REAL_RECORDING
from tests.kits.microtape_kit import (
    bbo,
    book,
    candle,
    ctx,
    make_feed,
    random_feed,
    trade,
)

T0 = 1_767_355_200_000  # 2026-01-02 12:00:00 UTC, a Friday
BPS = 1e4

# short windows so that a few minutes of random data exercise every rolling feature
SHORT = MicroTapeParams(
    rv_window_ms=5_000, rv_pctl_window_ms=60_000, pctl_min_ms=10_000, trend_window_ms=20_000,
    depth_rel_window_ms=30_000, depth_rel_min_ms=5_000, ctx_pctl_window_ms=120_000,
    oi_delta_ms=10_000, candle_pctl_window=5, candle_pctl_min=2, outlier_window=11,
)

BOOK_A = dict(bids=[(100.0, 3.0), (99.0, 1.0), (98.0, 2.0)],
              asks=[(101.0, 1.0), (102.0, 2.0), (103.0, 1.0)])


def _row(df: pd.DataFrame, ts: int, coin: str = "BTC") -> pd.Series:
    hit = df[(df["coin"] == coin) & (df["ts_ms"] == ts)]
    assert len(hit) == 1, f"no single row for {coin} at {ts}"
    return hit.iloc[0]


def _ladder(best: float, n: int, step: float, size: float = 1.0) -> list[tuple[float, float]]:
    return [(best + i * step, size) for i in range(n)]


# ------------------------------------------------------------------------ no look-ahead


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True
    )


def _assert_causal(feed, params: MicroTapeParams, cuts: np.ndarray) -> int:
    """Every frame at ts <= t built from the feed cut at t equals the full build's frame."""
    full = build_microtape(feed, params)
    full_end = full.groupby("coin")["ts_ms"].max()
    compared = 0
    for t in (int(t) for t in cuts):
        cut = cut_feed(feed, t)
        # as of t: every coin's grid runs to the last grid point <= t, so a frame that
        # peeked at anything received after t differs from the full build's
        now = build_microtape(cut, params, until_ms=t)
        assert now["ts_ms"].max() == t // params.cadence_ms * params.cadence_ms
        _same_rows(now, build_microtape(feed, params, until_ms=t))
        for coin, rows in now.groupby("coin", sort=True):
            rows = rows[rows["ts_ms"] <= full_end[coin]]
            ref = full[(full["coin"] == coin) & (full["ts_ms"] <= t)]
            _same_rows(rows, ref)
            compared += len(rows)
        assert set(now["coin"]) == set(full.loc[full["ts_ms"] <= t, "coin"])
        # without until_ms the cut build simply stops at its own last message
        part = build_microtape(cut, params)
        ends = part.groupby("coin")["ts_ms"].max()
        _same_rows(part, full[full["ts_ms"] <= full["coin"].map(ends).fillna(-1)])
    return compared


def _cut_points(feed, cadence_ms: int, rng: np.random.Generator) -> list[int]:
    """Random instants, plus for every channel an instant 1 ms before one of its receipts
    that lands just after a grid point: a frame that peeks even ~cadence/8 ahead shows."""
    recv = feed.books.meta["recv_ts_ms"].to_numpy()
    lo, hi = int(recv.min()), int(recv.max())
    late_candles = feed.candles.loc[feed.candles["recv_ts_ms"] > feed.candles["t_close_ms"]]
    cuts = [int(t) for t in rng.integers(lo, hi, 3)]
    cuts.append((lo + hi) // 2 // cadence_ms * cadence_ms)  # exactly on a grid point
    for r in (recv, *(df["recv_ts_ms"].to_numpy() for df in (
            feed.trades, feed.bbo, feed.ctx, late_candles))):
        r = r[(r > lo + 60_000) & (r < hi)]
        near = r[(r % cadence_ms >= 1) & (r % cadence_ms <= cadence_ms // 8)]
        assert len(near), "no receipt just after a grid point"
        cuts.append(int(rng.choice(near)) - 1)
    return cuts


@pytest.mark.parametrize("cadence_ms", [1_000, 500])
def test_no_look_ahead_frames_equal_on_a_feed_cut_at_t(cadence_ms):
    feed = random_feed(seed=7, duration_ms=600_000, coins=("BTC", "ETH", "SOL"))
    params = MicroTapeParams(**{**SHORT.__dict__, "cadence_ms": cadence_ms})
    cuts = _cut_points(feed, cadence_ms, np.random.default_rng(11))
    assert _assert_causal(feed, params, np.array(cuts)) > 3_000


def test_cut_feed_keeps_only_what_was_received():
    feed = random_feed(seed=3, duration_ms=120_000)
    t = int(feed.books.meta["recv_ts_ms"].median())
    cut = cut_feed(feed, t)
    for df in (cut.books.meta, cut.trades, cut.bbo, cut.ctx, cut.candles):
        assert len(df) and (df["recv_ts_ms"] <= t).all()
    assert len(cut.books) == len(cut.books.meta) == len(cut.books.bid_px)
    assert len(cut.trades) == int((feed.trades["recv_ts_ms"] <= t).sum())


# ------------------------------------------------------------------------ grid


def test_grid_starts_at_first_quote_and_ends_at_last_message():
    feed = make_feed(
        books=[book(T0 + 2_300, **BOOK_A)],
        trades=[trade(T0 + 500, 1, 101.0, 1.0), trade(T0 + 6_999, -1, 100.0, 1.0)],
        ctxs=[ctx(T0 + 100, coin="ETH")],  # a coin with no quote gets no rows
    )
    df = build_microtape(feed)
    assert df["coin"].unique().tolist() == ["BTC"]
    assert df["ts_ms"].tolist() == [T0 + 3_000 + 1_000 * i for i in range(4)]
    assert df.columns.tolist() == list(MICROTAPE_COLUMNS)
    assert df["trade_count"].tolist() == [0, 0, 0, 0]  # T0+500 is before the grid, T0+6999 after


def test_empty_feed_gives_an_empty_valid_frame():
    df = build_microtape(make_feed())
    assert len(df) == 0
    MICROTAPE_SCHEMA.validate(df)


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


# ------------------------------------------------------------------------ tape


def test_tape_counts_volumes_vwap_and_imbalance():
    trades = [trade(T0 + 1_100, 1, 101.0, 1.0), trade(T0 + 1_200, 1, 102.0, 3.0),
              trade(T0 + 1_900, -1, 100.0, 2.0)]
    df = build_microtape(make_feed(books=[book(T0 + 50, **BOOK_A), book(T0 + 2_500, **BOOK_A)],
                                   trades=trades))
    r = _row(df, T0 + 2_000)
    assert (r.trade_count, r.buy_vol, r.sell_vol) == (3, 4.0, 2.0)
    assert r.aggr_imb == pytest.approx(2 / 6)
    assert r.vwap_px == pytest.approx((101 + 306 + 200) / 6)
    r = _row(df, T0 + 1_000)
    assert (r.trade_count, r.aggr_imb) == (0, 0.0) and np.isnan(r.vwap_px)


def test_aggressor_run_length_is_signed_and_persists():
    sides = [1, 1, -1, -1, -1, 1]
    recv = [T0 + 1_100, T0 + 1_200, T0 + 2_100, T0 + 2_200, T0 + 3_100, T0 + 5_100]
    trades = [trade(r, s, 101.0 if s > 0 else 100.0, 0.1) for r, s in zip(recv, sides,
                                                                          strict=True)]
    df = build_microtape(make_feed(books=[book(T0 + 50, **BOOK_A)], trades=trades))
    got = dict(zip(df["ts_ms"] - T0, df["aggr_runlen"], strict=True))
    assert got == {1_000: 0, 2_000: 2, 3_000: -2, 4_000: -3, 5_000: -3}
    assert df["aggr_runlen"].dtype == np.int32


def test_sweep_flag_by_levels_walked_or_depth_exceeded():
    pre = book(T0 + 50, bids=[(100.0, 1.0), (99.0, 1.0), (98.0, 1.0)],
               asks=[(101.0, 1.0), (102.0, 1.0), (103.0, 1.0)])
    trades = [
        # +1000..2000: buys walk 3 ask levels (small size) -> sweep up
        trade(T0 + 1_100, 1, 101.0, 0.1), trade(T0 + 1_100, 1, 102.0, 0.1),
        trade(T0 + 1_100, 1, 103.0, 0.1),
        # +2000..3000: one sell larger than the top-3 bid depth (3.0) -> sweep down
        trade(T0 + 2_500, -1, 100.0, 3.5),
        # +3000..4000: two levels, small -> no sweep
        trade(T0 + 3_500, 1, 101.0, 0.1), trade(T0 + 3_500, 1, 102.0, 0.1),
        # +4000..5000: both sides sweep; sells are bigger -> down
        trade(T0 + 4_100, 1, 101.0, 3.2), trade(T0 + 4_200, -1, 100.0, 4.0),
    ]
    df = build_microtape(make_feed(books=[pre, book(T0 + 5_100, **BOOK_A)], trades=trades))
    got = {int(ts - T0): (int(f), int(d))
           for ts, f, d in zip(df["ts_ms"], df["sweep_flag"], df["sweep_dir"], strict=True)}
    assert got == {1_000: (0, 0), 2_000: (1, 1), 3_000: (1, -1), 4_000: (0, 0), 5_000: (1, -1)}


def test_size_outliers_use_a_causal_robust_threshold():
    params = MicroTapeParams(outlier_window=11)
    trades = [trade(T0 + 1_000 + 10 * i, 1, 101.0, 1.0 + 0.01 * (i % 3)) for i in range(11)]
    trades += [trade(T0 + 2_500, 1, 101.0, 1.1), trade(T0 + 2_600, 1, 101.0, 50.0),
               trade(T0 + 3_500, 1, 101.0, 60.0)]
    feed = make_feed(books=[book(T0 + 50, **BOOK_A), book(T0 + 4_100, **BOOK_A)], trades=trades)
    df = build_microtape(feed, params)
    got = dict(zip(df["ts_ms"] - T0, df["size_outlier_count"], strict=True))
    # +1000..2000 has no threshold yet; 1.1 is below median 1.01 + 6*max(MAD, 0.101);
    # 50 is an outlier, and so is 60: the window now holds one 50 among ten ~1.0
    assert got == {1_000: 0, 2_000: 0, 3_000: 1, 4_000: 1}


def test_replayed_trades_are_not_flow():
    trades = [trade(T0 + 1_500, 1, 101.0 + i, 1.0, time=T0 - 30_000 + i) for i in range(5)]
    trades.append(trade(T0 + 1_600, -1, 100.0, 0.5))
    df = build_microtape(make_feed(books=[book(T0 + 50, **BOOK_A), book(T0 + 2_500, **BOOK_A)],
                                   trades=trades))
    r = _row(df, T0 + 2_000)
    assert (r.trade_count, r.buy_vol, r.sell_vol, r.sweep_flag, r.aggr_runlen) == (
        1, 0.0, 0.5, 0, -1)


# ------------------------------------------------------------------------ candles


def test_candle_morphology_of_the_last_closed_candle():
    m = T0  # a minute boundary
    candles = [
        candle(m + 30_000, m, 100.0, 101.0, 99.5, 100.5),
        candle(m + 59_000, m, 100.0, 102.0, 99.0, 101.0),  # final update, before close
        candle(m + 60_050, m + 60_000, 101.0, 101.0, 101.0, 101.0),  # next candle, flat so far
        candle(m + 60_400, m, 100.0, 102.0, 99.0, 101.5),  # late update of the closed one
        candle(m + 121_000, m + 60_000, 100.0, 104.0, 100.0, 103.0),  # its late final update
    ]
    feed = make_feed(books=[book(m + 58_500, **BOOK_A), book(m + 122_500, **BOOK_A)],
                     candles=candles)
    df = build_microtape(feed)
    assert np.isnan(_row(df, m + 59_000).wick_up_bps)  # nothing has closed yet
    r = _row(df, m + 60_000)  # closed at m+59999 < t
    assert r.wick_up_bps == pytest.approx(100.0) and r.wick_dn_bps == pytest.approx(100.0)
    assert r.body_bps == pytest.approx(100.0) and r.range_bps == pytest.approx(300.0)
    assert r.close_loc == pytest.approx(2 / 3)
    r = _row(df, m + 61_000)  # the late update was received by now
    assert r.body_bps == pytest.approx(150.0) and r.wick_up_bps == pytest.approx(50.0)
    assert r.close_loc == pytest.approx(2.5 / 3)
    # the second candle closed at m+119999; until its final update arrives (m+121000) the
    # flat update received at m+60050 is the latest known
    r = _row(df, m + 120_000)
    assert r.close_loc == 0.5 and r.range_bps == 0.0 and r.wick_up_bps == 0.0
    r = _row(df, m + 121_000)
    assert r.range_bps == pytest.approx(400.0) and r.body_bps == pytest.approx(300.0)
    assert (r.wick_up_bps, r.wick_dn_bps, r.close_loc) == (pytest.approx(100.0), 0.0, 0.75)


def test_range_pctl_ranks_against_previous_candles():
    m = T0
    ranges = [1.0, 2.0, 3.0, 2.0]
    candles = [candle(m + 60_000 * i + 59_000, m + 60_000 * i, 100.0, 100.0 + r, 100.0,
                      100.0) for i, r in enumerate(ranges)]
    feed = make_feed(books=[book(m + 1_000, **BOOK_A), book(m + 241_000, **BOOK_A)],
                     candles=candles)
    df = build_microtape(feed, MicroTapeParams(candle_pctl_window=60, candle_pctl_min=1))
    assert np.isnan(_row(df, m + 60_000).range_pctl)  # no previous candle
    assert _row(df, m + 120_000).range_pctl == 1.0  # 2 > 1
    assert _row(df, m + 180_000).range_pctl == 1.0  # 3 > 1, 2
    assert _row(df, m + 240_000).range_pctl == pytest.approx((1 + 0.5) / 3)  # 2 vs 1, 2, 3


# ------------------------------------------------------------------------ context, session, regime


def test_basis_funding_and_oi_delta():
    ctxs = [ctx(T0 + 500, funding=2e-5, open_interest=100.0, oracle_px=100.0, mark_px=101.0,
                premium=0.001),
            ctx(T0 + 60_500, funding=3e-5, open_interest=110.0, oracle_px=100.0, mark_px=99.0)]
    feed = make_feed(books=[book(T0 + 100, **BOOK_A), book(T0 + 61_000, **BOOK_A)], ctxs=ctxs)
    df = build_microtape(feed)
    r = _row(df, T0 + 1_000)
    assert (r.funding, r.open_interest, r.premium) == (2e-5, 100.0, 0.001)
    assert r.basis_bps == pytest.approx(100.0) and np.isnan(r.oi_delta)  # nothing 60 s ago
    r = _row(df, T0 + 61_000)
    assert r.basis_bps == pytest.approx(-100.0) and r.oi_delta == pytest.approx(0.1)
    assert r.funding == 3e-5


def test_percentiles_are_exact_ranks_in_unit_interval():
    x = np.array([1.0, 2.0, 3.0, 2.0, np.nan, 5.0])
    got = rolling_pctl(x, window=3, min_periods=1)
    np.testing.assert_allclose(got, [0.5, 1.0, 1.0, 0.25, np.nan, 1.0])
    df = build_microtape(random_feed(seed=5, duration_ms=300_000), SHORT)
    for col in ("rv_pctl", "range_pctl", "funding_pctl", "oi_pctl", "trend_eff", "close_loc"):
        v = df[col].dropna()
        assert len(v) > 100 and v.between(0.0, 1.0).all(), col
    assert df["rv_pctl"].min() == 0.0 and df["rv_pctl"].max() == 1.0


def test_sessions_by_utc_clock():
    sat = 1_767_312_000_000 + 86_400_000  # 2026-01-02 00:00 is a Friday; +1 day = Saturday
    cases = {T0 - 12 * 3_600_000 + 3_600_000: "asia", T0 - 5 * 3_600_000 - 1_000: "asia",
             T0 - 5 * 3_600_000: "eu", T0: "eu",
             T0 + 3_600_000: "us", T0 + 11 * 3_600_000 + 59 * 60_000: "us",
             sat + 5 * 3_600_000: "weekend", sat + 2 * 86_400_000 - 1_000: "weekend",
             sat + 2 * 86_400_000: "asia"}
    for ts, want in cases.items():
        df = build_microtape(make_feed(books=[book(ts - 10, **BOOK_A)], ctxs=[ctx(ts + 10)]))
        assert df["session"].tolist() == [want], ts


def test_regime_classifier_thresholds():
    params = MicroTapeParams()
    rv_pctl = np.array([np.nan, 0.39, 0.9, 0.4, 0.9, 0.5])
    eff = np.array([0.5, 0.9, 0.3, 0.08, 0.05, np.nan])
    assert classify(rv_pctl, eff, params).tolist() == ["warmup", "quiet", "trend", "trend",
                                                       "chop", "warmup"]


# ------------------------------------------------------------------------ schema, determinism


@pytest.fixture(scope="module")
def random_tape() -> pd.DataFrame:
    return build_microtape(random_feed(seed=1, duration_ms=300_000), SHORT)


def test_output_validates_and_is_sorted(random_tape):
    MICROTAPE_SCHEMA.validate(random_tape)
    assert list(random_tape.columns) == list(MICROTAPE_COLUMNS)
    assert random_tape["regime"].isin(["quiet", "trend", "chop"]).mean() > 0.8


@pytest.mark.parametrize(
    ("column", "corrupt"),
    [
        ("trade_count", lambda s: s.astype("int64")),
        ("sweep_flag", lambda s: s.astype("float64")),
        ("coin", lambda s: s.astype(object)),
        ("bid_px", lambda s: s.where(s.index != 3)),
        ("cancel_rate", lambda s: s.where(s.index != 0)),
        ("aggr_imb", lambda s: s + 5.0),
        ("regime", lambda s: s.where(s.index != 0, "bull")),
    ],
)
def test_schema_rejects_wrong_dtypes_and_unexpected_nan(random_tape, column, corrupt):
    bad = random_tape.copy()
    bad[column] = corrupt(bad[column])
    with pytest.raises((pa_errors.SchemaError, pa_errors.SchemaErrors), match=column):
        MICROTAPE_SCHEMA.validate(bad)


def test_schema_rejects_extra_columns_and_unsorted_rows(random_tape):
    with pytest.raises((pa_errors.SchemaError, pa_errors.SchemaErrors), match="extra"):
        MICROTAPE_SCHEMA.validate(random_tape.assign(extra=1.0))
    with pytest.raises(pa_errors.SchemaError, match="sorted_by_coin_ts"):
        MICROTAPE_SCHEMA.validate(random_tape.iloc[::-1].reset_index(drop=True))


def test_two_builds_are_byte_identical():
    feed = random_feed(seed=2, duration_ms=180_000)
    blobs = []
    for _ in range(2):
        buf = io.BytesIO()
        build_microtape(feed, SHORT).to_parquet(buf, index=False)
        blobs.append(buf.getvalue())
    assert blobs[0] == blobs[1]


def test_params_reject_windows_off_the_grid():
    with pytest.raises(ValueError, match="rv_window_ms"):
        MicroTapeParams(cadence_ms=700)
    with pytest.raises(ValueError, match="outlier_window"):
        MicroTapeParams(outlier_window=100)


# ------------------------------------------------------------------------ real frames


def test_real_recording_gives_sane_values():
    df = build_microtape(parse_recording(REAL_RECORDING))
    MICROTAPE_SCHEMA.validate(df)
    assert len(df) >= 20 and df["coin"].unique().tolist() == ["BTC"]
    assert df["mid_px"].between(104_000, 106_000).all()
    assert df["spread_bps"].between(0.0, 5.0).all() and df["spread_bps"].max() > 0
    assert (df["stale_ms"] < 2_000).all()
    for col in ("book_imb_1", "book_imb_5", "book_imb_10", "depth_5_bid", "depth_slope"):
        assert df[col].notna().all(), col
    assert df["trade_count"].sum() > 0 and df["cancel_rate"].gt(0).any()
    # the 30 trades replayed on subscribe (up to 50 s old) are not counted as flow
    assert df["trade_count"].max() < 30
