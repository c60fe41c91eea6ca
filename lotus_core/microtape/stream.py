"""The MicroTape one grid row at a time: the streaming form of `build_microtape`.

`TapeStream.add` takes the rows `StreamAssembler.add` accepted from a batch of lines and
slices them per coin as `coin_inputs` slices a FeedDay. It does the batch modules'
per-event numpy work with their own functions, once per batch where the work is per frame
(`Books.depth` / `imbalance` / `depth_slope` per l2Book frame, `pair_removals` per
consecutive frame pair of each stream, all coins at once) and per coin where it merges
(`quote_stream`, then `top_features` per quote), and appends the results to each coin's
event lists, in receive order; the coin's `FlowStream` gets the same slices.

`rows(now)` walks each coin's grid. Row t reads, from each list, the last event received
at or before t (the batch's `searchsorted(..., side="right") - 1`), sums the cancel rates
of the pairs whose second frame arrived in (t - cadence, t], pushes the top-5 depth into
the carried 10-minute median (`grid.RollingMedian`) and takes the flow columns from
`FlowStream.columns`. Per row that is a few list reads and float operations.

Grid (`build.coin_grid`): a coin's grid starts at its first two-sided quote received at or
after `input_start_ms` and ends at its last message of any kind (fresh trades and candles
of `candle_interval` only, as `coin_inputs` keeps them), so row t exists once the coin has
a message received at or after t, and is final once now > t. Lines reach `add` in receive
order, so `now_ms` must not pass the receive time of a line still to come. One call's rows
are in (ts_ms, coin) order and each coin's rows come in grid order, but a coin that was
silent may give its row t in a later call than another coin gave its row t + cadence.

Ties at one millisecond are the batch's: the top of book is the last quote by (receive
time, venue time, bbo after l2Book, arrival), also across batches; a trade received at a
frame's millisecond belongs to the first pair ending at or after it (`pair_cancel_rates`'
searchsorted), also when the frame came in an earlier batch. A cancel pair's trade volume
stays open until its row is read, since trades of its last millisecond may come later.

Not bit for bit: the cancel pairs' row sums run over the stream's widest frame so far,
where the batch uses the widest of the whole day (`pair_removals`); the two differ only if
a wider frame comes later, and then in the last bits of a pair's removed size.
tests/core/live/test_stream_tape.py checks every column against `build_microtape`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate, islice, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lotus_core.feed.tables import MAX_LEVELS
from lotus_core.microtape.book import BPS, depth_slope, imbalance, quote_stream, top_features
from lotus_core.microtape.cancels import pair_rate, pair_removals
from lotus_core.microtape.gaps import GapBook
from lotus_core.microtape.grid import RollingMedian
from lotus_core.microtape.inputs import _BBO, _CANDLES, _CTX, _TRADES, Books, CoinInputs
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.schema import MICROTAPE_COLUMNS
from lotus_core.microtape.stream_flow import FLOW_COLUMNS, RUN, FlowStream
from lotus_core.time import day_start_ms

if TYPE_CHECKING:
    from lotus_core.live.assemble import Parsed

BOOK_COLUMNS = (
    "bid_px", "ask_px", "mid_px", "micro_px", "spread_bps", "dpx_bps", "microprice_drift_bps",
    "book_imb_1", "book_imb_5", "book_imb_10", "depth_5_bid", "depth_5_ask", "depth_slope",
    "depth_5_rel", "cancel_rate",
)
"""The columns this module computes before the flow columns (then `stale_ms`, the last)."""
if ("coin", "ts_ms", *BOOK_COLUMNS, *FLOW_COLUMNS, "stale_ms", "gap") != MICROTAPE_COLUMNS:
    raise ImportError("MICROTAPE_COLUMNS changed: update the stream's column layout")

NAN = float("nan")
_NO_FRAME = (NAN, NAN, NAN, NAN)  # no l2Book frame yet: imbalances 1 and 5, top-5 depth
_NO_SLOW = (NAN, NAN)  # no slow frame yet: imbalance 10, slope
_TRIM = 4096  # consumed events kept in a list before its front is cut off
_QUOTE_ORDER = itemgetter(0, 1, 2)  # receive time, venue time, source (l2Book first)
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
           interval: str | None = None, max_lag_ms: int | None = None) -> _Table | None:
    """The rows of `df` received at or after `lo` (of `interval`; trades at most
    `max_lag_ms` after their venue time, as `coin_inputs` keeps them)."""
    if len(df) == 0:
        return None
    column = _columns(df)
    recv = np.asarray(column["recv_ts_ms"], dtype=np.int64)
    keep = recv >= lo
    if interval is not None:
        keep &= np.asarray([v == interval for v in _strings(column["interval"])])
    if max_lag_ms is not None:
        keep &= recv - np.asarray(column["time_ms"], dtype=np.int64) <= max_lag_ms
    coins = _strings(column["coin"])
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
in full. Both give the same values (tests/core/live/test_stream_tape.py)."""

_MAX = float(np.finfo(np.float64).max)


def _div(a: float, b: float) -> float:
    """a / b as numpy divides float64s: inf or NaN for b == 0, no exception."""
    try:
        return a / b
    except ZeroDivisionError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(a) / b)


def _nan_to_num(x: float) -> float:
    """`np.nan_to_num` of one float."""
    if x != x:
        return 0.0
    return x if -_MAX <= x <= _MAX else (_MAX if x > 0 else -_MAX)


def _cumulative(sizes: list[float]) -> list[float]:
    """One frame's row of `Books._cum`: running sizes, NaN as 0 (numpy's cumsum adds in
    order, from the first element)."""
    finite = [x if x == x else 0.0 for x in sizes]
    if finite and not -_MAX <= min(finite) <= max(finite) <= _MAX:  # an infinite size
        finite = [_nan_to_num(x) for x in finite]
    return list(accumulate(finite))


def _depth(cum: list[float], k: int) -> float:
    """`Books.depth(k)` of one frame, from its running sizes."""
    return cum[min(k, len(cum)) - 1]


def _imbalance(bid: float, ask: float) -> float:
    """`book.imbalance` of one frame."""
    den = bid + ask
    return 0.0 if den == 0 else (bid - ask) / den


def _slope(bid_px: list[float], ask_px: list[float], n_bid: int, n_ask: int,
           cum_bid: list[float], cum_ask: list[float]) -> float:
    """`book.depth_slope` of one frame."""
    if n_bid == 0 or n_ask == 0:
        return NAN
    mid = 0.5 * (bid_px[0] + ask_px[0])
    width = _div(ask_px[max(min(n_ask, 10) - 1, 0)] - bid_px[max(min(n_bid, 10) - 1, 0)],
                 mid) * BPS
    size = 0 + _depth(cum_bid, 10) + _depth(cum_ask, 10)  # the batch's sum(depth(10))
    return NAN if width == 0 else _div(size, width)


def _top(bid: float, bid_sz: float, ask: float, ask_sz: float) -> tuple[float, ...]:
    """`book.top_features` of one two-sided quote: bid, ask, mid, micro, spread, drift."""
    bid_sz, ask_sz = _nan_to_num(bid_sz), _nan_to_num(ask_sz)
    mid = 0.5 * (bid + ask)
    den = bid_sz + ask_sz
    micro = _div(bid * ask_sz + ask * bid_sz, den) if den > 0 else mid
    return bid, ask, mid, micro, _div(ask - bid, mid) * BPS, _div(micro - mid, mid) * BPS


def _np_sum(values: list[float]) -> float:
    """numpy's float64 sum of a row, bit for bit: pairwise, 8 accumulators a block."""
    n = len(values)
    if n < 8:
        total = 0.0
        for x in values:
            total += x
        return total
    if n > 128:
        half = n // 2
        half -= half % 8
        return _np_sum(values[:half]) + _np_sum(values[half:])
    r = values[:8]
    i, stop = 8, n - n % 8
    while i < stop:
        for j in range(8):
            r[j] += values[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for x in values[i:]:
        total += x
    return total


def _ticks(px: list[float]) -> list[float | None]:
    """A side's price keys for exact matching: 1e-8 ticks, as `price_keys` (NaN: None).
    Beyond 4.6e10 (no listed asset) the batch matches prices themselves, as here."""
    return [round(x * 1e8) if abs(x) < 4.6e10 else (x if x == x else None) for x in px]


Frame = tuple[list[float], list[float], list[float], list[float], int, int,
              list[float | None], list[float | None]]
"""One l2Book frame: bid_px, bid_sz, ask_px, ask_sz (best level first), n_bid, n_ask, and
the bid and ask price keys (`_ticks`: computed once, a frame is C of one pair and P of the
next)."""


def _frame(bid_px: list[float], bid_sz: list[float], ask_px: list[float],
           ask_sz: list[float], n_bid: int, n_ask: int) -> Frame:
    return bid_px, bid_sz, ask_px, ask_sz, n_bid, n_ask, _ticks(bid_px), _ticks(ask_px)


def _removed(p_px: list[float], p_sz: list[float], p_keys: list[float | None],
             c_px: list[float], c_sz: list[float], c_keys: list[float | None], c_n: int,
             levels: int, is_bid: bool) -> tuple[float, float]:
    """`cancels._removed` of one pair of frames and one side over `levels` columns."""
    # C's size at each price (a repeated price: its first level, as the batch's stable sort)
    now = dict(zip(reversed(c_keys[:levels]), reversed(c_sz[:levels]), strict=True))
    edge = c_px[c_n - 1] if c_n > 0 else NAN  # C's deepest price on the side
    terms = []
    for j in range(levels):
        x = p_px[j]
        if x >= edge if is_bid else x <= edge:
            d = p_sz[j] - now.get(p_keys[j], 0.0)
            terms.append(d if d >= 0.0 or d != d else 0.0)  # np.maximum(d, 0.0)
        else:
            terms.append(0.0)
    return _np_sum(terms), _np_sum([z if z == z else 0.0 for z in p_sz[:levels]])


def _pair_removals(p: Frame, c: Frame, levels: int) -> tuple[float, float, float]:
    """`cancels.pair_removals` of one pair P -> C: size removed from the bid and from the
    ask, P's visible size."""
    rm_bid, d_bid = _removed(p[0], p[1], p[6], c[0], c[1], c[6], c[4], levels, True)
    rm_ask, d_ask = _removed(p[2], p[3], p[7], c[2], c[3], c[7], c[5], levels, False)
    return rm_bid, rm_ask, d_bid + d_ask


def _reads(recv: list[int], values: list[Any] | None, k: int, end: int, grid: np.ndarray,
           none: Any) -> tuple[list[tuple[Any, ...]], np.ndarray, int]:
    """The as-of reads of a run of grid times from an event list read up to position k
    (the last read event is k - 1): the values read, as columns (`none` where no event was
    received yet), each read's receive time (-1: none), and the new read position."""
    lo, hi = max(k - 1, 0), bisect_right(recv, end, k)
    times = np.array([-1, *recv[lo:hi]], dtype=np.int64)
    i = np.searchsorted(times[1:], grid, side="right")  # 0: none, j: the j-th from lo
    if values is None:
        return [], times[i], hi
    pool = [none, *values[lo:hi]]
    read = itemgetter(*i.tolist())(pool) if len(i) > 1 else (pool[int(i[0])],)
    return list(zip(*read, strict=True)), times[i], hi


class _Pairs:
    """One l2Book stream (fast or slow) of one coin: its consecutive frame pairs, each with
    the size removed on either side, P's visible size and the volume traded into it."""

    __slots__ = ("last", "last_recv", "levels", "r0", "r1", "rm_bid", "rm_ask", "depth",
                 "hit", "lift", "pend_hit", "pend_lift", "k")

    def __init__(self) -> None:
        self.last: Frame | None = None  # the stream's last frame
        self.last_recv: int | None = None
        self.levels = 1  # widest frame so far (pair_removals' columns)
        self.r0: list[int] = []
        self.r1: list[int] = []
        self.rm_bid: list[float] = []
        self.rm_ask: list[float] = []
        self.depth: list[float] = []
        self.hit: list[float] = []
        self.lift: list[float] = []
        self.pend_hit = self.pend_lift = 0.0  # trades after the last frame: the next pair's
        self.k = 0  # first pair not yet read by a row

    def extend(self, recv: list[int], rm_bid: list[float], rm_ask: list[float],
               depth: list[float]) -> None:
        """The pairs of consecutive frames received at `recv` (the first is the carried
        last frame when there is one)."""
        n = len(recv) - 1
        self.r0 += recv[:-1]
        self.r1 += recv[1:]
        self.rm_bid += rm_bid
        self.rm_ask += rm_ask
        self.depth += depth
        self.hit.append(self.pend_hit)
        self.lift.append(self.pend_lift)
        self.hit += [0.0] * (n - 1)
        self.lift += [0.0] * (n - 1)
        self.pend_hit = self.pend_lift = 0.0

    def add_frames(self, frames: list[tuple[int, Frame]]) -> None:
        """A batch's new frames (receive time, frame) of the stream, pair by pair on Python
        floats (`_add_pairs` for a few frames)."""
        self.levels = max(self.levels, *(max(f[4], f[5]) for _, f in frames))
        last, recv = self.last, [] if self.last_recv is None else [self.last_recv]
        rm_bid, rm_ask, depth = [], [], []
        for r, frame in frames:
            if last is not None:
                b, a, d = _pair_removals(last, frame, self.levels)
                rm_bid.append(b)
                rm_ask.append(a)
                depth.append(d)
            recv.append(r)
            last = frame
        if rm_bid:
            self.extend(recv, rm_bid, rm_ask, depth)
        self.last, self.last_recv = last, recv[-1]

    def add_trade(self, recv: int, side: int, sz: float) -> None:
        """Into the first pair ending at or after it, if it came after that pair's first
        frame; else (no such pair yet) into the next pair, if after the last frame."""
        r1 = self.r1
        j = bisect_left(r1, recv, self.k)
        if j < len(r1):
            if recv > self.r0[j]:
                if side < 0:
                    self.hit[j] += sz
                elif side > 0:
                    self.lift[j] += sz
        elif self.last_recv is not None and recv > self.last_recv:
            if side < 0:
                self.pend_hit += sz
            elif side > 0:
                self.pend_lift += sz

    def rate(self, t: int, cadence: int, eps: float, wanted: bool) -> float:
        """Sum of the rates of the pairs completed in (t - cadence, t] (0.0 unless wanted);
        moves past them."""
        r1 = self.r1
        start = bisect_right(r1, t - cadence, self.k)
        k = bisect_right(r1, t, start)
        total = 0.0
        if wanted:
            for i in range(start, k):
                total += pair_rate(self.rm_bid[i], self.rm_ask[i], self.hit[i], self.lift[i],
                                   self.depth[i], eps)
        self._moved(k)
        return total

    def rates(self, t0: int, wanted: list[bool], cadence: int, eps: float) -> list[float]:
        """`rate` at each of the len(wanted) grid times from t0 on."""
        r1 = self.r1
        start = bisect_right(r1, t0 - cadence, self.k)  # before the run: never read
        k = bisect_right(r1, t0 + (len(wanted) - 1) * cadence, start)
        out = [0.0] * len(wanted)
        for j in range(start, k):
            i = -((t0 - r1[j]) // cadence)  # the row of (t - cadence, t] it completed in
            if wanted[i]:
                out[i] += pair_rate(self.rm_bid[j], self.rm_ask[j], self.hit[j], self.lift[j],
                                    self.depth[j], eps)
        self._moved(k)
        return out

    def _moved(self, k: int) -> None:
        if k > _TRIM:
            for name in ("r0", "r1", "rm_bid", "rm_ask", "depth", "hit", "lift"):
                del getattr(self, name)[:k]
            k = 0
        self.k = k


def _add_pairs(books: Books, blocks: list[tuple[_Pairs, list[int]]]) -> None:
    """New cancel pairs of one stream: each block is a coin's `_Pairs` and the positions of
    its new frames in `books`; blocks of equal width share one `pair_removals` call."""
    nb, na = books.n_bid.tolist(), books.n_ask.tolist()
    groups: dict[int, list[tuple[_Pairs, list[int]]]] = {}
    for pr, pos in blocks:
        pr.levels = max(pr.levels, max(nb[i] for i in pos), max(na[i] for i in pos))
        groups.setdefault(pr.levels, []).append((pr, pos))
    n = len(books)
    recv = books.recv.tolist()
    for levels, members in groups.items():
        carried = [pr.last for pr, _ in members if pr.last is not None]
        mats = [books.bid_px, books.bid_sz, books.ask_px, books.ask_sz, books.n_bid,
                books.n_ask]
        if carried:
            mats = [np.concatenate([m, np.array([c[j] for c in carried], dtype=m.dtype)])
                    for j, m in enumerate(mats)]
        seq: list[int] = []
        starts = []
        c = n
        for pr, pos in members:
            starts.append(len(seq))
            if pr.last is not None:
                seq.append(c)
                c += 1
            seq += pos
        starts.append(len(seq))
        idx = np.asarray(seq)
        bid_px, bid_sz, ask_px, ask_sz = (m[idx, :levels] for m in mats[:4])
        rm_bid, rm_ask, depth = pair_removals(bid_px, bid_sz, ask_px, ask_sz, mats[4][idx],
                                              mats[5][idx])
        rm_bid_l, rm_ask_l, depth_l = rm_bid.tolist(), rm_ask.tolist(), depth.tolist()
        for (pr, pos), a, b in zip(members, starts, starts[1:], strict=False):
            r = ([pr.last_recv] if pr.last is not None else []) + [recv[i] for i in pos]
            if b - a > 1:
                pr.extend(r, rm_bid_l[a:b - 1], rm_ask_l[a:b - 1], depth_l[a:b - 1])
            last = pos[-1]
            pr.last = _frame(mats[0][last].tolist(), mats[1][last].tolist(),
                             mats[2][last].tolist(), mats[3][last].tolist(),
                             int(mats[4][last]), int(mats[5][last]))
            pr.last_recv = recv[last]


class _Coin:
    """One coin's carried state: its event lists with their read positions, the grid."""

    def __init__(self, coin: str, params: MicroTapeParams) -> None:
        self.coin = coin
        self.flow = FlowStream(coin, params)
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
        self.pairs = (_Pairs(), _Pairs())  # fast, slow
        self.median = RollingMedian(params.points(params.depth_rel_window_ms),
                                    params.points(params.depth_rel_min_ms))
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
        """`add_quotes` for a few quotes, one at a time on Python floats (`_top`)."""
        quotes = []
        if len(books):
            quotes += [(r, t, 0, bp, bs, ap, az) for r, t, nb, na, bp, bs, ap, az in zip(
                books.recv.tolist(), books.time.tolist(), books.n_bid.tolist(),
                books.n_ask.tolist(), books.bid_px[:, 0].tolist(), books.bid_sz[:, 0].tolist(),
                books.ask_px[:, 0].tolist(), books.ask_sz[:, 0].tolist(), strict=True)
                if nb > 0 and na > 0]
        if len(bbo["recv"]):
            quotes += [(r, t, 1, bp, bs, ap, az) for r, t, bp, bs, ap, az in zip(
                *(bbo[k].tolist() for k in ("recv", "time", "bid_px", "bid_sz", "ask_px",
                                            "ask_sz")), strict=True) if bp == bp and ap == ap]
        if not quotes:
            return
        quotes.sort(key=_QUOTE_ORDER)  # stable, as the batch's lexsort
        kept = [q for q, after in zip(quotes, quotes[1:], strict=False) if q[0] != after[0]]
        kept.append(quotes[-1])
        self._push_quotes([q[0] for q in kept], [q[1] for q in kept], [q[2] for q in kept],
                          [_top(q[3], q[4], q[5], q[6]) for q in kept])

    def _push_quotes(self, recv: list[int], time: list[int], source: list[int],
                     vals: list[tuple[float, ...]]) -> None:
        """Append a batch's quotes, one per receive time; the first may share the last's
        millisecond, then the later by (venue time, source) wins, as in the batch."""
        if self.next_ts is None:
            self.next_ts = -(-recv[0] // self.cadence) * self.cadence  # make_grid's start
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
             gaps: GapBook | None = None) -> None:
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
                 else repeat(False, n))  # the gap records received so far: gaps.py
        rows = zip(repeat(self.coin), *book[:-1], *flow, book[-1], flags, strict=False)
        warm = max(0, -((t0 - day_start) // self.cadence))  # rows before the day: state only
        out.extend(map(dict, map(zip, repeat(MICROTAPE_COLUMNS), islice(rows, warm, None))))

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
            qk = bisect_right(q_recv, t, qk)  # the as-of: last received <= t
            bid, ask, mid, micro, spread, drift = q_val[qk - 1]
            try:
                dpx = (mid - prev) / prev * BPS
            except ZeroDivisionError:
                dpx = float(np.divide(mid - prev, prev)) * BPS
            prev = mid
            fk = bisect_right(f_recv, t, fk)
            imb1, imb5, d5b, d5a = f_val[fk - 1] if fk else _NO_FRAME
            sk = bisect_right(s_recv, t, sk)
            imb10, slope = s_val[sk - 1] if sk else _NO_SLOW
            d5 = d5b + d5a
            med = median(d5)
            ak = bisect_right(a_recv, t, ak)
            live = ak > 0 and t - a_recv[ak - 1] <= max_age
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
        live = ((a_recv >= 0) & (grid - a_recv <= self.max_age)).tolist()
        mids = np.array(mid)
        prev = np.concatenate(([self.prev_mid], mids[:-1]))
        self.prev_mid = mid[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            dpx = (mids - prev) / prev * BPS
        push, rel = self.median.push, []
        for b5, a5 in zip(d5b, d5a, strict=True):
            d5 = b5 + a5
            med = push(d5)
            rel.append(d5 / med if med != 0.0 else NAN)
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
            if k > _TRIM:
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
    and asked for the rows that became final (`rows`); module docstring."""

    def __init__(self, day: str, params: MicroTapeParams, input_start_ms: int) -> None:
        self.day, self.params = day, params
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
        tables = {"trades": _table(parsed.trades, _TRADES, lo, max_lag_ms=p.trade_max_lag_ms),
                  "bbo": _table(parsed.bbo, _BBO, lo),
                  "ctx": _table(parsed.ctx, _CTX, lo),
                  "candles": _table(parsed.candles, _CANDLES, lo, interval=p.candle_interval)}
        names = set(bt.spans) if bt is not None else set()
        for tab in tables.values():
            if tab is not None:
                names.update(tab.spans)
        for coin in names - self.coins.keys():
            self.coins[coin] = _Coin(coin, p)
            self.order = sorted(self.coins)
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
        b5, a5 = books.depth(5)
        b10, a10 = books.depth(10)
        anyf = list(zip(imbalance(b1, a1).tolist(), imbalance(b5, a5).tolist(), b5.tolist(),
                        a5.tolist(), strict=True))
        slowf = list(zip(imbalance(b10, a10).tolist(), depth_slope(books).tolist(),
                         strict=True))
        blocks: tuple[list[tuple[_Pairs, list[int]]], ...] = ([], [])
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
                _add_pairs(books, blocks[s])

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
                cb, ca = _cumulative(bid_sz[i]), _cumulative(ask_sz[i])
                b5, a5 = _depth(cb, 5), _depth(ca, 5)
                st.f_recv.append(recv[i])
                st.f_val.append((_imbalance(_depth(cb, 1), _depth(ca, 1)), _imbalance(b5, a5),
                                 b5, a5))
                flow_bid.append(_depth(cb, sweep))
                flow_ask.append(_depth(ca, sweep))
                frame = _frame(bid_px[i], bid_sz[i], ask_px[i], ask_sz[i], n_bid[i], n_ask[i])
                if fast[i]:
                    st.a_recv.append(recv[i])
                    new[0].append((recv[i], frame))
                else:
                    st.s_recv.append(recv[i])
                    st.s_val.append((_imbalance(_depth(cb, 10), _depth(ca, 10)),
                                     _slope(bid_px[i], ask_px[i], n_bid[i], n_ask[i], cb, ca)))
                    new[1].append((recv[i], frame))
            for pairs, frames in zip(st.pairs, new, strict=True):
                if frames:
                    pairs.add_frames(frames)
            st.flow.add_books(recv[a:b], flow_bid, flow_ask)

    def rows(self, now_ms: int) -> list[dict[str, Any]]:
        """Every row with grid time < now_ms not returned before (ts_ms >= the day's start),
        in (ts_ms, coin) order, keyed by MICROTAPE_COLUMNS (module docstring: which rows
        exist yet)."""
        out: list[dict[str, Any]] = []
        coins, day_start = self.coins, self.day_start
        for coin in self.order:
            st = coins[coin]
            t = st.next_ts
            if t is None or t >= now_ms or t > st.last_recv:
                continue
            st.emit(min(now_ms - 1, st.last_recv), day_start, out, self.gaps)
            if st.qk > _TRIM or st.fk > _TRIM or st.sk > _TRIM or st.ak > _TRIM:
                st.trim()
        if len(out) > 1 and len(self.order) > 1:
            out.sort(key=itemgetter("ts_ms"))  # stable: coins stay in name order
        return out
