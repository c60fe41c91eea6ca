"""Warm starts: a day built with the previous day's recording equals the same stretch of one
long build over both days (so every trailing window was seeded), while a cold day has NaN
percentiles and `warmup` regimes at its start."""

import dataclasses

import numpy as np
import pandas as pd

from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.warm import warm_span_ms
from lotus_core.time import day_start_ms
from tests.kits.microtape_kit import random_feed

MIDNIGHT = day_start_ms("2026-01-02")
# short windows keep the test small; the span covers them all
PARAMS = MicroTapeParams(rv_pctl_window_ms=300_000, pctl_min_ms=60_000,
                         ctx_pctl_window_ms=600_000, depth_rel_window_ms=120_000,
                         candle_pctl_window=5, candle_pctl_min=2)


def _split(feed, at_ms):
    """(the part received before `at_ms`, the rest) as two days' recordings."""
    def part(keep_books, keep, day):
        tables = {n: getattr(feed, n).loc[keep(getattr(feed, n))].reset_index(drop=True)
                  for n in ("trades", "bbo", "ctx", "candles")}
        return dataclasses.replace(feed, day=day, books=feed.books.select(keep_books),
                                   **tables)
    recv = feed.books.meta["recv_ts_ms"].to_numpy()
    before = part(recv < at_ms, lambda df: df["recv_ts_ms"].to_numpy() < at_ms, "2026-01-01")
    after = part(recv >= at_ms, lambda df: df["recv_ts_ms"].to_numpy() >= at_ms, "2026-01-02")
    return before, after


def test_a_warm_day_equals_the_stretch_of_one_long_build():
    span = warm_span_ms(PARAMS)
    feed = random_feed(5, start_ms=MIDNIGHT - span - 600_000, duration_ms=span + 1_200_000,
                       coins=("BTC",))
    prev, today = _split(feed, MIDNIGHT)
    long = build_microtape(feed, PARAMS)
    long = long.loc[long["ts_ms"] >= MIDNIGHT].reset_index(drop=True)
    warm = build_microtape(today, PARAMS, warm=prev)
    assert len(warm) > 500 and warm["ts_ms"].iloc[0] == MIDNIGHT
    pd.testing.assert_frame_equal(warm, long)
    cold = build_microtape(today, PARAMS)
    first = cold["ts_ms"] < MIDNIGHT + PARAMS.pctl_min_ms
    assert cold.loc[first, "rv_pctl"].isna().all() and (cold.loc[first, "regime"] == "warmup").all()
    assert warm["rv_pctl"].notna().all() and (warm["regime"] != "warmup").all()
    assert warm["oi_pctl"].notna().all()
    # the warm day is itself deterministic and reads nothing before the span
    far = dataclasses.replace(prev, trades=prev.trades.iloc[:0])
    early = prev.trades["recv_ts_ms"].to_numpy() < MIDNIGHT - span
    assert early.any()
    trimmed = dataclasses.replace(prev, trades=prev.trades.loc[~early].reset_index(drop=True))
    pd.testing.assert_frame_equal(build_microtape(today, PARAMS, warm=trimmed), warm)
    assert not build_microtape(today, PARAMS, warm=far).equals(warm)  # the tail is read
    assert np.isfinite(warm["rv_bps"]).all()
