"""A recorded day streamed coin-merged, for the whole-day replays (`dm_decisions`,
`paper_trades`): never every coin's whole day in memory at once.

Two sources, each giving `DayChunk`s in time order (`lotus_core.trader.day_chunks`):

- the market tables from a day's coin shards (`spill_shards`): each shard (a coin group's
  whole day, read one at a time) is cut on the chunk grid and its pieces written to a
  scratch directory; the chunks are then read back one at a time, every group's piece of
  that chunk put in the whole day's row order by line number (as `merge_shards` does for
  the whole day). Held at once: one shard while spilling, one chunk of every coin after.
- the MicroTape rows from the day's partition (`tape_in_order`): each coin's rows (its row
  group, already in time order) put aside on disk, then merged into (ts, coin) order and
  handed over a slice at a time; `with_rows` puts each slice's rows in the chunk of their
  time.

The replay sees the same events in the same order as from the day held whole, so the
outputs are the same bytes (tests/core/trader/test_day_stream.py).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lotus_core.feed.line_mask import SeenLines
from lotus_core.feed.packed import PackedBooks, ReplayDay
from lotus_core.feed.shards import CoinShard, in_line_order
from lotus_core.malloc import release_free_heap
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.spill import CoinSpill
from lotus_core.trader.day_chunks import CHUNK_MS, DayChunk, take_packed


@dataclass
class _Piece:
    """One coin group's rows of one chunk, with their line numbers in the recording."""

    books: PackedBooks
    trades: pd.DataFrame
    ctx: pd.DataFrame
    lines: dict[str, np.ndarray]


@dataclass
class SpilledDay:
    """A day's coin shards cut into chunks on disk (`spill_shards`); `chunks()` reads them
    back, one chunk of every group at a time, deleting each piece once read."""

    folder: Path
    day: str
    sha256: str
    groups: int
    keys: list[int]
    chunk_ms: int

    def chunks(self) -> Iterator[DayChunk]:
        for key in self.keys:
            pieces = []
            for g in range(self.groups):
                path = self.folder / f"{key}-{g}.pkl"
                if path.is_file():
                    with open(path, "rb") as f:
                        pieces.append(pickle.load(f))  # noqa: S301 - written just now, by us
                    path.unlink()
            yield DayChunk((key + 1) * self.chunk_ms, self._merged(pieces), None)
            del pieces

    def _merged(self, pieces: list[_Piece]) -> ReplayDay:
        books = PackedBooks.merge([p.books for p in pieces], [p.lines["books"] for p in pieces])
        return ReplayDay(self.day, self.sha256, books,
                         in_line_order([p.trades for p in pieces],
                                       [p.lines["trades"] for p in pieces]),
                         in_line_order([p.ctx for p in pieces], [p.lines["ctx"] for p in pieces]))


def _keys(ts: np.ndarray, chunk_ms: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The chunk keys present and, for each, its rows (increasing)."""
    keys = ts // chunk_ms
    order = np.argsort(keys, kind="stable")
    present, starts = np.unique(keys[order], return_index=True)
    return present, np.split(order, starts[1:]) if len(order) else []


def spill_shards(shards: Iterable[CoinShard], folder: Path,
                 chunk_ms: int = CHUNK_MS) -> SpilledDay | None:
    """Cut each shard (shard 0 first, each dropped before the next) into chunk pieces under
    `folder`. None when a trades frame mixed coins (its rows' order across groups is not
    kept: replay the day whole, as `pack_shards` says) or the day has no event."""
    folder.mkdir(parents=True, exist_ok=True)
    every: set[int] = set()
    seen = SeenLines()  # each shard's trades lines, a bit a line: one held by two shards?
    shared = False
    day = sha = ""
    g = 0
    for g, shard in enumerate(shards):  # noqa: B007 - the count is the groups'
        feed = shard.feed
        day, sha = feed.day, feed.sha256
        books = PackedBooks.pack(feed.books)
        ts = {"books": books.meta["recv_ts_ms"].to_numpy(np.int64),
              "trades": feed.trades["recv_ts_ms"].to_numpy(np.int64),
              "ctx": feed.ctx["recv_ts_ms"].to_numpy(np.int64)}
        cut = {name: dict(zip(*_keys(t, chunk_ms), strict=True)) for name, t in ts.items()}
        keys = set().union(*(c.keys() for c in cut.values()))
        none = np.empty(0, np.int64)
        for key in sorted(keys):
            at = {name: c.get(key, none) for name, c in cut.items()}
            piece = _Piece(take_packed(books, at["books"]),
                           feed.trades.iloc[at["trades"]].reset_index(drop=True),
                           feed.ctx.iloc[at["ctx"]].reset_index(drop=True),
                           {name: shard.lines[name][rows] for name, rows in at.items()})
            with open(folder / f"{int(key)}-{g}.pkl", "wb") as f:
                pickle.dump(piece, f, protocol=5)
        every |= {int(k) for k in keys}
        shared = seen.add(shard.lines["trades"]) or shared
        del shard, feed, books, cut
        release_free_heap()  # shards of unequal sizes leave freed pages in glibc's heap
    if not every or shared:
        return None
    return SpilledDay(folder, day, sha, g + 1, sorted(every), chunk_ms)


def tape_in_order(tape: CoinDay, columns: Iterable[str], scratch: Path | None = None,
                  rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The MicroTape partition (`columns` of them it has) in (ts, coin) order, a slice at a
    time (`rows` rows; default sized by its bytes), as the lake's own read gives the values:
    each coin's rows (its row group, in time order) put aside in a `CoinSpill` under
    `scratch`, then merged back. Held: one coin's day while spilling, then a slice and the
    times (4 bytes a row); a sort of the whole day (DuckDB's, within 256 MB: what the tape
    cost grew by with the coins) is not needed, each coin being in time order."""
    coins = tape.coins()
    if not coins:
        return
    have = set(tape.columns())
    cols = [c for c in columns if c in have]
    with CoinSpill(len(coins), scratch) as spill:
        for coin in coins:
            spill.put("tape", coin, tape.read(coin, cols))
            release_free_heap()  # a coin's read leaves its pages in glibc's heap
        yield from spill.merged("tape", rows=rows)


def with_rows(chunks: Iterable[DayChunk], rows: Iterable[pd.DataFrame]) -> Iterator[DayChunk]:
    """`chunks` (market tables only) with the MicroTape rows of their times: `rows` in
    (ts, coin) order, any batch sizes; rows after the last chunk go with it."""
    batches = iter(rows)
    buffer: list[pd.DataFrame] = []
    ended = False
    empty: pd.DataFrame | None = None  # the batches' columns and dtypes, no row

    def until(limit: int | None) -> pd.DataFrame | None:
        nonlocal ended, empty
        out: list[pd.DataFrame] = []
        while True:
            while buffer:
                b = buffer[0]
                if limit is None:
                    out.append(buffer.pop(0))
                    continue
                stop = int(np.searchsorted(b["ts_ms"].to_numpy(np.int64), limit, "left"))
                if stop:
                    out.append(b.iloc[:stop])
                if stop < len(b):
                    buffer[0] = b.iloc[stop:]
                    return _joined(out, empty)
                buffer.pop(0)
            if ended:
                return _joined(out, empty)
            b = next(batches, None)
            if b is None:
                ended = True
            else:
                empty = b.iloc[:0]
                buffer.append(b)

    it = iter(chunks)
    chunk = next(it, None)
    while chunk is not None:
        after = next(it, None)
        got = until(chunk.until_ms if after is not None else None)
        yield DayChunk(chunk.until_ms, chunk.day, got if empty is not None else None)
        chunk = after


def _joined(parts: list[pd.DataFrame], empty: pd.DataFrame | None) -> pd.DataFrame | None:
    if not parts:
        return empty
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(
        drop=True)
