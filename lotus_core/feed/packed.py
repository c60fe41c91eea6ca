"""A day's books packed (levels flat, not padded), for the whole-day replays.

Why: `dm_decisions` and `paper_trades` replay every coin's events of a day at once, so
they hold every book snapshot. `BookFrames` keeps four (n_frames, MAX_LEVELS = 20)
float64 matrices; most frames are the venue's 5-level fast stream (91 % on the fixture
day, 12.7 of 40 slots used on average), so the padded matrices are ~3x the levels they
hold (at 10 coins x 24 h ~1.2 GB of a 1.43 GB parsed day). `PackedBooks` keeps each
side's levels flat with CSR offsets; a snapshot's levels are the same floats, in the same
order. `ReplayDay` is what those replays read of a day (books, trades, asset contexts),
and `pack_shards` builds it from a day's coin shards holding one shard at a time (never
the merged padded day): the rows in the whole day's order, restored from each shard's
line numbers as `lotus_core.feed.shards.merge_shards` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.feed.shards import CoinShard, in_line_order, shared_frames
from lotus_core.feed.tables import MAX_LEVELS, BookFrames, FeedDay


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


@dataclass(frozen=True)
class PackedBooks:
    """`BookFrames` with its levels flat: frame i's bids are `bid_px[bid_at[i]:bid_at[i+1]]`
    (best first; sizes alike), its asks likewise by `ask_at`. `meta` is BookFrames'
    (recv_ts_ms, coin, time_ms, fast, n_bid, n_ask), so `bid_at` is n_bid's running sum."""

    meta: pd.DataFrame
    bid_at: np.ndarray  # int64, n_frames + 1
    ask_at: np.ndarray
    bid_px: np.ndarray  # float64, one value per level present
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def nbytes(self) -> int:
        """Bytes of the level arrays and offsets (meta not counted)."""
        return sum(a.nbytes for a in (self.bid_at, self.ask_at, self.bid_px, self.bid_sz,
                                      self.ask_px, self.ask_sz))

    @classmethod
    def pack(cls, books: BookFrames) -> PackedBooks:
        """The levels present of `books` (the padding dropped), in the same frame order."""
        nb = books.meta["n_bid"].to_numpy(np.int64)
        na = books.meta["n_ask"].to_numpy(np.int64)
        slots = np.arange(MAX_LEVELS)
        bids = slots < nb[:, None]  # row-major: frame by frame, best level first
        asks = slots < na[:, None]
        return cls(books.meta, _offsets(nb), _offsets(na), books.bid_px[bids],
                   books.bid_sz[bids], books.ask_px[asks], books.ask_sz[asks])

    def levels(self, i: int) -> tuple[list[float], list[float], list[float], list[float]]:
        """Frame i's (bid_px, bid_sz, ask_px, ask_sz) as lists, best level first."""
        b0, b1, a0, a1 = (int(self.bid_at[i]), int(self.bid_at[i + 1]), int(self.ask_at[i]),
                          int(self.ask_at[i + 1]))
        return (self.bid_px[b0:b1].tolist(), self.bid_sz[b0:b1].tolist(),
                self.ask_px[a0:a1].tolist(), self.ask_sz[a0:a1].tolist())

    def tops(self) -> tuple[np.ndarray, np.ndarray]:
        """Best bid and ask price per frame (NaN for an empty side, as the padding has)."""
        out = []
        for at, px in ((self.bid_at, self.bid_px), (self.ask_at, self.ask_px)):
            top = np.full(len(self), np.nan)
            has = at[1:] > at[:-1]
            top[has] = px[at[:-1][has]]
            out.append(top)
        return out[0], out[1]

    @classmethod
    def merge(cls, parts: list[PackedBooks], lines: list[np.ndarray]) -> PackedBooks:
        """One day's books from per-shard parts, rows in the order of their line numbers
        (`lines[k]`: part k's, stable). `parts` is emptied as its levels are copied."""
        order = np.argsort(np.concatenate(lines), kind="stable")
        meta = pd.concat([p.meta for p in parts], ignore_index=True)
        meta = meta.take(order).reset_index(drop=True)
        where = np.empty(len(order), dtype=np.int64)
        where[order] = np.arange(len(order))
        bid_at = _offsets(meta["n_bid"].to_numpy(np.int64))
        ask_at = _offsets(meta["n_ask"].to_numpy(np.int64))
        out = {k: np.empty(int(at[-1])) for k, at in (("bid_px", bid_at), ("bid_sz", bid_at),
                                                       ("ask_px", ask_at), ("ask_sz", ask_at))}
        pos = 0
        parts.reverse()
        while parts:
            p = parts.pop()
            rows = where[pos:pos + len(p)]
            pos += len(p)
            for side, at in (("bid", bid_at), ("ask", ask_at)):
                src = getattr(p, f"{side}_at")
                dest = (np.repeat(at[rows] - src[:-1], np.diff(src))
                        + np.arange(int(src[-1]), dtype=np.int64))
                out[f"{side}_px"][dest] = getattr(p, f"{side}_px")
                out[f"{side}_sz"][dest] = getattr(p, f"{side}_sz")
                del dest
            del p
        return cls(meta, bid_at, ask_at, **out)


@dataclass
class ReplayDay:
    """What the whole-day replays (`lotus_core.trader.replay.run_day`, `market_events`)
    read of a day: its books packed, its trades and asset contexts as `FeedDay` has them.
    The other tables (bbo, candles) and the day's tallies are not kept: no replay reads
    them."""

    day: str
    sha256: str
    books: PackedBooks
    trades: pd.DataFrame
    ctx: pd.DataFrame

    @classmethod
    def of(cls, feed: FeedDay) -> ReplayDay:
        """`feed` for a replay (its trades and contexts shared, not copied)."""
        return cls(feed.day, feed.sha256, PackedBooks.pack(feed.books), feed.trades, feed.ctx)


def pack_shards(shards: Iterable[CoinShard]) -> ReplayDay | None:
    """The whole day's `ReplayDay` from its coin shards (shard 0 first), each packed as it
    comes: only one shard's padded books are ever held, if the caller (a generator such as
    `ShardStore.shards`) drops each before giving the next. Its tables are the whole
    parse's, value for value; None when a trades frame mixed coins (their order across
    shards is not kept: parse the day whole instead, as `merge_shards` says)."""
    books: list[PackedBooks] = []
    trades: list[pd.DataFrame] = []
    ctx: list[pd.DataFrame] = []
    lines: dict[str, list[np.ndarray]] = {"books": [], "trades": [], "ctx": []}
    day = sha = ""
    for shard in shards:
        feed = shard.feed
        day, sha = feed.day, feed.sha256
        books.append(PackedBooks.pack(feed.books))
        trades.append(feed.trades)
        ctx.append(feed.ctx)
        for name, got in lines.items():
            got.append(shard.lines[name])
        del shard, feed  # before the next shard is read
    if not books or shared_frames(lines["trades"]):
        return None
    return ReplayDay(day, sha, PackedBooks.merge(books, lines["books"]),
                     in_line_order(trades, lines["trades"]), in_line_order(ctx, lines["ctx"]))
