"""The one driver of the paper Trader: every run of a `TraderEngine` (the nightly replay of a
recorded day, the DM's joint replay, the daemon's `trader` loop) steps it here.

The driver owns the stepping rules: the order of events (a source hands them over as
(kind, index, ts) in receive order; ties on one millisecond go book, trade, ctx, row,
decision, so a decision made at t knows everything received at t), which event reaches the
engine in which form (a trade on a coin with no working order only lets time pass; a
MicroTape row only while a plan is armed), when a quiet coin's snapshots may be held back
and handed over (`hold`), and where each step's outputs go (`emit`, one call per step
that produced something). The engine owns books, timers and barriers, fills and reports.

What differs between runs is injected:
- the source: `Columns` (the tables the indexes point into) and the (kind, index, ts)
  stream. A recorded day gives its parsed tables and their merged order
  (`lotus_core.trader.replay`); the live market gives one event at a time
  (`LiveColumns.put`: the hub's `Book` / `Trade` / `AssetCtx` / row objects);
- the clock: where decision slots fall and what the idle tick says. The replay clock puts
  a slot at each decision's time, after the market events of its millisecond; the live
  clock (`DecisionClock`) puts a slot before the first market event later than a
  received decision's asof time and, with no market feed, ticks the wall clock (`TICK`).

Holding snapshots back (`hold=True`) is a whole-day shortcut: a held snapshot lives only in
the driver, so a run that checkpoints the engine mid-day (the daemon) hands every event
over (`hold=False`). Holding changes no output: every two-sided snapshot's top of book goes
to the engine's volatility step (`TraderEngine.on_quote`) at its place in the stream, held
back or not, so an execution's `vol_bps` context is the same on both clocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lotus_core.trader.book import AssetCtx, Book, Trade
from lotus_core.trader.engine import Out, TraderEngine

BOOK, TRADE, CTX, ROW, DECISION, TICK = 0, 1, 2, 3, 4, 5
KIND_NAMES = ("book", "trade", "ctx", "row", "decision", "tick")
NAN = float("nan")

Event = Book | Trade | AssetCtx | Mapping[str, Any]


class RowsAt(Protocol):
    """MicroTape rows by event index (a day's rows are made into dicts a block at a time)."""

    def __getitem__(self, i: int) -> dict[str, Any]: ...


class Columns:
    """What an event index points at, column by column (the driver reads plain lists on
    its hot path). `book_at(i)` builds the snapshot only when the engine needs it;
    `keeps_books`: every index stays valid (a snapshot may be held back and built later)."""

    keeps_books = True

    bcoin: Sequence[str]
    bts: Sequence[int]
    b0: Sequence[float]
    a0: Sequence[float]
    nb: Sequence[int]
    na: Sequence[int]
    book_at: Callable[[int], Book]
    tcoin: Sequence[str]
    tts: Sequence[int]
    tpx: Sequence[float]
    tsz: Sequence[float]
    tside: Sequence[int]
    ccoin: Sequence[str]
    cts: Sequence[int]
    cf: Sequence[float]
    cm: Sequence[float]
    co: Sequence[float]
    rows: RowsAt


@dataclass(frozen=True)
class Decision:
    """A decision slot's ticket and the time the engine takes it at."""

    ts_ms: int
    ticket: Mapping[str, Any]
    signal_id: str | None = None


def drive(engine: TraderEngine, cols: Columns, events: Iterable[tuple[int, int, int]],
          at_slot: Callable[[int, int], Iterable[Decision]], emit: Callable[[list[Out]], Any],
          on_row: Callable[[dict[str, Any]], None] | None = None,
          hold: bool = True) -> list[int]:
    """Step `engine` through `events` ((kind, index, ts) in order); returns the count of
    each kind (`KIND_NAMES`). At a DECISION, `at_slot(index, ts)` gives the tickets to
    execute then, in order; at a TICK time passes.
    `on_row` sees every MicroTape row (the DM's market view)."""
    if hold and not cols.keeps_books:
        raise ValueError("drive(hold=True) needs columns that keep every snapshot (a recorded "
                         f"day's); {type(cols).__name__} keeps only the event in hand")
    counts = [0, 0, 0, 0, 0, 0]
    on_book, on_trade, book_at, book_mode = (engine.on_book, engine.on_trade, cols.book_at,
                                             engine.book_mode)
    quote = engine.on_quote
    held: dict[str, int] = {}  # quiet coin -> its latest snapshot not handed over yet
    bcoin, bts, b0, a0, nb, na = cols.bcoin, cols.bts, cols.b0, cols.a0, cols.nb, cols.na
    tcoin, tts, tpx, tsz, tside = cols.tcoin, cols.tts, cols.tpx, cols.tsz, cols.tside
    ccoin, cts, cf, cm, co = cols.ccoin, cols.cts, cols.cf, cols.cm, cols.co
    rows = cols.rows
    on_top, advance = engine.on_top, engine.advance
    resting = engine._resting  # coin -> working limit orders (the dict is never replaced)
    out: list[Out]
    for k, i, ts in events:
        counts[k] += 1
        if held and engine._next_due <= ts:  # an exit or a probe round is due: every book
            for coin in sorted(held, key=held.__getitem__):
                if out := on_book(book_at(held.pop(coin)), True):
                    emit(out)
        if k == BOOK:
            coin = bcoin[i]
            two_sided = nb[i] and na[i]
            if two_sided:  # the volatility context sees every snapshot, held back or not
                quote(coin, b0[i], a0[i])
            # A snapshot may be held back only while nothing is due: a time-limit exit or a
            # probe round starts at the first event at or after its time, whichever coin.
            if hold and ts < engine._next_due:
                mode = book_mode(coin)  # 0 quiet, 1 watched, 2 full
                if not mode or (mode == 1 and two_sided
                                and not on_top(coin, bts[i], b0[i], a0[i])):
                    held[coin] = i
                    continue
            held.pop(coin, None)
            out = on_book(book_at(i), True)
        elif k == TRADE:
            # no working order on the coin: a trade only lets time pass, so no Trade is made
            # unless an order starts working at this very time (on_trade advances first,
            # then meets the trade with every working order; advancing twice is a no-op)
            coin = tcoin[i]
            if resting.get(coin):
                out = on_trade(Trade(coin, tts[i], tpx[i], tsz[i], tside[i]))
            else:
                out = advance(ts)
                if resting.get(coin):
                    out += on_trade(Trade(coin, tts[i], tpx[i], tsz[i], tside[i]))
        elif k == CTX:
            f = cf[i]
            out = engine.on_ctx(AssetCtx(ccoin[i], cts[i], 0.0 if f != f else f,
                                         nan_to_none(cm[i]), nan_to_none(co[i])))
        elif k == ROW:
            if on_row is not None:
                on_row(rows[i])
            if not engine.armed:
                continue
            out = engine.on_row(rows[i])
        elif k == DECISION:
            out = []
            for n, d in enumerate(at_slot(i, ts)):
                if n and held and engine._next_due <= ts:  # as between two slots
                    for coin in sorted(held, key=held.__getitem__):
                        out += on_book(book_at(held.pop(coin)), True)
                for coin in sorted(d.ticket["targets"]):
                    if coin in held:
                        out += on_book(book_at(held.pop(coin)), True)
                out += engine.on_decision(d.ticket, d.ts_ms, d.signal_id)
        else:  # TICK: time passes with no market event (the wall clock, no feed)
            out = advance(ts)
        if out:
            emit(out)
    for coin in sorted(held, key=held.__getitem__):  # the run's last snapshots
        if out := on_book(book_at(held[coin]), True):
            emit(out)
    return counts


def nan_to_none(x: float) -> float | None:
    """A context's missing price (NaN in the tables) as the engine takes it."""
    return None if x != x else float(x)


class LiveColumns(Columns):
    """The live source's columns: one slot per kind, filled by `put` with the event just
    received (the hub's objects), so the driver reads it as index 0."""

    keeps_books = False

    bcoin: list[str]
    bts: list[int]
    b0: list[float]
    a0: list[float]
    nb: list[int]
    na: list[int]
    tcoin: list[str]
    tts: list[int]
    tpx: list[float]
    tsz: list[float]
    tside: list[int]
    ccoin: list[str]
    cts: list[int]
    cf: list[float]
    cm: list[float]
    co: list[float]
    rows: list[dict[str, Any]]

    def __init__(self) -> None:
        self._book: Book | None = None
        self.bcoin, self.bts, self.nb, self.na = [""], [0], [0], [0]
        self.b0, self.a0 = [NAN], [NAN]
        self.tcoin, self.tts, self.tpx, self.tsz, self.tside = [""], [0], [NAN], [NAN], [0]
        self.ccoin, self.cts, self.cf, self.cm, self.co = [""], [0], [NAN], [NAN], [NAN]
        self.rows = [{}]
        self.book_at = self._book_at

    def _book_at(self, i: int) -> Book:
        assert self._book is not None and i == 0, "a live snapshot is handed over at once"
        return self._book

    def put(self, ev: Event) -> tuple[int, int, int]:
        """Hold `ev` in its slot; (kind, 0, ts) for the driver."""
        if isinstance(ev, Book):
            self._book = ev
            self.bcoin[0], self.bts[0] = ev.coin, ev.ts_ms
            self.nb[0], self.na[0] = len(ev.bid_px), len(ev.ask_px)
            self.b0[0] = ev.bid_px[0] if ev.bid_px else NAN
            self.a0[0] = ev.ask_px[0] if ev.ask_px else NAN
            return BOOK, 0, ev.ts_ms
        if isinstance(ev, Trade):
            self.tcoin[0], self.tts[0], self.tpx[0] = ev.coin, ev.ts_ms, ev.px
            self.tsz[0], self.tside[0] = ev.sz, ev.side
            return TRADE, 0, ev.ts_ms
        if isinstance(ev, AssetCtx):
            self.ccoin[0], self.cts[0], self.cf[0] = ev.coin, ev.ts_ms, ev.funding
            self.cm[0] = NAN if ev.mark_px is None else ev.mark_px
            self.co[0] = NAN if ev.oracle_px is None else ev.oracle_px
            return CTX, 0, ev.ts_ms
        if isinstance(ev, Mapping):
            self.rows[0] = dict(ev) if not isinstance(ev, dict) else ev
            return ROW, 0, int(ev["ts_ms"])
        raise TypeError(f"a Trader market event must be a Book, Trade, AssetCtx or MicroTape "
                        f"row mapping, got {type(ev).__name__}")


class DecisionClock:
    """The live clock of decision slots: received decisions wait, ordered by (asof, seq),
    until the market passes their asof time (`due(ts)`: those with asof < ts, the replay's
    "after the market events of its millisecond"), or the run ends (`due(None)`). The engine
    takes a late decision at its own time (`at`): the market has moved on since."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, int, Any]] = []  # (asof_ms, seq, payload)

    def known(self) -> set[int]:
        return {seq for _, seq, _ in self.pending}

    def add(self, asof_ms: int, seq: int, payload: Any) -> None:
        self.pending.append((asof_ms, seq, payload))
        self.pending.sort(key=lambda p: (p[0], p[1]))

    def due(self, ts: int | None) -> Iterable[tuple[int, int, Any]]:
        """Pop the decisions due before a market event at `ts` (all of them at None)."""
        while self.pending and (ts is None or self.pending[0][0] < ts):
            yield self.pending.pop(0)

    @staticmethod
    def at(asof_ms: int, engine: TraderEngine) -> int:
        return max(asof_ms, engine.now_ms)
