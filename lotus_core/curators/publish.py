"""Curated sigma and the publication policy, with the propensity every window was logged with.

    curated_sigma = min(1, det_sigma * exp(sum c))
    eligible      = no veto
    live publish  = eligible and curated_sigma >= tau            propensity 1
    paper publish = eligible and below tau and u < epsilon         propensity epsilon
    vetoed        = never published                               propensity 0

`propensity` is P(published | window) under this policy, whether or not the draw published
it; off-policy estimators weight outcomes by it. u is a fixed hash of (seed, day, window).
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
