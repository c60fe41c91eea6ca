"""The live feed buffer, bounded: parsed rows kept only as long as a later reader needs them.

The streaming chain (`lotus_core.live.chain`) carries its own state, so the buffer serves
two readers only: the next day's warm start, which reads this day's last `warm_span_ms`
of feed exactly as the nightly MicroTape does (`lotus_core.microtape.warm.warm_feed`: the
rows received in [day end - warm_span_ms, day end), no carry), and the Trader's market
events, which read the rows received since its last hand-out. `trim` forgets everything
received before a cut (every few minutes of feed).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.feed.assemble import BookCols, Cols, Parsed, empty_books, frames_of
from lotus_core.feed.tables import BookFrames, FeedDay

_TABLES = ("trades", "bbo", "ctx", "candles")
_TRIM_EVERY_MS = 300_000


@cache
def _empty() -> Parsed:
    """A day with no rows, as parsed (the tables' columns and dtypes): built when first read,
    not by every process that imports this module."""
    from lotus_core.feed.assemble import StreamAssembler
    from lotus_core.feed.chunks import extract_chunk

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


def _recv(table: Any) -> np.ndarray:
    """Receive times of a table's rows (frame, BookFrames, or the per-row path's tables)."""
    if isinstance(table, Cols | BookCols):
        return table.recv()
    if isinstance(table, BookFrames):
        return table.meta["recv_ts_ms"].to_numpy()
    return table["recv_ts_ms"].to_numpy()  # type: ignore[no-any-return]


def _select(parsed: Parsed, lo: int, hi: int) -> Parsed:
    """The rows of one part received in [lo, hi) (the part itself when all are)."""
    every = [_recv(getattr(parsed, n)) for n in ("books", *_TABLES)]
    if all(len(r) == 0 or (r.min() >= lo and r.max() < hi) for r in every):
        return parsed
    frames = parsed.frames()
    recv = frames.books.meta["recv_ts_ms"].to_numpy()
    tables = {}
    for name in _TABLES:
        df = getattr(frames, name)
        r = df["recv_ts_ms"].to_numpy()
        tables[name] = df.loc[(r >= lo) & (r < hi)].reset_index(drop=True)
    return Parsed(books=frames.books.select((recv >= lo) & (recv < hi)), **tables)


def _bounds(parsed: Parsed) -> tuple[int, int] | None:
    """(first, last) receive time of a part's rows; None when it has none."""
    ends = [_recv(getattr(parsed, n)) for n in ("books", *_TABLES)]
    ends = [r for r in ends if len(r)]
    if not ends:
        return None
    return min(int(r.min()) for r in ends), max(int(r.max()) for r in ends)


def _merge(parts: list[Parsed]) -> Parsed:
    """Consecutive parts as one (the per-row path's tables stay columns when all are)."""
    out: dict[str, Any] = {}
    for name in ("books", *_TABLES):
        items = [getattr(p, name) for p in parts if len(getattr(p, name))]
        if not items:
            out[name] = getattr(parts[0], name)
        elif len(items) == 1:
            out[name] = items[0]
        elif all(isinstance(x, BookCols) for x in items):
            out[name] = BookCols.concat(items)
        elif all(isinstance(x, Cols) for x in items):
            out[name] = Cols.concat(items)
        elif name == "books":
            out[name] = _concat_books([frames_of(x) for x in items])
        else:
            out[name] = pd.concat([frames_of(x) for x in items], ignore_index=True)
    return Parsed(**out)


_MERGE_PARTS = 512
"""Parts (a live feed's batch is a frame or two) merged into one at a time: the day's tail
stays a few thousand parts, not hundreds of thousands."""


class TailBuffer:
    """Parsed batches in receive order (possibly spanning midnight), kept as parts (a
    batch, or a merged run of `_MERGE_PARTS` batches; never one copy of the whole, so the
    day's tail is held once at the warm start) and trimmed from the front."""

    def __init__(self) -> None:
        self._parts: list[tuple[tuple[int, int], Parsed]] = []
        self._merged = 0  # parts before this are merged runs
        self._trimmed: int | None = None

    def add(self, parsed: Parsed) -> None:
        span = _bounds(parsed)
        if span is None:
            return
        self._parts.append((span, parsed))
        if len(self._parts) - self._merged >= _MERGE_PARTS:
            run = self._parts[self._merged:]
            whole = (min(first for (first, _), _ in run), max(last for (_, last), _ in run))
            self._parts[self._merged:] = [(whole, _merge([p for _, p in run]))]
            self._merged = len(self._parts)

    def rows(self) -> int:
        return sum(len(p.books) + sum(len(getattr(p, n)) for n in _TABLES)
                   for _, p in self._parts)

    def parts(self, lo: int | None = None, hi: int | None = None) -> list[Parsed]:
        """The buffered rows received in [lo, hi), part by part, in receive order."""
        lo_ = np.iinfo(np.int64).min if lo is None else lo
        hi_ = np.iinfo(np.int64).max if hi is None else hi
        out = []
        for (first, last), p in self._parts:
            if last >= lo_ and first < hi_:
                part = _select(p, lo_, hi_)
                if _bounds(part) is not None:
                    out.append(part)
        return out

    def has_books(self, lo: int, hi: int) -> bool:
        """Whether any l2Book row was received in [lo, hi)."""
        for (first, last), p in self._parts:
            if last >= lo and first < hi and len(p.books):
                r = _recv(p.books)
                if ((r >= lo) & (r < hi)).any():
                    return True
        return False

    def feed(self, day: str, lo: int | None = None, hi: int | None = None) -> FeedDay:
        """Every buffered row received in [lo, hi): the day's tables as parsed."""
        parts = [p.frames() for p in self.parts(lo, hi)]
        tables = {}
        for name in _TABLES:
            frames = [getattr(p, name) for p in parts if len(getattr(p, name))]
            tables[name] = (getattr(_empty(), name) if not frames else frames[0] if len(frames) == 1
                            else pd.concat(frames, ignore_index=True))
        return FeedDay(day=day, source=f"live:{day}", sha256="",
                       books=_concat_books([p.books for p in parts]), **tables)

    def trim(self, cut: int) -> None:
        """Forget every row received before `cut`: whole parts at once, the part across the
        cut sliced (at most once per few minutes of feed)."""
        if self._trimmed is not None and cut - self._trimmed < _TRIM_EVERY_MS:
            return
        self._trimmed = cut
        kept = []
        for (first, last), p in self._parts:
            if last < cut:
                continue
            if first < cut:
                p = _select(p, cut, np.iinfo(np.int64).max)
                span = _bounds(p)
                if span is None:
                    continue
                first, last = span
            kept.append(((first, last), p))
        self._parts = kept
        self._merged = len(kept)  # what is left merges with what comes next
