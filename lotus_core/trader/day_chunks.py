"""A recorded day in time chunks: what the whole-day replays step through.

Why: the replays (`lotus_core.trader.replay.run_day`: `paper_trades`, the DM's joint
replay) step every coin's events of a day in one order. Turned into the driver's Python
columns at once, a day costs ~0.2 KB per event (a 10-coin 24-hour day: over a gigabyte),
so the replay takes the day a chunk of `CHUNK_MS` at a time: the books, trades, contexts
and MicroTape rows whose time falls in one chunk of a time grid, each table's rows in
the whole day's order. The replay order is (ts, kind, row), so the chunks in time order,
each merged on its own, are the whole day's order: the same events, the same stream.

A chunk source is any iterable of `DayChunk`s in time order (at least one): the
slices of a day held in memory (`day_chunks`), or a day streamed from per-coin data
(`lotus_core.trader.day_sources`) that never holds more than a chunk of every coin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.feed.packed import PackedBooks, ReplayDay
from lotus_core.feed.tables import BookFrames, FeedDay

CHUNK_MS = 15 * 60 * 1000
"""Replay chunk length: a 15-minute chunk of 10 coins is ~1/96 of the day's columns."""

CHUNK_COIN_MINUTES = 300
"""The coin-minutes a chunk of a day streamed by coin holds (`chunk_ms_for`)."""

MIN_CHUNK_MS = 60 * 1000
"""The shortest chunk (from 300 coins on, a chunk holds more than CHUNK_COIN_MINUTES)."""


def chunk_ms_for(coins: int) -> int:
    """The chunk length for a day of `coins` coins: CHUNK_COIN_MINUTES / coins minutes (a
    minute at least), so a chunk holds the same coin-minutes whatever the coins (the
    replay holds a chunk whole; a chunk of fixed length grows with the coins, and a
    15-minute chunk of 100 coins is ~430 MB of the joint replay's peak, docs/scale.md). 100
    minutes at 3 coins, 3 at 100. A chunk costs a fixed time per coin group (a file per
    piece, the pieces merged), so chunks are no shorter than this budget needs.
    The chunking never changes an output (the chunks in time order are the whole day's
    order, on any grid)."""
    return max(MIN_CHUNK_MS, CHUNK_COIN_MINUTES * 60 * 1000 // max(1, coins))


@dataclass
class DayChunk:
    """The market tables' rows (recv_ts_ms) and the MicroTape rows (ts_ms, in (ts, coin)
    order, or None) with times from the previous chunk's `until_ms` (inclusive) to this
    one's (exclusive), each table in the whole day's row order."""

    until_ms: int
    day: ReplayDay
    rows: pd.DataFrame | None


def take_packed(books: PackedBooks, at: np.ndarray) -> PackedBooks:
    """The frames `at` (increasing) of `books`, their levels copied flat."""
    meta = books.meta.iloc[at].reset_index(drop=True)
    sides = {}
    for side in ("bid", "ask"):
        offsets = getattr(books, f"{side}_at")
        counts = offsets[at + 1] - offsets[at]
        new = np.zeros(len(at) + 1, dtype=np.int64)
        np.cumsum(counts, out=new[1:])
        src = np.repeat(offsets[at] - new[:-1], counts) + np.arange(int(new[-1]),
                                                                    dtype=np.int64)
        sides[f"{side}_at"] = new
        sides[f"{side}_px"] = getattr(books, f"{side}_px")[src]
        sides[f"{side}_sz"] = getattr(books, f"{side}_sz")[src]
    return PackedBooks(meta, **sides)


def _take_books(books: BookFrames | PackedBooks, at: np.ndarray) -> PackedBooks:
    """The frames `at` packed (a padded day's chunk is packed as it is cut)."""
    if isinstance(books, PackedBooks):
        return take_packed(books, at)
    return _pack_rows(books, at)


def _pack_rows(books: BookFrames, at: np.ndarray) -> PackedBooks:
    """`PackedBooks.pack(books.select(rows at))`, the same arrays: each side's levels
    present gathered straight from the padded matrices (no padded copy of the chunk's
    rows first: a third of a chunk's making)."""
    meta = books.meta.iloc[at].reset_index(drop=True)
    width = books.bid_px.shape[1] if books.bid_px.ndim == 2 else 0
    sides = {}
    for side, col in (("bid", "n_bid"), ("ask", "n_ask")):
        counts = meta[col].to_numpy(np.int64)
        offsets = np.zeros(len(at) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        # flat position of each level present: its frame's row start, then its slot
        flat = (np.repeat(at.astype(np.int64) * width - offsets[:-1], counts)
                + np.arange(int(offsets[-1]), dtype=np.int64))
        sides[f"{side}_at"] = offsets
        sides[f"{side}_px"] = getattr(books, f"{side}_px").reshape(-1)[flat]
        sides[f"{side}_sz"] = getattr(books, f"{side}_sz").reshape(-1)[flat]
    return PackedBooks(meta, **sides)


def _groups(ts: np.ndarray, chunk_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys present, row order grouped by key (stable), group starts in that order)."""
    keys = ts // chunk_ms  # a fixed grid on the epoch
    order = np.argsort(keys, kind="stable")
    present, starts = np.unique(keys[order], return_index=True)
    return present, order, starts


def day_chunks(day: FeedDay | ReplayDay, rows: pd.DataFrame | None,
               chunk_ms: int = CHUNK_MS) -> Iterator[DayChunk]:
    """`day` and its MicroTape `rows` (in (ts, coin) order) cut into chunks, one made at a
    time. A day with no event at all is one empty chunk."""
    tables = {"books": day.books.meta["recv_ts_ms"].to_numpy(np.int64),
              "trades": day.trades["recv_ts_ms"].to_numpy(np.int64),
              "ctx": day.ctx["recv_ts_ms"].to_numpy(np.int64),
              "rows": (rows["ts_ms"].to_numpy(np.int64) if rows is not None
                       else np.empty(0, np.int64))}
    grouped = {name: _groups(ts, chunk_ms) for name, ts in tables.items()}
    keys = sorted({int(k) for present, _, _ in grouped.values() for k in present}) or [0]

    def rows_of(name: str, key: int) -> np.ndarray:
        present, order, starts = grouped[name]
        j = int(np.searchsorted(present, key))
        if j == len(present) or present[j] != key:
            return np.empty(0, np.int64)
        stop = starts[j + 1] if j + 1 < len(starts) else len(order)
        return np.sort(order[starts[j]:stop])

    for key in keys:
        part = ReplayDay(day.day, day.sha256, _take_books(day.books, rows_of("books", key)),
                         day.trades.iloc[rows_of("trades", key)].reset_index(drop=True),
                         day.ctx.iloc[rows_of("ctx", key)].reset_index(drop=True))
        got = (rows.iloc[rows_of("rows", key)].reset_index(drop=True) if rows is not None
               else None)
        yield DayChunk((key + 1) * chunk_ms, part, got)
