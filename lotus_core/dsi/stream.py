"""DSI annotation one MicroTape row at a time: `DsiStream(model).push(row)` returns the row
`annotate(frames, model).annotations` has for it, from state carried per coin.

The batch `annotate` stays the definition (and what the nightly chain runs); this is its
per-row recursion for the live daemon. Every expert is causal and reads only its own
coin's earlier rows, so a coin's state is: the feature table's trailing windows and lags
(stream_windows), each grammar's state machines (stream_grammar), the divergence expert's
EMAs and extremes, the sequence classifier's lags and means; the fitted models are
compiled once into plain-Python functions (stream_models). Nothing mixes coins. A new UTC
day is a new DsiStream. Exact, not close: flags and the anomaly expert's rank compare
values with thresholds, so every value repeats the batch's float operations.
tests/core/live/test_stream_dsi.py proves it equal to `annotate` on whole fixture days.
"""

from __future__ import annotations

import math
import weakref
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from scipy.special import logit

from lotus_core.dsi import features as ft
from lotus_core.dsi.anomaly import AnomalyExpert
from lotus_core.dsi.divergence import DivergenceExpert
from lotus_core.dsi.experts import Expert, GrammarExpert
from lotus_core.dsi.model import DsiModel
from lotus_core.dsi.sequence import SequenceExpert
from lotus_core.dsi.stream_grammar import GrammarStream
from lotus_core.dsi.stream_models import compile_forest, compile_linear
from lotus_core.dsi.stream_windows import NAN, Ewm, Extremes, Kahan, Lag, Windows, com_of, window

Out = tuple[int, float, float]  # (f, z, conf) of one expert at one row
FEATURES = ("ret", "abs_ret", "vol_rel", "trades_rel", "spread_rel", "depth_rel", "cancel",
            "aggr_imb", "book_imb", "micro_z", "sweep", "outliers", "oi_pct", "funding_jump",
            "rv_ratio", "range_rel")
"""The columns of features.coin_features, in its order (the tuple _Features returns)."""
_DIVERGENCE_COLUMNS = ("mid_px", "aggr_imb", "book_imb_5")
_F = {name: i for i, name in enumerate(FEATURES)}
_FEATURE_COLUMNS = ("dpx_bps", "rv_bps", "spread_bps", "depth_5_rel", "cancel_rate",
                    "trade_count", "buy_vol", "sell_vol", "aggr_imb", "book_imb_5",
                    "microprice_drift_bps", "sweep_flag", "size_outlier_count", "oi_delta",
                    "funding", "range_bps")


# ---------------------------------------------------------------- numpy's scalar rules


def _clip(x: float, lo: float, hi: float) -> float:
    """np.clip: NaN stays NaN."""
    return lo if x < lo else hi if x > hi else x


def _nan_to_num(x: float) -> float:
    if x - x == 0.0:
        return x
    return 0.0 if x != x else (1.7976931348623157e308 if x > 0 else -1.7976931348623157e308)


def _ratio(a: float, b: float) -> float:
    """features._ratio: a / b, 0 where that is not finite."""
    if b == 0.0 or b != b:
        return 0.0
    r = a / b
    return r if r - r == 0.0 else 0.0


def _div(a: float, b: float) -> float:
    """a / b with numpy's answer at b == 0 (inf, or NaN for 0 / 0)."""
    if b != 0.0:
        return a / b
    return NAN if a == 0.0 or a != a else math.copysign(math.inf, a) * math.copysign(1.0, b)


def _log(x: float) -> float:
    """np.log: -inf at 0, NaN below."""
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else NAN


def _log1p(x: float) -> float:
    """np.log1p: -inf at -1, NaN below."""
    if x > -1.0:
        return math.log1p(x)
    return -math.inf if x == -1.0 else NAN


def _log_ratio(a: float, b: float) -> float:
    """features._log_ratio: log(a / b), 0 where that is not finite."""
    r = _log(a / b) if b != 0.0 else NAN
    return r if r - r == 0.0 else 0.0


def expit(x: float) -> float:
    """scipy.special.expit, bit for bit: 1 / (1 + exp(-x))."""
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:
        return 0.0


def logit_(p: float) -> float:
    """scipy.special.logit, bit for bit (its log1p form near 1/2)."""
    if p < 0.3 or p > 0.65:
        return _log(p / (1 - p)) if p != 1 else math.inf
    s = 2 * (p - 0.5)
    return math.log1p(s) - math.log1p(-s)


# ---------------------------------------------------------------- the shared feature table


class _Features:
    """features.coin_features at one row: 16 floats in FEATURES order."""

    def __init__(self, windows: Windows, rv_ref_window: int, rv_ref_min_periods: int) -> None:
        self.rv: Any = window(windows, "median", "rv_bps", rv_ref_window)
        self.rv_mp = rv_ref_min_periods
        self.spread: Any = window(windows, "median", "spread_bps", ft.SPREAD_WINDOW)
        self.range: Any = window(windows, "median", "range_bps", ft.RANGE_WINDOW)
        self.trades: Any = window(windows, "kahan", "trade_count", ft.VOL_WINDOW)
        self.vol = Kahan(ft.VOL_WINDOW)  # buy_vol + sell_vol: not a MicroTape column
        self.funding = Lag(ft.FUNDING_LAG)

    def push(self, v: Mapping[str, float]) -> tuple[float, ...]:
        z = ft.Z_CLIP
        ref = self.rv.median(self.rv_mp)
        s1 = ref / ft.SQRT_60
        if s1 < ft.SCALE_FLOOR:  # np.maximum: a NaN scale stays NaN
            s1 = ft.SCALE_FLOOR
        ret = _ratio(v["dpx_bps"], s1)
        a_ret = abs(ret)
        vol = v["buy_vol"] + v["sell_vol"]
        vol_mean = self.vol.push_mean(vol, 1)
        trades = v["trade_count"]
        funding = v["funding"]
        d5 = _clip(v["depth_5_rel"], *ft.DEPTH_CLIP)
        return (
            -z if ret < -z else z if ret > z else ret,
            z if a_ret > z else a_ret,
            _log1p(_ratio(vol, vol_mean)),
            _log1p(_ratio(trades, self.trades.mean(1))),
            _log_ratio(v["spread_bps"], self.spread.median(1)),
            math.log(d5) if d5 == d5 else 0.0,
            _log1p(v["cancel_rate"]),
            v["aggr_imb"],
            _nan_to_num(v["book_imb_5"]),
            _clip(_ratio(v["microprice_drift_bps"], s1), -z, z),
            v["sweep_flag"],
            _clip(v["size_outlier_count"], 0.0, ft.OUTLIER_CLIP),
            _clip(_nan_to_num(100.0 * v["oi_delta"]), -ft.OI_CLIP, ft.OI_CLIP),
            _clip(_ratio(funding - self.funding.push(funding), ft.FUNDING_UNIT),
                  -ft.FUNDING_CLIP, ft.FUNDING_CLIP),
            _log_ratio(v["rv_bps"], ref),
            _log_ratio(v["range_bps"], self.range.median(1)),
        )


# ---------------------------------------------------------------- the experts, per coin

Run = Callable[[Mapping[str, float], tuple[float, ...]], Out]


def _grammar(ex: GrammarExpert, windows: Windows) -> Run:
    g = GrammarStream(ex.grammar, windows)
    rel = ex.reliability

    def run(v: Mapping[str, float], _f: tuple[float, ...]) -> Out:
        f, _ = g.push(v)
        return f, float(f), rel if f else 0.0

    return run


def _silent(_v: Mapping[str, float], _f: tuple[float, ...]) -> Out:
    return 0, 0.0, 0.0


def _anomaly(ex: AnomalyExpert) -> Run:
    """AnomalyExpert._output at one row: the compiled forest's score of the row's unsigned
    features, against the sorted history scores."""
    if ex.model is None:
        return _silent
    inputs = [(_F[ft.ANOMALY_ABS.get(c, c)], c in ft.ANOMALY_ABS) for c in ft.ANOMALY_FEATURES]
    score = compile_forest(ex.model, inputs)
    history = ex.sorted_scores.tolist()
    n = len(history)
    median, threshold, cap = ex.median, ex.threshold, ex.z_cap
    span = max(threshold - median, 1e-12)

    def run(_v: Mapping[str, float], f: tuple[float, ...]) -> Out:
        s = score(f)
        z = (s - median) / span
        z = 0.0 if z < 0.0 else cap if z > cap else z
        return int(s >= threshold), z, bisect_right(history, s) / n

    return run


class _Divergence:
    """DivergenceExpert.run at one row: RSI (Wilder, NaN rows age), MACD, flow EMA, and the
    extremes of the mid over rows t-lookback .. t-1 and of each oscillator over rows
    t-lookback .. t-min_age (windows over lagged inputs). The bearish side compares
    s * x = x with maxima, the bullish side s * x = -x with -minima: the same doubles."""

    def __init__(self, ex: DivergenceExpert) -> None:
        p = ex.params
        self.p = p
        self.rel = ex.reliability
        rsi_com = com_of(alpha=1.0 / p.rsi_frames)
        self.up, self.dn = Ewm(rsi_com, False), Ewm(rsi_com, False)
        self.fast = Ewm(com_of(span=p.macd_fast), False)
        self.slow = Ewm(com_of(span=p.macd_slow), False)
        self.flow = Ewm(com_of(span=p.flow_span), False)
        self.width = width = p.lookback - p.min_age + 1
        self.mids = Extremes(p.lookback)
        self.rsis, self.macds = Extremes(width), Extremes(width)
        self.lag_mid = Lag(1)
        self.lag_rsi, self.lag_macd = Lag(p.min_age), Lag(p.min_age)
        self.prev_mid = NAN
        self.first = True
        self.any = p.oscillators == "any"

    def __call__(self, v: Mapping[str, float], _f: tuple[float, ...]) -> Out:
        p = self.p
        mid = v["mid_px"]
        d = mid - (mid if self.first else self.prev_mid)  # np.diff(x, prepend=x[:1])
        self.first, self.prev_mid = False, mid
        up = self.up.push(d if d > 0.0 or d != d else 0.0)  # np.maximum(d, 0): NaN stays
        dn = self.dn.push(-d if -d > 0.0 or d != d else 0.0)
        tot = up + dn
        rsi = 100.0 * up / tot if tot > 0 else 50.0
        macd = _div(self.fast.push(mid) - self.slow.push(mid), mid) * 1e4
        flow = self.flow.push(v["aggr_imb"])
        book = v["book_imb_5"]
        mids, rsis, macds = self.mids, self.rsis, self.macds
        mids.push(self.lag_mid.push(mid))
        rsis.push(self.lag_rsi.push(rsi))
        macds.push(self.lag_macd.push(macd))
        lb, w, gap = p.lookback, self.width, p.rsi_gap
        out = 0
        if -flow >= p.flow_min or -book >= p.book_min:  # -1: bearish at a new high
            r, m = rsi <= rsis.high(w) - gap, macd < macds.high(w)
            if mid >= mids.high(lb) and ((r or m) if self.any else (r and m)):
                out = -1
        if flow >= p.flow_min or book >= p.book_min:  # +1: bullish at a new low
            r, m = -rsi <= -rsis.low(w) - gap, -macd < -macds.low(w)
            if -mid >= -mids.low(lb) and ((r or m) if self.any else (r and m)):
                out = 1
        f = int(out != 0)
        return f, float(f), self.rel if f else 0.0


_LINEAR: weakref.WeakKeyDictionary[Any, Callable[..., float]] = weakref.WeakKeyDictionary()
"""A fitted classifier's compiled decision, made once per model (not once per coin)."""


def _sequence(ex: SequenceExpert) -> Run:
    """SequenceExpert._output at one row: the lagged base features (the last max(lags) + 1
    rows, 0 before the day has them) and trailing means feed the compiled decision."""
    fit = ex.current
    if fit is None:
        return _silent
    p = ex.params
    scaler, lr = fit.model[0], fit.model[-1]
    nb, lags = len(ft.SEQUENCE_BASE), p.lags
    inputs = [(i, j) for j in range(nb) for i in range(len(lags))]
    means = [(_F[name], Kahan(w)) for w in p.windows for name in ft.SEQUENCE_MEANS]
    inputs += [(len(lags) + i, -1) for i in range(len(means))]
    decision = _LINEAR.get(fit)
    if decision is None:
        decision = _LINEAR[fit] = compile_linear(
            float(lr.intercept_[0]), scaler.mean_.tolist(), scaler.scale_.tolist(),
            lr.coef_[0].tolist(), inputs)
    base_row = itemgetter(*[_F[name] for name in ft.SEQUENCE_BASE])
    zeros = (0.0,) * nb
    hist: deque[tuple[float, ...]] = deque(maxlen=max(lags) + 1)
    base, cap, lift = fit.base_logit, ex.z_cap, p.flag_lift
    lo, hi = 1e-6, 1 - 1e-6

    def run(_v: Mapping[str, float], f: tuple[float, ...]) -> Out:
        b = base_row(f)
        total = sum(b)
        if total - total != 0.0:  # some NaN or inf: nan_to_num them
            b = tuple(_nan_to_num(x) for x in b)
        hist.append(b)
        n = len(hist)
        args: list[Any] = [hist[-1 - k] if k < n else zeros for k in lags]
        args += [_nan_to_num(w.push_mean(f[i], 1)) for i, w in means]
        prob = expit(decision(*args))
        prob = lo if prob < lo else hi if prob > hi else prob
        z = logit_(prob) - base
        z = -cap if z < -cap else cap if z > cap else z
        return int(z >= lift), z, prob

    return run


def _runner(ex: Expert, windows: Windows) -> Run:
    if isinstance(ex, GrammarExpert):
        return _grammar(ex, windows)
    if isinstance(ex, AnomalyExpert):
        return _anomaly(ex)
    if isinstance(ex, DivergenceExpert):
        return _Divergence(ex)
    if isinstance(ex, SequenceExpert):
        return _sequence(ex)
    raise TypeError(f"DsiStream: no per-row form for expert {ex.spec.id!r} ({type(ex).__name__})")


# ---------------------------------------------------------------- one coin, the stream


class _Coin:
    """Everything one coin carries from row to row."""

    def __init__(self, model: DsiModel) -> None:
        label = model.registry.label
        self.windows: Windows = {}
        self.features = (_Features(self.windows, label.rv_ref_window, label.rv_ref_min_periods)
                         if any(s.expert.uses_features for s in model.experts) else None)
        self.runs = [_runner(s.expert, self.windows) for s in model.experts]
        self.feeds = [(col, w.push) for (_, col, _), w in self.windows.items()]
        self.last_ts: int | None = None

    def push(self, v: Mapping[str, float]) -> list[Out]:
        for col, push in self.feeds:
            push(v[col])
        f = self.features.push(v) if self.features is not None else ()
        return [run(v, f) for run in self.runs]


class DsiStream:
    """Per-row `annotate`: push each MicroTape row of one UTC day, in (ts_ms, coin) order;
    get back its annotation row (coin, ts_ms, mx_evidence, mx_confirm, f_/z_/c_<id>)."""

    def __init__(self, model: DsiModel) -> None:
        reg = model.registry
        self.model = model
        self._cadence = reg.cadence_ms
        self._cap = reg.fusion.z_cap
        self._m = reg.fusion.confirm_m
        self._llr0 = float(logit(model.base_rate))
        self._weights = [s.weight for s in model.experts]
        self._keys = [(f"f_{s.id}", f"z_{s.id}", f"c_{s.id}") for s in model.experts]
        self._coins: dict[str, _Coin] = {}
        _Coin(model)  # compiles the fitted models now, not at a coin's first row
        self._columns = tuple(sorted(self._needed(model)))
        self._pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            itemgetter(*self._columns) if len(self._columns) > 1
            else lambda row: tuple(row[c] for c in self._columns))

    @staticmethod
    def _needed(model: DsiModel) -> set[str]:
        cols: set[str] = set()
        if any(s.expert.uses_features for s in model.experts):
            cols.update(_FEATURE_COLUMNS)
        for s in model.experts:
            if isinstance(s.expert, GrammarExpert):
                cols.update(s.expert.grammar.columns())
            elif isinstance(s.expert, DivergenceExpert):
                cols.update(_DIVERGENCE_COLUMNS)
        return cols

    def _check(self, coin: str, ts: int, last: int | None) -> None:
        """annotate's _check_frames, per coin: later than the coin's previous row, by a
        multiple of cadence_ms."""
        if last is None:
            return
        if ts <= last:
            raise ValueError(f"DsiStream: {coin} row at ts_ms={ts} is not after its previous "
                             f"row at ts_ms={last} (frames must be sorted by (coin, ts_ms) "
                             "without duplicates)")
        if (ts - last) % self._cadence:
            raise ValueError(f"DsiStream: {coin} row at ts_ms={ts} is {ts - last} ms after its "
                             f"previous row; ts_ms steps must be multiples of "
                             f"cadence_ms={self._cadence}")

    def push(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The annotation of one row (equal to annotate's row for it)."""
        coin, ts = str(row["coin"]), int(row["ts_ms"])
        st = self._coins.get(coin)
        if st is None:
            st = self._coins[coin] = _Coin(self.model)
        self._check(coin, ts, st.last_ts)
        v = dict(zip(self._columns, map(float, self._pick(row)), strict=True))
        st.last_ts = ts
        outs = st.push(v)
        cap = self._cap
        llr = self._llr0
        flags = 0
        cols: dict[str, Any] = {"coin": coin, "ts_ms": ts, "mx_evidence": 0.0, "mx_confirm": 0}
        for (f, z, c), w, (kf, kz, kc) in zip(outs, self._weights, self._keys, strict=True):
            z = -cap if z < -cap else cap if z > cap else z
            llr = llr + w * z
            flags += f
            cols[kf], cols[kz], cols[kc] = f, z, 0.0 if c < 0.0 else 1.0 if c > 1.0 else c
        cols["mx_evidence"] = expit(llr)
        cols["mx_confirm"] = int(flags >= self._m)
        return cols
