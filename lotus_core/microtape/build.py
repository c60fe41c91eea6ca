"""Assemble the MicroTape: one row per (coin, grid time), every value known at that time;
`build_coin` / `build_microtape` for the nightly build, `TapeStream` for the live tape.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `TapeStream` walks the same grid (`coin_grid`) and calls the same
per-frame and per-quote rules (book.py, cancels.py, inputs.py, grid.py: each one-row form
beside its array form), with the flow columns from `flow.FlowStream`. Equality test:
tests/core/microtape/test_microtape_book.py (every column of every row against
`build_microtape`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lotus_core.feed.shards import merge_sorted
from lotus_core.feed.tables import MAX_LEVELS, FeedDay
from lotus_core.microtape.book import (
    BBO_SOURCE,
    BOOK_SOURCE,
    BPS,
    DEEP_LEVELS,
    DEPTH_LEVELS,
    depth_features,
    depth_rel_window,
    depth_slope,
    dpx_bps,
    imbalance,
    imbalance_of,
    quote_stream,
    slope_of,
    top_features,
    top_of,
)
from lotus_core.microtape.cancels import (
    CancelPairs,
    Frame,
    add_pairs,
    cancel_rate,
    fast_live,
    frame_of,
)
from lotus_core.microtape.context_history import ContextHistory, ContextReference
from lotus_core.microtape.flow import FLOW_COLUMNS, RUN, FlowStream, flow_features
from lotus_core.microtape.gaps import GapBook, gap_book
from lotus_core.microtape.grid import (
    ASOF_SIDE,
    NAN,
    TRIM,
    RollingMedian,
    asof_stop,
    grid_ceil,
    make_grid,
)
from lotus_core.microtape.inputs import (
    _BBO,
    _CANDLES,
    _CTX,
    _TRADES,
    NO_TRADES,
    Books,
    CoinInputs,
    coin_inputs,
    cumulative_of,
    depth_of,
    fresh,
    quoted_coins,
)
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.schema import COLUMNS, MICROTAPE_COLUMNS, STR, empty_frame
from lotus_core.time import day_start_ms

if TYPE_CHECKING:
    from lotus_core.feed.assemble import Parsed


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
    gaps: GapBook | None = None, reference: ContextReference | None = None,
) -> pd.DataFrame | None:
    """The MicroTape of one coin (None if it never had a two-sided quote on the grid);
    `gaps`: the day's recorded gaps (none: no row is flagged); `reference`: the coin's
    context on trailing days (`context_history`; none: a day-ranked percentile is NaN)."""
    quotes = quote_stream(inp)
    grid = coin_grid(inp, quotes, params.cadence_ms, until_ms)
    if len(grid) == 0:
        return None
    cols: dict[str, np.ndarray] = {"ts_ms": grid}
    cols.update(top_features(quotes, grid))
    cols.update(depth_features(inp.books, grid, params))
    cols["cancel_rate"] = cancel_rate(inp.books, inp.trades, grid, params)
    cols.update(flow_features(inp, grid, cols["dpx_bps"], params, reference))
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
    warm: FeedDay | None = None, history: ContextHistory | None = None,
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
    regime `warmup`, until their windows fill). `history`: the day's context references
    for the columns ranked on trailing days (`context_history`).
    Validate with `MICROTAPE_SCHEMA`.
    """
    parts = list(microtape_by_coin(feed, params, until_ms, warm, history=history))  # by coin
    return pd.concat(parts, ignore_index=True) if parts else empty_frame()


def microtape_by_coin(
    feed: FeedDay, params: MicroTapeParams = DEFAULT_PARAMS, until_ms: int | None = None,
    warm: FeedDay | None = None, coins: Collection[str] | None = None,
    history: ContextHistory | None = None,
) -> Iterator[pd.DataFrame]:
    """`build_microtape`'s frame one coin at a time, in coin order (a coin with no row on
    the day's grid yields nothing): a step that writes coin by coin never holds them all.
    `coins`: only those (each coin is built from its own inputs: a coin's frame does not
    depend on which others are built; a day x coin partition builds one)."""
    if warm is not None:
        from lotus_core.microtape.warm import warm_feed

        start = day_start_ms(feed.day)
        for part in microtape_by_coin(warm_feed(feed, warm, params), params, until_ms,
                                      coins=coins, history=history):
            keep = part["ts_ms"].to_numpy() >= start
            if keep.any():
                yield part.loc[keep].reset_index(drop=True)
        return
    gaps = gap_book(feed.gaps, params.gap_warmup_ms)
    for coin in quoted_coins(feed):
        if coins is not None and coin not in coins:
            continue
        inputs = coin_inputs(feed, coin, params.candle_interval, params.trade_max_lag_ms)
        part = build_coin(inputs, params, until_ms, gaps,
                          None if history is None else history.of(coin))
        if part is not None and len(part):
            yield part


def build_microtape_shards(
    today: Iterable[FeedDay], before: Iterable[FeedDay | None],
    params: MicroTapeParams = DEFAULT_PARAMS, history: ContextHistory | None = None,
) -> pd.DataFrame:
    """`build_microtape` over a day's coin shards (lotus_core.feed.shards), each with the
    same shard of the previous day (or None: cold), one pair held at a time: coins are built
    independently, so the frames are those of the whole day, in its order (by coin)."""
    merged = merge_sorted(microtape_shards_by_coin(today, before, params, history), ["coin"])
    return empty_frame() if merged is None else merged


def microtape_shards_by_coin(
    today: Iterable[FeedDay], before: Iterable[FeedDay | None],
    params: MicroTapeParams = DEFAULT_PARAMS, history: ContextHistory | None = None,
) -> Iterator[pd.DataFrame]:
    """`build_microtape_shards` one coin at a time: a shard pair is held while its coins are
    built, each coin's frame handed on as it is made (shards hold contiguous coin groups in
    sorted order, so the coins come in the whole day's order)."""
    days, befores = iter(today), iter(before)
    while (day := next(days, None)) is not None:
        warm = next(befores)
        yield from microtape_by_coin(day, params, warm=warm, history=history)
        del day, warm  # before the next pair is read


# ---------------------------------------------------------------- the live tape, row by row

BOOK_COLUMNS = (
    "bid_px", "ask_px", "mid_px", "micro_px", "spread_bps", "dpx_bps", "microprice_drift_bps",
    "book_imb_1", "book_imb_5", "book_imb_10", "depth_5_bid", "depth_5_ask", "depth_slope",
    "depth_5_rel", "cancel_rate",
)
"""The columns the live tape computes before the flow columns (then `stale_ms`, the last)."""
if ("coin", "ts_ms", *BOOK_COLUMNS, *FLOW_COLUMNS, "stale_ms", "gap") != MICROTAPE_COLUMNS:
    raise ImportError("MICROTAPE_COLUMNS changed: update the stream's column layout")

_NO_FRAME = (NAN, NAN, NAN, NAN)  # no l2Book frame yet: imbalances 1 and 5, top-5 depth
_NO_SLOW = (NAN, NAN)  # no slow frame yet: imbalance 10, slope
_QUOTE_ORDER = itemgetter(0, 1, 2)  # quote_stream's: receive time, venue time, source
_TOP = ("bid_px", "ask_px", "mid_px", "micro_px", "spread_bps", "microprice_drift_bps")
_META = {"recv": ("recv_ts_ms", np.int64), "time": ("time_ms", np.int64),
         "fast": ("fast", bool), "n_bid": ("n_bid", np.int64), "n_ask": ("n_ask", np.int64)}


def _empty(spec: dict[str, tuple[str, type]]) -> dict[str, np.ndarray]:
    return {name: np.empty(0, dtype) for name, (_, dtype) in spec.items()}


_NONE = {"trades": _empty(_TRADES), "ctx": _empty(_CTX), "candles": _empty(_CANDLES),
         "bbo": _empty(_BBO)}
_NO_BOOKS = Books(*(np.empty(0, d) for _, d in _META.values()),
                  *(np.empty((0, MAX_LEVELS)) for _ in range(4)))


class _Table:
    """One table's rows of a batch that the tape reads, ordered by (coin, receive time),
    ties in table order (`inputs._coin_rows`): the columns, each coin's [start, stop), and
    the rows' positions in the table (None: all of them, in table order)."""

    __slots__ = ("cols", "spans", "rows")

    def __init__(self, cols: dict[str, np.ndarray], spans: dict[str, tuple[int, int]],
                 rows: np.ndarray | None) -> None:
        self.cols, self.spans, self.rows = cols, spans, rows

    def of(self, coin: str) -> dict[str, np.ndarray] | None:
        span = self.spans.get(coin)
        return None if span is None else {k: v[span[0]:span[1]] for k, v in self.cols.items()}


def _columns(df: pd.DataFrame) -> dict[str, Any]:
    """The frame's stored column arrays by name. `df[name]` builds a Series (~17 us in
    pandas 3) and `df.columns.get_loc` builds the index's hash table (~100 us, every batch
    has new frames), which a batch of one line would pay per column."""
    live = getattr(df, "live_columns", None)  # the live assembler's few-row tables
    if live is not None:
        return live()  # type: ignore[no-any-return]
    get = getattr(df, "_get_column_array", None)
    if get is None:  # pragma: no cover - a pandas without it
        return {name: df[name].array for name in df.columns}
    return {name: get(j) for j, name in enumerate(_strings(df.columns.array))}


def _strings(values: Any) -> list[str]:
    """A string column as Python str: an arrow-backed array converts through pyarrow in
    ~1 us, its own `tolist` takes ~8."""
    arrow = getattr(values, "_pa_array", None)
    if arrow is not None:
        return arrow.to_pylist()  # type: ignore[no-any-return]
    return np.asarray(values, dtype=object).tolist()  # type: ignore[no-any-return]


def _table(df: pd.DataFrame, spec: dict[str, tuple[str, type]], lo: int,
           interval: str | None = None, max_lag_ms: int | None = None,
           stale: dict[str, int] | None = None) -> _Table | None:
    """The rows of `df` received at or after `lo` (of `interval`; trades at most
    `max_lag_ms` after their venue time, as `coin_inputs` keeps them). `stale`: gets the
    first receive time of each coin's rows dropped as later than that (replayed trades,
    which still show the coin's trades channel: `CoinInputs.trades_seen`)."""
    if len(df) == 0:
        return None
    column = _columns(df)
    recv = np.asarray(column["recv_ts_ms"], dtype=np.int64)
    keep = recv >= lo
    if interval is not None:
        keep &= np.asarray([v == interval for v in _strings(column["interval"])])
    coins = _strings(column["coin"])
    if max_lag_ms is not None:
        ok = fresh(recv, np.asarray(column["time_ms"], dtype=np.int64), max_lag_ms)
        if stale is not None and not ok.all():
            for i in np.flatnonzero(keep & ~ok).tolist():
                coin, at = coins[i], int(recv[i])
                if at < stale.get(coin, NO_TRADES):
                    stale[coin] = at
        keep &= ok
    rows: np.ndarray | None = None
    if not keep.all():
        rows = np.flatnonzero(keep)
        if len(rows) == 0:
            return None
        coins = [coins[i] for i in rows.tolist()]
    names = sorted(set(coins))
    if len(names) == 1:
        spans = {names[0]: (0, len(coins))}
        r = recv if rows is None else recv[rows]
        if len(r) > 1 and (r[1:] < r[:-1]).any():
            order = np.argsort(r, kind="stable")
            rows = order if rows is None else rows[order]
    else:
        index = {c: k for k, c in enumerate(names)}
        code = np.fromiter(map(index.__getitem__, coins), np.int64, len(coins))
        order = np.lexsort((recv if rows is None else recv[rows], code))
        rows = order if rows is None else rows[order]
        bounds = np.searchsorted(code[order], np.arange(len(names) + 1)).tolist()
        spans = {c: (bounds[k], bounds[k + 1]) for k, c in enumerate(names)}
    cols = {}
    for name, (col, dtype) in spec.items():
        values = recv if col == "recv_ts_ms" else np.asarray(column[col], dtype=dtype)
        cols[name] = values if rows is None else values[rows]
    return _Table(cols, spans, rows)


_SMALL = 8
"""Batches with at most this many l2Book frames (for the top of book: frames and bbo quotes
of a coin) take the per-row path on Python floats: the vectorised one makes ~100 numpy
calls of ~1 us a batch, which a batch of one line (the live feed, a frame at a time) pays
in full. Both give the same values (tests/core/microtape/test_microtape_book.py)."""


def _reads(recv: list[int], values: list[Any] | None, k: int, end: int, grid: np.ndarray,
           none: Any) -> tuple[list[tuple[Any, ...]], np.ndarray, int]:
    """The as-of reads of a run of grid times from an event list read up to position k
    (the last read event is k - 1): the values read, as columns (`none` where no event was
    received yet), each read's receive time (-1: none), and the new read position."""
    lo, hi = max(k - 1, 0), asof_stop(recv, end, k)
    times = np.array([-1, *recv[lo:hi]], dtype=np.int64)
    i = np.searchsorted(times[1:], grid, side=ASOF_SIDE)  # asof + 1: 0 none, j the j-th
    if values is None:
        return [], times[i], hi
    pool = [none, *values[lo:hi]]
    read = itemgetter(*i.tolist())(pool) if len(i) > 1 else (pool[int(i[0])],)
    return list(zip(*read, strict=True)), times[i], hi


@dataclass(frozen=True, slots=True)
class RowBlock:
    """One coin's rows of one `TapeStream.rows` call as the columns they were made from
    (MICROTAPE_COLUMNS after `coin`, one sequence each), from row `start` on: what the
    daemon stores is built from these column by column (`lotus_core.live.frames.
    blocks_frame`), never by taking the row dicts apart again (a tenth of the scorer's CPU
    at replay speed)."""

    coin: str
    columns: list[Sequence[Any]]
    start: int

    def __len__(self) -> int:
        return len(self.columns[0]) - self.start

    def after(self, ts_ms: int) -> RowBlock:
        """The rows with ts_ms > `ts_ms` (a block's grid times increase)."""
        k = bisect_right(self.columns[0], ts_ms, self.start)
        return self if k == self.start else RowBlock(self.coin, self.columns, k)


class _Coin:
    """One coin's carried state: its event lists with their read positions, the grid."""

    def __init__(self, coin: str, params: MicroTapeParams,
                 reference: ContextReference | None = None) -> None:
        self.coin = coin
        self.flow = FlowStream(coin, params, reference)
        self.next_ts: int | None = None  # the next grid time (None: no two-sided quote yet)
        self.last_recv = -1  # receive time of the coin's last message
        # top of book: one quote per receive time (the last by the batch's order)
        self.q_recv: list[int] = []
        self.q_val: list[tuple[float, ...]] = []
        self.q_key: tuple[int, int] = (0, 0)  # (venue time, source) of the last quote
        self.qk = 0
        # l2Book frames: any (imbalance 1/5, depth 5), slow (imbalance 10, slope), fast
        self.f_recv: list[int] = []
        self.f_val: list[tuple[float, float, float, float]] = []
        self.fk = 0
        self.s_recv: list[int] = []
        self.s_val: list[tuple[float, float]] = []
        self.sk = 0
        self.a_recv: list[int] = []
        self.ak = 0
        self.pairs = (CancelPairs(), CancelPairs())  # fast, slow
        self.median = RollingMedian(*depth_rel_window(params))
        self.prev_mid = NAN
        self.cadence, self.eps = params.cadence_ms, params.cancel_eps
        self.max_age = params.cancel_fast_max_age_ms

    def add_quotes(self, books: Books, bbo: dict[str, np.ndarray]) -> None:
        """The two-sided quotes of one batch, merged as `quote_stream` merges them; of each
        receive time only the last is kept (the one every as-of at or after it takes)."""
        if len(books) + len(bbo["recv"]) <= _SMALL:
            self._add_quotes_small(books, bbo)
            return
        q = quote_stream(CoinInputs(self.coin, books, _NONE["trades"], bbo, _NONE["ctx"],
                                    _NONE["candles"]))
        recv = q["recv"]
        if len(recv) == 0:
            return
        last = np.ones(len(recv), dtype=bool)
        last[:-1] = recv[1:] != recv[:-1]
        if not last.all():
            q = {k: v[last] for k, v in q.items()}
        top = top_features(q, q["recv"])
        self._push_quotes(q["recv"].tolist(), q["time"].tolist(), q["source"].tolist(),
                          list(zip(*(top[name].tolist() for name in _TOP), strict=True)))

    def _add_quotes_small(self, books: Books, bbo: dict[str, np.ndarray]) -> None:
        """`add_quotes` for a few quotes, one at a time on Python floats (`book.top_of`)."""
        quotes = []
        book_src, bbo_src = BOOK_SOURCE, BBO_SOURCE
        if len(books):  # quote_stream's two-sided quotes
            quotes += [(r, t, book_src, bp, bs, ap, az) for r, t, nb, na, bp, bs, ap, az in zip(
                books.recv.tolist(), books.time.tolist(), books.n_bid.tolist(),
                books.n_ask.tolist(), books.bid_px[:, 0].tolist(), books.bid_sz[:, 0].tolist(),
                books.ask_px[:, 0].tolist(), books.ask_sz[:, 0].tolist(), strict=True)
                if nb > 0 and na > 0]
        if len(bbo["recv"]):
            quotes += [(r, t, bbo_src, bp, bs, ap, az) for r, t, bp, bs, ap, az in zip(
                *(bbo[k].tolist() for k in ("recv", "time", "bid_px", "bid_sz", "ask_px",
                                            "ask_sz")), strict=True) if bp == bp and ap == ap]
        if not quotes:
            return
        quotes.sort(key=_QUOTE_ORDER)  # stable, as the batch's lexsort
        kept = [q for q, after in zip(quotes, quotes[1:], strict=False) if q[0] != after[0]]
        kept.append(quotes[-1])
        self._push_quotes([q[0] for q in kept], [q[1] for q in kept], [q[2] for q in kept],
                          [top_of(q[3], q[4], q[5], q[6]) for q in kept])

    def _push_quotes(self, recv: list[int], time: list[int], source: list[int],
                     vals: list[tuple[float, ...]]) -> None:
        """Append a batch's quotes, one per receive time; the first may share the last's
        millisecond, then the later by (venue time, source) wins, as in the batch."""
        if self.next_ts is None:
            self.next_ts = grid_ceil(recv[0], self.cadence)  # make_grid's start
        if self.q_recv and self.q_recv[-1] == recv[0]:  # the same millisecond as before
            if (time[0], source[0]) >= self.q_key:
                self.q_val[-1], self.q_key = vals[0], (time[0], source[0])
            recv, vals = recv[1:], vals[1:]
            if not recv:
                return
        self.q_recv += recv
        self.q_val += vals
        self.q_key = (time[-1], source[-1])

    def add_trades(self, trades: dict[str, np.ndarray]) -> None:
        fast, slow = self.pairs
        for recv, side, sz in zip(trades["recv"].tolist(), trades["side"].tolist(),
                                  trades["sz"].tolist(), strict=True):
            fast.add_trade(recv, side, sz)
            slow.add_trade(recv, side, sz)

    # ------------------------------------------------------------------ rows
    def emit(self, end: int, day_start: int, out: list[dict[str, Any]],
             gaps: GapBook | None = None, blocks: list[RowBlock] | None = None) -> None:
        """Append the rows of grid times next_ts..end with ts_ms >= day_start (every event
        received at or before each added): the book columns (`_book_rows`, or `_book_run`
        for a long run), the flow columns of the whole run, then one dict per row, built in
        C (`dict(zip(...))` over the columns)."""
        t0 = self.next_ts
        assert t0 is not None
        n = (end - t0) // self.cadence + 1
        book = self._book_run(t0, n) if n >= RUN else self._book_rows(t0, n)
        self.next_ts = t0 + n * self.cadence
        flow = self.flow.columns_from(t0, book[6])  # dpx_bps
        flags = (gaps.flag_run(self.coin, t0, n, self.cadence) if gaps
                 else [False] * n)  # the gap records received so far: gaps.py
        rows = zip(repeat(self.coin), *book[:-1], *flow, book[-1], flags, strict=False)
        warm = max(0, -((t0 - day_start) // self.cadence))  # rows before the day: state only
        out.extend(map(dict, map(zip, repeat(MICROTAPE_COLUMNS), islice(rows, warm, None))))
        if blocks is not None and warm < n:
            blocks.append(RowBlock(self.coin, [*book[:-1], *flow, book[-1], flags], warm))

    def _book_rows(self, t0: int, n: int) -> list[Sequence[Any]]:
        """ts_ms, the book columns and stale_ms (one list each) of n grid times from t0, one
        row at a time: the as-of reads, the carried median and the cancel pairs."""
        cadence, eps, max_age = self.cadence, self.eps, self.max_age
        q_recv, q_val, qk = self.q_recv, self.q_val, self.qk
        f_recv, f_val, fk = self.f_recv, self.f_val, self.fk
        s_recv, s_val, sk = self.s_recv, self.s_val, self.sk
        a_recv, ak = self.a_recv, self.ak
        fast, slow = self.pairs
        fast_r1, slow_r1 = fast.r1, slow.r1  # trimmed in place by `rate`
        median, prev = self.median.push, self.prev_mid
        rows: list[tuple[Any, ...]] = []
        for t in range(t0, t0 + n * cadence, cadence):
            qk = asof_stop(q_recv, t, qk)  # the as-of: last received <= t
            bid, ask, mid, micro, spread, drift = q_val[qk - 1]
            try:  # book.dpx_bps
                dpx = (mid - prev) / prev * BPS
            except ZeroDivisionError:
                dpx = float(np.divide(mid - prev, prev)) * BPS
            prev = mid
            fk = asof_stop(f_recv, t, fk)
            imb1, imb5, d5b, d5a = f_val[fk - 1] if fk else _NO_FRAME
            sk = asof_stop(s_recv, t, sk)
            imb10, slope = s_val[sk - 1] if sk else _NO_SLOW
            d5 = d5b + d5a
            med = median(d5)  # depth_5_rel below: depth_features' safe_ratio(d5, med)
            ak = asof_stop(a_recv, t, ak)
            live = ak > 0 and t - a_recv[ak - 1] <= max_age  # cancels.fast_live
            k = fast.k  # a pair completed by t not read yet? (most rows: none)
            cancel = fast.rate(t, cadence, eps, live) if k < len(fast_r1) and (
                fast_r1[k] <= t) else 0.0
            k = slow.k
            if k < len(slow_r1) and slow_r1[k] <= t:  # one of the two is 0.0
                cancel += slow.rate(t, cadence, eps, not live)
            rows.append((t, bid, ask, mid, micro, spread, dpx, drift, imb1, imb5, imb10, d5b,
                         d5a, slope, d5 / med if med != 0.0 else NAN, cancel,
                         t - q_recv[qk - 1]))
        self.prev_mid = prev
        self.qk, self.fk, self.sk, self.ak = qk, fk, sk, ak
        return [list(c) for c in zip(*rows, strict=True)]

    def _book_run(self, t0: int, n: int) -> list[Sequence[Any]]:
        """`_book_rows` for a long run: each as-of one searchsorted over the run and one
        gather, dpx and the ages in numpy; the median and the cancel pairs still go row by
        row (a replay asks for ~1,000 rows a call)."""
        cadence = self.cadence
        grid = np.arange(t0, t0 + n * cadence, cadence, dtype=np.int64)
        end = int(grid[-1])
        (bid, ask, mid, micro, spread, drift), q_recv, self.qk = _reads(
            self.q_recv, self.q_val, self.qk, end, grid, ())  # every row has a quote
        (imb1, imb5, d5b, d5a), _, self.fk = _reads(
            self.f_recv, self.f_val, self.fk, end, grid, _NO_FRAME)
        (imb10, slope), _, self.sk = _reads(self.s_recv, self.s_val, self.sk, end, grid,
                                            _NO_SLOW)
        _, a_recv, self.ak = _reads(self.a_recv, None, self.ak, end, grid, None)
        live = fast_live(a_recv >= 0, grid - a_recv, self.max_age).tolist()
        mids = np.array(mid)
        prev = np.concatenate(([self.prev_mid], mids[:-1]))
        self.prev_mid = mid[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            dpx = dpx_bps(mids, prev)
        push, rel = self.median.push, []
        for b5, a5 in zip(d5b, d5a, strict=True):
            d5 = b5 + a5
            med = push(d5)
            rel.append(d5 / med if med != 0.0 else NAN)  # depth_features' safe_ratio
        fast, slow = self.pairs
        cancel = [x + y for x, y in zip(
            fast.rates(t0, live, cadence, self.eps),
            slow.rates(t0, [not x for x in live], cadence, self.eps), strict=True)]
        return [grid.tolist(), bid, ask, mid, micro, spread, dpx.tolist(), drift, imb1, imb5,
                imb10, d5b, d5a, slope, rel, cancel, (grid - q_recv).tolist()]

    def trim(self) -> None:
        """Cut off the front of the as-of lists (each keeps its last event read)."""
        for recv, vals, attr in ((self.q_recv, self.q_val, "qk"), (self.f_recv, self.f_val, "fk"),
                                 (self.s_recv, self.s_val, "sk"), (self.a_recv, None, "ak")):
            k = getattr(self, attr)
            if k > TRIM:
                del recv[:k - 1]
                if vals is not None:
                    del vals[:k - 1]
                setattr(self, attr, 1)


def _slice(b: Books, start: int, stop: int) -> Books:
    return Books(b.recv[start:stop], b.time[start:stop], b.fast[start:stop],
                 b.n_bid[start:stop], b.n_ask[start:stop], b.bid_px[start:stop],
                 b.bid_sz[start:stop], b.ask_px[start:stop], b.ask_sz[start:stop])


class TapeStream:
    """One UTC day's MicroTape rows, fed the assembled rows of each batch of lines (`add`)
    and asked for the rows that became final (`rows`).

    `add` takes the rows `StreamAssembler.add` accepted from a batch of lines and slices
    them per coin as `coin_inputs` slices a FeedDay. It does the batch modules' per-event
    numpy work with their own functions, once per batch where the work is per frame
    (`Books.depth` / `imbalance` / `depth_slope` per l2Book frame, `pair_removals` per
    consecutive frame pair of each stream, all coins at once) and per coin where it merges
    (`quote_stream`, then `top_features` per quote), and appends the results to each coin's
    event lists, in receive order; the coin's `FlowStream` gets the same slices, and the
    receive time of any replayed trade (not flow, but proof of the trades channel:
    `FlowStream.saw_trades`).

    `rows(now)` walks each coin's grid. Row t reads, from each list, the last event
    received at or before t (`grid.asof`; the step's `asof_stop`), sums the cancel rates of
    the pairs whose second frame arrived in (t - cadence, t] (`cancels.CancelPairs`),
    pushes the top-5 depth into the carried 10-minute median (`grid.RollingMedian`) and
    takes the flow columns from `FlowStream.columns_from`. Per row that is a few list reads
    and float operations.

    Grid (`coin_grid`): a coin's grid starts at its first two-sided quote received at or
    after `input_start_ms` and ends at its last message of any kind (fresh trades and
    candles of `candle_interval` only, as `coin_inputs` keeps them), so row t exists once
    the coin has a message received at or after t, and is final once now > t. Lines reach
    `add` in receive order, so `now_ms` must not pass the receive time of a line still to
    come. One call's rows are in (ts_ms, coin) order and each coin's rows come in grid
    order, but a coin that was silent may give its row t in a later call than another coin
    gave its row t + cadence.

    Ties at one millisecond are the batch's: the top of book is the last quote by (receive
    time, venue time, bbo after l2Book, arrival), also across batches; a trade received at
    a frame's millisecond belongs to the first pair ending at or after it
    (`pair_cancel_rates`' searchsorted), also when the frame came in an earlier batch. A
    cancel pair's trade volume stays open until its row is read, since trades of its last
    millisecond may come later. Not bit for bit: the cancel pairs' row sums
    (`cancels.CancelPairs`)."""

    def __init__(self, day: str, params: MicroTapeParams, input_start_ms: int,
                 history: ContextHistory | None = None) -> None:
        self.day, self.params = day, params
        self.history = history  # the day's context references (`context_history`)
        self.day_start = day_start_ms(day)
        self.input_start = input_start_ms
        self.coins: dict[str, _Coin] = {}
        self.order: list[str] = []  # coins by name
        self.gaps = GapBook(params.gap_warmup_ms, self.day_start)  # today's records only

    def add(self, parsed: Parsed) -> None:
        """The rows one batch of lines added (receive order, after every earlier batch)."""
        self.gaps.add_frame(parsed.gaps)
        lo, p = self.input_start, self.params
        bt = _table(parsed.books.meta, _META, lo) if len(parsed.books) else None
        stale: dict[str, int] = {}  # replayed trades: not flow, but the channel is there
        tables = {"trades": _table(parsed.trades, _TRADES, lo, max_lag_ms=p.trade_max_lag_ms,
                                   stale=stale),
                  "bbo": _table(parsed.bbo, _BBO, lo),
                  "ctx": _table(parsed.ctx, _CTX, lo),
                  "candles": _table(parsed.candles, _CANDLES, lo, interval=p.candle_interval)}
        names = set(bt.spans) if bt is not None else set()
        for tab in tables.values():
            if tab is not None:
                names.update(tab.spans)
        for coin in (names | stale.keys()) - self.coins.keys():
            self.coins[coin] = _Coin(coin, p, None if self.history is None
                                     else self.history.of(coin))
            self.order = sorted(self.coins)
        for coin, recv in stale.items():
            self.coins[coin].flow.saw_trades(recv)
        books = _NO_BOOKS
        if bt is not None:
            src = parsed.books
            mats = [src.bid_px, src.bid_sz, src.ask_px, src.ask_sz]
            if bt.rows is not None:
                mats = [m[bt.rows] for m in mats]
            books = Books(**bt.cols, bid_px=mats[0], bid_sz=mats[1], ask_px=mats[2],
                          ask_sz=mats[3])
            if len(books) <= _SMALL:
                self._frames_small(books, bt.spans)  # their flow part too
            else:
                self._frames(books, bt.spans)
        for coin in sorted(names):
            st = self.coins[coin]
            span = bt.spans.get(coin) if bt is not None else None
            b = _NO_BOOKS if span is None else _slice(books, *span)
            t = {name: (tab.of(coin) if tab is not None else None) or _NONE[name]
                 for name, tab in tables.items()}
            ends = [int(a["recv"][-1]) for a in t.values() if len(a["recv"])]
            if len(b):
                ends.append(int(b.recv[-1]))
            st.last_recv = max(st.last_recv, *ends)
            if len(b) or len(t["bbo"]["recv"]):
                st.add_quotes(b, t["bbo"])
            if len(t["trades"]["recv"]):
                st.add_trades(t["trades"])
            flow_b = b if len(books) > _SMALL else _NO_BOOKS
            if len(flow_b) or len(t["trades"]["recv"]) or len(t["ctx"]["recv"]) or len(
                    t["candles"]["recv"]):
                st.flow.add(flow_b, t["trades"], t["ctx"], t["candles"])

    def _frames(self, books: Books, spans: dict[str, tuple[int, int]]) -> None:
        """Per l2Book frame of the batch (all coins at once): imbalances, top-5 depth, the
        slope (`depth_features`' per-frame values), and the new cancel pairs."""
        recv = books.recv.tolist()
        fast = books.fast.tolist()
        b1, a1 = books.depth(1)
        b5, a5 = books.depth(DEPTH_LEVELS)
        b10, a10 = books.depth(DEEP_LEVELS)
        anyf = list(zip(imbalance(b1, a1).tolist(), imbalance(b5, a5).tolist(), b5.tolist(),
                        a5.tolist(), strict=True))
        slowf = list(zip(imbalance(b10, a10).tolist(), depth_slope(books).tolist(),
                         strict=True))
        blocks: tuple[list[tuple[CancelPairs, list[int]]], ...] = ([], [])
        for coin, (a, b) in sorted(spans.items()):
            st = self.coins[coin]
            st.f_recv += recv[a:b]
            st.f_val += anyf[a:b]
            pos: tuple[list[int], list[int]] = ([], [])
            for i in range(a, b):
                if fast[i]:
                    st.a_recv.append(recv[i])
                    pos[0].append(i)
                else:
                    st.s_recv.append(recv[i])
                    st.s_val.append(slowf[i])
                    pos[1].append(i)
            for s in (0, 1):
                if pos[s]:
                    blocks[s].append((st.pairs[s], pos[s]))
        for s in (0, 1):
            if blocks[s]:
                add_pairs(books, blocks[s])

    def _frames_small(self, books: Books, spans: dict[str, tuple[int, int]]) -> None:
        """`_frames` for a few frames, one at a time on Python floats, and each frame's top
        `sweep_depth_levels` depth into the coin's flow."""
        recv, fast = books.recv.tolist(), books.fast.tolist()
        n_bid, n_ask = books.n_bid.tolist(), books.n_ask.tolist()
        bid_px, bid_sz, ask_px, ask_sz = (m.tolist() for m in (books.bid_px, books.bid_sz,
                                                                books.ask_px, books.ask_sz))
        sweep = self.params.sweep_depth_levels
        for coin, (a, b) in sorted(spans.items()):
            st = self.coins[coin]
            new: tuple[list[tuple[int, Frame]], list[tuple[int, Frame]]] = ([], [])
            flow_bid, flow_ask = [], []
            for i in range(a, b):
                cb, ca = cumulative_of(bid_sz[i]), cumulative_of(ask_sz[i])
                b5, a5 = depth_of(cb, DEPTH_LEVELS), depth_of(ca, DEPTH_LEVELS)
                st.f_recv.append(recv[i])
                st.f_val.append((imbalance_of(depth_of(cb, 1), depth_of(ca, 1)),
                                 imbalance_of(b5, a5),
                                 b5, a5))
                flow_bid.append(depth_of(cb, sweep))
                flow_ask.append(depth_of(ca, sweep))
                frame = frame_of(bid_px[i], bid_sz[i], ask_px[i], ask_sz[i], n_bid[i], n_ask[i])
                if fast[i]:
                    st.a_recv.append(recv[i])
                    new[0].append((recv[i], frame))
                else:
                    st.s_recv.append(recv[i])
                    st.s_val.append((imbalance_of(depth_of(cb, DEEP_LEVELS),
                                                  depth_of(ca, DEEP_LEVELS)),
                                     slope_of(bid_px[i], ask_px[i], n_bid[i], n_ask[i], cb, ca)))
                    new[1].append((recv[i], frame))
            for pairs, frames in zip(st.pairs, new, strict=True):
                if frames:
                    pairs.add_frames(frames)
            st.flow.add_books(recv[a:b], flow_bid, flow_ask)

    def rows(self, now_ms: int, blocks: list[RowBlock] | None = None, *,
             by_coin: bool = False) -> list[dict[str, Any]]:
        """Every row with grid time < now_ms not returned before (ts_ms >= the day's start),
        in (ts_ms, coin) order, keyed by MICROTAPE_COLUMNS (module docstring: which rows
        exist yet); `by_coin`: in (coin, ts_ms) order instead. `blocks`: also gets the same
        rows as columns, a block per coin in name order (`RowBlock`;
        `lotus_core.live.frames.blocks_frame` lays them out)."""
        out: list[dict[str, Any]] = []
        coins, day_start = self.coins, self.day_start
        for coin in self.order:
            st = coins[coin]
            t = st.next_ts
            if t is None or t >= now_ms or t > st.last_recv:
                continue
            st.emit(min(now_ms - 1, st.last_recv), day_start, out, self.gaps, blocks)
            if st.qk > TRIM or st.fk > TRIM or st.sk > TRIM or st.ak > TRIM:
                st.trim()
        if len(out) > 1 and len(self.order) > 1 and not by_coin:
            out.sort(key=itemgetter("ts_ms"))  # stable: coins stay in name order
        return out
