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
from collections.abc import Mapping
from typing import Any

import numpy as np

from lotus_core.microtape.book import BPS
from lotus_core.microtape.candles import morphology
from lotus_core.microtape.context import _DAY_MS, _HOUR_MS, SESSIONS
from lotus_core.microtape.inputs import Books
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.regime import REGIMES
from lotus_core.microtape.tape import robust_thresholds

FLOW_COLUMNS = (
    "trade_count", "buy_vol", "sell_vol", "aggr_imb", "aggr_runlen", "sweep_flag", "sweep_dir",
    "size_outlier_count", "vwap_px", "rv_bps", "rv_pctl", "wick_up_bps", "wick_dn_bps",
    "body_bps", "range_bps", "range_pctl", "close_loc", "funding", "funding_pctl",
    "open_interest", "oi_delta", "oi_pctl", "basis_bps", "premium", "session", "trend_eff",
    "regime",
)
"""The columns `FlowStream.columns` returns, in MicroTape order."""

NAN = float("nan")
_NO_RECV = np.iinfo(np.int64).min


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
        values = self.values
        old = values.popleft() if len(values) == self.window else NAN
        values.append(x)
        if x == self.last:  # carried: x is not NaN
            lo, hi, n = self.below, self.upto, self.n
            if old != x:  # an equal value leaving changes nothing
                if old == old:
                    if old == self.gone_x:
                        self.gone += 1
                    else:
                        if self.gone:
                            self.bag.remove_run(self.gone_x, self.gone)
                        self.gone_x, self.gone = old, 1
                    if old < x:
                        lo -= 1
                        hi -= 1
                    n -= 1
                self.held += 1
                hi += 1
                n += 1
                self.below, self.upto, self.n = lo, hi, n
        else:
            bag = self.bag
            if self.held:
                bag.add_run(self.held_x, self.held)
                self.held = 0
            if self.gone:
                bag.remove_run(self.gone_x, self.gone)
                self.gone_x, self.gone = NAN, 0
            if x != x:
                if old == old:
                    bag.remove(old)
                self.last, self.n = NAN, bag.n
                return NAN
            if old == x:
                lo, hi = bag.counts(x)
            elif old == old:
                lo, hi = bag.replace(old, x)
            else:
                lo, hi = bag.insert(x)
            n = bag.n
            self.below, self.upto, self.n, self.last, self.held_x = lo, hi, n, x, x
        if n < self.min_periods:
            return NAN
        if n == 1:
            return 0.5
        q = (lo + (hi - lo + 1) / 2 - 1.0) / (n - 1.0)  # pandas' average rank, then clipped
        return 0.0 if q < 0.0 else 1.0 if q > 1.0 else q


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
        values, total, nobs = self.values, self.total, self.nobs
        if self.prev is None:
            self.prev = value
        if len(values) == self.window:
            old = values.popleft()
            if old == old:
                nobs -= 1
                y = -old - self.comp_remove
                t = total + y
                self.comp_remove = t - total - y
                total = t
        if value == value:
            nobs += 1
            y = value - self.comp_add
            t = total + y
            self.comp_add = t - total - y
            total = t
            self.same = self.same + 1 if value == self.prev else 1
            self.prev = value
        values.append(value)
        self.total, self.nobs = total, nobs
        if nobs == 0 == self.min_periods:
            return 0.0
        if nobs >= self.min_periods:
            return self.prev * nobs if self.same >= nobs else total  # type: ignore[operator]
        return NAN


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
    if (ts_ms // _DAY_MS + 3) % 7 >= 5:
        return SESSIONS[3]
    hour = (ts_ms % _DAY_MS) // _HOUR_MS
    return SESSIONS[0 if hour < params.eu_start_hour else 1 if hour < params.us_start_hour else 2]


def _ratio(num: float, den: float, when_zero: float) -> float:
    """`grid.safe_ratio` of one point."""
    return when_zero if den == 0 else num / den


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
        self.sizes = np.empty(0, dtype=np.float64)  # the last outlier_window trade sizes
        self.side, self.run, self.runlen = 0, 0, 0  # the last trade's side and run
        self.book_recv = np.full(2, _NO_RECV, dtype=np.int64)  # last book before the last
        self.book_bid = np.full(2, NAN)  # recv, and the last; their top sweep_depth_levels
        self.book_ask = np.full(2, NAN)
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
        self.rv_sum, self.net, self.gross = FastSum(w, w), FastSum(tw, tw), FastSum(tw, tw)
        minp = params.points(params.pctl_min_ms)
        self.rv_rank = RollingPctl(params.points(params.rv_pctl_window_ms), minp)
        ctx_w = params.points(params.ctx_pctl_window_ms)
        self.funding_rank, self.oi_rank = RollingPctl(ctx_w, minp), RollingPctl(ctx_w, minp)

    # ------------------------------------------------------------------ add
    def add(self, books: Books, trades: dict[str, np.ndarray], ctx: dict[str, np.ndarray],
            candles: dict[str, np.ndarray]) -> None:
        """Take one batch of the coin's rows (receive order, after every earlier batch)."""
        nb, nt = len(books), len(trades["recv"])
        if nb or nt:
            self._add_books_trades(books, trades, nb, nt)
        if len(candles["recv"]):
            self._add_candles(candles)
        if len(ctx["recv"]):
            self.ctx.extend(zip(ctx["recv"].tolist(), ctx["funding"].tolist(),
                                ctx["open_interest"].tolist(), ctx["mark_px"].tolist(),
                                ctx["oracle_px"].tolist(), ctx["premium"].tolist(),
                                strict=True))

    def _add_books_trades(self, books: Books, trades: dict[str, np.ndarray], nb: int,
                          nt: int) -> None:
        p = self.params
        b_recv, b_bid, b_ask = self.book_recv, self.book_bid, self.book_ask
        if nb:
            bid, ask = books.depth(p.sweep_depth_levels)
            b_recv = np.concatenate((b_recv, books.recv))
            b_bid, b_ask = np.concatenate((b_bid, bid)), np.concatenate((b_ask, ask))
            j = int(np.searchsorted(b_recv, b_recv[-1], side="left")) - 1
            self.book_recv = b_recv[[j, -1]]
            self.book_bid, self.book_ask = b_bid[[j, -1]], b_ask[[j, -1]]
        if not nt:
            return
        recv, sz = trades["recv"], np.asarray(trades["sz"], dtype=np.float64)
        pre = np.searchsorted(b_recv, recv, side="left") - 1  # the last book before it
        sizes = np.concatenate((self.sizes, sz))
        with np.errstate(invalid="ignore"):
            outlier = sz > robust_thresholds(sizes, p)[len(self.sizes):]
        self.sizes = sizes[-p.outlier_window:]
        ends = -(-recv // self.cadence) * self.cadence
        bins, min_levels = self.bins, p.sweep_min_levels
        b = bins[-1] if bins else None
        last, run = self.side, self.run
        for e, s, px, z, ask_d, bid_d, out in zip(
                ends.tolist(), trades["side"].tolist(), trades["px"].tolist(), sz.tolist(),
                b_ask[pre].tolist(), b_bid[pre].tolist(), outlier.tolist(), strict=True):
            if b is None or b.end != e:
                b = _Bin(e)
                bins.append(b)
            b.count += 1
            b.notional += px * z
            if s > 0:
                b.buy += z
                if b.buy_px is None:
                    b.buy_px, b.buy_depth = {px}, ask_d
                elif len(b.buy_px) < min_levels:
                    b.buy_px.add(px)
            elif s < 0:
                b.sell += z
                if b.sell_px is None:
                    b.sell_px, b.sell_depth = {px}, bid_d
                elif len(b.sell_px) < min_levels:
                    b.sell_px.add(px)
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
        return dict(zip(FLOW_COLUMNS, self.at(int(ts_ms), float(top["dpx_bps"])), strict=True))

    def at(self, t: int, dpx: float) -> tuple[Any, ...]:
        """`columns`' values in FLOW_COLUMNS order, for the tape's own loop (t an int, the
        row's dpx_bps a float): it builds one dict per row of all the MicroTape's columns."""
        if t != self.next_ts and self.next_ts is not None:
            raise ValueError(f"FlowStream {self.coin}: grid time {t}, expected {self.next_ts}")
        self.next_ts = t + self.cadence
        p = self.params
        bins = self.bins
        if bins and bins[0].end <= t:
            count, buy, sell, imb, runlen, sweep, sweep_dir, outliers, vwap = self._tape(t)
        else:
            count, buy, sell, imb, runlen, sweep, sweep_dir, outliers, vwap = (
                0, 0.0, 0.0, 0.0, self.runlen, 0, 0, 0, NAN)
        # volatility and trend: one point into each rolling sum and rank
        s = self.rv_sum.push(dpx * dpx)
        rv = NAN if s != s else math.sqrt(s if s > 0.0 else 0.0)
        rv_pctl = self.rv_rank.push(rv)
        eff = efficiency_of(self.net.push(dpx), self.gross.push(abs(dpx)))
        # candles
        pending = self.pending
        if pending and pending[0][0] <= t:
            self._select_candle(t)
        wick_up, wick_dn, body, rng, close_loc, range_pctl = self.candle
        # context
        ctx = self.ctx
        if ctx and ctx[0][0] <= t:
            self._ctx_to(t)
        back, tb = self.back, t - p.oi_delta_ms
        if back and back[0][0] <= tb:
            while back and back[0][0] <= tb:
                self.oi_back = back.popleft()[1]
        funding, oi, oi_back = self.funding, self.oi, self.oi_back
        if t >= self.hour_end:  # the session is constant within an hour
            self.session, self.hour_end = session_of(t, p), (t // _HOUR_MS + 1) * _HOUR_MS
        return (count, buy, sell, imb, runlen, sweep, sweep_dir, outliers, vwap, rv, rv_pctl,
                wick_up, wick_dn, body, rng, range_pctl, close_loc,
                funding, self.funding_rank.push(funding), oi, _ratio(oi, oi_back, NAN) - 1.0,
                self.oi_rank.push(oi), self.basis, self.premium, self.session, eff,
                regime_of(rv_pctl, eff, p))

    def _tape(self, t: int) -> tuple[Any, ...]:
        """The tape columns at t (FLOW_COLUMNS' first nine), the bins before t dropped."""
        bins = self.bins
        while bins and bins[0].end < t:  # before the grid began: only the run carries
            self.runlen = bins.popleft().runlen
        if not bins or bins[0].end != t:
            return 0, 0.0, 0.0, 0.0, self.runlen, 0, 0, 0, NAN
        b = bins.popleft()
        self.runlen = b.runlen
        buy, sell = b.buy, b.sell
        total = buy + sell
        min_levels = self.params.sweep_min_levels
        bs = b.buy_px is not None and (len(b.buy_px) >= min_levels or buy > b.buy_depth)
        ss = b.sell_px is not None and (len(b.sell_px) >= min_levels or sell > b.sell_depth)
        if bs and ss:
            d = buy - sell
            sweep_dir = 1 if d > 0 else -1 if d < 0 else 0
        else:
            sweep_dir = int(bs) - int(ss)
        return (b.count, buy, sell, _ratio(buy - sell, total, 0.0), b.runlen, int(bs or ss),
                sweep_dir, b.outliers, _ratio(b.notional, total, NAN))

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
