"""`cut_feed`: the FeedDay as it was known at time t — the yardstick of the no-look-ahead test.

The live daemon sees exactly this at t; a MicroTape built from it must agree, frame for
frame, with the one built from the whole day for every grid time <= t.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from lotus_core.feed.tables import FeedDay


def _rows_upto(df: pd.DataFrame, t: int) -> pd.DataFrame:
    return df.loc[(df["recv_ts_ms"].to_numpy() <= t)].reset_index(drop=True)


def cut_feed(feed: FeedDay, t: int) -> FeedDay:
    """Keep only what was received at or before `t` (recv_ts_ms <= t).

    `counts` keeps the (channel, coin) keys of coins that still have data, with their
    original values; `dead` and `stats` are copied unchanged (the MicroTape reads neither).
    """
    keep = feed.books.meta["recv_ts_ms"].to_numpy() <= t
    tables = {
        name: _rows_upto(getattr(feed, name), t) for name in ("trades", "bbo", "ctx", "candles")
    }
    alive: set[str] = set(feed.books.meta.loc[keep, "coin"].astype(str))
    for df in tables.values():
        alive |= set(df["coin"].astype(str))
    return dataclasses.replace(
        feed,
        books=feed.books.select(np.asarray(keep)),
        counts={k: v for k, v in feed.counts.items() if k[1] in alive},
        dead=list(feed.dead),
        stats=dict(feed.stats),
        gaps=_rows_upto(feed.gaps, t),
        **tables,
    )
