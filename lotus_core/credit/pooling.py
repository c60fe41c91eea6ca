"""Partial pooling of per-coin credit toward the expert's pooled credit.

A coin's Shapley-lite estimate phi_c has a sampling variance s_c^2 (its standard error
across inclusion orders, squared). Coins differ for real by tau^2, estimated by the method
of moments (DerSimonian-Laird). Each coin's credit is shrunk toward the precision-weighted
mean mu:

    shrunk_c = (tau^2 * phi_c + s_c^2 * mu) / (tau^2 + s_c^2)

so a coin measured precisely keeps its own credit, a noisy coin borrows from the others,
and tau^2 = 0 (no evidence the coins differ) gives every coin mu.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VAR_FLOOR = 1e-12
"""A variance below this counts as this (a coin whose every order agreed)."""


@dataclass(frozen=True)
class Pooled:
    mu: float
    tau2: float
    shrunk: np.ndarray
    weight: np.ndarray  # tau^2 / (tau^2 + s_c^2): how much of its own estimate a coin keeps


def pool(phi: np.ndarray, se: np.ndarray) -> Pooled:
    """Shrink per-coin estimates `phi` with standard errors `se` toward their pooled mean."""
    phi = np.asarray(phi, dtype=np.float64)
    var = np.maximum(np.nan_to_num(np.asarray(se, dtype=np.float64) ** 2, nan=VAR_FLOOR),
                     VAR_FLOOR)
    w = 1.0 / var
    mu = float((w * phi).sum() / w.sum())
    k = len(phi)
    if k < 2:
        return Pooled(mu, 0.0, phi.copy(), np.ones(k))
    q = float((w * (phi - mu) ** 2).sum())
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    tau2 = max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0
    keep = tau2 / (tau2 + var)
    return Pooled(mu, tau2, keep * phi + (1.0 - keep) * mu, keep)
