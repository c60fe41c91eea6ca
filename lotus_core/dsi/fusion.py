"""Fuse the experts into mx_evidence and mx_confirm (docs/dsi.md, "Fusion").

micro_LLR = logit(base_rate) + sum_e w_e * clip(z_e, -z_cap, z_cap)
mx_evidence = sigmoid(micro_LLR);  mx_confirm = 1{ sum_e f_e >= m }

The first term is the prior log-odds of the mechanical label; each w_e * z_e is the
log-likelihood ratio an expert adds (w_e its log-odds lift, z_e = 1 at its flag level), so
mx_evidence reads as a naive-Bayes probability that a label-sized move is under way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit, logit

from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.registry import FusionParams


def micro_llr(outputs: Sequence[ExpertOutput], weights: Sequence[float], base_rate: float,
              params: FusionParams, n: int) -> np.ndarray:
    llr = np.full(n, float(logit(base_rate)))
    for out, w in zip(outputs, weights, strict=True):
        llr += w * np.clip(out.z, -params.z_cap, params.z_cap)
    return llr


def fuse(outputs: Sequence[ExpertOutput], weights: Sequence[float], base_rate: float,
         params: FusionParams, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(micro_llr, mx_evidence float64 in [0, 1], mx_confirm int8) per frame."""
    llr = micro_llr(outputs, weights, base_rate, params, n)
    flags = np.zeros(n, dtype=np.int64)
    for out in outputs:
        flags += out.f
    return llr, expit(llr), (flags >= params.confirm_m).astype(np.int8)
