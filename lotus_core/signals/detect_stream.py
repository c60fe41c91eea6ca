"""Per-row form of `run_detectors` (+ the ids of `pipeline._with_ids`) for the live path.

`run_detectors` is the definition: vectorised over a day's MicroTape. The live daemon needs
a row's windows in microseconds, so `DetectorStream` carries each coin's state instead:
the batch's EMA recursion (pandas adjust=False, NaN rows skipped, bit for bit), monotonic
deques for `prev_max` / `prev_min`, running sums for `window_sum`, the segment state of
`segment_ids` / `first_in_segment`, and the cooldown of `episode_starts`. Windows are in
rows, as in the batch (`features.rows` with the given cadence); only the cooldown uses
ts_ms. Features two detectors share (same input and window) are computed once per row.
Tested equal to the batch on whole days (tests/core/live/test_stream_detectors.py).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import lotus_core.signals.features as F
from lotus_core.signals.ids import pair_key, window_id_one
from lotus_core.signals.spec import (
    BreakoutRetestParams,
    DetectorSpec,
    DivergenceParams,
    FlowPressureParams,
    MeanReversionParams,
    SweepParams,
)

NAN = math.nan
INF = math.inf
# numpy's log / log1p on one value: the batch's (possibly SIMD) loops, not libm's `math`,
# which differs in the last bit on some CPUs (AVX-512): a firing threshold sees one value.
_NP_LOG, _NP_LOG1P = np.log, np.log1p
_BIG = float(np.finfo(np.float64).max)  # what np.nan_to_num makes of +inf
_NEVER = int(np.iinfo(np.int64).min) // 2  # episode_starts' "no earlier candidate"

Hit = tuple[int, float] | None  # (direction, raw strength) of a candidate row


def ewm_alpha(span: float | None = None, alpha: float | None = None) -> float:
    """The alpha pandas' ewm really uses: 1 / (1 + com), com from span or alpha as in
    pandas' get_center_of_mass (not exactly 2 / (span + 1) or `alpha` in floats)."""
    com = (span - 1) / 2 if span is not None else (1 - alpha) / alpha  # type: ignore[operator]
    return 1.0 / (1.0 + com)


class _Ewm:
    """`filters.ewm` one value at a time: pandas' adjust=False recursion with ignore_na,
    including its division by (old + new weight) and its skip on an unchanged value."""

    __slots__ = ("a", "b", "den", "m")

    def __init__(self, alpha: float) -> None:
        self.a = alpha
        self.b = 1.0 - alpha
        self.den = self.b + alpha
        self.m = NAN

    def push(self, v: float) -> float:
        m = self.m
        if m == m:
            if v == v and m != v:
                m = self.m = (self.b * m + self.a * v) / self.den
        elif v == v:
            m = self.m = v
        return m


class _PrevExtremes:
    """`features.prev_max` and `prev_min` of the log-bps mid over rows [t - w, t - 1]:
    monotonic deques of (row, value). NaN until w earlier rows exist or while a NaN is among
    them (pandas' min_periods=w counts non-NaN rows)."""

    __slots__ = ("w", "t", "last_nan", "hq", "lq", "hi", "lo")

    def __init__(self, w: int) -> None:
        self.w = w
        self.t = 0
        self.last_nan = -(1 << 62)
        self.hq: deque[tuple[int, float]] = deque()
        self.lq: deque[tuple[int, float]] = deque()
        self.hi = NAN
        self.lo = NAN

    def update(self, r: _Row) -> None:
        """Set hi / lo for this row (from earlier rows), then take in this row's value."""
        v = r.x
        t = self.t
        lim = t - self.w
        hq, lq = self.hq, self.lq
        if lim >= 0 and self.last_nan < lim:
            while hq[0][0] < lim:
                hq.popleft()
            while lq[0][0] < lim:
                lq.popleft()
            self.hi = hq[0][1]
            self.lo = lq[0][1]
        else:
            self.hi = self.lo = NAN
        if v == v:
            while hq and hq[-1][1] <= v:
                hq.pop()
            hq.append((t, v))
            while lq and lq[-1][1] >= v:
                lq.pop()
            lq.append((t, v))
        else:
            self.last_nan = t
        self.t = t + 1


class _Row:
    """One coin's current row: the inputs the detectors read, and its shared features."""

    __slots__ = ("t", "ts", "x", "buy", "sell", "imb", "tc", "book", "sflag", "sdir",
                 "feats", "updates")

    def __init__(self) -> None:
        self.t = -1  # row position within the coin (the batch's windows are positional)
        self.ts = _NEVER
        self.x = self.buy = self.sell = self.imb = self.book = NAN
        self.tc = self.sflag = self.sdir = 0
        self.feats: dict[tuple[Any, ...], Any] = {}
        self.updates: list[Callable[[_Row], None]] = []  # in dependency order, once a row

    def feature(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The shared feature `key`, made (after the ones `make` asks for) on first use."""
        f = self.feats.get(key)
        if f is None:
            f = self.feats[key] = make()
            self.updates.append(f.update)
        return f


# ---- shared features: update(row) once per row, before the detectors read them ----


class _Rsi:
    """`wilder_rsi(x, n, nan_rows="skip")` of the log-bps mid."""

    __slots__ = ("up", "dn", "prev", "value")

    def __init__(self, n: int) -> None:
        alpha = ewm_alpha(alpha=1.0 / n)
        self.up, self.dn = _Ewm(alpha), _Ewm(alpha)
        self.prev: float | None = None
        self.value = 50.0

    def update(self, r: _Row) -> None:
        x = r.x
        d = 0.0 if self.prev is None else x - self.prev
        self.prev = x
        if d == d:
            up = self.up.push(d if d > 0.0 else 0.0)
            dn = self.dn.push(-d if d < 0.0 else 0.0)
        else:
            up, dn = self.up.m, self.dn.m
        tot = up + dn
        self.value = 100.0 * up / tot if tot > 0 else 50.0


class _Trail:
    """The `w` values of `src.value` before this row, for prev_max / prev_min on demand:
    divergence reads the RSI's extremes only on a new price extreme (a few % of rows), so
    a deque of raw values is cheaper than two monotonic ones updated on every row."""

    __slots__ = ("src", "q", "last")

    def __init__(self, src: Any, w: int) -> None:
        self.src = src
        self.q: deque[float] = deque(maxlen=w)
        self.last: float | None = None

    def update(self, r: _Row) -> None:
        if self.last is not None:
            self.q.append(self.last)
        self.last = self.src.value

    def full(self) -> bool:
        """Whether prev_max / prev_min are defined: w earlier rows, none of them NaN (the
        RSI is in [0, 100] or NaN, so a NaN shows in the sum)."""
        q = self.q
        if len(q) < (q.maxlen or 0):
            return False
        total = sum(q)
        return total == total

    def lo(self) -> float:
        return min(self.q) if self.full() else NAN

    def hi(self) -> float:
        return max(self.q) if self.full() else NAN


class _MacdHist:
    """The change of the MACD histogram since the previous row (`dhist`, 0 at the first)."""

    __slots__ = ("fast", "slow", "sig", "hist", "dhist", "first")

    def __init__(self, fast: int, slow: int, sig: int) -> None:
        self.fast, self.slow = _Ewm(ewm_alpha(span=fast)), _Ewm(ewm_alpha(span=slow))
        self.sig = _Ewm(ewm_alpha(span=sig))
        self.hist = NAN
        self.dhist = 0.0
        self.first = True

    def update(self, r: _Row) -> None:
        macd = self.fast.push(r.x) - self.slow.push(r.x)
        hist = macd - self.sig.push(macd)
        self.dhist = 0.0 if self.first else hist - self.hist
        self.hist = hist
        self.first = False


class _VolBase:
    """The previous row's EMA of traded volume (sweep's baseline; NaN at the first row)."""

    __slots__ = ("ewm", "base")

    def __init__(self, span: int) -> None:
        self.ewm = _Ewm(ewm_alpha(span=span))
        self.base = NAN

    def update(self, r: _Row) -> None:
        self.base = self.ewm.m
        self.ewm.push(r.buy + r.sell)


class _Flow:
    """EMA net / EMA total aggressor volume (0 while the total is 0)."""

    __slots__ = ("net", "tot", "flow")

    def __init__(self, span: int) -> None:
        alpha = ewm_alpha(span=span)
        self.net, self.tot = _Ewm(alpha), _Ewm(alpha)
        self.flow = 0.0

    def update(self, r: _Row) -> None:
        net = self.net.push(r.buy - r.sell)
        tot = self.tot.push(r.buy + r.sell)
        self.flow = net / tot if tot > 0 else 0.0


class _TradeSum:
    """`window_sum(trade_count, w)`: trades over rows [t - w + 1, t] (shorter at the start)."""

    __slots__ = ("w", "q", "sum")

    def __init__(self, w: int) -> None:
        self.w = w
        self.q: deque[int] = deque()
        self.sum = 0

    def update(self, r: _Row) -> None:
        q = self.q
        q.append(r.tc)
        self.sum += r.tc
        if len(q) > self.w:
            self.sum -= q.popleft()


# ---- detectors: step(row) -> (direction, raw strength) of this row's candidate, or None ----


def _both_sides(fu: bool, su: float, fd: bool, sd: float) -> Hit:
    """`detectors._both_sides` for one row."""
    if not (fu or fd):
        return None
    a = su if fu else -INF
    b = sd if fd else -INF
    strength = NAN if (a != a or b != b) else (a if a >= b else b)
    return (1 if a >= b else -1), strength


class _BreakSide:
    """One side of breakout_retest on y (the mid, or its negative for the down side)."""

    __slots__ = ("p", "win", "need", "last_brk", "start", "level", "top", "low", "live")

    def __init__(self, p: BreakoutRetestParams, win: int) -> None:
        self.p = p
        self.win = win
        self.need = p.break_bps + p.extend_bps
        self.last_brk = -(1 << 62)  # last row with a break (recent_any)
        self.start = -1  # row of the current segment's event
        self.level = self.top = self.low = NAN
        self.live = False  # the segment can still fire (first_in_segment, age <= win)

    def step(self, t: int, y: float, hi: float) -> float | None:
        p = self.p
        if y - hi >= p.break_bps:  # a break (NaN: none)
            event = self.last_brk < t - self.win  # no break in the `win` rows before
            self.last_brk = t
            if event:  # a new segment: its level, running max and min start here
                self.start, self.level, self.live = t, hi, True
                self.top = self.low = y
                return None
        if not self.live:
            return None
        if t - self.start > self.win:
            self.live = False
            return None
        if y > self.top:  # seg_cummax / seg_cummin (a NaN row changes neither, and
            self.top = y  # fails the retest test below, as its NaN top does in the batch)
        elif y < self.low:
            self.low = y
        level = self.level
        ext = self.top - level
        if ext >= self.need and y <= level + p.retest_tol_bps and self.low >= level - p.fail_bps:
            self.live = False  # first_in_segment
            return ext / max(p.extend_bps, 1e-9)
        return None


class _Breakout:
    """`detectors.breakout_retest`: both sides off one shared price-extremes tracker."""

    __slots__ = ("px", "up", "dn", "brk")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: BreakoutRetestParams = spec.typed_params
        look, win = F.rows(p.lookback_s, cadence), F.rows(p.retest_window_s, cadence)
        self.px: _PrevExtremes = r.feature(("px", look), lambda: _PrevExtremes(look))
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
        return _both_sides(su is not None, su or 0.0, sd is not None, sd or 0.0)


class _Divergence:
    """`detectors.divergence`: a new price extreme the RSI and MACD histogram do not confirm."""

    __slots__ = ("gap", "px", "rsi", "rx", "macd")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: DivergenceParams = spec.typed_params
        look = F.rows(p.lookback_s, cadence)
        n = F.rows(p.rsi_span_s, cadence)
        spans = tuple(F.rows(s, cadence) for s in (p.macd_fast_s, p.macd_slow_s,
                                                   p.macd_signal_s))
        self.gap = p.rsi_gap
        self.px: _PrevExtremes = r.feature(("px", look), lambda: _PrevExtremes(look))
        self.rsi: _Rsi = r.feature(("rsi", n), lambda: _Rsi(n))
        self.rx: _Trail = r.feature(("rsi_trail", n, look), lambda: _Trail(self.rsi, look))
        self.macd: _MacdHist = r.feature(("macd", *spans), lambda: _MacdHist(*spans))

    def step(self, r: _Row) -> Hit:
        x, dh = r.x, self.macd.dhist
        bull = bear = False
        gu = gd = 0.0
        if x - self.px.lo < 0 and dh > 0:  # new low, histogram turning up
            gu = self.rsi.value - self.rx.lo()
            gu = gu if gu == gu else 0.0
            bull = gu >= self.gap
        if x - self.px.hi > 0 and dh < 0:
            gd = self.rx.hi() - self.rsi.value
            gd = gd if gd == gd else 0.0
            bear = gd >= self.gap
        if not (bull or bear):
            return None
        return _both_sides(bull, gu / self.gap, bear, gd / self.gap)


class _ZScore:
    """mean_reversion's z of the mid's deviation from its EMA (0 in the warm-up rows)."""

    __slots__ = ("ema", "var", "zspan", "z", "zp")

    def __init__(self, ema_span: int, zspan: int) -> None:
        self.ema, self.var = _Ewm(ewm_alpha(span=ema_span)), _Ewm(ewm_alpha(span=zspan))
        self.zspan = zspan
        self.z = self.zp = 0.0

    def update(self, r: _Row) -> None:
        dev = r.x - self.ema.push(r.x)
        sd = math.sqrt(self.var.push(dev * dev))  # sqrt(NaN) is NaN, as numpy's
        self.zp = self.z
        if r.t < self.zspan:
            self.z = 0.0
        else:
            self.z = dev / sd if sd > 0 else 0.0


class _MeanReversion:
    """`detectors.mean_reversion`: |z| peaked above z_entry on the previous row."""

    __slots__ = ("zs", "entry")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: MeanReversionParams = spec.typed_params
        es, zs = F.rows(p.ema_span_s, cadence), F.rows(p.z_span_s, cadence)
        self.zs: _ZScore = r.feature(("z", es, zs), lambda: _ZScore(es, zs))
        self.entry = p.z_entry

    def step(self, r: _Row) -> Hit:
        zp, z = self.zs.zp, self.zs.z
        azp = abs(zp)
        if azp >= self.entry and abs(z) < azp and (z > 0.0 if zp > 0.0 else z < 0.0):
            return (1 if zp < 0 else -1), azp / self.entry
        return None


class _Sweep:
    """`detectors.sweep`: the sweep row itself, or (stall_s > 0) the first stall after it."""

    __slots__ = ("p", "vb", "k", "wait", "xs", "tcs", "start", "sdir", "strength", "live")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: SweepParams = spec.typed_params
        self.p = p
        vs = F.rows(p.vol_span_s, cadence)
        self.vb: _VolBase = r.feature(("volbase", vs), lambda: _VolBase(vs))
        self.k = F.rows(p.stall_s, cadence) if p.stall_s else 0
        self.wait = F.rows(p.max_wait_s, cadence)
        self.xs: deque[float] = deque(maxlen=self.k + 1)  # window_range(x, k + 1)
        self.tcs: deque[int] = deque(maxlen=max(self.k, 1))  # window_sum(trade_count, k)
        self.start, self.sdir, self.strength, self.live = -1, 0, NAN, False

    def _strength(self, r: _Row) -> float:
        base = self.vb.base
        ratio = (r.buy + r.sell) / base if base > 0 else 1.0
        ratio = 1.0 if ratio != ratio else (_BIG if ratio == INF else ratio)
        return abs(r.imb) * float(_NP_LOG1P(ratio))

    def step(self, r: _Row) -> Hit:
        sdir = r.sdir
        ok = r.sflag == 1 and sdir != 0 and r.imb * sdir >= self.p.min_aggr_imb
        if not self.k:
            return (sdir, self._strength(r)) if ok else None
        self.xs.append(r.x)
        self.tcs.append(r.tc)
        if ok:  # a new segment
            self.start, self.sdir, self.strength, self.live = r.t, sdir, self._strength(r), True
            return None
        if not self.live:
            return None
        age = r.t - self.start
        if age > self.wait:
            self.live = False
            return None
        if age < self.k or sum(self.tcs) > 1:
            return None
        xs = self.xs
        if len(xs) <= self.k or any(v != v for v in xs) or max(xs) - min(xs) >= 1e-6:
            return None  # not frozen (a NaN or short window: the batch's range is NaN)
        self.live = False
        return self.sdir, self.strength


class _FlowPressure:
    """`detectors.flow_pressure`: one-sided EMA flow on a busy tape, the book leaning along."""

    __slots__ = ("p", "fl", "ts")

    def __init__(self, spec: DetectorSpec, r: _Row, cadence: int) -> None:
        p: FlowPressureParams = spec.typed_params
        self.p = p
        span = F.rows(p.flow_span_s, cadence)
        self.fl: _Flow = r.feature(("flow", span), lambda: _Flow(span))
        self.ts: _TradeSum = r.feature(("trades", span), lambda: _TradeSum(span))

    def step(self, r: _Row) -> Hit:
        p, flow = self.p, self.fl.flow
        if self.ts.sum < p.min_trades:
            return None
        book = r.book
        book = 0.0 if book != book else book
        up = flow >= p.min_flow and book >= p.min_book
        dn = flow <= -p.min_flow and book <= -p.min_book
        if not (up or dn):
            return None
        s = abs(flow) / p.min_flow
        return _both_sides(up, s, dn, s)


_KINDS: dict[str, Callable[[DetectorSpec, _Row, int], Any]] = {
    "breakout_retest": _Breakout,
    "divergence": _Divergence,
    "mean_reversion": _MeanReversion,
    "sweep": _Sweep,
    "flow_pressure": _FlowPressure,
}


class _Emitter:
    """One detector on one coin: its kind's state, the cooldown of `episode_starts` (the
    last candidate's ts per direction, kept or not) and the fixed fields of its windows."""

    __slots__ = ("step", "id", "hash", "horizon", "cooldown", "pair", "last_up", "last_dn")

    def __init__(self, spec: DetectorSpec, recipe_hash: str, coin: str, r: _Row,
                 cadence: int) -> None:
        self.step: Callable[[_Row], Hit] = _KINDS[spec.kind](spec, r, cadence).step
        self.id = spec.id
        self.hash = recipe_hash
        self.horizon = int(spec.horizon_s)
        self.cooldown = spec.cooldown_s * 1000
        self.pair = pair_key(coin, spec.id)
        self.last_up = self.last_dn = _NEVER


class DetectorStream:
    """`_with_ids(run_detectors(frames, specs), specs)` one MicroTape row at a time.

    Feed one UTC day's rows in (ts_ms, coin) order; state is per coin (the batch never
    mixes coins). `push` returns the row's windows in detector_id order."""

    def __init__(self, specs: Sequence[DetectorSpec], cadence_ms: int) -> None:
        if cadence_ms <= 0:
            raise ValueError(f"cadence_ms must be > 0, got {cadence_ms}")
        self.specs = sorted(specs, key=lambda s: s.id)  # stable: the batch's sort order
        self.cadence_ms = int(cadence_ms)
        self._hashes = {s.id: s.recipe_hash for s in specs}  # as _with_ids maps them
        self._coins: dict[str, tuple[_Row, list[_Emitter]]] = {}

    def _coin(self, coin: str) -> tuple[_Row, list[_Emitter]]:
        r = _Row()
        ems = [_Emitter(s, self._hashes[s.id], coin, r, self.cadence_ms) for s in self.specs]
        state = self._coins[coin] = (r, ems)
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
        mid = float(row["mid_px"])
        r.x = float(_NP_LOG(mid)) * 1e4 if mid > 0.0 else (-INF if mid == 0.0 else NAN)
        r.buy = float(row["buy_vol"])
        r.sell = float(row["sell_vol"])
        r.imb = float(row["aggr_imb"])
        r.tc = int(row["trade_count"])
        r.book = float(row["book_imb_5"])
        r.sflag = int(row["sweep_flag"])
        r.sdir = int(row["sweep_dir"])
        for update in r.updates:
            update(r)
        out: list[dict[str, Any]] = []
        for em in ems:
            hit = em.step(r)
            if hit is None:
                continue
            d, strength = hit
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
