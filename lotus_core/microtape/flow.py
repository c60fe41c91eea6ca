"""The MicroTape's flow columns (trade tape, candles, context, volatility, session, regime):
`flow_features` for the nightly build, `FlowStream` for the live tape.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. Each rule lives once, in tape.py, candles.py, context.py, regime.py
and grid.py, its one-point form beside its array form; both paths call them. Equality test:
tests/core/microtape/test_microtape_flow.py (every flow column against `build_coin`).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from itertools import repeat
from typing import Any

import numpy as np

from lotus_core.microtape.candles import candle_features, morphology, range_pctl_of, usable_from
from lotus_core.microtape.context import (
    basis_bps,
    context_features,
    ctx_rank,
    oi_back_time,
    oi_delta,
    session,
    session_of,
)
from lotus_core.microtape.context_history import ContextReference
from lotus_core.microtape.grid import NAN, RollingPctl, RollingSum, before_stop, ratio_of
from lotus_core.microtape.inputs import NO_TRADES, Books, CoinInputs
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.microtape.regime import (
    classify,
    efficiency,
    efficiency_of,
    regime_of,
    rv_from_sum,
    rv_from_sum_list,
    rv_pctl_window,
    rv_window,
    trend_efficiency,
    trend_window,
    vol_features,
)
from lotus_core.microtape.tape import missing_span, tape_features
from lotus_core.time import HOUR_MS

FLOW_COLUMNS = (
    "trade_count", "buy_vol", "sell_vol", "aggr_imb", "aggr_runlen", "sweep_flag", "sweep_dir",
    "size_outlier_count", "vwap_px", "rv_bps", "rv_pctl", "wick_up_bps", "wick_dn_bps",
    "body_bps", "range_bps", "range_pctl", "close_loc", "funding", "funding_pctl",
    "open_interest", "oi_delta", "oi_pctl", "basis_bps", "premium", "session", "trend_eff",
    "regime",
)
"""The columns `flow_features` and `FlowStream.columns` return, in MicroTape order."""

RUN = 16
"""Rows from which a call's columns are computed with numpy (the batch's own functions where
it has them) rather than one row at a time in Python: ~1 us a numpy call, paid once."""
_NO_RECV = int(np.iinfo(np.int64).min)
_NO_CANDLE = (NAN, NAN, NAN, NAN, NAN, NAN)


def flow_features(inp: CoinInputs, grid: np.ndarray, dpx_bps: np.ndarray,
                  params: MicroTapeParams, reference: ContextReference | None = None,
                  ) -> dict[str, np.ndarray]:
    """The flow columns of one coin on its grid (the batch path), given the mid's moves;
    `reference`: the coin's context ranked on trailing days (`context_history`)."""
    cols = tape_features(inp.trades, inp.books, grid, params, inp.trades_from())
    cols.update(vol_features(dpx_bps, params))
    cols.update(candle_features(inp.candles, grid, params))
    cols.update(context_features(inp.ctx, grid, params, reference))
    cols["session"] = session(grid, params)
    cols["trend_eff"] = trend_efficiency(dpx_bps, params)
    cols["regime"] = classify(cols["rv_pctl"], cols["trend_eff"], params)
    return cols


class Trend:
    """`trend_eff` of consecutive grid points: `regime.efficiency` of the trailing sums of dpx
    and of |dpx| over `regime.trend_window` (`regime.trend_efficiency`, carried)."""

    __slots__ = ("net", "gross")

    def __init__(self, window: int, min_periods: int) -> None:
        self.net = RollingSum(window, min_periods)
        self.gross = RollingSum(window, min_periods)

    def extend(self, dpx: list[float]) -> list[float]:
        net, gross = self.net.extend(dpx), self.gross.extend([abs(d) for d in dpx])
        if len(dpx) >= RUN:  # the batch's own function, cheaper over many points
            return efficiency(np.asarray(net), np.asarray(gross)).tolist()  # type: ignore[no-any-return]
        return [efficiency_of(a, b) for a, b in zip(net, gross, strict=True)]


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


class FlowStream:
    """One coin's flow columns, fed its feed rows by `add` and read at each grid time by
    `columns` / `columns_from`.

    `add` takes one coin's feed rows a batch at a time (receive order, the layout of
    `CoinInputs`) and does the per-event work there, off the latency path, vectorised where
    the batch code is: each trade's robust size threshold (the nightly's compiled kernel,
    `outliers.py`, over the carried last `outlier_window` sizes), the depth it faced (the
    last book received before it), its aggressor run, and its interval (t - cadence, t],
    whose sums it extends in receive order as `np.bincount` does (so bit for bit); each
    candle update's morphology (`candles.morphology`) and the time it becomes usable
    (`candles.usable_from`). `columns(t, top)` then reads only what the batch's as-of rules
    admit at t (trades: recv <= t; candles: usable by t; context: recv <= t, and <=
    `oi_back_time(t)` for the OI change) and pushes one point into each trailing window:
    the three rolling sums (`grid.RollingSum`, whose last bits depend on every point since
    the grid began), the three percentile ranks (`grid.RollingPctl`) and, on a new candle,
    the previous candles' final ranges (`candles._range_pctl`'s window).

    The tape columns are NaN where the coin's trades channel is not there
    (`tape.missing_span`): no trade by t, counting the first one added and a replayed one
    shown by `saw_trades` (the venue's snapshot on subscribe: not flow, but proof of the
    channel), and t past the grace after the coin's first grid time.

    Batches must be in receive order (no event of a batch received before one of an
    earlier batch); `columns` must be called at every grid time from the coin's first, in
    order, after every event with recv <= t was added (later ones may be there already).
    State is per coin and per day: a warm day starts from the warm feed's first event, as
    `build_microtape(..., warm=...)` does."""

    def __init__(self, coin: str, params: MicroTapeParams,
                 reference: ContextReference | None = None) -> None:
        self.coin, self.params = coin, params
        self.cadence = params.cadence_ms
        self.next_ts: int | None = None
        self.grid_start = 0  # the first grid time (`columns_from`'s first t)
        # trade tape
        self.trades_from = NO_TRADES  # the first trade received (replayed ones included)
        self.bins: deque[_Bin] = deque()
        from lotus_core.microtape.outliers import SizeWindow  # numba: on first use

        self.sizes = SizeWindow(params)  # the last outlier_window trade sizes
        self.side, self.run = 0, 0  # the last trade's side and run
        self.runlen = 0.0  # the run as of the last bin read
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
        self.ranked: list[float] = []  # the non-NaN finals, sorted (`range_pctl_of`)
        # context: events not received yet at t, the current one, the OI look-back queue
        self.ctx: deque[tuple[int, float, float, float, float, float]] = deque()
        self.back: deque[tuple[int, float]] = deque()
        self.funding = self.oi = self.basis = self.premium = self.oi_back = NAN
        self.session, self.hour_end = "", -1
        # trailing windows over the grid
        self.rv_sum, self.trend = RollingSum(*rv_window(params)), Trend(*trend_window(params))
        self.rv_rank = RollingPctl(*rv_pctl_window(params))
        self.funding_rank = ctx_rank("funding_pctl", params, reference)
        self.oi_rank = ctx_rank("oi_pctl", params, reference)

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
            j = before_stop(b_recv, b_recv[-1]) - 1
            self.book_recv = b_recv = [b_recv[j], b_recv[-1]]
            self.book_bid = [self.book_bid[j], self.book_bid[-1]]
            self.book_ask = [self.book_ask[j], self.book_ask[-1]]
        b_recv += recv
        self.book_bid += bid
        self.book_ask += ask

    def saw_trades(self, recv: int) -> None:
        """A trade of the coin received at `recv` that is not flow (a replay: `fresh`): the
        trades channel is there from then on."""
        if recv < self.trades_from:
            self.trades_from = recv

    def add_trades(self, recv: list[int], side: list[int], px: list[float],
                   sz: list[float]) -> None:
        """A batch's trades (receive order, after its books): robust size outliers,
        aggressor runs, and the interval sums they fall in."""
        if recv[0] < self.trades_from:
            self.trades_from = recv[0]
        p = self.params
        z_arr = np.array(sz, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            outlier = (z_arr > self.sizes.thresholds(z_arr)).tolist()
        b_recv, b_bid, b_ask = self.book_recv, self.book_bid, self.book_ask
        cadence, bins, min_levels = self.cadence, self.bins, p.sweep_min_levels
        b = bins[-1] if bins else None
        last, run = self.side, self.run
        for r, s, x, z, out in zip(recv, side, px, sz, outlier, strict=True):
            e = -(-r // cadence) * cadence  # grid.grid_ceil: (e - cadence, e] holds r
            if b is None or b.end != e:
                b = _Bin(e)
                bins.append(b)
            b.count += 1
            b.notional += x * z
            if s > 0:
                b.buy += z
                if b.buy_px is None:  # the depth it faced: the last book before it
                    b.buy_px, b.buy_depth = {x}, b_ask[before_stop(b_recv, r) - 1]
                elif len(b.buy_px) < min_levels:
                    b.buy_px.add(x)
            elif s < 0:
                b.sell += z
                if b.sell_px is None:
                    b.sell_px, b.sell_depth = {x}, b_bid[before_stop(b_recv, r) - 1]
                elif len(b.sell_px) < min_levels:
                    b.sell_px.add(x)
            if out:
                b.outliers += 1
            run = run + 1 if s == last else 1  # tape.run_lengths
            last = s
            b.runlen = run * s
        self.side, self.run = last, run

    def _add_candles(self, candles: dict[str, np.ndarray]) -> None:
        shape = morphology(candles)
        usable = usable_from(candles)
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
        if self.next_ts is None:
            self.grid_start = t
        p, cadence = self.params, self.cadence
        n = len(dpx)
        if n == 0:
            return [[] for _ in FLOW_COLUMNS]
        self.next_ts = t + n * cadence
        # volatility and trend: the windows, each over the run
        sums = self.rv_sum.extend([d * d for d in dpx])
        long = n >= RUN  # the batch's own functions, cheaper over many points
        rv = rv_from_sum(np.asarray(sums)).tolist() if long else rv_from_sum_list(sums)
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
        """The tape columns (FLOW_COLUMNS' first nine, floats) of n grid times from t: a
        bin's values at its row (every bin ends on a grid time), no trades elsewhere; the
        aggressor run carries; NaN where the trades channel is not there."""
        cadence, min_levels = self.cadence, self.params.sweep_min_levels
        count, buy, sell, imb = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        sweep, sweep_dir, outliers, vwap = [0.0] * n, [0.0] * n, [0.0] * n, [NAN] * n
        runlen: list[float] = []
        bins, i = self.bins, 0
        while bins and bins[0].end < t + n * cadence:
            b = bins.popleft()
            if b.end >= t:  # else before the grid began: only the run carries
                j = (b.end - t) // cadence
                runlen += [self.runlen] * (j - i)
                i = j + 1
                runlen.append(float(b.runlen))
                b_buy, b_sell = b.buy, b.sell
                total = b_buy + b_sell
                # tape._side_sweeps: enough distinct prices, or more than the facing depth
                bs = b.buy_px is not None and (len(b.buy_px) >= min_levels or
                                               b_buy > b.buy_depth)
                ss = b.sell_px is not None and (len(b.sell_px) >= min_levels or
                                                b_sell > b.sell_depth)
                if bs and ss:
                    d = b_buy - b_sell
                    sweep_dir[j] = 1.0 if d > 0 else -1.0 if d < 0 else 0.0
                else:
                    sweep_dir[j] = float(int(bs) - int(ss))
                count[j], buy[j], sell[j] = float(b.count), b_buy, b_sell
                outliers[j] = float(b.outliers)
                imb[j], vwap[j] = ratio_of(b_buy - b_sell, total, 0.0), ratio_of(b.notional,
                                                                                 total)
                sweep[j] = 1.0 if bs or ss else 0.0
            self.runlen = float(b.runlen)
        runlen += [self.runlen] * (n - i)
        cols = [count, buy, sell, imb, runlen, sweep, sweep_dir, outliers, vwap]
        lo, hi = missing_span(t, n, cadence, self.grid_start, self.trades_from, self.params)
        if lo < hi:
            nan = [NAN] * (hi - lo)
            for col in cols:
                col[lo:hi] = nan
        return cols

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
            if back:  # the first t with oi_back_time(t) at or after it
                nxt = min(nxt, back[0][0] + delay)
            nxt = min(nxt, self.hour_end)
            j = min(n, max(i, -((t - nxt) // cadence)))  # its row
            if j > i:
                oi = self.oi
                rows += repeat((*self.candle, self.funding, oi,
                                oi_delta(oi, self.oi_back, ratio_of), self.basis, self.premium,
                                self.session), j - i)
                i = j
            if i == n:
                return [list(c) for c in zip(*rows, strict=True)]
            ts = t + i * cadence
            if pending and pending[0][0] <= ts:
                self._select_candle(ts)
            if ctx and ctx[0][0] <= ts:
                self._ctx_to(ts)
            tb = oi_back_time(ts, p)
            while back and back[0][0] <= tb:  # as-of: received at or before tb
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
        self.candle = (*values, range_pctl_of(self.ranked, values[3], self.params))

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
        self.basis = basis_bps(mark, oracle, ratio_of)
