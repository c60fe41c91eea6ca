"""Beta-Bernoulli reliability of each expert, and the fusion weight it implies.

A trial is a flagged episode (the first frame of a run of flags of one coin); it succeeds
when the mechanical label holds at that frame. Counting episodes rather than frames keeps
one long flag from counting as hundreds of correlated trials. With prior Beta(a0, b0):
alpha = a0 + successes, beta = b0 + failures, reliability = alpha / (alpha + beta).
The base rate of the label gets the same treatment over every labelled frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logit

from lotus_core.dsi.experts import ExpertOutput


@dataclass(frozen=True)
class Counts:
    """Trials (episodes with a defined label), successes, and direction agreements (among
    directed episodes with a defined forward move: sign(move) == direction)."""

    trials: int = 0
    successes: int = 0
    directed: int = 0
    dir_agree: int = 0

    def __add__(self, o: Counts) -> Counts:
        return Counts(self.trials + o.trials, self.successes + o.successes,
                      self.directed + o.directed, self.dir_agree + o.dir_agree)


def flag_run_starts(coin: np.ndarray, ts_ms: np.ndarray, f: np.ndarray,
                   cadence_ms: int) -> np.ndarray:
    """True on the first flagged frame of each run (per coin, grid-consecutive frames)."""
    on = f.astype(bool)
    prev = np.zeros_like(on)
    prev[1:] = on[:-1] & (coin[1:] == coin[:-1]) & (np.diff(ts_ms) == cadence_ms)
    return on & ~prev


def count(out: ExpertOutput, coin: np.ndarray, ts_ms: np.ndarray, y: np.ndarray,
          move: np.ndarray, cadence_ms: int) -> Counts:
    """Episode trials of one expert's output on one day against its label."""
    starts = flag_run_starts(coin, ts_ms, out.f, cadence_ms)
    lab = y[starts]
    ok = ~np.isnan(lab)
    d = out.direction[starts].astype(float)
    mv = move[starts]
    directed = (d != 0) & ~np.isnan(mv) & (mv != 0)
    return Counts(trials=int(ok.sum()), successes=int(np.nansum(lab[ok])),
                  directed=int(directed.sum()),
                  dir_agree=int((np.sign(mv[directed]) == d[directed]).sum()))


@dataclass(frozen=True)
class Posterior:
    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def update(self, successes: float, trials: float) -> Posterior:
        return Posterior(self.alpha + successes, self.beta + trials - successes)


def weight(reliability: float, base_rate: float, w_max: float) -> float:
    """The log-odds lift of a flag over the label's base rate, clipped to [0, w_max]:
    the log-likelihood ratio a firing carries under a naive-Bayes reading."""
    lift = float(logit(reliability) - logit(base_rate))
    return float(np.clip(lift, 0.0, w_max))
