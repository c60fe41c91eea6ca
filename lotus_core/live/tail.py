"""The live feed buffer, bounded: parsed rows kept only as long as a later reader needs them.

The streaming chain (`lotus_core.live.chain`) carries its own state, so the buffer serves
two readers only: the next day's warm start, which reads this day's last `warm_span_ms`
of feed exactly as the nightly MicroTape does (`lotus_core.microtape.warm.warm_feed`: the
rows received in [day end - warm_span_ms, day end), no carry), and the Trader's market
events, which read the rows received since its last hand-out. `trim` forgets everything
received before a cut; it copies the buffer, so it runs every few minutes of feed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.feed.tables import BookFrames, FeedDay
from lotus_core.live.assemble import Parsed, empty_books

_TABLES = ("trades", "bbo", "ctx", "candles")
_TRIM_EVERY_MS = 300_000


def _empty() -> Parsed:
    from lotus_core.feed.extract import extract_chunk
    from lotus_core.live.assemble import StreamAssembler

    return StreamAssembler("1970-01-01").add(extract_chunk(1, []), [])


def _concat_books(parts: list[BookFrames]) -> BookFrames:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_books()
    if len(parts) == 1:
        return parts[0]
    return BookFrames(pd.concat([p.meta for p in parts], ignore_index=True),
                      *(np.concatenate([getattr(p, m) for p in parts])
                        for m in ("bid_px", "bid_sz", "ask_px", "ask_sz")))


_EMPTY = _empty()


class TailBuffer:
    """Parsed rows in receive order (possibly spanning midnight), trimmed from the front."""

    def __init__(self) -> None:
        self.books = empty_books()
        self.tables: dict[str, pd.DataFrame] = {
            name: getattr(_EMPTY, name) for name in _TABLES}
        self._pending: list[Parsed] = []
        self._trimmed: int | None = None

    def add(self, parsed: Parsed) -> None:
        self._pending.append(parsed)

    def _flush(self) -> None:
        if not self._pending:
            return
        self.books = _concat_books([self.books] + [p.books for p in self._pending])
        for name in _TABLES:
            parts = [df for df in [self.tables[name]] + [getattr(p, name)
                                                         for p in self._pending] if len(df)]
            if parts:
                self.tables[name] = (parts[0] if len(parts) == 1 else
                                     pd.concat(parts, ignore_index=True))
        self._pending = []

    def rows(self) -> int:
        self._flush()
        return len(self.books) + sum(len(df) for df in self.tables.values())

    def feed(self, day: str, lo: int | None = None, hi: int | None = None) -> FeedDay:
        """Every buffered row received in [lo, hi): the day's tables as parsed."""
        self._flush()
        recv = self.books.meta["recv_ts_ms"].to_numpy()
        lo_ = np.iinfo(np.int64).min if lo is None else lo
        hi_ = np.iinfo(np.int64).max if hi is None else hi
        books = self.books.select((recv >= lo_) & (recv < hi_))
        tables = {}
        for name in _TABLES:
            df = self.tables[name]
            r = df["recv_ts_ms"].to_numpy()
            tables[name] = df.loc[(r >= lo_) & (r < hi_)].reset_index(drop=True)
        return FeedDay(day=day, source=f"live:{day}", sha256="", books=books, **tables)

    def trim(self, cut: int) -> None:
        """Forget every row received before `cut` (at most once per few minutes of feed)."""
        if self._trimmed is not None and cut - self._trimmed < _TRIM_EVERY_MS:
            return
        self._trimmed = cut
        kept = self.feed("", cut)
        self.books = kept.books
        self.tables = {name: getattr(kept, name) for name in _TABLES}
