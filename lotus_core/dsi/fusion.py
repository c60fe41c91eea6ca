"""Fuse the experts into mx_evidence and mx_confirm (docs/dsi.md, "Fusion").

micro_LLR = logit(base_rate) + sum_e w_e * clip(z_e, -z_cap, z_cap)
mx_evidence = sigmoid(micro_LLR);  mx_confirm = 1{ sum_e f_e >= m }

The first term is the prior log-odds of the mechanical label; each w_e * z_e is the
log-likelihood ratio an expert adds (w_e its log-odds lift, z_e = 1 at its flag level), so
mx_evidence reads as a naive-Bayes probability that a label-sized move is under way.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `fuse` (a day) and `FuseStep` (one row, written into DsiStream's
step) read the same FusionParams, `clip_z` bounds and CONF_RANGE.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit, logit

from lotus_core.dsi.experts import ExpertOutput, Out
from lotus_core.dsi.registry import FusionParams
from lotus_core.dsi.windows import Program, clip_step, expit_source, lit

CONF_RANGE = (0.0, 1.0)
"""An annotation's c_<expert>: the expert's conf clipped to this range."""


def clip_z(z: np.ndarray, params: FusionParams) -> np.ndarray:
    """An expert's z as fusion and the z_<expert> column read it: within +-z_cap."""
    return np.clip(z, -params.z_cap, params.z_cap)


def clip_conf(conf: np.ndarray) -> np.ndarray:
    return np.clip(conf, *CONF_RANGE)


def micro_llr(outputs: Sequence[ExpertOutput], weights: Sequence[float], base_rate: float,
              params: FusionParams, n: int) -> np.ndarray:
    llr = np.full(n, float(logit(base_rate)))
    for out, w in zip(outputs, weights, strict=True):
        llr += w * clip_z(out.z, params)
    return llr


def fuse(outputs: Sequence[ExpertOutput], weights: Sequence[float], base_rate: float,
         params: FusionParams, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(micro_llr, mx_evidence float64 in [0, 1], mx_confirm int8) per frame."""
    llr = micro_llr(outputs, weights, base_rate, params, n)
    flags = np.zeros(n, dtype=np.int64)
    for out in outputs:
        flags += out.f
    return llr, expit(llr), (flags >= params.confirm_m).astype(np.int8)


class FuseStep:
    """`fuse` and annotate's f_/z_/c_ columns at one row, written into the step expert by
    expert (`add`, in the model's order: llr sums in fuse's order), then `finish`."""

    def __init__(self, prog: Program, base_rate: float, params: FusionParams) -> None:
        self.p, self.params = prog, params
        self.llr = prog.name("llr")
        prog.add(f"{self.llr} = {lit(float(logit(base_rate)))}")
        self.items: list[str] = []
        self.flags: list[str] = []

    def add(self, eid: str, o: Out, weight: float) -> None:
        """One expert's term (w * clip_z(z)) and its f_/z_/c_ items."""
        prog, llr, cap = self.p, self.llr, self.params.z_cap
        lo, hi = CONF_RANGE
        z, c = o.z, o.c
        if o.rule is not None:  # (z, conf) are constants while flagged, 0 otherwise
            z1, c1 = min(max(o.rule[0], -cap), cap), min(max(o.rule[1], lo), hi)
            if z1 and o.f != "0":  # w * 0.0 adds nothing (llr is never -0.0)
                prog.add(f"if {o.f}:\n    {llr} = {llr} + {lit(weight * z1)}")
            z = f"({lit(z1)} if {o.f} else 0.0)" if z1 and o.f != "0" else "0.0"
            c = f"({lit(c1)} if {o.f} else 0.0)" if c1 and o.f != "0" else "0.0"
        else:
            if o.z_bound > cap:
                prog.add(f"{z} = {clip_step(z, -cap, cap)}")
            prog.add(f"{llr} = {llr} + {lit(weight)} * {z}")
            if not o.c_unit:
                prog.add(f"{c} = {clip_step(c, lo, hi)}")
        self.flags.append(o.f)
        self.items += [f"'f_{eid}': {o.f}", f"'z_{eid}': {z}", f"'c_{eid}': {c}"]

    def finish(self) -> list[str]:
        """mx_confirm and mx_evidence; the row's items after coin and ts_ms."""
        prog = self.p
        confirm, evidence = prog.name("confirm"), prog.name("evidence")
        prog.add(f"{confirm} = 1 if {' + '.join(self.flags) or '0'} >= "
                 f"{self.params.confirm_m} else 0")
        prog.add(expit_source(evidence, self.llr))
        return [f"'mx_evidence': {evidence}", f"'mx_confirm': {confirm}", *self.items]
