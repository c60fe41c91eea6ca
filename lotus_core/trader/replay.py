"""Replay a recorded day through the engine: books, trades, contexts, MicroTape rows and
decisions merged into one stream in receive order, exactly as the live loop would see them.

Ties on the same millisecond go book, trade, ctx, row, decision: a decision made at t
knows everything received at t. The engine is the live one, stepped by the one driver
(`lotus_core.trader.driver.drive`, which the daemon's trader loop runs too); this module is
the recorded day's source (its tables and their merged order) and the replay clock
(decision slots at the decisions' times).

`run_day` is the one replay: its decision slots either hand over fixed tickets (`replay_day`,
the `paper_trades` replay of `dm_decisions`) or ask a decider at that moment
(`lotus_core.dm.joint.joint_day`: the DM decides from the Trader's state and its tickets go
straight to the Trader), so both give the same fills for the same tickets.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
from pandas.core.dtypes.cast import maybe_box_native

from lotus_core.feed.packed import PackedBooks, ReplayDay
from lotus_core.feed.tables import BookFrames, FeedDay
from lotus_core.trader.book import AssetCtx, Book, Trade
from lotus_core.trader.day_chunks import CHUNK_MS, DayChunk, day_chunks
from lotus_core.trader.driver import (
    BOOK,
    CTX,
    DECISION,
    ROW,
    TRADE,
    Columns,
    Decision,
    drive,
    nan_to_none,
)
from lotus_core.trader.engine import Out, TraderEngine

__all__ = ["BOOK", "CTX", "DECISION", "ROW", "TRADE", "Day", "Decision", "ReplayResult",
           "decisions_from_table", "event_ts", "market_events", "market_events_between",
           "merged_order", "replay_day", "rows_in_order", "run_day"]
_BLOCK = 1 << 16  # events (and MicroTape rows) turned into Python objects at a time

Day = FeedDay | ReplayDay
"""A day to replay: the parse, or its replay form (books packed: `lotus_core.feed.packed`);
the same events, the same floats."""


def decisions_from_table(df: pd.DataFrame) -> list[Decision]:
    """The `dm_decisions` contract: decision_id, ts_ms, coin, ticket_json (one row each).
    Tickets of one millisecond keep the DM's order (`seq`, when the table has it)."""
    out = []
    keys = ["ts_ms", "seq" if "seq" in df.columns else "decision_id"]
    for r in df.sort_values(keys, kind="stable").itertuples(index=False):
        out.append(Decision(int(r.ts_ms), json.loads(r.ticket_json),
                            getattr(r, "signal_id", None)))
    return out


@dataclass
class ReplayResult:
    outputs: list[Out] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)


def merged_order(day: Day, rows: pd.DataFrame | None,
                 decisions: list[Decision] | list[int]) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """(kind, index, ts_ms) of every event in replay order (decision slots: the decisions'
    times, or the times given)."""
    parts = [
        (day.books.meta["recv_ts_ms"].to_numpy(np.int64), BOOK),
        (day.trades["recv_ts_ms"].to_numpy(np.int64), TRADE),
        (day.ctx["recv_ts_ms"].to_numpy(np.int64), CTX),
        # no MicroTape rows yet (a live day's first steps: a frame without columns) is none
        (rows["ts_ms"].to_numpy(np.int64) if rows is not None and len(rows)
         else np.empty(0, np.int64), ROW),
        (np.array([d if isinstance(d, int) else d.ts_ms for d in decisions], np.int64),
         DECISION),
    ]
    ts = np.concatenate([p[0] for p in parts])
    kind = np.concatenate([np.full(len(p[0]), p[1], np.int8) for p in parts])
    idx = np.concatenate([np.arange(len(p[0])) for p in parts])
    order = np.lexsort((idx, kind, ts))
    return kind[order], idx[order], ts[order]


def rows_in_order(rows: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """MicroTape rows in (ts, coin) order — the order the DM consumes them, and the one the
    nightly replays use (the lake keeps (coin, ts)); `columns` keeps only those present."""
    if columns is not None:
        rows = rows[[c for c in columns if c in rows.columns]]
    return rows.sort_values(["ts_ms", "coin"], kind="stable").reset_index(drop=True)


def replay_day(engine: TraderEngine, day: Day | Iterable[DayChunk],
               decisions: Iterable[Decision],
               rows: pd.DataFrame | None = None,
               sink: Callable[[Out], None] | None = None) -> ReplayResult:
    """Feed the whole day to `engine` (held whole, or a chunk source with its rows, as
    `run_day` takes it); outputs are collected (or passed to `sink`)."""
    decisions = list(decisions)
    emit = None
    if sink is not None:
        put = sink

        def emit(out: list[Out]) -> None:
            for o in out:
                put(o)

    return run_day(engine, day, rows, [d.ts_ms for d in decisions],
                   lambda i, ts: (decisions[i],), emit=emit)


def run_day(engine: TraderEngine, day: Day | Iterable[DayChunk], rows: pd.DataFrame | None,
            slots: list[int] | np.ndarray, at_slot: Callable[[int, int], Iterable[Decision]],
            on_row: Callable[[dict[str, Any]], None] | None = None,
            emit: Callable[[list[Out]], Any] | None = None,
            chunk_ms: int = CHUNK_MS) -> ReplayResult:
    """The replay of a recorded day. `slots`: decision times; at slot i (after the market
    events of its millisecond) `at_slot(i, ts)` gives the tickets to execute then, in
    order. `on_row` sees every MicroTape row (the DM's market view); the engine sees rows
    only while a plan is armed. `emit` gets each step's outputs (default: collected).

    `day` is a day held whole (with its MicroTape `rows`) or a chunk source (`DayChunk`s
    in time order, rows inside; `rows` None): either way the day is stepped a chunk at a
    time (`lotus_core.trader.day_chunks`; a day held whole is cut every `chunk_ms`), so
    only one chunk's events are ever Python objects. A slot goes with the chunk its time
    falls in (the last chunk takes the rest).
    Each chunk is one `drive` call: the snapshots it held back are handed over at its end,
    as `hold=False` would have them (no output changes: the driver's rule).

    The cyclic garbage collector is paused for the run (and restored after): the driver
    makes short-lived, acyclic objects by the million, and every collection would also
    walk the day's tables held as Python lists (a fifth of the run's time on a busy day)."""
    res = ReplayResult()
    chunks = (day_chunks(day, rows, chunk_ms) if isinstance(day, FeedDay | ReplayDay)
              else iter(day))
    slot_ts = np.asarray(slots, dtype=np.int64)
    left = np.ones(len(slot_ts), dtype=bool)
    counts = [0] * 6
    enabled = gc.isenabled()
    gc.disable()
    try:
        chunk = next(chunks, None)
        while chunk is not None:
            after = next(chunks, None)
            take = np.nonzero(left & (slot_ts < chunk.until_ms) if after is not None
                              else left)[0]
            left[take] = False
            kinds, idxs, times = merged_order(chunk.day, chunk.rows, slot_ts[take].tolist())
            at = kinds == DECISION
            idxs[at] = take[idxs[at]]  # the slots' own numbers
            got = drive(engine, _DayColumns(chunk.day, chunk.rows),
                        _in_blocks(kinds, idxs, times), at_slot, emit or res.outputs.extend,
                        on_row=on_row)
            counts = [a + b for a, b in zip(counts, got, strict=True)]
            del kinds, idxs, times
            chunk = after
    finally:
        if enabled:
            gc.enable()
    res.events = dict(zip(("book", "trade", "ctx", "row", "decision"), counts, strict=False))
    return res


def _in_blocks(kinds: np.ndarray, idxs: np.ndarray, times: np.ndarray
               ) -> Iterator[tuple[int, int, int]]:
    """(kind, index, ts) a block at a time: Python ints for every event of a day at once
    cost ~100 B each."""
    return chain.from_iterable(
        zip(kinds[lo:lo + _BLOCK].tolist(), idxs[lo:lo + _BLOCK].tolist(),
            times[lo:lo + _BLOCK].tolist(), strict=True) for lo in range(0, len(kinds), _BLOCK))


class _DayColumns(Columns):
    """A recorded day's tables as the driver reads them (`Columns`)."""

    def __init__(self, day: Day, rows: pd.DataFrame | None) -> None:
        books = _BookRows(day.books)
        self.book_at = books.at
        self.bcoin, self.bts, self.b0, self.a0, self.nb, self.na = (
            books.coin, books.ts, books.bid0, books.ask0, books.nb, books.na)
        t = day.trades
        self.tcoin = t["coin"].astype(str).tolist()
        self.tts = t["recv_ts_ms"].to_numpy(np.int64).tolist()
        self.tpx, self.tsz = t["px"].to_numpy().tolist(), t["sz"].to_numpy().tolist()
        self.tside = t["side"].to_numpy(np.int64).tolist()
        c = day.ctx
        self.ccoin = c["coin"].astype(str).tolist()
        self.cts = c["recv_ts_ms"].to_numpy(np.int64).tolist()
        self.cf, self.cm, self.co = (c[k].to_numpy().tolist()
                                     for k in ("funding", "mark_px", "oracle_px"))
        self.rows = _Records(rows)


class _Records:
    """MicroTape rows as dicts by row number, made a block at a time: the replay reads them
    in order (rows sorted by time), and a dict per row of a whole day is ~0.6 KB each.
    Rows out of time order: made all at once."""

    def __init__(self, rows: pd.DataFrame | None) -> None:
        self.rows = rows
        self.lo = 0
        self.block: list[dict[str, Any]] = []
        if rows is not None and not rows["ts_ms"].is_monotonic_increasing:
            self.block = records(rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        j = i - self.lo
        if 0 <= j < len(self.block):
            return self.block[j]
        assert self.rows is not None
        self.lo = i - i % _BLOCK
        self.block = []  # drop the old block before making the next
        self.block = records(self.rows.iloc[self.lo:self.lo + _BLOCK])
        return self.block[i - self.lo]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame.to_dict("records")`, the same values, made a column at a time: pandas' own
    goes a row at a time through `itertuples` (a Series iterator per column), ~3x the CPU
    of a MicroTape row here. Each column is its `tolist()` (numpy columns: Python scalars),
    object and extension columns boxed as `to_dict` boxes them (tested against it)."""
    names = frame.columns.tolist()
    cols: list[list[Any]] = []
    for j in range(len(names)):
        s = frame.iloc[:, j]  # by position: column names may repeat
        col = s.tolist()
        if s.dtype == object or not isinstance(s.dtype, np.dtype):
            col = [maybe_box_native(x) for x in col]
        cols.append(col)
    if not cols:
        return [{} for _ in range(len(frame))]
    return [dict(zip(names, t, strict=True)) for t in zip(*cols, strict=True)]


class _BookRows:
    """`Book`s by table row, built only for the rows the engine needs (a replay holds most
    snapshots of quiet coins back and never converts them). Padded or packed books."""

    def __init__(self, b: BookFrames | PackedBooks) -> None:
        self.src = b
        self.coin = b.meta["coin"].astype(str).tolist()
        self.ts = b.meta["recv_ts_ms"].to_numpy(np.int64).tolist()
        self.nb = b.meta["n_bid"].to_numpy(np.int64).tolist()
        self.na = b.meta["n_ask"].to_numpy(np.int64).tolist()
        bid0, ask0 = b.tops()
        self.bid0, self.ask0 = bid0.tolist(), ask0.tolist()

    def at(self, i: int) -> Book:
        return Book(self.coin[i], self.ts[i], *self.src.levels(i))


def market_events(day: Day, rows: pd.DataFrame | None = None
                  ) -> Iterable[Book | Trade | AssetCtx | dict[str, Any]]:
    """The day's market events in replay order (no decisions): what a live source would
    have delivered. The daemon's loop can run on this (tests, `lotus` replays)."""
    kinds, idxs, _ = merged_order(day, rows, [])
    return _events(day, rows, kinds, idxs)


def market_events_between(day: Day, rows: pd.DataFrame | None, since_ms: int | None,
                          until_ms: int) -> tuple[int, list[Book | Trade | AssetCtx
                                                             | dict[str, Any]]]:
    """The events of `market_events(day, rows)` with since_ms <= ts < until_ms, and the
    ordinal of the first of them in that stream.

    Prefix-stable, so the live path can hand them out step by step: the feed parser's rules
    are sequential (a line, book, trade or context is kept or refused by what came before
    it), so the tables of a day so far are the full day's tables cut at the last line; and
    the order (ts, kind, row) of the events before `until_ms` does not depend on anything
    at or after it, given every line received before `until_ms` is in `day` and `rows`
    holds the final MicroTape rows (ts < until_ms) — the LiveEngine's finality rule."""
    kinds, idxs, ts = merged_order(day, rows, [])
    lo = 0 if since_ms is None else int(np.searchsorted(ts, since_ms, "left"))
    hi = int(np.searchsorted(ts, until_ms, "left"))
    return lo, list(_events(day, rows, kinds[lo:hi], idxs[lo:hi]))


def _events(day: Day, rows: pd.DataFrame | None, kinds: np.ndarray, idxs: np.ndarray
            ) -> Iterator[Book | Trade | AssetCtx | dict[str, Any]]:
    """The market events at (kind, table row) positions: one builder for every source.
    Each table's columns are taken at the wanted rows as Python lists first (a pandas
    scalar read per field was most of a day's build), the values converted as before."""
    b, t, c = day.books, day.trades, day.ctx

    def taken(frame: pd.DataFrame, kind: int, names: tuple[str, ...]
              ) -> Iterator[tuple[Any, ...]]:
        at = idxs[kinds == kind]
        return zip(*(frame[n].take(at).tolist() for n in names), strict=True)

    books = taken(b.meta, BOOK, ("coin", "recv_ts_ms"))
    trades = taken(t, TRADE, ("coin", "recv_ts_ms", "px", "sz", "side"))
    ctxs = taken(c, CTX, ("coin", "recv_ts_ms", "funding", "mark_px", "oracle_px"))
    wanted = idxs[kinds == ROW]
    made = (dict(zip(wanted.tolist(), records(rows.iloc[wanted]), strict=True))
            if rows is not None and len(wanted) else {})
    for k, i in zip(kinds.tolist(), idxs.tolist(), strict=True):
        if k == BOOK:
            coin, ts = next(books)
            yield Book(str(coin), int(ts), *b.levels(i))
        elif k == TRADE:
            coin, ts, px, sz, side = next(trades)
            yield Trade(str(coin), int(ts), float(px), float(sz), int(side))
        elif k == CTX:
            coin, ts, f, mark, oracle = next(ctxs)
            f = float(f)
            yield AssetCtx(str(coin), int(ts), 0.0 if f != f else f,
                           nan_to_none(float(mark)), nan_to_none(float(oracle)))
        else:
            yield made[i]


def event_ts(ev: Book | Trade | AssetCtx | Mapping[str, Any]) -> int:
    """An event's time: a row (a dict, or any mapping) or a market event. Asked of every
    event of a day (~280,000), so the market events are told by their own classes, not by
    `isinstance(ev, Mapping)` (an ABC check, the larger cost)."""
    if isinstance(ev, (Book, Trade, AssetCtx)):
        return ev.ts_ms
    return int(ev["ts_ms"])
