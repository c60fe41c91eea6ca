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
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lotus_core.feed.tables import MAX_LEVELS
from lotus_core.microtape.book import BPS, depth_slope, imbalance, quote_stream, top_features
from lotus_core.microtape.cancels import pair_rate, pair_removals
from lotus_core.microtape.grid import RollingMedian
from lotus_core.microtape.inputs import _BBO, _CANDLES, _CTX, _TRADES, Books, CoinInputs
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.schema import MICROTAPE_COLUMNS
from lotus_core.microtape.stream_flow import FLOW_COLUMNS, FlowStream
from lotus_core.microtape.warm import day_start_ms

if TYPE_CHECKING:
    from lotus_core.live.assemble import Parsed

BOOK_COLUMNS = (
    "bid_px", "ask_px", "mid_px", "micro_px", "spread_bps", "dpx_bps", "microprice_drift_bps",
    "book_imb_1", "book_imb_5", "book_imb_10", "depth_5_bid", "depth_5_ask", "depth_slope",
    "depth_5_rel", "cancel_rate",
)
"""The columns this module computes before the flow columns (then `stale_ms`, the last)."""
if ("coin", "ts_ms", *BOOK_COLUMNS, *FLOW_COLUMNS, "stale_ms") != MICROTAPE_COLUMNS:
    raise ImportError("MICROTAPE_COLUMNS changed: update the stream's column layout")

NAN = float("nan")
_NO_FRAME = (NAN, NAN, NAN, NAN)  # no l2Book frame yet: imbalances 1 and 5, top-5 depth
_NO_SLOW = (NAN, NAN)  # no slow frame yet: imbalance 10, slope
_TRIM = 4096  # consumed events kept in a list before its front is cut off
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


def _column(df: pd.DataFrame, name: str) -> Any:
    """One column's stored array. `df[name]` builds a Series (~17 us in pandas 3), which a
    batch of one line pays per column; the frame's own array is one lookup away."""
    get = getattr(df, "_get_column_array", None)
    if get is None:  # pragma: no cover - a pandas without it
        return df[name].array
    return get(df.columns.get_loc(name))


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
    recv = np.asarray(_column(df, "recv_ts_ms"), dtype=np.int64)
    keep = recv >= lo
    if interval is not None:
        keep &= np.asarray([v == interval for v in _strings(_column(df, "interval"))])
    if max_lag_ms is not None:
        keep &= recv - np.asarray(_column(df, "time_ms"), dtype=np.int64) <= max_lag_ms
    coins = _strings(_column(df, "coin"))
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
        values = recv if col == "recv_ts_ms" else np.asarray(_column(df, col), dtype=dtype)
        cols[name] = values if rows is None else values[rows]
    return _Table(cols, spans, rows)


class _Pairs:
    """One l2Book stream (fast or slow) of one coin: its consecutive frame pairs, each with
    the size removed on either side, P's visible size and the volume traded into it."""

    __slots__ = ("last", "last_recv", "levels", "r0", "r1", "rm_bid", "rm_ask", "depth",
                 "hit", "lift", "pend_hit", "pend_lift", "k")

    def __init__(self) -> None:
        self.last: tuple[np.ndarray, ...] | None = None  # the stream's last frame, (1, n)
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
        if k > _TRIM:
            for name in ("r0", "r1", "rm_bid", "rm_ask", "depth", "hit", "lift"):
                del getattr(self, name)[:k]
            k = 0
        self.k = k
        return total


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
            mats = [np.concatenate([m, *(c[j] for c in carried)])
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
            pr.last = tuple(m[last:last + 1].copy() for m in mats)
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
        vals = list(zip(*(top[name].tolist() for name in _TOP), strict=True))
        recv_l, time_l, src_l = q["recv"].tolist(), q["time"].tolist(), q["source"].tolist()
        if self.next_ts is None:
            self.next_ts = -(-recv_l[0] // self.cadence) * self.cadence  # make_grid's start
        if self.q_recv and self.q_recv[-1] == recv_l[0]:  # the same millisecond as before
            if (time_l[0], src_l[0]) >= self.q_key:
                self.q_val[-1], self.q_key = vals[0], (time_l[0], src_l[0])
            recv_l, vals = recv_l[1:], vals[1:]
            if not recv_l:
                return
        self.q_recv += recv_l
        self.q_val += vals
        self.q_key = (time_l[-1], src_l[-1])

    def add_trades(self, trades: dict[str, np.ndarray]) -> None:
        fast, slow = self.pairs
        for recv, side, sz in zip(trades["recv"].tolist(), trades["side"].tolist(),
                                  trades["sz"].tolist(), strict=True):
            fast.add_trade(recv, side, sz)
            slow.add_trade(recv, side, sz)

    # ------------------------------------------------------------------ rows
    def emit(self, end: int, day_start: int, out: list[dict[str, Any]]) -> None:
        """Append the rows of grid times next_ts..end (every event received at or before
        each added): the as-of reads, the carried median and cancel pairs, then the flow
        columns. One loop with the state in locals: this is the per-row hot path."""
        t = self.next_ts
        assert t is not None
        coin, cadence, eps, max_age = self.coin, self.cadence, self.eps, self.max_age
        q_recv, q_val, qk = self.q_recv, self.q_val, self.qk
        f_recv, f_val, fk = self.f_recv, self.f_val, self.fk
        s_recv, s_val, sk = self.s_recv, self.s_val, self.sk
        a_recv, ak = self.a_recv, self.ak
        fast, slow = self.pairs
        fast_r1, slow_r1 = fast.r1, slow.r1  # trimmed in place by `rate`
        median, flow_at, prev = self.median.push, self.flow.at, self.prev_mid
        append = out.append
        while t <= end:
            qk = bisect_right(q_recv, t, qk)  # the as-of: last received <= t
            bid, ask, mid, micro, spread, drift = q_val[qk - 1]
            stale = t - q_recv[qk - 1]
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
            if t >= day_start:
                append(dict(zip(MICROTAPE_COLUMNS, (
                    coin, t, bid, ask, mid, micro, spread, dpx, drift, imb1, imb5, imb10, d5b,
                    d5a, slope, d5 / med if med != 0.0 else NAN, cancel, *flow_at(t, dpx),
                    stale), strict=True)))
            else:
                flow_at(t, dpx)  # the warm rows before the day: state only
            t += cadence
        self.next_ts, self.prev_mid = t, prev
        self.qk, self.fk, self.sk, self.ak = qk, fk, sk, ak

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

    def add(self, parsed: Parsed) -> None:
        """The rows one batch of lines added (receive order, after every earlier batch)."""
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
            if len(b) or len(t["trades"]["recv"]) or len(t["ctx"]["recv"]) or len(
                    t["candles"]["recv"]):
                st.flow.add(b, t["trades"], t["ctx"], t["candles"])

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
            st.emit(min(now_ms - 1, st.last_recv), day_start, out)
            if st.qk > _TRIM or st.fk > _TRIM or st.sk > _TRIM or st.ak > _TRIM:
                st.trim()
        if len(out) > 1 and len(self.order) > 1:
            out.sort(key=itemgetter("ts_ms"))  # stable: coins stay in name order
        return out
