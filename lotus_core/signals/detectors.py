"""Detectors, one definition: the nightly batch is the fast path of the same rules; the step
carries the state the batch reads.

`run_detectors` (batch) turns each coin's MicroTape slice into per-row candidates of each
kind, vectorised, then keeps one window per event (`episode_starts`: a cooldown per
detector, coin and direction). `DetectorStream` (step) gives the live daemon the same
windows one row at a time. Each kind's batch function is followed by its step class, both
reading the same window rows (`*_rows`), thresholds and rules; the per-row feature states
sit beside their array forms in `features`. Everything looks backwards only (a window at t
does not depend on later frames). Equality: tests/core/signals/test_signals_detectors.py
(`test_stream_equals_batch_*`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import lotus_core.signals.features as F
from lotus_core.filters import ewm, wilder_rsi
from lotus_core.signals.ids import pair_key, window_id_one
from lotus_core.signals.spec import (
    BreakoutRetestParams,
    DetectorSpec,
    DivergenceParams,
    FlowPressureParams,
    MeanReversionParams,
    SweepParams,
)

WINDOW_COLUMNS = ("frame_idx", "ts_ms", "coin", "detector_id", "direction", "raw_strength",
                  "horizon_s")

NAN, INF = F.NAN, F.INF
NEVER_MS = int(np.iinfo(np.int64).min) // 2  # "no earlier candidate" of the cooldown rule
_EXTEND_FLOOR = 1e-9  # breakout strength = extension / max(extend_bps, this)
_FROZEN_BPS = 1e-6  # a sweep's stall: the mid's range over the stall under this
_QUIET_TRADES = 1  # ... and at most this many trades in it
_SWEPT = 1  # sweep_flag of a sweep row
_NO_RATIO = 1.0  # sweep's volume ratio without a positive (or with a NaN) baseline
_RSI_FLAT = 50.0  # the RSI while nothing has moved (as filters.wilder_rsi)
_BIG = float(np.finfo(np.float64).max)  # what np.nan_to_num makes of +inf
_NP_LOG1P = np.log1p  # numpy's on one value too: the batch's loop, not libm's (features)
_sqrt, _log_bps_one = math.sqrt, F.log_bps_one  # bound once: every row calls them


@dataclass(frozen=True)
class Candidates:
    """Per-row candidate flags of one detector on one coin's slice."""

    fire: np.ndarray  # bool
    direction: np.ndarray  # int8, +1 / -1 where fire
    strength: np.ndarray  # float64 >= 0 where fire


Slice = dict[str, np.ndarray]
KindFn = Callable[[Slice, DetectorSpec, int], Candidates]
Hit = tuple[int, float] | None  # a step's candidate this row: (direction, raw strength)


class _Row:
    """Step state of one coin: its current row's inputs and its shared features. A feature
    two detectors share (same input and window) is made once and updated once a row: fed
    the log-bps mid (`feed="x"`), the trade count (`"tc"`), the row after those
    (`update(row)`, in dependency order), or by another feature (`"src"`)."""

    __slots__ = ("t", "ts", "x", "buy", "sell", "imb", "tc", "book", "sflag", "sdir",
                 "feats", "on_x", "on_tc", "updates")

    def __init__(self) -> None:
        self.t = -1  # row position within the coin (the batch's windows are positional)
        self.ts = NEVER_MS
        self.x = self.buy = self.sell = self.imb = self.book = NAN
        self.tc = self.sflag = self.sdir = 0
        self.feats: dict[tuple[Any, ...], Any] = {}
        self.on_x: list[Callable[[float], Any]] = []
        self.on_tc: list[Callable[[int], Any]] = []
        self.updates: list[Callable[[_Row], None]] = []

    def feature(self, key: tuple[Any, ...], make: Callable[[], Any],
                feed: str | None = None) -> Any:
        """The shared feature `key`, made (after the ones `make` asks for) on first use."""
        f = self.feats.get(key)
        if f is None:
            f = self.feats[key] = make()
            if feed == "x":
                self.on_x.append(f.push)
            elif feed == "tc":
                self.on_tc.append(f.push)
            elif feed is None:
                self.updates.append(f.update)
            # else: fed by the feature it trails (`_Rsi.trail`)
        return f


def _both_sides(up: tuple[np.ndarray, np.ndarray], dn: tuple[np.ndarray, np.ndarray]) -> Candidates:
    """Merge an up-side and a down-side (fire, strength) pair; the stronger side wins a tie."""
    fu, su = up
    fd, sd = dn
    su = np.where(fu, su, -np.inf)
    sd = np.where(fd, sd, -np.inf)
    fire = fu | fd
    direction = np.where(su >= sd, 1, -1).astype(np.int8)
    strength = np.where(fire, np.maximum(su, sd), 0.0)
    return Candidates(fire, np.where(fire, direction, 0).astype(np.int8), strength)


def _both_sides_one(fu: bool, su: float, fd: bool, sd: float) -> Hit:
    """`_both_sides` for one row (np.maximum's NaN included)."""
    if not (fu or fd):
        return None
    a = su if fu else -INF
    b = sd if fd else -INF
    strength = NAN if (a != a or b != b) else (a if a >= b else b)
    return (1 if a >= b else -1), strength


# ---- breakout_retest --------------------------------------------------------------------


def _breakout_rows(p: BreakoutRetestParams, cadence: int) -> tuple[int, int]:
    """(lookback, retest window) in rows."""
    return F.rows(p.lookback_s, cadence), F.rows(p.retest_window_s, cadence)


def _retest_need(p: BreakoutRetestParams) -> float:
    """The extension past the level a retest needs: the break plus the extension."""
    return p.break_bps + p.extend_bps


def _retest_holds(ext: np.ndarray, y: np.ndarray, low: np.ndarray, level: np.ndarray,
                  p: BreakoutRetestParams) -> np.ndarray:
    """The retest: extended `_retest_need` past the level, back within retest_tol_bps of
    it, never fail_bps through it (NaN fails). Step form: `_BreakSide.step`."""
    return ((ext >= _retest_need(p)) & (y <= level + p.retest_tol_bps)
            & (low >= level - p.fail_bps))


def _breakout_strength(ext: Any, p: BreakoutRetestParams) -> Any:
    return ext / max(p.extend_bps, _EXTEND_FLOOR)


def breakout_retest(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """Break of the lookback high/low, extension, then a retest that holds the level."""
    p: BreakoutRetestParams = spec.typed_params
    x = F.log_bps(g["mid_px"])
    look, win = _breakout_rows(p, cadence)

    def side(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hi = F.prev_max(y, look)
        brk = np.nan_to_num(y - hi, nan=-np.inf) >= p.break_bps
        event = brk & ~F.recent_any(brk, win)  # the first break after a calm spell
        seg = F.segment_ids(event)
        level = F.seg_ffill(hi, event)
        start = F.seg_start_index(event)
        age = np.arange(len(y)) - start
        top = F.seg_cummax(y, seg)
        low = F.seg_cummin(y, seg)
        ext = top - level
        cond = (seg > 0) & (age > 0) & (age <= win) & _retest_holds(ext, y, low, level, p)
        fire = F.first_in_segment(cond, seg)
        strength = np.where(fire, _breakout_strength(ext, p), 0.0)
        return fire, strength

    return _both_sides(side(x), side(-x))


class _BreakSide:
    """`breakout_retest`'s side() one row at a time, on y (the mid, or its negative)."""

    __slots__ = ("p", "win", "need", "last_brk", "start", "level", "top", "low", "live")

    def __init__(self, p: BreakoutRetestParams, win: int) -> None:
        self.p = p
        self.win = win
        self.need = _retest_need(p)
        self.last_brk = -(1 << 62)  # last row with a break (recent_any)
        self.start = -1  # row of the current segment's event (seg_start_index)
        self.level = self.top = self.low = NAN
        self.live = False  # the segment can still fire (first_in_segment, age <= win)

    def step(self, t: int, y: float, hi: float) -> float | None:
        p = self.p
        if y - hi >= p.break_bps:  # brk (NaN: none)
            event = self.last_brk < t - self.win  # no break in the `win` rows before
            self.last_brk = t
            if event:  # a new segment: its level, running max and min start here
                self.start, self.level, self.live = t, hi, True
                self.top = self.low = y
                return None  # age > 0
        if not self.live:
            return None
        if t - self.start > self.win:  # age <= win
            self.live = False
            return None
        if y > self.top:  # seg_cummax / seg_cummin (a NaN row changes neither, and
            self.top = y  # fails the retest test below, as its NaN top does in the batch)
        elif y < self.low:
            self.low = y
        level = self.level
        ext = self.top - level
        # _retest_holds, short-circuited (most live rows fail the first test)
        if ext >= self.need and y <= level + p.retest_tol_bps and self.low >= level - p.fail_bps:
            self.live = False  # first_in_segment
            return _breakout_strength(ext, p)
        return None


class _Breakout:
    """`breakout_retest` per row: both sides off one shared `PrevExtremes`."""

    __slots__ = ("px", "up", "dn", "brk")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: BreakoutRetestParams = spec.typed_params
        look, win = _breakout_rows(p, cadence)
        self.px: F.PrevExtremes = r.feature(("px", look), lambda: F.PrevExtremes(look), "x")
        self.up, self.dn = _BreakSide(p, win), _BreakSide(p, win)
        self.brk = p.break_bps

    def step(self, r: _Row) -> Hit:
        x, up, dn = r.x, self.up, self.dn
        hi, lo = self.px.hi, self.px.lo
        # a side with no break and no live segment has nothing to do (the common case)
        su = up.step(r.t, x, hi) if up.live or x - hi >= self.brk else None
        sd = dn.step(r.t, -x, -lo) if dn.live or lo - x >= self.brk else None
        if su is None and sd is None:
            return None
        return _both_sides_one(su is not None, su or 0.0, sd is not None, sd or 0.0)


# ---- divergence -------------------------------------------------------------------------


def _divergence_rows(p: DivergenceParams, cadence: int) -> tuple[int, int, int, int, int]:
    """(lookback, RSI span, MACD fast, slow, signal spans) in rows."""
    return (F.rows(p.lookback_s, cadence), F.rows(p.rsi_span_s, cadence),
            F.rows(p.macd_fast_s, cadence), F.rows(p.macd_slow_s, cadence),
            F.rows(p.macd_signal_s, cadence))


def divergence(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """New price extreme that RSI and the MACD histogram do not confirm."""
    p: DivergenceParams = spec.typed_params
    x = F.log_bps(g["mid_px"])
    look, n, fast, slow, sig = _divergence_rows(p, cadence)
    rsi = wilder_rsi(x, n, nan_rows="skip")  # of the log-bps mid
    macd = ewm(x, span=fast) - ewm(x, span=slow)
    hist = macd - ewm(macd, span=sig)
    dhist = np.r_[0.0, np.diff(hist)]

    new_low = np.nan_to_num(x - F.prev_min(x, look), nan=0.0) < 0
    gap_up = rsi - F.prev_min(rsi, look)
    bull = new_low & (np.nan_to_num(gap_up) >= p.rsi_gap) & (dhist > 0)

    new_high = np.nan_to_num(x - F.prev_max(x, look), nan=0.0) > 0
    gap_dn = F.prev_max(rsi, look) - rsi
    bear = new_high & (np.nan_to_num(gap_dn) >= p.rsi_gap) & (dhist < 0)
    return _both_sides((bull, np.nan_to_num(gap_up) / p.rsi_gap),
                       (bear, np.nan_to_num(gap_dn) / p.rsi_gap))


class _Rsi:
    """`wilder_rsi(x, n, nan_rows="skip")` of the log-bps mid, per row: the first change
    is 0, NaN changes are skipped, 50 while nothing has moved."""

    __slots__ = ("up", "dn", "prev", "value", "trails")

    def __init__(self, n: int) -> None:
        alpha = F.ewm_alpha(alpha=1.0 / n)  # wilder_rsi's alpha
        self.up, self.dn = F.Ewm(alpha), F.Ewm(alpha)
        self.prev: float | None = None
        self.value = _RSI_FLAT
        self.trails: list[Callable[[float], None]] = []

    def trail(self, w: int) -> F.PrevWindow:
        """A `PrevWindow` of this RSI: prev_max / prev_min over its w values before a row."""
        pw = F.PrevWindow(w)
        self.trails.append(pw.push)
        return pw

    def update(self, r: _Row) -> None:
        x = r.x
        if self.prev is None:
            d = 0.0
        else:
            d = x - self.prev
            for push in self.trails:  # the previous row's value, before this row moves it
                push(self.value)
        self.prev = x
        if d == d:
            up = self.up.push(d if d > 0.0 else 0.0)
            dn = self.dn.push(-d if d < 0.0 else 0.0)
        else:
            up, dn = self.up.m, self.dn.m
        tot = up + dn
        self.value = 100.0 * up / tot if tot > 0 else _RSI_FLAT


class _MacdHist:
    """`divergence`'s dhist per row: the MACD histogram's change (0 at the first row)."""

    __slots__ = ("fast", "slow", "sig", "hist", "dhist", "first")

    def __init__(self, fast: int, slow: int, sig: int) -> None:
        self.fast, self.slow = F.Ewm(F.ewm_alpha(span=fast)), F.Ewm(F.ewm_alpha(span=slow))
        self.sig = F.Ewm(F.ewm_alpha(span=sig))
        self.hist = NAN
        self.dhist = 0.0
        self.first = True

    def update(self, r: _Row) -> None:
        x = r.x
        macd = self.fast.push(x) - self.slow.push(x)
        hist = macd - self.sig.push(macd)
        self.dhist = 0.0 if self.first else hist - self.hist
        self.hist = hist
        self.first = False


class _Divergence:
    """`divergence` per row: a new price extreme the RSI and MACD histogram do not confirm."""

    __slots__ = ("gap", "px", "rsi", "rx", "macd")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: DivergenceParams = spec.typed_params
        look, n, *spans = _divergence_rows(p, cadence)
        self.gap = p.rsi_gap
        self.px: F.PrevExtremes = r.feature(("px", look), lambda: F.PrevExtremes(look), "x")
        self.rsi: _Rsi = r.feature(("rsi", n), lambda: _Rsi(n))
        self.rx: F.PrevWindow = r.feature(("rsi_trail", n, look),
                                          lambda: self.rsi.trail(look), "src")
        self.macd: _MacdHist = r.feature(("macd", *spans), lambda: _MacdHist(*spans))

    def step(self, r: _Row) -> Hit:
        x, dh = r.x, self.macd.dhist
        bull = bear = False
        gu = gd = 0.0
        if x - self.px.lo < 0 and dh > 0:  # new low, histogram turning up
            gu = self.rsi.value - self.rx.lo()
            gu = gu if gu == gu else 0.0  # nan_to_num(gap_up)
            bull = gu >= self.gap
        if x - self.px.hi > 0 and dh < 0:
            gd = self.rx.hi() - self.rsi.value
            gd = gd if gd == gd else 0.0
            bear = gd >= self.gap
        if not (bull or bear):
            return None
        return _both_sides_one(bull, gu / self.gap, bear, gd / self.gap)


# ---- mean_reversion ---------------------------------------------------------------------


def _mean_reversion_rows(p: MeanReversionParams, cadence: int) -> tuple[int, int]:
    """(EMA span, z span) in rows; z is 0 in the first z-span rows (its warm-up)."""
    return F.rows(p.ema_span_s, cadence), F.rows(p.z_span_s, cadence)


def mean_reversion(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """|z| of the mid's deviation from its EMA peaks above z_entry and starts to revert."""
    p: MeanReversionParams = spec.typed_params
    x = F.log_bps(g["mid_px"])
    espan, zspan = _mean_reversion_rows(p, cadence)
    dev = x - ewm(x, span=espan)
    sd = np.sqrt(ewm(dev * dev, span=zspan))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, dev / sd, 0.0)
    z[: min(zspan, len(z))] = 0.0  # warm-up: the dispersion is not known yet
    zp = np.r_[0.0, z[:-1]]
    turn = (np.abs(zp) >= p.z_entry) & (np.abs(z) < np.abs(zp)) & (np.sign(z) == np.sign(zp))
    strength = np.abs(zp) / p.z_entry
    return _both_sides((turn & (zp < 0), strength), (turn & (zp > 0), strength))


class _ZScore:
    """`mean_reversion`'s z per row (and the previous row's, zp)."""

    __slots__ = ("ema", "var", "zspan", "z", "zp")

    def __init__(self, ema_span: int, zspan: int) -> None:
        self.ema = F.Ewm(F.ewm_alpha(span=ema_span))
        self.var = F.Ewm(F.ewm_alpha(span=zspan))
        self.zspan = zspan
        self.z = self.zp = 0.0

    def update(self, r: _Row) -> None:
        dev = r.x - self.ema.push(r.x)
        sd = _sqrt(self.var.push(dev * dev))  # sqrt(NaN) is NaN, as numpy's
        self.zp = self.z
        if r.t < self.zspan:  # the batch's warm-up rows
            self.z = 0.0
        else:
            self.z = dev / sd if sd > 0 else 0.0


class _MeanReversion:
    """`mean_reversion` per row: |z| peaked above z_entry on the previous row."""

    __slots__ = ("zs", "entry")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: MeanReversionParams = spec.typed_params
        es, zs = _mean_reversion_rows(p, cadence)
        self.zs: _ZScore = r.feature(("z", es, zs), lambda: _ZScore(es, zs))
        self.entry = p.z_entry

    def step(self, r: _Row) -> Hit:
        zp, z = self.zs.zp, self.zs.z
        azp = zp if zp >= 0.0 else -zp  # abs without a call (NaN stays NaN)
        # the batch's turn: sign(z) == sign(zp), zp != 0 here as z_entry > 0
        if azp >= self.entry and abs(z) < azp and (z > 0.0 if zp > 0.0 else z < 0.0):
            return (1 if zp < 0 else -1), azp / self.entry
        return None


# ---- sweep ------------------------------------------------------------------------------


def _sweep_rows(p: SweepParams, cadence: int) -> tuple[int, int, int]:
    """(volume EMA span, stall k (0: fire at the sweep row), max wait) in rows."""
    k = F.rows(p.stall_s, cadence) if p.stall_s else 0
    return F.rows(p.vol_span_s, cadence), k, F.rows(p.max_wait_s, cadence)


def sweep(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """A sweep confirmed by aggressor imbalance; optionally wait for the stall after it."""
    p: SweepParams = spec.typed_params
    vspan, k, wait = _sweep_rows(p, cadence)
    sdir = np.nan_to_num(g["sweep_dir"]).astype(np.int8)  # NaN: no trades channel, no sweep
    imb = g["aggr_imb"]
    ok = (g["sweep_flag"] == _SWEPT) & (sdir != 0) & (imb * sdir >= p.min_aggr_imb)
    vol = g["buy_vol"] + g["sell_vol"]
    base = np.r_[np.nan, ewm(vol, span=vspan)[:-1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(base > 0, vol / base, _NO_RATIO)
    strength = np.abs(imb) * np.log1p(np.nan_to_num(ratio, nan=_NO_RATIO))
    if not k:
        fire = ok
        direction = np.where(ok, sdir, 0).astype(np.int8)
        return Candidates(fire, direction, np.where(ok, strength, 0.0))
    x = F.log_bps(g["mid_px"])
    frozen = np.nan_to_num(F.window_range(x, k + 1), nan=np.inf) < _FROZEN_BPS
    quiet = F.window_sum(g["trade_count"], k) <= _QUIET_TRADES
    seg = F.segment_ids(ok)
    age = np.arange(len(x)) - F.seg_start_index(ok)
    cond = (seg > 0) & (age >= k) & (age <= wait) & frozen & quiet
    fire = F.first_in_segment(cond, seg)
    direction = np.where(fire, np.nan_to_num(F.seg_ffill(sdir, ok)), 0).astype(np.int8)
    return Candidates(fire, direction, np.where(fire, F.seg_ffill(strength, ok), 0.0))


class _VolBase:
    """`sweep`'s base per row: the previous row's volume EMA (NaN at the first row)."""

    __slots__ = ("ewm", "base")

    def __init__(self, span: int) -> None:
        self.ewm = F.Ewm(F.ewm_alpha(span=span))
        self.base = NAN

    def update(self, r: _Row) -> None:
        self.base = self.ewm.m
        self.ewm.push(r.buy + r.sell)


class _Sweep:
    """`sweep` per row: the sweep row itself, or (k > 0) the first stall after it."""

    __slots__ = ("p", "vb", "k", "wait", "xr", "tr", "start", "sdir", "strength", "live")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: SweepParams = spec.typed_params
        self.p = p
        vs, k, wait = _sweep_rows(p, cadence)
        self.vb: _VolBase = r.feature(("volbase", vs), lambda: _VolBase(vs))
        self.k, self.wait = k, wait
        if k:
            self.xr: F.LastRows = r.feature(("last_x", k + 1), lambda: F.LastRows(k + 1), "x")
            self.tr: F.LastRows = r.feature(("last_tc", k), lambda: F.LastRows(k), "tc")
        self.start, self.sdir, self.strength, self.live = -1, 0, NAN, False

    def _strength(self, r: _Row) -> float:
        """The batch's strength of this row (nan_to_num included)."""
        base = self.vb.base
        ratio = (r.buy + r.sell) / base if base > 0 else _NO_RATIO
        ratio = _NO_RATIO if ratio != ratio else (_BIG if ratio == INF else ratio)
        return abs(r.imb) * float(_NP_LOG1P(ratio))

    def step(self, r: _Row) -> Hit:
        sdir = r.sdir
        ok = r.sflag == _SWEPT and sdir != 0 and r.imb * sdir >= self.p.min_aggr_imb
        if not self.k:
            return (sdir, self._strength(r)) if ok else None
        if ok:  # a new segment
            self.start, self.sdir, self.strength, self.live = r.t, sdir, self._strength(r), True
            return None
        if not self.live:
            return None
        age = r.t - self.start
        if age > self.wait:
            self.live = False
            return None
        if age < self.k or self.tr.sum() > _QUIET_TRADES:
            return None
        if not self.xr.range() < _FROZEN_BPS:  # NaN (a NaN or short window): not frozen
            return None
        self.live = False
        return self.sdir, self.strength


# ---- flow_pressure ----------------------------------------------------------------------


def _flow_rows(p: FlowPressureParams, cadence: int) -> int:
    """The flow EMA span, also the busy window, in rows."""
    return F.rows(p.flow_span_s, cadence)


def flow_pressure(g: Slice, spec: DetectorSpec, cadence: int) -> Candidates:
    """Sustained one-sided aggressor volume that the resting book leans with."""
    p: FlowPressureParams = spec.typed_params
    span = _flow_rows(p, cadence)
    net = ewm(g["buy_vol"] - g["sell_vol"], span=span)
    tot = ewm(g["buy_vol"] + g["sell_vol"], span=span)
    with np.errstate(invalid="ignore", divide="ignore"):
        flow = np.where(tot > 0, net / tot, 0.0)
    book = np.nan_to_num(g["book_imb_5"].astype(np.float64))
    busy = F.window_sum(g["trade_count"], span) >= p.min_trades
    up = busy & (flow >= p.min_flow) & (book >= p.min_book)
    dn = busy & (flow <= -p.min_flow) & (book <= -p.min_book)
    strength = np.abs(flow) / p.min_flow
    return _both_sides((up, strength), (dn, strength))


class _Flow:
    """`flow_pressure`'s flow per row: EMA net / EMA total volume (0 while the total is 0)."""

    __slots__ = ("net", "tot", "flow")

    def __init__(self, span: int) -> None:
        alpha = F.ewm_alpha(span=span)
        self.net, self.tot = F.Ewm(alpha), F.Ewm(alpha)
        self.flow = 0.0

    def update(self, r: _Row) -> None:
        net = self.net.push(r.buy - r.sell)
        tot = self.tot.push(r.buy + r.sell)
        self.flow = net / tot if tot > 0 else 0.0


class _FlowPressure:
    """`flow_pressure` per row: one-sided EMA flow on a busy tape, the book leaning along."""

    __slots__ = ("p", "fl", "ts")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: FlowPressureParams = spec.typed_params
        self.p = p
        span = _flow_rows(p, cadence)
        self.fl: _Flow = r.feature(("flow", span), lambda: _Flow(span))
        self.ts: F.WindowSum = r.feature(("trades", span), lambda: F.WindowSum(span), "tc")

    def step(self, r: _Row) -> Hit:
        p, flow = self.p, self.fl.flow
        if self.ts.sum < p.min_trades:  # busy
            return None
        book = r.book
        book = 0.0 if book != book else book  # nan_to_num(book_imb_5)
        up = flow >= p.min_flow and book >= p.min_book
        dn = flow <= -p.min_flow and book <= -p.min_book
        if not (up or dn):
            return None
        s = abs(flow) / p.min_flow
        return _both_sides_one(up, s, dn, s)


# ---- the kinds, the event rule, the day (batch) and the row (step) ----------------------

KINDS: dict[str, KindFn] = {
    "breakout_retest": breakout_retest,
    "divergence": divergence,
    "mean_reversion": mean_reversion,
    "sweep": sweep,
    "flow_pressure": flow_pressure,
}
_STEPS: dict[str, Callable[[DetectorSpec, _Row, int], Any]] = {
    "breakout_retest": _Breakout,
    "divergence": _Divergence,
    "mean_reversion": _MeanReversion,
    "sweep": _Sweep,
    "flow_pressure": _FlowPressure,
}

SLICE_COLUMNS = ("mid_px", "sweep_flag", "sweep_dir", "aggr_imb", "buy_vol", "sell_vol",
                 "trade_count", "book_imb_5")


def episode_starts(ts_ms: np.ndarray, direction: np.ndarray, cooldown_ms: int) -> np.ndarray:
    """Of candidate rows (time-ordered, one detector and coin), those opening a new event:
    no candidate of the same direction in the `cooldown_ms` before it (step form: push)."""
    keep = np.zeros(len(ts_ms), dtype=bool)
    for d in (-1, 1):
        idx = np.flatnonzero(direction == d)
        if len(idx):
            gap = np.diff(ts_ms[idx], prepend=NEVER_MS)
            keep[idx] = gap >= cooldown_ms
    return keep


def run_detectors(frames: pd.DataFrame, specs: Sequence[DetectorSpec],
                  known: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every window the `specs` fire on `frames` (a MicroTape), sorted by (ts_ms, coin,
    detector_id). `frame_idx` is the row position in `frames` of the window's frame.

    `known`: coin -> that coin's windows found already (these columns, as `run_detectors`
    of its rows alone at the cadence of `frames` gives them), taken instead of run again:
    the audits score a tape's perturbations and cuts beside the tape itself."""
    coins = frames["coin"].to_numpy(dtype=object)
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    cols = {c: frames[c].to_numpy() for c in SLICE_COLUMNS}
    blocks = F.coin_blocks(coins)
    known = known or {}
    fired = _fired(cols, coins, ts, [(b, specs) for b in blocks if b[0] not in known])
    for coin, a, _ in blocks:
        w = known.get(coin)
        if w is not None and len(w):
            fired.append((coin, w["detector_id"].to_numpy(dtype=object),
                          w["horizon_s"].to_numpy(dtype=np.int64),
                          w["frame_idx"].to_numpy(dtype=np.int64) + a,
                          w["direction"].to_numpy(dtype=np.int8),
                          w["raw_strength"].to_numpy(dtype=np.float64)))
    return _window_frame(fired, ts)


def tape_windows(frames: pd.DataFrame, tapes: Sequence[tuple[np.ndarray, DetectorSpec]]
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each tape's (row positions of one coin in `frames`, ascending) windows of its spec:
    ts_ms, direction and raw_strength, in time order, as `run_detectors` of all the tapes
    as separate coins gives them (the cadence is the smallest over the tapes). One pass
    over arrays: the future-touch audit runs hundreds of small tapes a day."""
    ts_all = frames["ts_ms"].to_numpy(dtype=np.int64)
    rows = np.concatenate([r for r, _ in tapes]) if tapes else np.empty(0, dtype=np.int64)
    sizes = [len(r) for r, _ in tapes]
    starts = np.cumsum([0, *sizes])
    label = np.repeat(np.arange(len(tapes)), sizes)
    cols = {c: frames[c].to_numpy()[rows] for c in SLICE_COLUMNS}
    ts = ts_all[rows]
    plan = [((str(k), int(starts[k]), int(starts[k + 1])), [spec])
            for k, (_, spec) in enumerate(tapes) if sizes[k]]
    got = {int(f[0]): f for f in _fired(cols, label, ts, plan)}
    empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8), np.empty(0))
    return [(ts[got[k][3]], got[k][4], got[k][5]) if k in got else empty
            for k in range(len(tapes))]


_Fired = list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""Per (block, spec) with windows: coin, then per window its detector_id, horizon_s,
frame position, direction (int8) and raw strength."""


def _fired(cols: Mapping[str, np.ndarray], coins: np.ndarray, ts: np.ndarray,
           plan: Sequence[tuple[tuple[str, int, int], Sequence[DetectorSpec]]]) -> _Fired:
    """Each (coin block, its specs) of `plan` run on the SLICE_COLUMNS `cols`, the cadence
    taken over every row."""
    cadence = F.cadence_ms(ts, coins)
    out: _Fired = []
    for (coin, a, b), specs in plan:
        g = {c: v[a:b] for c, v in cols.items()}
        g["mid_px"] = g["mid_px"].astype(np.float64)
        for spec in specs:
            cand = KINDS[spec.kind](g, spec, cadence)
            idx = np.flatnonzero(cand.fire & (cand.direction != 0))
            if len(idx) == 0:
                continue
            idx = idx[episode_starts(ts[a:b][idx], cand.direction[idx], spec.cooldown_ms)]
            out.append((coin, np.full(len(idx), spec.id, dtype=object),
                        np.full(len(idx), spec.horizon_s, dtype=np.int64),
                        (idx + a).astype(np.int64),
                        cand.direction[idx].astype(np.int8),
                        cand.strength[idx].astype(np.float64)))
    return out


def _window_frame(fired: _Fired, ts: np.ndarray) -> pd.DataFrame:
    """The windows of `_fired` as one frame in run_detectors' columns and order (one frame
    built, not one per block and spec: the audits run thousands of small tapes)."""
    if not fired:
        return empty_windows()
    sizes = [len(f[3]) for f in fired]
    fi = np.concatenate([f[3] for f in fired])
    out = pd.DataFrame({
        "frame_idx": fi,
        "ts_ms": ts[fi],
        "coin": np.repeat(np.array([f[0] for f in fired], dtype=object), sizes),
        "detector_id": np.concatenate([f[1] for f in fired]),
        "direction": np.concatenate([f[4] for f in fired]),
        "raw_strength": np.concatenate([f[5] for f in fired]),
        "horizon_s": np.concatenate([f[2] for f in fired]),
    })
    out["coin"] = out["coin"].astype("str")
    out["detector_id"] = out["detector_id"].astype("str")
    return out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)


def empty_windows() -> pd.DataFrame:
    return pd.DataFrame({
        "frame_idx": pd.Series([], dtype="int64"), "ts_ms": pd.Series([], dtype="int64"),
        "coin": pd.Series([], dtype="str"), "detector_id": pd.Series([], dtype="str"),
        "direction": pd.Series([], dtype="int8"), "raw_strength": pd.Series([], dtype="float64"),
        "horizon_s": pd.Series([], dtype="int64"),
    })


class _Emitter:
    """One detector on one coin: its kind's step, the cooldown state of `episode_starts`
    (the last candidate's ts per direction, kept or not) and its windows' fixed fields."""

    __slots__ = ("step", "id", "hash", "horizon", "cooldown", "pair", "last_up", "last_dn")

    def __init__(self, spec: DetectorSpec, recipe_hash: str, coin: str, r: _Row,
                 cadence: int) -> None:
        self.step: Callable[[_Row], Hit] = _STEPS[spec.kind](spec, r, cadence).step
        self.id = spec.id
        self.hash = recipe_hash
        self.horizon = int(spec.horizon_s)
        self.cooldown = spec.cooldown_ms
        self.pair = pair_key(coin, spec.id)
        self.last_up = self.last_dn = NEVER_MS


class DetectorStream:
    """`_with_ids(run_detectors(frames, specs), specs)` one MicroTape row at a time.

    Feed one UTC day's rows in (ts_ms, coin) order; state is per coin (the batch never
    mixes coins). Windows are in rows, as in the batch (the kinds' `*_rows` at the given
    cadence); only the cooldown uses ts_ms. `push` returns the row's windows in
    detector_id order (the batch's sort)."""

    def __init__(self, specs: Sequence[DetectorSpec], cadence_ms: int) -> None:
        if cadence_ms <= 0:
            raise ValueError(f"cadence_ms must be > 0, got {cadence_ms}")
        self.specs = sorted(specs, key=lambda s: s.id)  # stable: the batch's sort order
        self.cadence_ms = int(cadence_ms)
        self._hashes = {s.id: s.recipe_hash for s in specs}  # as _with_ids maps them
        self._coins: dict[str, tuple[_Row, list[tuple[Callable[[_Row], Hit], _Emitter]]]] = {}

    def _coin(self, coin: str) -> tuple[_Row, list[tuple[Callable[[_Row], Hit], _Emitter]]]:
        r = _Row()
        ems = [_Emitter(s, self._hashes[s.id], coin, r, self.cadence_ms) for s in self.specs]
        state = self._coins[coin] = (r, [(em.step, em) for em in ems])
        return state

    def push(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """This row's windows (window_id, ts_ms, coin, detector_id, recipe_hash, horizon_s,
        direction, raw_strength). A row of a coin less than a cadence after its previous
        one is refused: the batch would infer another grid (or see a duplicate)."""
        coin = str(row["coin"])
        ts = int(row["ts_ms"])
        state = self._coins.get(coin)
        r, ems = state if state is not None else self._coin(coin)
        if ts - r.ts < self.cadence_ms:
            raise ValueError(f"{coin}: row at ts_ms={ts} is less than {self.cadence_ms} ms "
                             f"after the previous one ({r.ts})")
        r.ts = ts
        r.t += 1
        x = r.x = _log_bps_one(float(row["mid_px"]))
        r.buy = float(row["buy_vol"])
        r.sell = float(row["sell_vol"])
        r.imb = float(row["aggr_imb"])
        # the whole-number tape columns: NaN (no trades channel yet) reads 0, as the
        # batch's nan_to_num and `== _SWEPT` read it
        tc, sflag, sdir = row["trade_count"], row["sweep_flag"], row["sweep_dir"]
        tc = r.tc = int(tc) if tc == tc else 0
        r.book = float(row["book_imb_5"])
        r.sflag = int(sflag) if sflag == sflag else 0
        r.sdir = int(sdir) if sdir == sdir else 0
        for feed in r.on_x:
            feed(x)
        for feed_tc in r.on_tc:
            feed_tc(tc)
        for update in r.updates:
            update(r)
        out: list[dict[str, Any]] = []
        for step, em in ems:
            hit = step(r)
            if hit is None:
                continue
            d, strength = hit
            # episode_starts: keep when the previous same-direction candidate is >= cooldown
            if d > 0:
                keep, em.last_up = ts - em.last_up >= em.cooldown, ts
            else:
                keep, em.last_dn = ts - em.last_dn >= em.cooldown, ts
            if keep:
                out.append({"window_id": window_id_one(em.pair, ts), "ts_ms": ts,
                            "coin": coin, "detector_id": em.id, "recipe_hash": em.hash,
                            "horizon_s": em.horizon, "direction": d,
                            "raw_strength": float(strength)})
        return out
