"""The MicroTape's flow columns (trade tape, candles, context, volatility, session and
regime), nightly and live, one definition.

Batch: `build_microtape` on hand-built days. Equality: `FlowStream` (one grid time at a
time) equals `build_microtape` column by column: on whole fixture days (default and short
windows), the same day with its receive times floored (ties everywhere), random tie-heavy
inputs, the real sample and a warm midnight; fed in random receive-ordered batches,
sometimes ahead of the grid time it is asked about (those are `slow`). The one-point forms
of the batch rules and the window structures (`RollingPctl`, `SortedBag`) equal the batch
ones on adversarial values."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.feed.tables import FeedDay
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.build import build_coin
from lotus_core.microtape.context import session, session_of
from lotus_core.microtape.flow import FLOW_COLUMNS, FlowStream, flow_features
from lotus_core.microtape.grid import RollingPctl, SortedBag, rolling_pctl
from lotus_core.microtape.inputs import Books, CoinInputs, coin_inputs
from lotus_core.microtape.regime import classify, efficiency, efficiency_of, regime_of
from lotus_core.microtape.warm import warm_feed
from lotus_core.time import day_start_ms
from tests.core.microtape.test_microtape import BOOK_A, T0, _row
from tests.core.microtape.test_microtape import SHORT as BATCH_SHORT
from tests.kits.live_kit import FIXTURE, REPO, SHORT
from tests.kits.microtape_kit import book, candle, ctx, make_feed, random_feed, trade
from tests.kits.midnight import write_midnight

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
    assert df["aggr_runlen"].dtype == np.float64  # NaN where there is no trades channel


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
    df = build_microtape(random_feed(seed=5, duration_ms=300_000), BATCH_SHORT)
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


def test_flow_features_are_the_flow_columns_in_order():
    """`flow_features` (the batch) and `FlowStream` (the step) give one column set."""
    feed = make_feed(books=[book(T0 + 50, **BOOK_A), book(T0 + 2_500, **BOOK_A)],
                     trades=[trade(T0 + 1_100, 1, 101.0, 1.0)], ctxs=[ctx(T0 + 600)])
    inp = coin_inputs(feed, "BTC", "1m", 3_000)
    grid = np.array([T0 + 1_000, T0 + 2_000], dtype=np.int64)
    cols = flow_features(inp, grid, np.array([np.nan, 0.0]), MicroTapeParams())
    assert tuple(cols) == FLOW_COLUMNS
    assert all(len(v) == len(grid) for v in cols.values())


# ------------------------------------------------------------------- one grid time at a time

DEFAULT = MicroTapeParams()
REAL = REPO / "tests" / "data" / "real" / "2025-01-26.jsonl.gz"
OTHER = REPO / "fixtures" / "2026-01-05.jsonl.gz"
_BOOK_FIELDS = ("recv", "time", "fast", "n_bid", "n_ask", "bid_px", "bid_sz", "ask_px",
                "ask_sz")
_TOP = ("bid_px", "ask_px", "mid_px", "micro_px", "spread_bps", "dpx_bps",
        "microprice_drift_bps", "stale_ms")

TIES = SHORT.model_copy(update={"sweep_depth_levels": 1, "sweep_min_levels": 6})
"""Short windows, and sweeps decided by the facing depth more than by the levels swept."""

T_SYN = 1_767_225_600_000  # 2026-01-01T00:00Z
Batch = tuple[np.ndarray, tuple[Books, dict, dict, dict]]


@cache
def _feed(path: Path) -> FeedDay:
    return parse_recording(path)


def _ties(feed: FeedDay, step: int = 250) -> FeedDay:
    """The day with every receive time floored to `step` ms and candle closes moved onto the
    grid: many events exactly at grid times and trades in the same ms as books, where the
    as-of sides (recv <= t, the book received before the trade, t_close + 1) decide."""
    def floor(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(recv_ts_ms=df["recv_ts_ms"] // step * step)

    candles = floor(feed.candles).assign(t_close_ms=feed.candles["t_close_ms"] + 1)
    return dataclasses.replace(
        feed, books=dataclasses.replace(feed.books, meta=floor(feed.books.meta)),
        trades=floor(feed.trades), bbo=floor(feed.bbo), ctx=floor(feed.ctx), candles=candles)


def _synthetic(seed: int, minutes: int = 15) -> CoinInputs:
    """One coin's inputs drawn at random, tie-heavy: books, trades, context and candle
    updates on coarse clocks (many in one ms, many at grid times), few distinct prices,
    sizes, funding and OI values; one-sided books, size outliers, a zero or NaN oracle,
    zero OI, NaN premiums; candles from before the grid, updated during and after their
    minute, some flat (h == l) or with a zero open."""
    rng = np.random.default_rng(seed)
    span, levels = minutes * 60_000, 4

    def clock(n: int, step: int, lo: int = 0) -> np.ndarray:
        return np.sort(rng.integers(lo // step, span // step, n)).astype(np.int64) * step + T_SYN

    nb = span // 300
    recv = clock(nb, 100)
    mid = 100.0 + np.cumsum(rng.choice([-0.5, 0.0, 0.0, 0.5], nb))
    n_bid = np.where(rng.random(nb) < 0.05, 0, rng.integers(1, levels + 1, nb))
    n_ask = np.where(rng.random(nb) < 0.05, 0, rng.integers(1, levels + 1, nb))
    step = np.arange(1, levels + 1) * 0.5
    present_b = step[None, :] <= n_bid[:, None] * 0.5
    present_a = step[None, :] <= n_ask[:, None] * 0.5
    sizes = rng.choice([0.5, 1.0, 2.0, 5.0], (nb, levels))
    books = Books(
        recv=recv, time=recv, fast=rng.random(nb) < 0.7, n_bid=n_bid, n_ask=n_ask,
        bid_px=np.where(present_b, mid[:, None] - step, np.nan),
        bid_sz=np.where(present_b, sizes, np.nan),
        ask_px=np.where(present_a, mid[:, None] + step, np.nan),
        ask_sz=np.where(present_a, sizes[:, ::-1], np.nan))
    nt = span // 150
    t_recv = clock(nt, 100, lo=-10_000)  # some before the first quote: off the grid
    side = np.where(np.cumsum(rng.random(nt) < 0.3) % 2 == 0, 1, -1).astype(np.int8)
    side[rng.random(nt) < 0.1] = 0  # neither side: counted, in no volume
    sz = rng.choice([0.1, 0.1, 0.5, 1.0, 2.0], nt)
    sz[rng.random(nt) < 0.03] = 40.0
    trades = {"recv": t_recv, "time": t_recv, "side": side,
              "px": 100.0 + rng.integers(-3, 4, nt) * 0.5, "sz": sz}
    nc = span // 1500
    c_recv = clock(nc, 500)
    oracle = rng.choice([99.0, 100.0, 100.5], nc)
    oracle[rng.random(nc) < 0.02] = 0.0
    oracle[rng.random(nc) < 0.02] = np.nan
    oi = 1000.0 + np.cumsum(rng.choice([0.0, 0.0, 1.0, -1.0], nc))
    oi[rng.random(nc) < 0.02] = 0.0
    premium = rng.choice([0.0, 1e-4, np.nan], nc)
    ctx = {"recv": c_recv, "funding": rng.choice([1e-5, 2e-5, -1e-5], nc),
           "open_interest": oi, "oracle_px": oracle, "mark_px": oracle + 0.25,
           "premium": premium}
    rows = []
    for m in range(-3, minutes):
        t_open = T_SYN + m * 60_000
        for r in np.sort(rng.integers(0, 90, rng.integers(1, 6))) * 1000:
            o, c = rng.choice([0.0, 100.0, 100.0, 100.0]), rng.choice([99.0, 100.0, 101.0])
            h = max(o, c) + rng.choice([0.0, 0.5])
            lo = min(o, c) - rng.choice([0.0, 0.5])
            rows.append((max(t_open + int(r), T_SYN - 120_000), t_open, t_open + 59_999,
                         o, h, lo, c))
    rows.sort(key=lambda x: x[0])
    arr = np.array(rows, dtype=np.float64)
    candles = {k: arr[:, i].astype(np.int64 if i < 3 else np.float64)
               for i, k in enumerate(("recv", "t_open", "t_close", "o", "h", "l", "c"))}
    empty = np.empty(0)
    bbo = {"recv": empty.astype(np.int64), "time": empty.astype(np.int64), "bid_px": empty,
           "bid_sz": empty, "ask_px": empty, "ask_sz": empty}
    return CoinInputs("SYN", books, trades, bbo, ctx, candles)


def _batches(inp: CoinInputs, rng: np.random.Generator, most: int = 2000) -> list[Batch]:
    """The coin's rows in receive order, cut into batches of 1..`most` rows (log-uniform):
    each batch's receive times and its (books, trades, ctx, candles) slices."""
    tables = [inp.books.recv, inp.trades["recv"], inp.ctx["recv"], inp.candles["recv"]]
    recv = np.concatenate(tables)
    tid = np.concatenate([np.full(len(a), k) for k, a in enumerate(tables)])
    order = np.argsort(recv, kind="stable")
    recv, tid = recv[order], tid[order]
    cum = np.stack([np.concatenate([[0], np.cumsum(tid == k)]) for k in range(4)])
    out, start = [], 0
    while start < len(recv):
        end = min(len(recv), start + int(np.exp(rng.uniform(0.0, np.log(most)))))
        lo, hi = cum[:, start], cum[:, end]
        books = Books(*(getattr(inp.books, f)[lo[0]:hi[0]] for f in _BOOK_FIELDS))
        parts = [{k: v[lo[i]:hi[i]] for k, v in table.items()}
                 for i, table in ((1, inp.trades), (2, inp.ctx), (3, inp.candles))]
        out.append((recv[start:end], (books, *parts)))
        start = end
    return out


def _stream(inp: CoinInputs, params: MicroTapeParams, frame: pd.DataFrame, seed: int,
            drop: int | None = None, most: int = 2000) -> pd.DataFrame:
    """FlowStream's rows at the frame's grid times: before each, every batch with an event
    received by then is added, and now and then one more (later events held early).
    `drop`: leave out the batch with that index (a deliberately wrong state)."""
    rng = np.random.default_rng(seed)
    batches = _batches(inp, rng, most)
    fs = FlowStream(inp.coin, params)
    # a replayed trade before the first fresh one (not flow, but proof of the channel),
    # shown to the stream as TapeStream shows it, once received
    fresh = inp.trades["recv"]
    replayed = inp.trades_from() if len(fresh) == 0 or inp.trades_from() < fresh[0] else None
    rows, j = [], 0
    for row in frame[["ts_ms", *_TOP]].to_dict("records"):
        t = row["ts_ms"]
        while j < len(batches) and (batches[j][0][0] <= t or rng.random() < 0.05):
            if j != drop:
                fs.add(*batches[j][1])
            j += 1
        if replayed is not None and replayed <= t:
            fs.saw_trades(replayed)
            replayed = None
        rows.append(fs.columns(t, {k: row[k] for k in _TOP}))
    kinds = {c: type(v) for c, v in rows[-1].items()}  # the dtypes' Python equivalents
    assert list(kinds) == list(FLOW_COLUMNS)
    assert {c: k for c, k in kinds.items() if k is not float} == {"session": str,
                                                                   "regime": str}
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def _errors(got: pd.DataFrame, want: pd.DataFrame) -> dict[str, float]:
    """Worst relative error per column (absolute floor 1e-12); inf where NaN placement,
    an int or a string differs, or a value is off by more than 1e-9 relative."""
    assert len(got) == len(want) > 0
    out = {}
    for col in FLOW_COLUMNS:
        a, b = got[col].to_numpy(), want[col].to_numpy()
        if want[col].dtype.kind == "f":
            a, b = a.astype(np.float64), b.astype(np.float64)
            if not np.array_equal(np.isnan(a), np.isnan(b)):
                out[col] = np.inf
                continue
            ok = ~np.isnan(b)
            diff, scale = np.abs(a[ok] - b[ok]), np.abs(b[ok])
            worst = float((diff / np.maximum(scale, 1e-12)).max()) if len(diff) else 0.0
            out[col] = np.inf if (diff > np.maximum(1e-9 * scale, 1e-12)).any() else worst
        else:
            out[col] = 0.0 if a.tolist() == b.tolist() else np.inf
    return out


def _check_feed(feed: FeedDay, params: MicroTapeParams, seed: int,
                since_ms: int | None = None, want: pd.DataFrame | None = None) -> pd.DataFrame:
    """Stream every coin of `feed` and compare (today's rows with `want`, on a warm day);
    the batch frames."""
    frames = build_microtape(feed, params)
    assert len(frames)
    for n, (coin, frame) in enumerate(frames.groupby("coin", sort=True, observed=True)):
        frame = frame.reset_index(drop=True)
        inp = coin_inputs(feed, str(coin), params.candle_interval, params.trade_max_lag_ms)
        got, ref = _stream(inp, params, frame, seed + n), frame
        if since_ms is not None:  # a warm day: today's rows against the warm build
            assert want is not None
            keep = frame["ts_ms"].to_numpy() >= since_ms
            got = got.loc[keep].reset_index(drop=True)
            ref = want.loc[want["coin"] == coin].reset_index(drop=True)
            assert np.array_equal(ref["ts_ms"], frame.loc[keep, "ts_ms"])
        errors = _errors(got, ref)
        bad = {k: v for k, v in errors.items() if v == np.inf}
        assert not bad, f"{coin}: columns differ from the batch build: {sorted(bad)}"
    return frames


@pytest.mark.slow
@pytest.mark.parametrize("path", [FIXTURE, OTHER], ids=lambda p: p.name[:10])
@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_the_streamed_flow_columns_equal_the_batch_build_on_fixture_days(path, params):
    frames = _check_feed(_feed(path), params, seed=11)
    # the day exercises every branch
    assert (frames["sweep_flag"] == 1).any() and (frames["size_outlier_count"] > 0).any()
    assert frames["range_pctl"].notna().any() and frames["rv_pctl"].notna().any()
    assert frames["oi_pctl"].notna().any() and set(frames["regime"]) > {"warmup"}


@pytest.mark.slow
def test_the_streamed_flow_columns_equal_the_batch_build_where_times_tie():
    _check_feed(_ties(_feed(FIXTURE)), TIES, seed=7)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("params", [DEFAULT, TIES], ids=["default", "ties"])
def test_the_streamed_flow_columns_equal_the_batch_build_on_random_tied_inputs(seed, params):
    inp = _synthetic(seed)
    frame = build_coin(inp, params)
    assert frame is not None and frame["rv_pctl"].notna().any()
    assert params is DEFAULT or frame["range_pctl"].notna().any()
    got = _stream(inp, params, frame, seed, most=40)
    errors = _errors(got, frame)
    assert not [k for k, v in errors.items() if v == np.inf], errors


@pytest.mark.slow
@pytest.mark.parametrize("params", [DEFAULT, SHORT], ids=["default", "short"])
def test_the_streamed_flow_columns_equal_the_batch_build_on_the_real_sample(params):
    _check_feed(_feed(REAL), params, seed=3)


@pytest.mark.slow
@pytest.mark.parametrize(("params", "before", "after"),
                         [(SHORT, 12, 6), (DEFAULT, 30, 20)], ids=["short", "default"])
@pytest.mark.slow
def test_a_warm_day_streamed_from_the_warm_input_start_equals_the_warm_build(
        tmp_path, params, before, after):
    day0, day1 = "2026-01-01", "2026-01-02"
    write_midnight(FIXTURE, tmp_path, day0, day1, before, after)
    prev, today = (parse_recording(tmp_path / f"{d}.jsonl.gz") for d in (day0, day1))
    want = build_microtape(today, params, warm=prev)
    assert len(want) and want["rv_pctl"].notna().any()
    _check_feed(warm_feed(today, prev, params), params, seed=5,
                since_ms=day_start_ms(day1), want=want)


@pytest.mark.slow
def test_a_wrong_state_is_detected():
    """A batch left out (one with a trade) shows in the columns; a skipped grid time is
    refused."""
    feed, params = _feed(FIXTURE), SHORT
    frames = build_microtape(feed, params)
    frame = frames.loc[frames["coin"] == "ETH"].reset_index(drop=True).iloc[:900]
    inp = coin_inputs(feed, "ETH", params.candle_interval, params.trade_max_lag_ms)
    batches = _batches(inp, np.random.default_rng(2))
    with_trade = next(i for i, b in enumerate(batches)
                      if len(b[1][1]["recv"]) and b[0][0] > frame["ts_ms"].iloc[100])
    assert np.inf not in _errors(_stream(inp, params, frame, 2), frame).values()
    errors = _errors(_stream(inp, params, frame, 2, drop=with_trade), frame)
    assert any(v == np.inf for v in errors.values())
    fs = FlowStream("ETH", params)
    top = frame.loc[0, list(_TOP)].to_dict()
    fs.columns(int(frame["ts_ms"].iloc[0]), top)
    with pytest.raises(ValueError, match="expected"):
        fs.columns(int(frame["ts_ms"].iloc[2]), top)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_rolling_pctl_streamed_equals_the_batch_rank(seed):
    """Ties (few distinct values), NaN slots, windows shorter and longer than the series,
    and tiny buckets, so ties straddle bucket boundaries and buckets split and empty."""
    rng = np.random.default_rng(seed)
    n = 3000
    x = rng.choice([0.0, 1.0, 2.0, 2.5, -1.0, rng.normal()], size=n)
    x[rng.random(n) < 0.1] = np.nan
    x[1000:1300] = np.where(rng.random(300) < 0.5, rng.normal(size=300), x[1000:1300])
    for window, minp in ((1, 1), (7, 3), (200, 50), (5000, 1)):
        want = rolling_pctl(x, window, minp)
        rp = RollingPctl(window, minp)
        rp.bag = SortedBag(load=int(rng.choice([1, 2, 8])))
        got = np.array([rp.push(v) for v in x.tolist()])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True,
                                   err_msg=str((window, minp)))  # ranks: 1e-12 relative


@pytest.mark.slow
def test_the_scalar_session_trend_and_regime_equal_the_batch_ones():
    """Every half hour and hour edge of a week (weekend included), and trend / regime
    inputs at their thresholds, NaN, zero and float-residue moves."""
    half_hours = T_SYN + np.arange(0, 8 * 86_400_000, 1_800_000)
    grid = np.concatenate([half_hours, half_hours - 1, half_hours + 1])
    assert [session_of(t, SHORT) for t in grid.tolist()] == session(grid, SHORT).tolist()
    vals = np.array([np.nan, 0.0, 1e-10, 1e-9, 0.01, 0.08, 0.0799, 0.39, 0.4, 0.41, 1.0, -0.08,
                     -0.5, 2.0])
    net, gross = (a.ravel() for a in np.meshgrid(vals, vals))
    want = efficiency(net.copy(), gross.copy())
    got = np.array([efficiency_of(a, b) for a, b in zip(net.tolist(), gross.tolist(), strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    for params in (DEFAULT, TIES):  # the labels (decisions at thresholds): exactly
        assert [regime_of(a, b, params) for a, b in zip(net.tolist(), gross.tolist(),
                                                         strict=True)] == \
            classify(net, gross, params).tolist()
