"""Curated sigma and the publication policy, with the propensity every window was logged with.

    curated_sigma = min(1, det_sigma * exp(sum c))
    eligible      = no veto
    live publish  = eligible and curated_sigma >= tau            propensity 1
    paper publish = eligible and below tau and u < epsilon         propensity epsilon
    vetoed        = never published                               propensity 0

`propensity` is P(published | window) under this policy, whether or not the draw published
it; off-policy estimators weight outcomes by it. u is a fixed hash of (seed, day, window).
Each function's one-window form (`_one`, the live step's) sits directly under it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Publication:
    curated_sigma: np.ndarray
    above: np.ndarray
    published: np.ndarray
    paper: np.ndarray
    propensity: np.ndarray


def curated(det_sigma: np.ndarray, nudge_sum: np.ndarray) -> np.ndarray:
    """det_sigma tilted by the curators' summed log-space nudges, kept in [0, 1]."""
    return np.clip(np.asarray(det_sigma) * np.exp(np.asarray(nudge_sum)), 0.0, 1.0)


def clip01_one(x: float) -> float:
    """np.clip(x, 0, 1) on one value (NaN stays NaN)."""
    return x if x != x else min(max(x, 0.0), 1.0)


def curated_one(det_sigma: float, nudge_sum: float) -> float:
    """`curated` on one window (numpy's exp: the array's float, bit for bit)."""
    return clip01_one(det_sigma * float(np.exp(nudge_sum)))


def publish(det_sigma: np.ndarray, nudge_sum: np.ndarray, vetoed: np.ndarray, tau: float,
            epsilon: float, u: np.ndarray) -> Publication:
    cs = curated(det_sigma, nudge_sum)
    eligible = ~np.asarray(vetoed, dtype=bool)
    above = cs >= tau
    live = eligible & above
    explore = eligible & ~above
    paper = explore & (np.asarray(u) < epsilon)
    propensity = np.where(live, 1.0, np.where(explore, epsilon, 0.0))
    return Publication(cs, above, live | paper, paper, propensity)


def publish_one(det_sigma: float, nudge_sum: float, vetoed: bool, tau: float, epsilon: float,
                u: float) -> tuple[float, bool, bool, bool, float]:
    """`publish` on one window: (curated_sigma, above, published, paper, propensity)."""
    cs = curated_one(det_sigma, nudge_sum)
    above = cs >= tau
    live = not vetoed and above
    explore = not vetoed and not above
    paper = explore and u < epsilon
    propensity = 1.0 if live else epsilon if explore else 0.0
    return cs, above, live or paper, paper, propensity
