"""Divergence verifier: price vs RSI/MACD divergence, kept only when book or tape agrees.

An indicator divergence alone is the "isolated indicator game" the seeds warn about, so a
divergence flags only if the order flow (EWMA of aggr_imb) or the book (book_imb_5) already
leans the way the divergence points. RSI and MACD are recursive filters of mid_px: causal.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `run` (a coin-day) and `step` (one row: the EMAs, lags and extremes
carried in the coin's step) read the same parameters, windows (`windows`), MACD scale
(BPS) and oscillator rule (`any_oscillator`). tests/core/dsi/test_dsi.py
(test_divergence_settings_equal_annotate) checks DsiStream against `annotate`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lotus_core.dsi.expert_spec import ExpertSpec
from lotus_core.dsi.experts import CoinFrames, Expert, ExpertOutput, Out, rule_out, rule_output
from lotus_core.dsi.features import FeatureStep
from lotus_core.dsi.params import DivergenceParams, parse_params
from lotus_core.dsi.windows import (
    Extremes,
    Inputs,
    Program,
    ewm_by_position_step,
    lag,
    lit,
    step_lag,
    trailing,
)
from lotus_core.filters import ewm_by_position, wilder_rsi

BPS = 1e4
"""The MACD line's unit: bps of the mid."""
MID_LAG = 1
"""The mid's extreme is over the `lookback` rows before t (t - lookback .. t - 1)."""


class Windows(NamedTuple):
    """The trailing max windows (of lagged inputs) both forms read; each window's
    min_periods is its length: full windows only."""

    mid_lag: int
    mid: int
    osc_lag: int  # oscillators: rows t - lookback .. t - min_age
    osc: int


def windows(p: DivergenceParams) -> Windows:
    return Windows(MID_LAG, p.lookback, p.min_age, p.lookback - p.min_age + 1)


def any_oscillator(p: DivergenceParams) -> bool:
    """One oscillator's divergence is enough ("any"), or both are needed ("all")."""
    return p.oscillators == "any"


def macd_bps(mid: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """MACD line (EMA fast - EMA slow) in bps of the mid."""
    return (ewm_by_position(mid, span=fast) - ewm_by_position(mid, span=slow)) / mid * BPS


class DivergenceExpert(Expert):
    """f = divergence & confirmation; direction = the reversal it points to; z = f;
    conf = reliability while flagged."""

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        super().__init__(spec, seed, z_cap)
        self.params: DivergenceParams = parse_params(DivergenceParams, spec.spec, spec.id)

    def reads(self) -> frozenset[str]:
        return super().reads() | {"mid_px", "aggr_imb", "book_imb_5"}

    def run(self, coin: CoinFrames) -> ExpertOutput:
        p, fr = self.params, coin.frames
        n = len(fr)
        if n == 0:
            return ExpertOutput.silent(0)
        mid = fr["mid_px"].to_numpy(dtype="float64")
        osc = {"rsi": wilder_rsi(mid, p.rsi_frames, nan_rows="age"),
               "macd": macd_bps(mid, p.macd_fast, p.macd_slow)}
        flow = ewm_by_position(fr["aggr_imb"].to_numpy(dtype="float64"), span=p.flow_span)
        book = fr["book_imb_5"].to_numpy(dtype="float64")
        w = windows(p)
        combine = np.logical_or if any_oscillator(p) else np.logical_and
        out = np.zeros(n, np.int8)
        for d in (-1, 1):  # -1: bearish at a new high; +1: bullish at a new low
            s = -d  # +1 for highs, -1 for lows: compare s * x so both read "higher"
            prior = trailing(lag(s * mid, w.mid_lag), w.mid, "max", w.mid)
            extreme = s * mid >= prior
            lagged = {k: trailing(lag(s * v, w.osc_lag), w.osc, "max", w.osc)
                      for k, v in osc.items()}
            with np.errstate(invalid="ignore"):
                div_rsi = s * osc["rsi"] <= lagged["rsi"] - p.rsi_gap
                div_macd = s * osc["macd"] < lagged["macd"]
                agree = (d * flow >= p.flow_min) | (d * book >= p.book_min)
            hit = extreme & combine(div_rsi, div_macd) & agree
            out[hit] = d
        f = (out != 0).astype(np.int8)
        return rule_output(f, out, self.reliability)

    def step(self, prog: Program, cols: Inputs, feats: FeatureStep) -> Out:
        """run at one row: RSI (filters.wilder_rsi, nan_rows="age": NaN rows age it), MACD,
        flow EMA, and the extremes of `windows`. The bearish side compares s * x = x with
        maxima, the bullish side s * x = -x with -minima: the same doubles."""
        p = self.params
        w = windows(p)
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
        # wilder_rsi: up and down moves smoothed with alpha = 1/n; 50 while nothing moved
        up = ewm_by_position_step(prog, up_in, alpha=1.0 / p.rsi_frames)
        dn = ewm_by_position_step(prog, dn_in, alpha=1.0 / p.rsi_frames)
        fast = ewm_by_position_step(prog, mid, span=p.macd_fast)
        slow = ewm_by_position_step(prog, mid, span=p.macd_slow)
        rsi, macd, tot = prog.name("rsi"), prog.name("macd"), prog.name("tot")
        prog.add(f"""
            {tot} = {up} + {dn}
            {rsi} = 100.0 * {up} / {tot} if {tot} > 0.0 else 50.0
            _q = {fast} - {slow}
            {macd} = (_q / {mid} if {mid} != 0.0 else DIV(_q, {mid})) * {lit(BPS)}
            """)
        flow = ewm_by_position_step(prog, cols["aggr_imb"], span=p.flow_span)
        flow_now = prog.name("flow")
        prog.add(f"{flow_now} = {flow}")
        mids, rsis, macds = Extremes(prog, w.mid), Extremes(prog, w.osc), Extremes(prog, w.osc)
        for x in (mids, rsis, macds):
            x.track(high=True, low=True)
        mids.push(step_lag(prog, mid, w.mid_lag))
        rsis.push(step_lag(prog, rsi, w.osc_lag))
        macds.push(step_lag(prog, macd, w.osc_lag))
        gap, out = lit(p.rsi_gap), prog.name("side")
        join = " or " if any_oscillator(p) else " and "
        prog.add(f"{out} = 0")
        with prog.block(f"if -{flow_now} >= {lit(p.flow_min)} or -{book} >= {lit(p.book_min)}"):
            tests = (f"{rsi} <= {rsis.high(w.osc)} - {gap}", f"{macd} < {macds.high(w.osc)}")
            with prog.block(f"if {mid} >= {mids.high(w.mid)} and ({join.join(tests)})"):
                prog.add(f"{out} = -1")  # bearish at a new high
        with prog.block(f"if {flow_now} >= {lit(p.flow_min)} or {book} >= {lit(p.book_min)}"):
            tests = (f"-{rsi} <= -{rsis.low(w.osc)} - {gap}", f"-{macd} < -{macds.low(w.osc)}")
            with prog.block(f"if -{mid} >= -{mids.low(w.mid)} and ({join.join(tests)})"):
                prog.add(f"{out} = 1")  # bullish at a new low
        f = prog.name("f")
        prog.add(f"{f} = 1 if {out} else 0")
        return rule_out(f, self.reliability)
