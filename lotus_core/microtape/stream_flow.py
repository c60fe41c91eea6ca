"""The MicroTape's flow columns one grid time at a time: trade tape, candles, context,
volatility, session and regime, equal to `build_coin`'s (tests/core/live/test_stream_flow.py).

`FlowStream.add` takes one coin's feed rows a batch at a time (receive order, the layout of
`CoinInputs`) and does the per-event work there, off the latency path, vectorised where the
batch code is: each trade's robust size threshold (`tape.robust_thresholds` over the
carried last `outlier_window` sizes), the depth it faced (the last book received before
it), its aggressor run, and its interval (t - cadence, t], whose sums it extends in receive
order as `np.bincount` does (so bit for bit); each candle update's morphology
(`candles.morphology`) and the time it becomes usable. `FlowStream.columns(t, top)` then
reads only what the batch's as-of rules admit at t (trades: recv <= t; candles:
max(recv, t_close + 1) <= t; context: recv <= t, and <= t - oi_delta_ms for the OI change)
and pushes one point into each trailing window: the three rolling sums
(`grid.RollingSum`'s arithmetic, whose last bits depend on every point since the grid
began), the three percentile ranks (`RollingPctl`: the order statistics `grid.rolling_pctl`
reads) and, on a new candle, the previous candles' final ranges (`candles._range_pctl`'s
window).

Batches must be in receive order (no event of a batch received before one of an earlier
batch); `columns` must be called at every grid time from the coin's first, in order, after
every event with recv <= t was added (later ones may be there already). State is per coin
and per day: a warm day starts from the warm feed's first event, as
`build_microtape(..., warm=...)` does.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any

import numpy as np

from lotus_core.microtape.book import BPS
from lotus_core.microtape.candles import morphology
from lotus_core.microtape.context import SESSIONS
from lotus_core.microtape.inputs import Books
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.regime import REGIMES, classify, efficiency, rv_from_sum
from lotus_core.microtape.tape import robust_thresholds
from lotus_core.time import DAY_MS, HOUR_MS

FLOW_COLUMNS = (
    "trade_count", "buy_vol", "sell_vol", "aggr_imb", "aggr_runlen", "sweep_flag", "sweep_dir",
    "size_outlier_count", "vwap_px", "rv_bps", "rv_pctl", "wick_up_bps", "wick_dn_bps",
    "body_bps", "range_bps", "range_pctl", "close_loc", "funding", "funding_pctl",
    "open_interest", "oi_delta", "oi_pctl", "basis_bps", "premium", "session", "trend_eff",
    "regime",
)
"""The columns `FlowStream.columns` returns, in MicroTape order."""

NAN = float("nan")
RUN = 16
"""Rows from which a call's columns are computed with numpy (the batch's own functions where
it has them) rather than one row at a time in Python: ~1 us a numpy call, paid once."""
_NO_RECV = int(np.iinfo(np.int64).min)


class SortedBag:
    """A sorted multiset of floats in buckets (the layout of sortedcontainers, cut down):
    insert, remove and rank cost a few bisects and a short list move, whatever the size, so
    a 4 h window of 14,400 points stays cheap."""

    __slots__ = ("lists", "maxes", "load", "n")

    def __init__(self, load: int = 512) -> None:
        self.lists: list[list[float]] = []
        self.maxes: list[float] = []
        self.load, self.n = load, 0

    def add(self, x: float) -> None:
        lists, maxes = self.lists, self.maxes
        self.n += 1
        if not maxes:
            lists.append([x])
            maxes.append(x)
            return
        b = bisect_left(maxes, x)
        if b == len(maxes):
            b -= 1
            lists[b].append(x)
            maxes[b] = x
        else:
            insort(lists[b], x)
        lst = lists[b]
        if len(lst) > 2 * self.load:
            lists.insert(b + 1, lst[self.load:])
            del lst[self.load:]
            maxes.insert(b, lst[-1])

    def remove(self, x: float) -> None:
        """Remove one copy of x (which must be present)."""
        b = bisect_left(self.maxes, x)
        lst = self.lists[b]
        del lst[bisect_left(lst, x)]
        self.n -= 1
        if lst:
            self.maxes[b] = lst[-1]
        else:
            del self.lists[b], self.maxes[b]

    def add_run(self, x: float, k: int) -> None:
        """Add k copies of x (one list move; long buckets cut into `load`-sized ones)."""
        lists, maxes, load = self.lists, self.maxes, self.load
        self.n += k
        b = bisect_left(maxes, x)
        if b == len(maxes):
            if not maxes:
                lists.append([])
                maxes.append(x)
            b = len(maxes) - 1
            lists[b] += [x] * k
            maxes[b] = x
        else:
            lst = lists[b]
            i = bisect_left(lst, x)
            lst[i:i] = [x] * k
        lst = lists[b]
        if len(lst) > 2 * load:
            parts = [lst[j:j + load] for j in range(0, len(lst), load)]
            lists[b:b + 1] = parts
            maxes[b:b + 1] = [part[-1] for part in parts]

    def remove_run(self, x: float, k: int) -> None:
        """Remove k copies of x (which must be present), bucket by bucket."""
        lists, maxes = self.lists, self.maxes
        self.n -= k
        while k:
            b = bisect_left(maxes, x)
            lst = lists[b]
            i = bisect_left(lst, x)
            j = min(bisect_right(lst, x, i), i + k)
            del lst[i:j]
            k -= j - i
            if lst:
                maxes[b] = lst[-1]
            else:
                del lists[b], maxes[b]

    def replace(self, old: float, x: float) -> tuple[int, int]:
        """`remove(old)` then `insert(x)`: a full window's step, in one call."""
        maxes = self.maxes
        b = bisect_left(maxes, old)
        lst = self.lists[b]
        del lst[bisect_left(lst, old)]
        self.n -= 1
        if lst:
            maxes[b] = lst[-1]
        else:
            del self.lists[b], maxes[b]
        return self.insert(x)

    def insert(self, x: float) -> tuple[int, int]:
        """`add` then `counts` in one walk (the rank of a new value needs both): the bucket
        x went into already holds its position."""
        lists, maxes = self.lists, self.maxes
        n = self.n = self.n + 1
        if not maxes:
            lists.append([x])
            maxes.append(x)
            return 0, 1
        b = bisect_left(maxes, x)
        if b == len(maxes):  # above every value
            b -= 1
            lst = lists[b]
            lst.append(x)
            maxes[b] = x
            lo, hi = n - 1, n
        else:
            lst = lists[b]
            i = bisect_left(lst, x)
            lst.insert(i, x)
            before = sum(map(len, lists[:b])) if b else 0
            lo = before + i
            if maxes[b] > x:
                hi = before + bisect_right(lst, x, i)
            else:  # x is the bucket's max: its ties may go on in the next buckets
                b2 = bisect_right(maxes, x, b)
                hi = n if b2 == len(maxes) else (
                    before + sum(map(len, lists[b:b2])) + bisect_right(lists[b2], x))
        if len(lst) > 2 * self.load:
            lists.insert(b + 1, lst[self.load:])
            del lst[self.load:]
            maxes.insert(b, lst[-1])
        return lo, hi

    def counts(self, x: float) -> tuple[int, int]:
        """(number of values < x, number of values <= x)."""
        lists, maxes = self.lists, self.maxes
        b = bisect_left(maxes, x)
        if b == len(maxes):
            return self.n, self.n
        before = sum(map(len, lists[:b])) if b else 0
        lst = lists[b]
        lo = before + bisect_left(lst, x)
        if maxes[b] > x:
            return lo, before + bisect_right(lst, x)
        b2 = bisect_right(maxes, x)
        if b2 == len(maxes):
            return lo, self.n
        return lo, before + sum(map(len, lists[b:b2])) + bisect_right(lists[b2], x)


class RollingPctl:
    """`grid.rolling_pctl` one grid point at a time: the window's last `window` points
    (NaN points hold a slot but are not ranked), the current value's average rank among the
    non-NaN ones, NaN below `min_periods` of them or when the value is NaN, 0.5 alone.

    A step series (funding, OI) repeats its value for rows on end: the counts below and at
    the last value are then carried through the point that left and the one that came, and
    the bag is not touched. The repeats (`held` copies of `held_x`) and the points that left
    meanwhile (`gone` copies of `gone_x`, a run of the window's oldest value) go into and out
    of the bag in one move each, when a new value needs a rank."""

    __slots__ = ("window", "min_periods", "values", "bag", "last", "below", "upto", "n",
                 "held_x", "held", "gone_x", "gone")

    def __init__(self, window: int, min_periods: int) -> None:
        self.window, self.min_periods = window, min_periods
        self.values: deque[float] = deque()
        self.bag = SortedBag()
        self.last, self.below, self.upto = NAN, 0, 0  # counts of < last and <= last
        self.n = 0  # non-NaN points in the window: bag.n + held - gone
        self.held_x, self.held = NAN, 0  # pushed, not in the bag yet
        self.gone_x, self.gone = NAN, 0  # out of the window, still in the bag

    def push(self, x: float) -> float:
        """The next point's percentile rank."""
        return self.extend((x,))[0]

    def extend(self, xs: Iterable[float]) -> list[float]:
        """The ranks of the next points, in order: one loop with the state in locals (a
        replay asks for ~1,000 rows at a time, a push per row would pay a call each)."""
        values, bag, window, min_periods = self.values, self.bag, self.window, self.min_periods
        last, below, upto, n = self.last, self.below, self.upto, self.n
        held, gone_x, gone = self.held, self.gone_x, self.gone
        out: list[float] = []
        append = out.append
        for x in xs:
            old = values.popleft() if len(values) == window else NAN
            values.append(x)
            if x == last:  # carried: x is not NaN
                if old != x:  # an equal value leaving changes nothing
                    if old == old:
                        if old == gone_x:
                            gone += 1
                        else:
                            if gone:
                                bag.remove_run(gone_x, gone)
                            gone_x, gone = old, 1
                        if old < x:
                            below -= 1
                            upto -= 1
                        n -= 1
                    held += 1
                    upto += 1
                    n += 1
            else:
                if held:
                    bag.add_run(self.held_x, held)
                    held = 0
                if gone:
                    bag.remove_run(gone_x, gone)
                    gone_x, gone = NAN, 0
                if x != x:
                    if old == old:
                        bag.remove(old)
                    last, n = NAN, bag.n
                    append(NAN)
                    continue
                if old == x:
                    below, upto = bag.counts(x)
                elif old == old:
                    below, upto = bag.replace(old, x)
                else:
                    below, upto = bag.insert(x)
                n, last, self.held_x = bag.n, x, x
            if n < min_periods:
                append(NAN)
            elif n == 1:
                append(0.5)
            else:  # pandas' average rank, then clipped
                q = (below + (upto - below + 1) / 2 - 1.0) / (n - 1.0)
                append(0.0 if q < 0.0 else 1.0 if q > 1.0 else q)
        self.last, self.below, self.upto, self.n = last, below, upto, n
        self.held, self.gone_x, self.gone = held, gone_x, gone
        return out


class FastSum:
    """`grid.RollingSum` (pandas' Kahan-compensated rolling sum), the same arithmetic step
    for step with its state in slots and locals: bit for bit the same sums at about 60% of
    the time, and the tape pushes three per row (test_stream_flow checks it equals
    `RollingSum`)."""

    __slots__ = ("window", "min_periods", "values", "nobs", "total", "comp_add",
                 "comp_remove", "same", "prev")

    def __init__(self, window: int, min_periods: int) -> None:
        self.window, self.min_periods = window, min_periods
        self.values: deque[float] = deque()
        self.nobs = self.same = 0
        self.total = self.comp_add = self.comp_remove = 0.0
        self.prev: float | None = None

    def push(self, value: float) -> float:
        """Append the next point; the trailing sum at it."""
        return self.extend((value,))[0]

    def extend(self, points: Iterable[float]) -> list[float]:
        """The trailing sums at the next points, in order (the state in locals)."""
        values, window, min_periods = self.values, self.window, self.min_periods
        total, nobs, same, prev = self.total, self.nobs, self.same, self.prev
        comp_add, comp_remove = self.comp_add, self.comp_remove
        out: list[float] = []
        append = out.append
        for value in points:
            if prev is None:
                prev = value
            if len(values) == window:
                old = values.popleft()
                if old == old:
                    nobs -= 1
                    y = -old - comp_remove
                    t = total + y
                    comp_remove = t - total - y
                    total = t
            if value == value:
                nobs += 1
                y = value - comp_add
                t = total + y
                comp_add = t - total - y
                total = t
                same = same + 1 if value == prev else 1
                prev = value
            values.append(value)
            if nobs >= min_periods:
                append(0.0 if nobs == 0 else prev * nobs if same >= nobs else total)
            else:
                append(NAN)
        self.total, self.nobs, self.same, self.prev = total, nobs, same, prev
        self.comp_add, self.comp_remove = comp_add, comp_remove
        return out


class Trend:
    """`trend_eff` of consecutive grid points: `regime.efficiency` of the trailing sums of dpx
    and of |dpx| over one window (two `FastSum`s that share the window and its NaN slots,
    in one loop)."""

    __slots__ = ("net", "gross")

    def __init__(self, window: int) -> None:
        self.net, self.gross = FastSum(window, window), FastSum(window, window)

    def extend(self, dpx: list[float]) -> list[float]:
        net, gross = self.net.extend(dpx), self.gross.extend([abs(d) for d in dpx])
        if len(dpx) >= RUN:  # the batch's own function, cheaper over many points
            return efficiency(np.asarray(net), np.asarray(gross)).tolist()  # type: ignore[no-any-return]
        return [efficiency_of(a, b) for a, b in zip(net, gross, strict=True)]


def efficiency_of(net: float, gross: float) -> float:
    """`regime.efficiency` of one point."""
    if net != net or gross != gross:
        return NAN
    if gross <= 1e-9:
        return 0.0
    return min(max(abs(net) / gross, 0.0), 1.0)


def regime_of(rv_pctl: float, eff: float, params: MicroTapeParams) -> str:
    """`regime.classify` of one point."""
    if rv_pctl != rv_pctl or eff != eff:
        return REGIMES[0]
    if rv_pctl < params.regime_quiet_pctl:
        return REGIMES[1]
    return REGIMES[2] if eff >= params.regime_trend_eff else REGIMES[3]


def session_of(ts_ms: int, params: MicroTapeParams) -> str:
    """`context.session` of one grid time."""
    if (ts_ms // DAY_MS + 3) % 7 >= 5:
        return SESSIONS[3]
    hour = (ts_ms % DAY_MS) // HOUR_MS
    return SESSIONS[0 if hour < params.eu_start_hour else 1 if hour < params.us_start_hour else 2]


def _ratio(num: float, den: float, when_zero: float) -> float:
    """`grid.safe_ratio` of one point."""
    return when_zero if den == 0 else num / den


_FEW = 8
"""Trades of a batch up to which their size thresholds are computed one at a time (two
sorts of `outlier_window` sizes each), not by `tape.robust_thresholds` (~20 numpy calls)."""


def _thresholds(sizes: list[float], n: int, params: MicroTapeParams) -> list[float]:
    """`tape.robust_thresholds` of the last n of `sizes` (no NaN among them), each over the
    `outlier_window` sizes before it: median + k * max(MAD, floor * median); the k-th of
    the sorted values is `np.partition`'s k-th."""
    w = params.outlier_window
    h = w // 2
    out = []
    for j in range(len(sizes) - n, len(sizes)):
        if j < w:
            out.append(NAN)
            continue
        window = sizes[j - w:j]
        med = sorted(window)[h]
        dev = sorted([abs(x - med) for x in window])[h]
        floor = params.outlier_mad_floor * med
        out.append(med + params.outlier_k * (dev if dev >= floor else floor))
    return out


class _Bin:
    """The trades received in one grid interval (t - cadence, t], t = end."""

    __slots__ = ("end", "count", "buy", "sell", "notional", "outliers", "runlen",
                 "buy_px", "sell_px", "buy_depth", "sell_depth")

    def __init__(self, end: int) -> None:
        self.end = end
        self.count = self.outliers = self.runlen = 0
        self.buy = self.sell = self.notional = 0.0
        self.buy_px: set[float] | None = None
        self.sell_px: set[float] | None = None
        self.buy_depth = self.sell_depth = NAN


_NO_CANDLE = (NAN, NAN, NAN, NAN, NAN, NAN)


class FlowStream:
    """One coin's flow columns, fed its feed rows by `add` and read at each grid time by
    `columns` (module docstring)."""

    def __init__(self, coin: str, params: MicroTapeParams) -> None:
        self.coin, self.params = coin, params
        self.cadence = params.cadence_ms
        self.next_ts: int | None = None
        # trade tape
        self.bins: deque[_Bin] = deque()
        self.sizes: list[float] = []  # the last outlier_window trade sizes
        self.side, self.run, self.runlen = 0, 0, 0  # the last trade's side and run
        # the books trades may face: the last one received before the last book's
        # millisecond, then the last book's batch; their top sweep_depth_levels
        self.book_recv: list[int] = [_NO_RECV, _NO_RECV]
        self.book_bid, self.book_ask = [NAN, NAN], [NAN, NAN]
        # candles: updates not usable yet, the selection, previous candles' final ranges
        self.pending: list[tuple[int, int]] = []  # heap of (usable from, t_open)
        self.latest: dict[tuple[int, int], tuple[int, tuple[float, ...]]] = {}
        self.updates = 0
        self.best: tuple[int, int] | None = None
        self.candle: tuple[float, ...] = _NO_CANDLE
        self.finals: deque[float] = deque(maxlen=params.candle_pctl_window)
        self.ranked: list[float] = []  # the non-NaN finals, sorted
        # context: events not received yet at t, the current one, the OI look-back queue
        self.ctx: deque[tuple[int, float, float, float, float, float]] = deque()
        self.back: deque[tuple[int, float]] = deque()
        self.funding = self.oi = self.basis = self.premium = self.oi_back = NAN
        self.session, self.hour_end = "", -1
        # trailing windows over the grid
        w, tw = params.points(params.rv_window_ms), params.points(params.trend_window_ms)
        self.rv_sum, self.trend = FastSum(w, w), Trend(tw)
        minp = params.points(params.pctl_min_ms)
        self.rv_rank = RollingPctl(params.points(params.rv_pctl_window_ms), minp)
        ctx_w = params.points(params.ctx_pctl_window_ms)
        self.funding_rank, self.oi_rank = RollingPctl(ctx_w, minp), RollingPctl(ctx_w, minp)

    # ------------------------------------------------------------------ add
    def add(self, books: Books, trades: dict[str, np.ndarray], ctx: dict[str, np.ndarray],
            candles: dict[str, np.ndarray]) -> None:
        """Take one batch of the coin's rows (receive order, after every earlier batch)."""
        if len(books):
            bid, ask = books.depth(self.params.sweep_depth_levels)
            self.add_books(books.recv.tolist(), bid.tolist(), ask.tolist())
        if len(trades["recv"]):
            self.add_trades(trades["recv"].tolist(), trades["side"].tolist(),
                            trades["px"].tolist(), trades["sz"].tolist())
        if len(candles["recv"]):
            self._add_candles(candles)
        if len(ctx["recv"]):
            self.ctx.extend(zip(ctx["recv"].tolist(), ctx["funding"].tolist(),
                                ctx["open_interest"].tolist(), ctx["mark_px"].tolist(),
                                ctx["oracle_px"].tolist(), ctx["premium"].tolist(),
                                strict=True))

    def add_books(self, recv: list[int], bid: list[float], ask: list[float]) -> None:
        """A batch's l2Book frames (receive order, before its trades): their receive times
        and top `sweep_depth_levels` depth (`Books.depth`), what later trades face."""
        b_recv = self.book_recv
        if len(b_recv) > 2:  # only two of the earlier books can be the last before a trade
            j = bisect_left(b_recv, b_recv[-1]) - 1
            self.book_recv = b_recv = [b_recv[j], b_recv[-1]]
            self.book_bid = [self.book_bid[j], self.book_bid[-1]]
            self.book_ask = [self.book_ask[j], self.book_ask[-1]]
        b_recv += recv
        self.book_bid += bid
        self.book_ask += ask

    def add_trades(self, recv: list[int], side: list[int], px: list[float],
                   sz: list[float]) -> None:
        """A batch's trades (receive order, after its books): robust size outliers,
        aggressor runs, and the interval sums they fall in."""
        p = self.params
        sizes = self.sizes + sz
        if len(sz) <= _FEW and sum(sizes) == sum(sizes):  # no NaN: sorting ranks them all
            outlier = [z > t for z, t in zip(sz, _thresholds(sizes, len(sz), p), strict=True)]
        else:
            with np.errstate(invalid="ignore"):
                thresholds = robust_thresholds(np.asarray(sizes, dtype=np.float64), p)
                outlier = (np.asarray(sz) > thresholds[len(self.sizes):]).tolist()
        self.sizes = sizes[-p.outlier_window:]
        b_recv, b_bid, b_ask = self.book_recv, self.book_bid, self.book_ask
        cadence, bins, min_levels = self.cadence, self.bins, p.sweep_min_levels
        b = bins[-1] if bins else None
        last, run = self.side, self.run
        for r, s, x, z, out in zip(recv, side, px, sz, outlier, strict=True):
            e = -(-r // cadence) * cadence
            if b is None or b.end != e:
                b = _Bin(e)
                bins.append(b)
            b.count += 1
            b.notional += x * z
            if s > 0:
                b.buy += z
                if b.buy_px is None:  # the depth it faced: the last book before it
                    b.buy_px, b.buy_depth = {x}, b_ask[bisect_left(b_recv, r) - 1]
                elif len(b.buy_px) < min_levels:
                    b.buy_px.add(x)
            elif s < 0:
                b.sell += z
                if b.sell_px is None:
                    b.sell_px, b.sell_depth = {x}, b_bid[bisect_left(b_recv, r) - 1]
                elif len(b.sell_px) < min_levels:
                    b.sell_px.add(x)
            if out:
                b.outliers += 1
            run = run + 1 if s == last else 1
            last = s
            b.runlen = run * s
        self.side, self.run = last, run

    def _add_candles(self, candles: dict[str, np.ndarray]) -> None:
        shape = morphology(candles)
        usable = np.maximum(candles["recv"], candles["t_close"] + 1)
        rows = zip(usable.tolist(), candles["t_open"].tolist(), shape["wick_up_bps"].tolist(),
                   shape["wick_dn_bps"].tolist(), shape["body_bps"].tolist(),
                   shape["range_bps"].tolist(), shape["close_loc"].tolist(), strict=True)
        pending, latest = self.pending, self.latest
        for u, t_open, *values in rows:
            key = (u, t_open)
            if key not in latest:
                heapq.heappush(pending, key)
            latest[key] = (self.updates, tuple(values))  # supersedes an earlier one
            self.updates += 1

    # -------------------------------------------------------------- columns
    def columns(self, ts_ms: int, top: Mapping[str, Any]) -> dict[str, Any]:
        """The flow columns at grid time ts_ms (every event with recv <= ts_ms added)."""
        cols = self.columns_from(int(ts_ms), [float(top["dpx_bps"])])
        return {name: col[0] for name, col in zip(FLOW_COLUMNS, cols, strict=True)}

    def columns_from(self, t: int, dpx: list[float]) -> list[list[Any]]:
        """The flow columns (FLOW_COLUMNS order, one list each) of the len(dpx) grid times
        from t, given each row's dpx_bps: the tape asks for ~1,000 rows a call in a replay,
        so each window runs its points in one loop. Every event with recv <= the last time
        must be added."""
        if t != self.next_ts and self.next_ts is not None:
            raise ValueError(f"FlowStream {self.coin}: grid time {t}, expected {self.next_ts}")
        p, cadence = self.params, self.cadence
        n = len(dpx)
        if n == 0:
            return [[] for _ in FLOW_COLUMNS]
        self.next_ts = t + n * cadence
        # volatility and trend: the windows, each over the run
        sums = self.rv_sum.extend([d * d for d in dpx])
        long = n >= RUN  # the batch's own functions, cheaper over many points
        rv = rv_from_sum(np.asarray(sums)).tolist() if long else [
            NAN if s != s else math.sqrt(s if s > 0.0 else 0.0) for s in sums]
        rv_pctl = self.rv_rank.extend(rv)
        eff = self.trend.extend(dpx)
        state = self._state(t, n)
        funding, oi = state[6], state[7]
        return [*self._tape(t, n), rv, rv_pctl, *state[:4], state[5], state[4], funding,
                self.funding_rank.extend(funding), oi, state[8], self.oi_rank.extend(oi),
                *state[9:], eff,
                classify(np.asarray(rv_pctl), np.asarray(eff), p).tolist() if long else
                [regime_of(a, b, p) for a, b in zip(rv_pctl, eff, strict=True)]]

    def _tape(self, t: int, n: int) -> list[list[Any]]:
        """The tape columns (FLOW_COLUMNS' first nine) of n grid times from t: a bin's
        values at its row (every bin ends on a grid time), no trades elsewhere; the
        aggressor run carries."""
        cadence, min_levels = self.cadence, self.params.sweep_min_levels
        count, buy, sell, imb = [0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        sweep, sweep_dir, outliers, vwap = [0] * n, [0] * n, [0] * n, [NAN] * n
        runlen: list[int] = []
        bins, i = self.bins, 0
        while bins and bins[0].end < t + n * cadence:
            b = bins.popleft()
            if b.end >= t:  # else before the grid began: only the run carries
                j = (b.end - t) // cadence
                runlen += [self.runlen] * (j - i)
                i = j + 1
                runlen.append(b.runlen)
                b_buy, b_sell = b.buy, b.sell
                total = b_buy + b_sell
                bs = b.buy_px is not None and (len(b.buy_px) >= min_levels or
                                               b_buy > b.buy_depth)
                ss = b.sell_px is not None and (len(b.sell_px) >= min_levels or
                                                b_sell > b.sell_depth)
                if bs and ss:
                    d = b_buy - b_sell
                    sweep_dir[j] = 1 if d > 0 else -1 if d < 0 else 0
                else:
                    sweep_dir[j] = int(bs) - int(ss)
                count[j], buy[j], sell[j], outliers[j] = b.count, b_buy, b_sell, b.outliers
                imb[j], vwap[j] = _ratio(b_buy - b_sell, total, 0.0), _ratio(b.notional, total,
                                                                             NAN)
                sweep[j] = int(bs or ss)
            self.runlen = b.runlen
        runlen += [self.runlen] * (n - i)
        return [count, buy, sell, imb, runlen, sweep, sweep_dir, outliers, vwap]

    def _state(self, t: int, n: int) -> list[list[Any]]:
        """The candle (in `self.candle`'s order), context and session columns of n grid
        times from t: constant between events, so filled a stretch at a time; at the row of
        each event (the first grid time at or after it) the state moves as the batch's as-of
        rules say."""
        cadence, p = self.cadence, self.params
        delay = p.oi_delta_ms
        rows: list[tuple[Any, ...]] = []
        i = 0
        while True:
            nxt = t + n * cadence  # the next event's time: a candle usable, a context
            pending, ctx, back = self.pending, self.ctx, self.back  # update, an OI look-back
            if pending:
                nxt = min(nxt, pending[0][0])
            if ctx:
                nxt = min(nxt, ctx[0][0])
            if back:
                nxt = min(nxt, back[0][0] + delay)
            nxt = min(nxt, self.hour_end)
            j = min(n, max(i, -((t - nxt) // cadence)))  # its row
            if j > i:
                oi = self.oi
                rows += repeat((*self.candle, self.funding, oi,
                                _ratio(oi, self.oi_back, NAN) - 1.0, self.basis, self.premium,
                                self.session), j - i)
                i = j
            if i == n:
                return [list(c) for c in zip(*rows, strict=True)]
            ts = t + i * cadence
            if pending and pending[0][0] <= ts:
                self._select_candle(ts)
            if ctx and ctx[0][0] <= ts:
                self._ctx_to(ts)
            tb = ts - delay
            while back and back[0][0] <= tb:
                self.oi_back = back.popleft()[1]
            if ts >= self.hour_end:  # the session is constant within an hour
                self.session, self.hour_end = session_of(ts, p), (ts // HOUR_MS + 1) * HOUR_MS

    def _select_candle(self, t: int) -> None:
        """The latest-opened candle update usable at t (`candles.select_closed`); on a new
        selection, its range's mid-rank among the previous candles' final ranges."""
        pending, latest, best, values = self.pending, self.latest, self.best, None
        while pending and pending[0][0] <= t:
            key = heapq.heappop(pending)
            seq, shape = latest.pop(key)
            if best is None or (key[1], seq) > best:
                best, values = (key[1], seq), shape
        if values is None or best is None:
            return
        if self.best is not None and best[0] != self.best[0]:
            self._final(self.candle[3])  # the previous candle's last range in use
        self.best = best
        x, ranked = values[3], self.ranked
        pctl = NAN
        if x == x and len(ranked) >= self.params.candle_pctl_min:
            lo, hi = bisect_left(ranked, x), bisect_right(ranked, x)
            pctl = (lo + 0.5 * (hi - lo)) / len(ranked)
        self.candle = (*values, pctl)

    def _final(self, x: float) -> None:
        """A candle's final range into the previous candles' window (NaN: a slot, no rank)."""
        finals, ranked = self.finals, self.ranked
        if len(finals) == finals.maxlen:
            old = finals[0]
            if old == old:
                del ranked[bisect_left(ranked, old)]
        finals.append(x)
        if x == x:
            insort(ranked, x)

    def _ctx_to(self, t: int) -> None:
        ctx, back = self.ctx, self.back
        while ctx and ctx[0][0] <= t:
            recv, funding, oi, mark, oracle, premium = ctx.popleft()
            back.append((recv, oi))
        self.funding, self.oi, self.premium = funding, oi, premium
        self.basis = _ratio(mark - oracle, oracle, NAN) * BPS
