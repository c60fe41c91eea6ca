"""An arm's belief about the information it buys per unit of compute: a Normal-Gamma
posterior over the mean reward rate (reward / cost of one pull), updated one pull at a
time, and sampled for Thompson sampling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NormalGamma:
    """Normal-Gamma(mu, kappa, alpha, beta): the mean rate ~ N(mu, 1 / (kappa tau)),
    the precision tau ~ Gamma(alpha, rate beta)."""

    mu: float = 0.0
    kappa: float = 1.0
    alpha: float = 1.0
    beta: float = 1.0

    def update(self, x: float) -> NormalGamma:
        """The posterior after one observed rate `x` (the conjugate single-point update)."""
        k = self.kappa + 1.0
        return NormalGamma(mu=(self.kappa * self.mu + x) / k, kappa=k, alpha=self.alpha + 0.5,
                           beta=self.beta + self.kappa * (x - self.mu) ** 2 / (2.0 * k))

    def sample(self, rng: np.random.Generator) -> float:
        """One Thompson draw of the mean rate."""
        tau = float(rng.gamma(self.alpha, 1.0 / self.beta))
        return float(rng.normal(self.mu, 1.0 / math.sqrt(self.kappa * max(tau, 1e-12))))

    @property
    def mean(self) -> float:
        return self.mu
