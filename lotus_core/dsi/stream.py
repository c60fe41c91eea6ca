"""DSI annotation one MicroTape row at a time: `DsiStream(model).push(row)` returns the row
`annotate(frames, model).annotations` has for it, from state carried per coin.

The batch `annotate` stays the definition (and what the nightly chain runs); this is its
per-row recursion for the live daemon. Every expert is causal and reads only its own
coin's earlier rows, so a coin's state is: the feature table's trailing windows and lags,
each grammar's state machines (stream_grammar), the divergence expert's EMAs and extremes,
the sequence classifier's lags and means. Nothing mixes coins. A new UTC day is a new
DsiStream. Exact, not close: flags and the anomaly expert's rank compare values with
thresholds, so every value repeats the batch's float operations.

Speed: the model is written once as one Python function of a row (stream_windows.Program):
the features it needs, every expert, the fusion and the output dict, straight-line, with
each coin's state in that function's closure. No per-row method calls, attribute lookups
or intermediate lists between the parts; the fitted forest is its own compiled function
(stream_models). tests/core/live/test_stream_dsi.py proves it equal to `annotate` on whole
fixture days; `DsiStream.source` is the generated code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
from scipy.special import logit

from lotus_core.dsi import features as ft
from lotus_core.dsi.anomaly import AnomalyExpert
from lotus_core.dsi.divergence import DivergenceExpert
from lotus_core.dsi.experts import Expert, GrammarExpert
from lotus_core.dsi.model import DsiModel
from lotus_core.dsi.sequence import SequenceExpert
from lotus_core.dsi.stream_grammar import grammar_flag
from lotus_core.dsi.stream_models import compile_forest, linear_source
from lotus_core.dsi.stream_windows import (
    NAN,
    Ewm,
    Extremes,
    Kahan,
    Median,
    Program,
    com_of,
    lag,
    lit,
    push_kahans,
)

FEATURES = ("ret", "abs_ret", "vol_rel", "trades_rel", "spread_rel", "depth_rel", "cancel",
            "aggr_imb", "book_imb", "micro_z", "sweep", "outliers", "oi_pct", "funding_jump",
            "rv_ratio", "range_rel")
"""The columns of features.coin_features, in its order."""



class Out(NamedTuple):
    """One expert's (f, z, conf) at the row, as names (or literals) in the step, and what
    is known of them when the step is written: a rule expert's (z, conf) while flagged
    (both 0 otherwise), or bounds that make fusion's clips no-ops."""

    f: str
    z: str
    c: str
    rule: tuple[float, float] | None = None
    z_bound: float = math.inf  # |z| <= z_bound
    c_unit: bool = False  # 0 <= conf <= 1


SILENT = Out("0", "0.0", "0.0", rule=(0.0, 0.0))


# ---------------------------------------------------------------- numpy's scalar rules


def _nan_to_num(x: float) -> float:
    if x - x == 0.0:
        return x
    return 0.0 if x != x else (1.7976931348623157e308 if x > 0 else -1.7976931348623157e308)


def _div(a: float, b: float) -> float:
    """a / b with numpy's answer at b == 0 (inf, or NaN for 0 / 0)."""
    if b != 0.0:
        return a / b
    return NAN if a == 0.0 or a != a else math.copysign(math.inf, a) * math.copysign(1.0, b)


def _log1p(x: float) -> float:
    """np.log1p of one value (numpy's loop, as the batch features: libm's math.log1p
    differs in the last bit on some CPUs): -inf at -1, NaN below."""
    if x > -1.0:
        return float(_NP_LOG1P(x))
    return -math.inf if x == -1.0 else NAN


_NP_LOG1P = np.log1p
_HELPERS = {"NTN": _nan_to_num, "DIV": _div, "LOG1P": _log1p}


# ---------------------------------------------------------------- the step's parts


class _Inputs(Mapping[str, str]):
    """The MicroTape columns the step reads, each as a float in a local name."""

    def __init__(self, prog: Program) -> None:
        self.p = prog
        self.names: dict[str, str] = {}

    def __getitem__(self, col: str) -> str:
        if col not in self.names:
            self.names[col] = self.p.name("c_" + col)
        return self.names[col]

    def __iter__(self) -> Any:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def prologue(self) -> str:
        """The step's first line: unpack the row's values (`picker`'s, as floats)."""
        names = list(self.names.values())
        return f"{', '.join(names)}, = vals" if names else ""

    def picker(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """row -> its columns' values, in prologue's order (the caller makes them floats,
        outside the step, so a bad row leaves the step's state as it was)."""
        cols = list(self.names)
        if len(cols) > 1:
            return itemgetter(*cols)
        return lambda row: tuple(row[c] for c in cols)


def _ratio(prog: Program, a: str, b: str) -> str:
    """features._ratio: a / b, 0 where that is not finite."""
    out = prog.name("ratio")
    prog.add(f"{out} = {a} / {b} if {b} != 0.0 else 0.0\n"
             f"if {out} - {out} != 0.0:\n    {out} = 0.0")
    return out


def _log_ratio(prog: Program, a: str, b: str) -> str:
    """features._log_ratio: log(a / b), 0 where that is not finite."""
    out = prog.name("log_ratio")
    prog.add(f"_q = {a} / {b} if {b} != 0.0 else NAN\n"
             f"{out} = log(_q) if 0.0 < _q < inf else 0.0")
    return out


def _clip(x: str, lo: float, hi: float) -> str:
    """np.clip as an expression: NaN stays NaN."""
    return f"({lit(lo)} if {x} < {lit(lo)} else {lit(hi)} if {x} > {lit(hi)} else {x})"


class _Features:
    """features.coin_features at one row, each feature written on first use (an expert
    that is silent, e.g. unfitted, costs nothing)."""

    def __init__(self, prog: Program, cols: _Inputs, model: DsiModel) -> None:
        self.p, self.c, self.label = prog, cols, model.registry.label

    def __getitem__(self, name: str) -> str:
        return self.p.memo(("feature", name), lambda: self._make(name))

    def _median(self, col: str, size: int, minp: int) -> str:
        return self.p.shared(Median, col, self.c[col], size).median(minp)

    def _make(self, name: str) -> str:
        p, c, z = self.p, self.c, ft.Z_CLIP
        out = p.name("f_" + name)
        if name == "ref":
            return self._median("rv_bps", self.label.rv_ref_window, self.label.rv_ref_min_periods)
        if name == "s1":  # np.maximum: a NaN scale stays NaN
            p.add(f"{out} = {self['ref']} / {lit(ft.SQRT_60)}\n"
                  f"if {out} < {lit(ft.SCALE_FLOOR)}:\n    {out} = {lit(ft.SCALE_FLOOR)}")
        elif name == "r":
            return _ratio(p, c["dpx_bps"], self["s1"])
        elif name == "ret":
            p.add(f"{out} = {_clip(self['r'], -z, z)}")
        elif name == "abs_ret":
            p.add(f"_q = abs({self['r']})\n{out} = {lit(z)} if _q > {lit(z)} else _q")
        elif name == "vol_rel":
            vol = p.name("vol")
            p.add(f"{vol} = {c['buy_vol']} + {c['sell_vol']}")
            w = Kahan(p, ft.VOL_WINDOW)  # buy_vol + sell_vol: not an input column
            w.push(vol)
            p.add(f"{out} = log1p(_q) if (_q := {_ratio(p, vol, w.mean(1))}) > -1.0 "
                  "else LOG1P(_q)")
        elif name == "trades_rel":
            w = p.shared(Kahan, "trade_count", c["trade_count"], ft.VOL_WINDOW)
            r = _ratio(p, c["trade_count"], w.mean(1))
            p.add(f"{out} = log1p({r}) if {r} > -1.0 else LOG1P({r})")
        elif name == "spread_rel":
            return _log_ratio(p, c["spread_bps"], self._median("spread_bps", ft.SPREAD_WINDOW, 1))
        elif name == "depth_rel":
            p.add(f"_q = {_clip(c['depth_5_rel'], *ft.DEPTH_CLIP)}\n"
                  f"{out} = log(_q) if _q == _q else 0.0")
        elif name == "cancel":
            x = c["cancel_rate"]
            p.add(f"{out} = log1p({x}) if {x} > -1.0 else LOG1P({x})")
        elif name == "aggr_imb":
            return c["aggr_imb"]
        elif name == "book_imb":
            x = c["book_imb_5"]
            p.add(f"{out} = {x} if {x} - {x} == 0.0 else NTN({x})")
        elif name == "micro_z":
            p.add(f"{out} = {_clip(_ratio(p, c['microprice_drift_bps'], self['s1']), -z, z)}")
        elif name == "sweep":
            return c["sweep_flag"]
        elif name == "outliers":
            p.add(f"{out} = {_clip(c['size_outlier_count'], 0.0, ft.OUTLIER_CLIP)}")
        elif name == "oi_pct":
            p.add(f"_q = 100.0 * {c['oi_delta']}\n_q = _q if _q - _q == 0.0 else NTN(_q)\n"
                  f"{out} = {_clip('_q', -ft.OI_CLIP, ft.OI_CLIP)}")
        elif name == "funding_jump":
            x = c["funding"]
            was = lag(p, x, ft.FUNDING_LAG)
            jump = p.name("jump")
            p.add(f"{jump} = {x} - {was}")
            r = _ratio(p, jump, lit(ft.FUNDING_UNIT))
            p.add(f"{out} = {_clip(r, -ft.FUNDING_CLIP, ft.FUNDING_CLIP)}")
        elif name == "rv_ratio":
            return _log_ratio(p, c["rv_bps"], self["ref"])
        elif name == "range_rel":
            return _log_ratio(p, c["range_bps"], self._median("range_bps", ft.RANGE_WINDOW, 1))
        else:
            raise KeyError(name)
        return out


def _flagged(f: str, rel: float) -> Out:
    """A rule expert's (f, z, conf): z = f, conf = reliability while flagged."""
    return Out(f, "", "", rule=(1.0, rel))


def _anomaly(prog: Program, ex: AnomalyExpert, feats: _Features) -> Out:
    """AnomalyExpert._output at one row: the compiled forest's score of the row's unsigned
    features, against the sorted history scores."""
    if ex.model is None:
        return SILENT
    xs = [f"abs({feats[ft.ANOMALY_ABS[c]]})" if c in ft.ANOMALY_ABS else feats[c]
          for c in ft.ANOMALY_FEATURES]
    score = prog.const("forest", compile_forest(ex.model))
    scores = ex.sorted_scores.tolist()
    # the rank in two steps: a bisect of every 64th score, then of those 64 (one bisect
    # of all of them reads ~16 scattered floats of a list too big for the cache)
    history, coarse = prog.const("history", scores), prog.const("coarse", scores[::64])
    span = max(ex.threshold - ex.median, 1e-12)
    s, f, z, c, i = (prog.name(n) for n in ("score", "f", "z", "conf", "i"))
    n, nc = len(scores), len(scores[::64])
    prog.add(f"""
        {s} = {score}({', '.join(xs)})
        {z} = ({s} - {lit(ex.median)}) / {lit(span)}
        {z} = 0.0 if {z} < 0.0 else {lit(ex.z_cap)} if {z} > {lit(ex.z_cap)} else {z}
        {f} = 1 if {s} >= {lit(ex.threshold)} else 0
        {i} = bisect_right({coarse}, {s})
        {c} = bisect_right({history}, {s}, {i} * 64 - 64 if {i} else 0,
                           {i} * 64 if {i} < {nc} else {n}) / {n}
        """)
    return Out(f, z, c, z_bound=max(ex.z_cap, 0.0), c_unit=True)


def _divergence(prog: Program, ex: DivergenceExpert, cols: _Inputs) -> Out:
    """DivergenceExpert.run at one row: RSI (Wilder, NaN rows age), MACD, flow EMA, and the
    extremes of the mid over rows t-lookback .. t-1 and of each oscillator over rows
    t-lookback .. t-min_age (windows over lagged inputs). The bearish side compares
    s * x = x with maxima, the bullish side s * x = -x with -minima: the same doubles."""
    p = ex.params
    mid, book = cols["mid_px"], cols["book_imb_5"]
    seen, prev = prog.var("mid_seen", "False"), prog.var("mid_prev", "NAN")
    d, up_in, dn_in = prog.name("dmid"), prog.name("up_in"), prog.name("dn_in")
    prog.add(f"""
        {d} = {mid} - ({prev} if {seen} else {mid})
        {seen} = True
        {prev} = {mid}
        {up_in} = {d} if {d} > 0.0 or {d} != {d} else 0.0
        {dn_in} = -{d} if -{d} > 0.0 or {d} != {d} else 0.0
        """)  # np.diff(x, prepend=x[:1]); np.maximum(d, 0): NaN stays
    rsi_com = com_of(alpha=1.0 / p.rsi_frames)
    up, dn = Ewm(prog, rsi_com, False).push(up_in), Ewm(prog, rsi_com, False).push(dn_in)
    fast = Ewm(prog, com_of(span=p.macd_fast), False).push(mid)
    slow = Ewm(prog, com_of(span=p.macd_slow), False).push(mid)
    rsi, macd, tot = prog.name("rsi"), prog.name("macd"), prog.name("tot")
    prog.add(f"""
        {tot} = {up} + {dn}
        {rsi} = 100.0 * {up} / {tot} if {tot} > 0.0 else 50.0
        _q = {fast} - {slow}
        {macd} = (_q / {mid} if {mid} != 0.0 else DIV(_q, {mid})) * 10000.0
        """)
    flow = Ewm(prog, com_of(span=p.flow_span), False).push(cols["aggr_imb"])
    flow_now = prog.name("flow")
    prog.add(f"{flow_now} = {flow}")
    width = p.lookback - p.min_age + 1
    mids, rsis, macds = Extremes(prog, p.lookback), Extremes(prog, width), Extremes(prog, width)
    for w in (mids, rsis, macds):
        w.track(high=True, low=True)
    mids.push(lag(prog, mid, 1))
    rsis.push(lag(prog, rsi, p.min_age))
    macds.push(lag(prog, macd, p.min_age))
    lb, gap, out = p.lookback, lit(p.rsi_gap), prog.name("side")
    join = " or " if p.oscillators == "any" else " and "
    prog.add(f"{out} = 0")
    with prog.block(f"if -{flow_now} >= {lit(p.flow_min)} or -{book} >= {lit(p.book_min)}"):
        tests = (f"{rsi} <= {rsis.high(width)} - {gap}", f"{macd} < {macds.high(width)}")
        with prog.block(f"if {mid} >= {mids.high(lb)} and ({join.join(tests)})"):
            prog.add(f"{out} = -1")  # bearish at a new high
    with prog.block(f"if {flow_now} >= {lit(p.flow_min)} or {book} >= {lit(p.book_min)}"):
        tests = (f"-{rsi} <= -{rsis.low(width)} - {gap}", f"-{macd} < -{macds.low(width)}")
        with prog.block(f"if -{mid} >= -{mids.low(lb)} and ({join.join(tests)})"):
            prog.add(f"{out} = 1")  # bullish at a new low
    f = prog.name("f")
    prog.add(f"{f} = 1 if {out} else 0")
    return _flagged(f, ex.reliability)


def _sequence(prog: Program, ex: SequenceExpert, feats: _Features) -> Out:
    """SequenceExpert._output at one row: the lagged base features (the last max(lags) + 1
    rows, 0 before the day has them) and trailing means feed the fitted decision."""
    fit = ex.current
    if fit is None:
        return SILENT
    p = ex.params
    scaler, lr = fit.model[0], fit.model[-1]
    base = [feats[name] for name in ft.SEQUENCE_BASE]
    means = [(feats[name], w) for w in p.windows for name in ft.SEQUENCE_MEANS]
    b, total = prog.name("base"), prog.name("total")
    hist = prog.var("hist", f"deque([{(0.0,) * len(base)}] * {max(p.lags) + 1}, "
                            f"maxlen={max(p.lags) + 1})")
    prog.add(f"""
        {b} = ({', '.join(base)},)
        {total} = {' + '.join(base)}
        if {total} - {total} != 0.0:  # some NaN or inf: nan_to_num them
            {b} = tuple(map(NTN, {b}))
        {hist}.append({b})
        """)
    rows: dict[int, list[str]] = {}  # the base features k rows ago, unpacked
    for k in p.lags:
        if k not in rows:
            rows[k] = [prog.name(f"b{k}_{j}") for j in range(len(base))]
            prog.add(f"{', '.join(rows[k])}, = {b if k == 0 else f'{hist}[{-1 - k}]'}")
    xs = [rows[k][j] for j in range(len(base)) for k in p.lags]
    runs = {x: Kahan.run(prog) for x, _ in means}  # a feature's windows, pushed together
    wins = [(x, Kahan(prog, w, runs[x])) for x, w in means]
    for x in runs:
        push_kahans(prog, x, [win for y, win in wins if y == x])
    for _, win in wins:
        m = win.mean(1)
        xs.append(f"({m} if {m} - {m} == 0.0 else NTN({m}))")
    acc, prob, z, f = prog.name("decision"), prog.name("prob"), prog.name("z"), prog.name("f")
    lo, hi, cap = 1e-6, 1 - 1e-6, ex.z_cap
    prog.add(f"{acc} = " + linear_source(float(lr.intercept_[0]), scaler.mean_.tolist(),
                                         scaler.scale_.tolist(), lr.coef_[0].tolist(), xs))
    prog.add(f"""
        try:  # scipy's expit, bit for bit
            {prob} = 1.0 / (1.0 + exp(-{acc}))
        except OverflowError:
            {prob} = 0.0
        {prob} = {lit(lo)} if {prob} < {lit(lo)} else {lit(hi)} if {prob} > {lit(hi)} else {prob}
        # scipy's logit, bit for bit, for 0 < prob < 1 or NaN (its log1p form near 1/2)
        if {prob} < 0.3 or {prob} > 0.65:
            {z} = log({prob} / (1 - {prob})) - {lit(fit.base_logit)}
        else:
            _q = 2 * ({prob} - 0.5)
            {z} = log1p(_q) - log1p(-_q) - {lit(fit.base_logit)}
        {z} = {lit(-cap)} if {z} < {lit(-cap)} else {lit(cap)} if {z} > {lit(cap)} else {z}
        {f} = 1 if {z} >= {lit(p.flag_lift)} else 0
        """)
    return Out(f, z, prob, z_bound=abs(cap), c_unit=True)


def _expert(prog: Program, ex: Expert, cols: _Inputs, feats: _Features) -> Out:
    if isinstance(ex, GrammarExpert):
        g = ex.grammar
        return _flagged(grammar_flag(prog, g, {c: cols[c] for c in g.columns()}),
                        ex.reliability)
    if isinstance(ex, AnomalyExpert):
        return _anomaly(prog, ex, feats)
    if isinstance(ex, DivergenceExpert):
        return _divergence(prog, ex, cols)
    if isinstance(ex, SequenceExpert):
        return _sequence(prog, ex, feats)
    raise TypeError(f"DsiStream: no per-row form for expert {ex.spec.id!r} ({type(ex).__name__})")


Step = Callable[[tuple[tuple[float, ...], str, int]], dict[str, Any]]


def compile_step(model: DsiModel) -> tuple[Callable[[], Step],
                                           Callable[[Mapping[str, Any]], tuple[Any, ...]], str]:
    """`make`, `pick` and the step's source: `make()` is a coin's
    `step((floats of pick(row), coin, ts)) -> annotation row`.
    annotate's fusion: llr = logit(base) + sum_e w_e * clip(z_e), summed in expert order."""
    reg = model.registry
    prog = Program()
    prog.scope.update(_HELPERS)
    cols = _Inputs(prog)
    feats = _Features(prog, cols, model)
    cap = reg.fusion.z_cap
    llr, confirm = prog.name("llr"), prog.name("confirm")
    prog.add(f"{llr} = {lit(float(logit(model.base_rate)))}")
    items, flags = [], []
    for s in model.experts:
        o = _expert(prog, s.expert, cols, feats)
        z, c = o.z, o.c
        if o.rule is not None:  # (z, conf) are constants while flagged, 0 otherwise
            z1, c1 = min(max(o.rule[0], -cap), cap), min(max(o.rule[1], 0.0), 1.0)
            if z1 and o.f != "0":  # w * 0.0 adds nothing (llr is never -0.0)
                prog.add(f"if {o.f}:\n    {llr} = {llr} + {lit(s.weight * z1)}")
            z = f"({lit(z1)} if {o.f} else 0.0)" if z1 and o.f != "0" else "0.0"
            c = f"({lit(c1)} if {o.f} else 0.0)" if c1 and o.f != "0" else "0.0"
        else:
            if o.z_bound > cap:
                prog.add(f"{z} = {lit(-cap)} if {z} < {lit(-cap)} else {lit(cap)} if {z} > "
                         f"{lit(cap)} else {z}")
            prog.add(f"{llr} = {llr} + {lit(s.weight)} * {z}")
            if not o.c_unit:
                prog.add(f"{c} = 0.0 if {c} < 0.0 else 1.0 if {c} > 1.0 else {c}")
        flags.append(o.f)
        items += [f"'f_{s.id}': {o.f}", f"'z_{s.id}': {z}", f"'c_{s.id}': {c}"]
    prog.add(f"{confirm} = 1 if {' + '.join(flags) or '0'} >= {reg.fusion.confirm_m} else 0")
    evidence = prog.name("evidence")
    prog.add(f"""
        try:  # scipy's expit, bit for bit
            {evidence} = 1.0 / (1.0 + exp(-{llr}))
        except OverflowError:
            {evidence} = 0.0
        """)
    items = ["'coin': coin", "'ts_ms': ts", f"'mx_evidence': {evidence}",
             f"'mx_confirm': {confirm}", *items]
    make = prog.build("vals, coin, ts", "{" + ", ".join(items) + "}",
                      prologue=cols.prologue(), label="dsi step")
    return make, cols.picker(), prog.source


# ---------------------------------------------------------------- the stream


class _Coin:
    """One coin's step (its state is the step's) and last grid time."""

    __slots__ = ("last", "step")

    def __init__(self, step: Step) -> None:
        self.step = step
        self.last = -1


class DsiStream:
    """Per-row `annotate`: push each MicroTape row of one UTC day, in (ts_ms, coin) order;
    get back its annotation row (coin, ts_ms, mx_evidence, mx_confirm, f_/z_/c_<id>)."""

    def __init__(self, model: DsiModel) -> None:
        self.model = model
        self._cadence = model.registry.cadence_ms
        # compiled once per model, not per coin
        self._make, self._pick, self.source = compile_step(model)
        self._coins: dict[str, _Coin] = {}

    def _check(self, coin: str, ts: int, last: int) -> None:
        """annotate's _check_frames, per coin: later than the coin's previous row, by a
        multiple of cadence_ms."""
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
            st = self._coins[coin] = _Coin(self._make())
        elif ts <= st.last or (ts - st.last) % self._cadence:
            self._check(coin, ts, st.last)
        vals = tuple(map(float, self._pick(row)))
        try:
            out = st.step((vals, coin, ts))
        except StopIteration:
            raise RuntimeError(f"DsiStream: {coin}'s state was lost to an earlier error in "
                               "its step") from None
        st.last = ts
        return out
