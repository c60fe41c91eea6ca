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
from tests.helpers import REAL_RECORDING
from tests.kits.microtape_kit import (
    book,
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
    funding_rank_days=0,  # funding on the short grid window too (its days: test_context_timescale)
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
        ("sweep_flag", lambda s: s.fillna(0).astype("int8")),
        ("sweep_dir", lambda s: s.where(s.index != 2, 2.0)),
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
