"""The MicroTape of one UTC day, streamed at a bounded cost per step.

Each step builds the MicroTape (`build_microtape`, the nightly function) from a trailing
cut of the feed buffer (`TailBuffer.trailing`: each coin's rows from
`next grid time - build_span_ms` on, about an hour: the candle rank's previous candles,
plus the carry of every stream) and keeps the rows from the coin's next grid time on.
Most columns are then the nightly's because each is a function of the rows in that span
and the carry (as-of joins, interval bins, the cancel pairs, the trade tape, the candle
ranks). The others are computed from carried state, with the batch code's own functions:

- the three rolling sums (rv_bps, trend_eff's net and gross moves), whose last bits depend
  on every point since the grid began: `RollingSum` per coin and sum, fed each grid
  point's dpx_bps once;
- the trailing ranks and the median, which read their window's contents only: rv_pctl
  (1 h of rv), funding_pctl and oi_pctl (4 h of funding / OI), depth_5_rel (10 min of
  top-5 depth) over the carried last points of each series; regime from rv_pctl and
  trend_eff.

A day's grid starts where the nightly's does: the first two-sided quote at or after
`input_start` (the day's start when cold; `day_start - warm_span_ms` when the previous
day's tail seeds it, as `lotus_core.microtape.warm` does). The first step of a coin
builds from `input_start` (once); rows before the day's start warm the state but are not
returned. tests/core/live/test_live_tape.py checks stepped == batch on every column, on
one day (windows longer than the rebuilt span) and across a midnight.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lotus_core.live.tail import TailBuffer
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.microtape.grid import RollingSum, rolling_median, rolling_pctl, safe_ratio
from lotus_core.microtape.regime import classify, efficiency, rv_from_sum, rv_percentile
from lotus_core.microtape.schema import STR
from lotus_core.microtape.warm import _interval_minutes, day_start_ms, warm_span_ms


def build_span_ms(params: MicroTapeParams) -> int:
    """The feed a step rebuilds the MicroTape from, before the first new grid time: what
    the columns that are not carried read (the candle rank's previous candles, the OI
    change's look-back, dpx's previous grid time), plus a minute. The long trailing ranks
    and medians (rv, funding, OI: up to 4 h; depth: 10 min) are computed from carried
    series instead, so a step does not rebuild them."""
    candle_ms = 60_000 * (params.candle_pctl_window + 1) * _interval_minutes(params)
    return max(candle_ms, params.oi_delta_ms, 2 * params.cadence_ms) + 60_000


@dataclass
class _Coin:
    """One coin's carried state: the next grid time, the rolling sums, the rv tail."""

    next_ts: int
    rv_sum: RollingSum
    net: RollingSum
    gross: RollingSum
    rv: deque[float] = field(default_factory=deque)
    funding: deque[float] = field(default_factory=deque)
    oi: deque[float] = field(default_factory=deque)
    d5: deque[float] = field(default_factory=deque)


class LiveTape:
    """Stream one day's MicroTape out of a `TailBuffer` (module docstring)."""

    def __init__(self, day: str, params: MicroTapeParams, input_start_ms: int) -> None:
        self.day, self.params = day, params
        self.day_start = day_start_ms(day)
        self.input_start = input_start_ms
        self.span = min(build_span_ms(params), warm_span_ms(params))
        self.coins: dict[str, _Coin] = {}

    def _new(self, first_ts: int) -> _Coin:
        p = self.params
        w, t = p.points(p.rv_window_ms), p.points(p.trend_window_ms)
        ctx = max(p.points(p.ctx_pctl_window_ms) - 1, 0)
        return _Coin(first_ts, RollingSum(w, w), RollingSum(t, t), RollingSum(t, t),
                     deque(maxlen=max(p.points(p.rv_pctl_window_ms) - 1, 0)),
                     deque(maxlen=ctx), deque(maxlen=ctx),
                     deque(maxlen=max(p.points(p.depth_rel_window_ms) - 1, 0)))

    def low_water(self) -> dict[str, int]:
        """Per coin, the earliest receive time its next step reads (before it: the carry),
        and never after the day's last `warm_span_ms`: the next day starts warm from it."""
        keep = self.day_start + 86_400_000 - warm_span_ms(self.params)
        return {coin: min(keep, max(self.input_start, c.next_ts - self.span))
                for coin, c in self.coins.items()}

    def step(self, buf: TailBuffer, now_ms: int) -> pd.DataFrame:
        """The rows with grid time < now_ms not returned before (ts >= the day's start)."""
        cuts: dict[str, int] = {}
        carry: dict[str, bool] = {}
        for coin in buf.quoted_since(self.input_start):
            st = self.coins.get(coin)
            cut = self.input_start if st is None else max(self.input_start,
                                                          st.next_ts - self.span)
            if st is not None and st.next_ts >= now_ms:
                continue
            cuts[coin], carry[coin] = cut, cut > self.input_start
        if not cuts:
            return build_microtape(buf.feed(self.day, 0, 0), self.params)
        frames = build_microtape(buf.trailing(self.day, cuts, carry, self.params,
                                                        self.input_start), self.params)
        ts = frames["ts_ms"].to_numpy()
        codes, names = pd.factorize(frames["coin"])
        per = np.array([self.coins[str(c)].next_ts if str(c) in self.coins else -1
                        for c in names] + [-1], dtype=np.int64)
        nxt = per[np.asarray(codes, dtype=np.int64)]
        frames = frames.loc[(ts >= nxt) & (ts < now_ms)].reset_index(drop=True)
        if len(frames) == 0:
            return frames
        parts = []
        for c, block in frames.groupby("coin", sort=True, observed=True):
            parts.append(self._carry(str(c), block.reset_index(drop=True)))
        out = pd.concat(parts, ignore_index=True)
        return out.loc[out["ts_ms"].to_numpy() >= self.day_start].reset_index(drop=True)

    def _carry(self, coin: str, rows: pd.DataFrame) -> pd.DataFrame:
        """Replace the rolling-sum columns (and what derives from them) by the carried ones."""
        ts = rows["ts_ms"].to_numpy()
        st = self.coins.get(coin)
        if st is None:
            st = self.coins[coin] = self._new(int(ts[0]))
        if ts[0] != st.next_ts or (len(ts) > 1 and (np.diff(ts) != self.params.cadence_ms).any()):
            raise RuntimeError(f"live tape of {coin}: grid continuity broken at {ts[0]} "
                               f"(expected {st.next_ts})")
        dpx = rows["dpx_bps"].to_numpy(dtype=np.float64)
        rv = rv_from_sum(st.rv_sum.extend(dpx * dpx))
        eff = efficiency(st.net.extend(dpx), st.gross.extend(np.abs(dpx)))
        pctl = _continue(st.rv, rv, lambda x: rv_percentile(x, self.params))
        p = self.params
        ctx_w, ctx_min = p.points(p.ctx_pctl_window_ms), p.points(p.pctl_min_ms)
        for col, hist in (("funding", st.funding), ("open_interest", st.oi)):
            rows[col.replace("open_interest", "oi") + "_pctl"] = _continue(
                hist, rows[col].to_numpy(dtype=np.float64),
                lambda x: rolling_pctl(x, ctx_w, ctx_min))
        d5 = (rows["depth_5_bid"].to_numpy(dtype=np.float64)
              + rows["depth_5_ask"].to_numpy(dtype=np.float64))
        med = _continue(st.d5, d5, lambda x: rolling_median(
            x, p.points(p.depth_rel_window_ms), p.points(p.depth_rel_min_ms)))
        rows["depth_5_rel"] = safe_ratio(d5, med)
        st.next_ts = int(ts[-1]) + self.params.cadence_ms
        rows["rv_bps"] = rv
        rows["rv_pctl"] = pctl
        rows["trend_eff"] = eff
        rows["regime"] = pd.Series(classify(pctl, eff, self.params), dtype=STR)
        return rows


def _continue(history: deque[float], new: np.ndarray, fn: object) -> np.ndarray:
    """A trailing statistic of the new points, over the carried points before them (the
    window's contents are all it reads: ranks and medians), then carry the new points."""
    old = np.fromiter(history, np.float64, len(history))
    out = fn(np.concatenate([old, new]))[len(old):]  # type: ignore[operator]
    history.extend(np.asarray(new, dtype=np.float64).tolist())
    return np.asarray(out, dtype=np.float64)
