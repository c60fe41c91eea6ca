"""Divergence verifier: price vs RSI/MACD divergence, kept only when book or tape agrees.

An indicator divergence alone is the "isolated indicator game" the seeds warn about, so a
divergence flags only if the order flow (EWMA of aggr_imb) or the book (book_imb_5) already
leans the way the divergence points. RSI and MACD are recursive filters of mid_px: causal.
"""

from __future__ import annotations

import numpy as np

from lotus_core.dsi.expert_spec import ExpertSpec
from lotus_core.dsi.experts import CoinFrames, Expert, ExpertOutput
from lotus_core.dsi.features import lag, trailing
from lotus_core.dsi.params import DivergenceParams, parse_params
from lotus_core.filters import ewm_by_position, wilder_rsi


def macd_bps(mid: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """MACD line (EMA fast - EMA slow) in bps of the mid."""
    return (ewm_by_position(mid, span=fast) - ewm_by_position(mid, span=slow)) / mid * 1e4


class DivergenceExpert(Expert):
    """f = divergence & confirmation; direction = the reversal it points to; z = f;
    conf = reliability while flagged."""

    def __init__(self, spec: ExpertSpec, seed: int, z_cap: float) -> None:
        super().__init__(spec, seed, z_cap)
        self.params: DivergenceParams = parse_params(DivergenceParams, spec.spec, spec.id)

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
        width = p.lookback - p.min_age + 1
        combine = np.logical_or if p.oscillators == "any" else np.logical_and
        out = np.zeros(n, np.int8)
        for d in (-1, 1):  # -1: bearish at a new high; +1: bullish at a new low
            s = -d  # +1 for highs, -1 for lows: compare s * x so both read "higher"
            prior = trailing(lag(s * mid, 1), p.lookback, "max", p.lookback)
            extreme = s * mid >= prior
            lagged = {k: trailing(lag(s * v, p.min_age), width, "max", width)
                      for k, v in osc.items()}
            with np.errstate(invalid="ignore"):
                div_rsi = s * osc["rsi"] <= lagged["rsi"] - p.rsi_gap
                div_macd = s * osc["macd"] < lagged["macd"]
                agree = (d * flow >= p.flow_min) | (d * book >= p.book_min)
            hit = extreme & combine(div_rsi, div_macd) & agree
            out[hit] = d
        f = (out != 0).astype(np.int8)
        return ExpertOutput(f, f.astype("float64"), f * self.reliability, out)
