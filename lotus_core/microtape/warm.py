"""Warm starts: seed a day's trailing windows with the end of the previous day's recording.

Every trailing statistic of the MicroTape (rv and its percentile, the OI / funding
percentiles, trend efficiency, the depth median, candle ranks, the robust trade-size
threshold) needs history. Built from one day alone, the first hours of each day are cold:
percentiles are NaN (`na` literals) and regimes read `warmup`. `warm_feed` prepends the
last `warm_span_ms(params)` of the previous day to today's recording, the builder runs over
both, and only today's grid times are kept (`build_microtape(..., warm=prev)`): the same
definition, on more data, so a warm day equals the corresponding stretch of one long build.
The live daemon calls the builder with its own buffer the same way.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from lotus_core.feed.tables import BookFrames, FeedDay
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.time import day_start_ms

_TABLES = ("trades", "bbo", "ctx", "candles")


def warm_span_ms(params: MicroTapeParams) -> int:
    """The longest trailing window any feature reads (its inputs' own windows included),
    plus a minute of margin."""
    candle_ms = 60_000 * (params.candle_pctl_window + 1) * _interval_minutes(params)
    longest = max(params.rv_window_ms + params.rv_pctl_window_ms, params.ctx_pctl_window_ms,
                  params.trend_window_ms, params.depth_rel_window_ms,
                  params.oi_delta_ms, candle_ms)
    return longest + 60_000


def _interval_minutes(params: MicroTapeParams) -> int:
    text = str(params.candle_interval)
    units = {"m": 1, "h": 60, "d": 1440}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units and text[:-1].isdigit() else 1


def _concat_books(a: BookFrames, b: BookFrames) -> BookFrames:
    return BookFrames(
        meta=pd.concat([a.meta, b.meta], ignore_index=True),
        bid_px=np.vstack([a.bid_px, b.bid_px]), bid_sz=np.vstack([a.bid_sz, b.bid_sz]),
        ask_px=np.vstack([a.ask_px, b.ask_px]), ask_sz=np.vstack([a.ask_sz, b.ask_sz]))


def warm_feed(today: FeedDay, previous: FeedDay, params: MicroTapeParams) -> FeedDay:
    """Today's recording with the last `warm_span_ms` of the previous day's in front of it
    (only what was received before today began; the counts of both days' coins)."""
    start = day_start_ms(today.day)
    lo = start - warm_span_ms(params)

    def tail(df: pd.DataFrame) -> pd.DataFrame:
        recv = df["recv_ts_ms"].to_numpy()
        return df.loc[(recv >= lo) & (recv < start)]

    recv = previous.books.meta["recv_ts_ms"].to_numpy()
    books = _concat_books(previous.books.select((recv >= lo) & (recv < start)), today.books)
    tables = {name: pd.concat([tail(getattr(previous, name)), getattr(today, name)],
                              ignore_index=True) for name in _TABLES}
    counts = dict(previous.counts)
    counts.update(today.counts)
    return dataclasses.replace(today, books=books, counts=counts, **tables)


def seeds(previous: FeedDay, day: str, params: MicroTapeParams) -> bool:
    """Whether the previous day's recording holds anything inside today's warm span (a
    recording that ends hours before midnight seeds nothing: the day starts cold)."""
    start = day_start_ms(day)
    lo = start - warm_span_ms(params)
    recv = previous.books.meta["recv_ts_ms"].to_numpy()
    return bool(((recv >= lo) & (recv < start)).any())


def seeds_after(last_book_recv_ms: int | None, day: str, params: MicroTapeParams) -> bool:
    """`seeds` from the previous day's last book frame alone (its recording is parsed for
    its own day, so every frame is before today's start): a frame in the span exists iff
    the last one is in it."""
    start = day_start_ms(day)
    return (last_book_recv_ms is not None
            and start - warm_span_ms(params) <= last_book_recv_ms < start)
