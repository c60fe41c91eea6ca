"""Specialise a pooled lesson per detector: hierarchical (random-effects) shrinkage.

A pooled lesson (detector `*`, lessons.POOLED) is tested once, on every detector's windows
together. How much of it each detector gets is then an estimate, not a new test: each
detector's own doubly robust uplift x_d (sd s_d) of "the rule holds" is shrunk toward the
pooled mean by the between-detector spread tau^2 the data show (DerSimonian-Laird):

  tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)),  w = 1 / s^2,
  theta = sum w* x / sum w*,  w* = 1 / (s^2 + tau^2),
  x~_d = theta + b_d (x_d - theta),  b_d = tau^2 / (tau^2 + s_d^2),
  sd~_d^2 = b_d s_d^2 + (1 - b_d)^2 / sum w*.

With tau^2 = 0 (the detectors agree within their noise) every detector gets theta; a
detector whose own evidence departs from the field by more than its noise keeps more of
its own estimate. A detector with too few windows of the rule gets theta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.learning.config import LearningConfig
from lotus_core.learning.drmask import dr_mask
from lotus_core.learning.lessons import LiteralSpace, detector_units, rule_lits
from lotus_core.learning.units import rule_mask


@dataclass(frozen=True)
class Specialised:
    detector_id: str
    own: float  # the detector's own estimate (nan: too few windows of the rule)
    own_sd: float
    uplift: float  # shrunk toward the pooled mean
    sd: float
    support: int


def shrink(x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """(shrunk estimates, their sds, pooled mean theta, its sd, tau^2) of estimates `x`
    with sds `s` (the module docstring); needs at least one finite pair with s > 0."""
    ok = np.isfinite(x) & np.isfinite(s) & (s > 0)
    if not ok.any():
        raise ValueError("shrink needs at least one estimate with a finite, positive sd")
    xo, so = x[ok], s[ok]
    w = 1.0 / so ** 2
    mean_w = float((w * xo).sum() / w.sum())
    q = float((w * (xo - mean_w) ** 2).sum())
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    tau2 = max(0.0, (q - (len(xo) - 1)) / c) if c > 0 else 0.0
    ws = 1.0 / (so ** 2 + tau2)
    theta = float((ws * xo).sum() / ws.sum())
    theta_var = 1.0 / float(ws.sum())
    b = np.where(ok, tau2 / (tau2 + np.where(ok, s, 1.0) ** 2), 0.0)
    out = np.where(ok, theta + b * (np.where(ok, x, theta) - theta), theta)
    var = np.where(ok, b * np.where(ok, s, 0.0) ** 2, 0.0) + (1 - b) ** 2 * theta_var
    return out, np.sqrt(var), theta, float(np.sqrt(theta_var)), tau2


def specialise(frame: pd.DataFrame, lits: pd.DataFrame, q: LiteralSpace, rule: str, sign: int,
               cfg: LearningConfig) -> list[Specialised]:
    """Every detector of the window's shrunk uplift for a pooled lesson's rule (sorted by
    detector); empty when no detector has enough windows of the rule to estimate it."""
    dets = sorted(frame["detector_id"].astype(str).unique()) if len(frame) else []
    own, own_sd, support = [], [], []
    for det in dets:
        m = (frame["detector_id"].astype(str) == det).to_numpy()
        units = detector_units(frame[m], lits[m], q)
        got = rule_lits(units, rule)
        mask = rule_mask(units, got) if got is not None else np.zeros(units.n, dtype=bool)
        n = int(mask.sum())
        support.append(n)
        if got is None or n < cfg.search.min_support or units.n - n < cfg.search.min_control:
            own.append(np.nan)
            own_sd.append(np.nan)
            continue
        est = dr_mask(units, mask, {int(units.literal_feature[x]) for x in got}, sign, cfg)
        own.append(est.uplift)
        own_sd.append(est.boot_sd)
    x, s = np.array(own, dtype=float), np.array(own_sd, dtype=float)
    if not (np.isfinite(x) & np.isfinite(s) & (s > 0)).any():
        return []
    shrunk, sd, _, _, _ = shrink(x, s)
    return [Specialised(d, float(a), float(b), float(u), float(v), n)
            for d, a, b, u, v, n in zip(dets, x, s, shrunk, sd, support, strict=True)]
