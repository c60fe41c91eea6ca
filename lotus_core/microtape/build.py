"""Assemble the MicroTape: one row per (coin, grid time), every value known at that time."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from lotus_core.feed.shards import merge_sorted
from lotus_core.feed.tables import FeedDay
from lotus_core.microtape.book import depth_features, quote_stream, top_features
from lotus_core.microtape.cancels import cancel_rate
from lotus_core.microtape.candles import candle_features
from lotus_core.microtape.context import context_features, session
from lotus_core.microtape.gaps import GapBook, gap_book
from lotus_core.microtape.grid import make_grid
from lotus_core.microtape.inputs import CoinInputs, coin_inputs, quoted_coins
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.regime import classify, trend_efficiency, vol_features
from lotus_core.microtape.schema import COLUMNS, MICROTAPE_COLUMNS, STR, empty_frame
from lotus_core.microtape.tape import tape_features


def coin_grid(
    inp: CoinInputs, quotes: dict[str, np.ndarray], cadence_ms: int, until_ms: int | None
) -> np.ndarray:
    """Grid from the first two-sided quote received to the coin's last message of any kind
    (or to `until_ms`, when given)."""
    last = inp.last_recv() if until_ms is None else until_ms
    if len(quotes["recv"]) == 0 or last is None:
        return np.empty(0, dtype=np.int64)
    return make_grid(int(quotes["recv"][0]), last, cadence_ms)


def build_coin(
    inp: CoinInputs, params: MicroTapeParams, until_ms: int | None = None,
    gaps: GapBook | None = None,
) -> pd.DataFrame | None:
    """The MicroTape of one coin (None if it never had a two-sided quote on the grid);
    `gaps`: the day's recorded gaps (none: no row is flagged)."""
    quotes = quote_stream(inp)
    grid = coin_grid(inp, quotes, params.cadence_ms, until_ms)
    if len(grid) == 0:
        return None
    cols: dict[str, np.ndarray] = {"ts_ms": grid}
    cols.update(top_features(quotes, grid))
    cols.update(depth_features(inp.books, grid, params))
    cols["cancel_rate"] = cancel_rate(inp.books, inp.trades, grid, params)
    cols.update(tape_features(inp.trades, inp.books, grid, params))
    cols.update(vol_features(cols["dpx_bps"], params))
    cols.update(candle_features(inp.candles, grid, params))
    cols.update(context_features(inp.ctx, grid, params))
    cols["session"] = session(grid, params)
    cols["trend_eff"] = trend_efficiency(cols["dpx_bps"], params)
    cols["regime"] = classify(cols["rv_pctl"], cols["trend_eff"], params)
    cols["gap"] = (gaps.flags(inp.coin, grid) if gaps is not None
                   else np.zeros(len(grid), dtype=bool))
    frame = {"coin": pd.Series(np.full(len(grid), inp.coin, dtype=object), dtype=STR)}
    for name in MICROTAPE_COLUMNS[1:]:
        dtype = STR if name in ("session", "regime") else COLUMNS[name].dtype.type
        frame[name] = pd.Series(cols[name], dtype=dtype)
    return pd.DataFrame(frame, columns=list(MICROTAPE_COLUMNS))


DEFAULT_PARAMS = MicroTapeParams()


def build_microtape(
    feed: FeedDay, params: MicroTapeParams = DEFAULT_PARAMS, until_ms: int | None = None,
    warm: FeedDay | None = None,
) -> pd.DataFrame:
    """Per-coin features on the fixed grid, sorted by (coin, ts_ms); deterministic.

    Coins are built independently; a coin gets rows from its first two-sided top-of-book
    quote to its last message of any kind. `until_ms` instead ends every coin's grid at the
    last grid point <= until_ms, past its last message if need be (the live view "as of
    now", where a silent feed shows as a growing `stale_ms`); data received after it are
    ignored, so build_microtape(feed, p, t) == build_microtape(cut_feed(feed, t), p, t).
    `warm` (the previous day's recording) seeds every trailing window: the builder runs over
    its last `warm_span_ms(params)` and today, and keeps today's grid times only
    (lotus_core.microtape.warm). Without it the day starts cold (trailing percentiles NaN,
    regime `warmup`, until their windows fill).
    Validate with `MICROTAPE_SCHEMA`.
    """
    if warm is not None:
        from lotus_core.microtape.warm import warm_feed
        from lotus_core.time import day_start_ms

        start = day_start_ms(feed.day)
        out = build_microtape(warm_feed(feed, warm, params), params, until_ms)
        return out.loc[out["ts_ms"].to_numpy() >= start].reset_index(drop=True)
    parts = []
    gaps = gap_book(feed.gaps, params.gap_warmup_ms)
    for coin in quoted_coins(feed):
        inputs = coin_inputs(feed, coin, params.candle_interval, params.trade_max_lag_ms)
        part = build_coin(inputs, params, until_ms, gaps)
        if part is not None:
            parts.append(part)
    if not parts:
        return empty_frame()
    return pd.concat(parts, ignore_index=True)


def build_microtape_shards(
    today: Iterable[FeedDay], before: Iterable[FeedDay | None],
    params: MicroTapeParams = DEFAULT_PARAMS,
) -> pd.DataFrame:
    """`build_microtape` over a day's coin shards (lotus_core.feed.shards), each with the
    same shard of the previous day (or None: cold), one pair held at a time: coins are built
    independently, so the frames are those of the whole day, in its order (by coin)."""
    frames = []
    days, befores = iter(today), iter(before)
    while (day := next(days, None)) is not None:
        warm = next(befores)
        frames.append(build_microtape(day, params, warm=warm))
        del day, warm  # before the next pair is read
    merged = merge_sorted(frames, ["coin"])
    return empty_frame() if merged is None else merged
