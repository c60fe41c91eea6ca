"""raw_feed's rules, batch by batch: the streaming form of `assemble_chunks`.

`lotus_core.feed.parse._assemble` judges a day's lines as a sequential reader would: a
line is a duplicate, late or outside the day by what came before it; a book or bbo is out
of order or a resent snapshot by its stream's latest; a trade is a replay if its
(coin, time, tid) was seen earlier that day. Re-assembling the whole day at every live step
costs O(day). This form keeps exactly the state those rules read and runs the same
`_finish_*` functions on each new batch with that state in front of it:

- lines: the running max receive time, and the hashes of the lines received at that
  millisecond (an identical line carries the same recv_ts_ms, so a duplicate is either at
  the current max, or behind it and refused as late anyway: the same line is kept);
- books (per coin and fast/slow) and bbo (per coin): the last row the stream judged live
  (it holds the stream's newest venue time and is what a resent snapshot equals);
- candles (per coin and interval): the last row not out of order (the newest open);
- trades: the 64-bit hashes of every (coin, time, tid) key seen today (8 bytes a trade).

tests/core/live/test_live_assemble.py checks every table equals `assemble_chunks` over
the whole day for random batch sizes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import lotus_core.feed.parse as P
import lotus_core.live.assemble_rows as R
from lotus_core.feed import extract as ex
from lotus_core.feed.extract import Chunk
from lotus_core.feed.tables import MAX_LEVELS, BookFrames
from lotus_core.time import day_bounds_ms


@dataclass
class Parsed:
    """The accepted rows of one batch of lines, as `FeedDay` tables: pandas frames, or for
    a table with a few new rows the per-row path's `Cols` / `BookCols` (`frames()` gives
    every table as pandas)."""

    books: BookFrames | R.BookCols
    trades: pd.DataFrame | R.Cols
    bbo: pd.DataFrame | R.Cols
    ctx: pd.DataFrame | R.Cols
    candles: pd.DataFrame | R.Cols
    gaps: pd.DataFrame | None = None
    """The batch's lotusGap records (`FeedDay.gaps`); None: none."""

    def frames(self) -> ParsedFrames:
        return ParsedFrames(R.frames_of(self.books), R.frames_of(self.trades),
                            R.frames_of(self.bbo), R.frames_of(self.ctx),
                            R.frames_of(self.candles))


@dataclass
class ParsedFrames:
    """A `Parsed` with every table as pandas (what slicing and concatenating need)."""

    books: BookFrames
    trades: pd.DataFrame
    bbo: pd.DataFrame
    ctx: pd.DataFrame
    candles: pd.DataFrame


def _table(cols: dict[str, np.ndarray]) -> P._Table:
    t = object.__new__(P._Table)
    t.cols = cols
    return t


def _concat(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not a:
        return b
    if not b:
        return a
    return {k: np.concatenate([a[k], b[k]]) for k in b}


def _rows(cols: dict[str, np.ndarray]) -> int:
    return len(next(iter(cols.values()))) if cols else 0


def _last_per_stream(keys: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Positions (ascending) of the last of `rows` in each stream given by `keys`."""
    if len(rows) == 0:
        return rows
    code = np.zeros(len(rows), dtype=np.int64)
    for k in keys:
        k = k[rows].astype(np.int64) + 1
        code = code * (int(k.max()) + 1) + k
    _, first_rev = np.unique(code[::-1], return_index=True)
    return np.sort(rows[len(rows) - 1 - first_rev])


class _KeySet:
    """64-bit hashes of trade keys: a sorted array plus a small pending set."""

    def __init__(self) -> None:
        self.sorted = np.empty(0, np.uint64)
        self.pending: set[int] = set()

    def contains(self, h: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(self.sorted, h), max(len(self.sorted) - 1, 0))
        out = (self.sorted[pos] == h) if len(self.sorted) else np.zeros(len(h), bool)
        if self.pending:
            out |= np.fromiter((int(x) in self.pending for x in h), bool, len(h))
        return out

    def add(self, h: np.ndarray) -> None:
        self.pending.update(int(x) for x in h)
        if len(self.pending) > 50_000:
            merged = np.concatenate([self.sorted, np.fromiter(self.pending, np.uint64)])
            self.sorted = np.unique(merged)
            self.pending = set()


_BLANK = ex.extract_chunk(1, [])  # every table, no rows
_NO_LINES = np.zeros(0, dtype=bool)


class StreamAssembler:
    """One UTC day's lines, batch by batch, accepted exactly as `assemble_chunks` accepts
    the whole day (the dead letters are the recorder's business, not kept here)."""

    def __init__(self, day: str) -> None:
        self.day = day
        self.start_ms, self.end_ms = day_bounds_ms(day)
        self.max_recv = -1
        self.at_max: set[int] = set()
        self.coins, self.intervals = P._Names(), P._Names()
        self.carry: dict[str, dict[str, np.ndarray] | None] = {
            "books": None, "bbo": None, "candles": None}
        self.trade_keys = _KeySet()
        self._nothing: dict[str, Any] = {}
        """Per table, what a batch without new rows of it gives: no rows, its carry unchanged
        (computed once by the full path, then reused)."""

    def _keep_lines(self, recv: np.ndarray, hashes: Sequence[int]) -> np.ndarray:
        keep = np.zeros(len(recv), dtype=bool)
        for i, r in enumerate(recv.tolist()):
            if r < 0:
                continue
            h = hashes[i]
            if r > self.max_recv:
                self.max_recv, self.at_max = r, {h}
            elif r == self.max_recv and h not in self.at_max:
                self.at_max.add(h)
            else:  # a duplicate, or behind the running max: refused either way
                continue
            keep[i] = self.start_ms <= r < self.end_ms
        return keep

    def _cols(self, chunk: Chunk, name: str, keep_line: np.ndarray) -> dict[str, np.ndarray]:
        table = chunk.tables.get(name) or {}
        if not table:  # a chunk may leave out its empty tables (the feed loop's hand-out)
            return {} if chunk is _BLANK else self._cols(_BLANK, name, _NO_LINES)
        if name == "books":
            table = ex.padded_books(table)  # the matrices from the chunk's flat levels
        coin_map = self.coins.remap(chunk.coins)
        interval_map = self.intervals.remap(chunk.intervals)
        mask = keep_line[table["line"] - chunk.first_line]
        out = {}
        for col, values in table.items():
            if col == "coin":
                values = coin_map[values]
            elif col == "interval":
                values = interval_map[values]
            out[col] = values[mask]
        return out

    def add(self, chunk: Chunk, hashes: Sequence[int]) -> Parsed:
        keep_line = self._keep_lines(chunk.recv, hashes)
        found, stats = P._Dead(self.coins), Counter[str]()
        finish = {"books": lambda c: self._books(c, found, stats),
                  "trades": lambda c: self._trades(c, found, stats),
                  "bbo": lambda c: self._bbo(c, found, stats),
                  "ctx": lambda c: self._ctx(c, found),
                  "candles": lambda c: self._candles(c, found)}
        out = {}
        for name, fn in finish.items():
            table = chunk.tables.get(name)
            if (not table or len(table["recv"]) == 0) and name in self._nothing:
                out[name] = self._nothing[name]  # a live batch touches a table or two
                continue
            cols = self._cols(chunk, name, keep_line)
            n = _rows(cols)
            if n == 0 and name in self._nothing:
                out[name] = self._nothing[name]  # a small batch touches one or two tables
                continue
            out[name] = self._small(name, cols) if 0 < n <= R.SMALL_ROWS else fn(cols)
            if n == 0:
                self._nothing[name] = out[name]
        gaps = chunk.tables.get("gaps")
        if gaps and len(gaps["recv"]):  # raw_feed's rule: a kept line's records
            out["gaps"] = P.finish_gaps([(gaps, chunk.coins, chunk.first_line, keep_line)])
        return Parsed(**out)

    def _small(self, name: str, new: dict[str, np.ndarray]) -> Any:
        """A few rows: the per-row form of the same rules (`assemble_rows`)."""
        if name == "books":
            return R.small_books(new, self.carry, self.coins)
        if name == "bbo":
            return R.small_bbo(new, self.carry, self.coins)
        if name == "ctx":
            return R.small_ctx(new, self.coins)
        if name == "candles":
            return R.small_candles(new, self.carry, self.coins, self.intervals)
        h = R.trade_hashes(new["coin"], new["time"], new["tid"])
        out = R.small_trades(new, h, self.trade_keys.contains, self.coins)
        self.trade_keys.add(np.unique(h))
        return out

    def _books(self, new: dict[str, np.ndarray], found: P._Dead, stats: Counter[str]
               ) -> BookFrames:
        carry = self.carry["books"]
        cols = _concat(carry, new)
        t = _table(cols)
        out = P._finish_books(t, found, self.coins, stats)
        if len(t):
            keys = [t["coin"], t["fast"].astype(np.int64)]
            live = np.flatnonzero(~P._older_than_stream(keys, t["time"]))
            self.carry["books"] = {k: v[_last_per_stream(keys, live)] for k, v in cols.items()}
        if carry:  # the carried rows come first; drop those _finish_books kept
            c = _table(carry)
            kept = int((c["ok"] & P._book_is_sane(c["bid_px"], c["bid_sz"], c["ask_px"],
                                                  c["ask_sz"], c["nb"], c["na"])
                        & (c["coin"] >= 0)).sum())
            if kept:
                out = out.select(np.arange(len(out)) >= kept)
        return out

    def _trades(self, new: dict[str, np.ndarray], found: P._Dead, stats: Counter[str]
                ) -> pd.DataFrame:
        t = _table(new)
        if not new:
            return P._frame(t, ["recv", "coin", "time", "side", "px", "sz", "tid", "line"],
                            np.zeros(0, bool), self.coins, P._RENAME).drop(columns="line_no")
        line = t["line"]
        keys = pd.DataFrame({"coin": t["coin"], "time": t["time"], "tid": t["tid"]})
        h = R.trade_hashes(t["coin"], t["time"], t["tid"])
        replayed = keys.duplicated().to_numpy() | self.trade_keys.contains(h)
        self.trade_keys.add(np.unique(h))
        all_replayed = pd.Series(replayed).groupby(line).transform("all").to_numpy()
        first_of_frame = np.ones(len(line), dtype=bool)
        first_of_frame[1:] = line[1:] != line[:-1]
        with np.errstate(invalid="ignore"):
            ok = t["ok"] & (t["coin"] >= 0) & (t["px"] > 0) & (t["sz"] > 0)
        bad = np.isin(line, line[~ok & ~all_replayed])
        out = P._frame(t, ["recv", "coin", "time", "side", "px", "sz", "tid", "line"],
                       ~replayed & ~bad, self.coins, P._RENAME)
        return _without(out, "line_no")

    def _bbo(self, new: dict[str, np.ndarray], found: P._Dead, stats: Counter[str]
             ) -> pd.DataFrame:
        carry = self.carry["bbo"]
        cols = _concat(carry, new)
        t = _table(cols)
        out = P._finish_bbo(t, found, self.coins, stats)
        if len(t):
            ok = t["ok"] & (t["coin"] >= 0)
            with np.errstate(invalid="ignore"):
                keep = ok & ~(ok & (t["bid_px"] >= t["ask_px"]))
            keep &= ~P._subset(keep, P._older_than_stream([t["coin"][keep]], t["time"][keep]))
            rows = _last_per_stream([t["coin"]], np.flatnonzero(keep))
            self.carry["bbo"] = {k: v[rows] for k, v in cols.items()}
        n = len(carry["recv"]) if carry else 0
        return _without(_after(out, n), "line_no")

    def _ctx(self, new: dict[str, np.ndarray], found: P._Dead) -> pd.DataFrame:
        return _without(P._finish_ctx(_table(new), found, self.coins), "line_no")

    def _candles(self, new: dict[str, np.ndarray], found: P._Dead) -> pd.DataFrame:
        carry = self.carry["candles"]
        cols = _concat(carry, new)
        t = _table(cols)
        out = P._finish_candles(t, found, self.coins, self.intervals)
        if len(t):
            o, hi, lo, c = t["o"], t["h"], t["l"], t["c"]
            with np.errstate(invalid="ignore"):
                ok = t["ok"] & (t["coin"] >= 0) & (t["interval"] >= 0) & (
                    lo <= np.minimum(o, c)) & (hi >= np.maximum(o, c))
            keys = [t["coin"][ok], t["interval"][ok]]
            ok &= ~P._subset(ok, P._older_than_stream(keys, t["t_open_ms"][ok]))
            rows = _last_per_stream([t["coin"], t["interval"]], np.flatnonzero(ok))
            self.carry["candles"] = {k: v[rows] for k, v in cols.items()}
        n = len(carry["recv"]) if carry else 0
        return _without(_after(out, n), "line")


def _without(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """`df` (a frame this module just built) without `column`: in place, as `drop` costs
    a millisecond a call, which a batch of one line pays on every table it touches."""
    del df[column]
    return df


def _after(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows after the first `n` (the carried ones), renumbered from 0."""
    return df if n == 0 else df.iloc[n:].reset_index(drop=True)


def empty_books() -> BookFrames:
    meta = pd.DataFrame({"recv_ts_ms": np.empty(0, np.int64),
                         "coin": pd.array([], dtype="str"), "time_ms": np.empty(0, np.int64),
                         "fast": np.empty(0, bool), "n_bid": np.empty(0, np.int16),
                         "n_ask": np.empty(0, np.int16)})
    z = np.empty((0, MAX_LEVELS))
    return BookFrames(meta, z, z.copy(), z.copy(), z.copy())
