"""Has the market's outcome model changed inside the training window?

The nuisances (propensity, outcome model) are fitted once over the window. When the market
changes mid-window (a regime whose own effect flips, a context whose confounding reverses)
the period itself becomes a confounder the features do not carry: measured on the
regime-shift market, DR was +2.5 bps biased and its null twin activated a false rule on
10 % of nights (docs/validity.md, "Harder markets").

This module finds such a change from the data, for any feature: a Chow test of the
additive outcome model (the estimator's own form, on the same one-hot literals) fitted
once over the window against fitted separately before and after a day boundary, at every
boundary with enough windows on both sides. The most significant boundary is a break when
its p-value, Bonferroni-corrected over the boundaries tried, is below `break_alpha`; the
estimator then fits its nuisances within each period (estimator.fit_nuisances `period`),
so the period is adjusted for. A stationary window breaks at rate <= break_alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from scipy.special import fdtrc  # scipy.stats' f.sf, without importing scipy.stats

from lotus_core.learning.config import EstimatorConfig
from lotus_core.learning.design import gram, total, xty
from lotus_core.learning.units import UnitSet


@dataclass(frozen=True)
class Break:
    day: int  # the first day (days since the epoch) of the later period
    f: float  # the Chow F statistic there
    p: float  # its p-value, Bonferroni-corrected over the boundaries tried
    tried: int  # boundaries with enough windows on both sides

    @property
    def first_date(self) -> str:
        """The later period's first day, YYYY-MM-DD."""
        return (date(1970, 1, 1) + timedelta(days=self.day)).isoformat()

    def period(self, units: UnitSet) -> np.ndarray:
        """Per unit: 0 before the break, 1 from it."""
        return (units.day >= self.day).astype(np.int64)


def _rss(gram: np.ndarray, rhs: np.ndarray, yy: float) -> tuple[float, int]:
    """(residual sum of squares, rank) of least squares from its normal equations."""
    sol, _, rank, _ = np.linalg.lstsq(gram, rhs, rcond=None)
    return max(float(yy - rhs @ sol), 0.0), int(rank)


def _day_sums(units: UnitSet) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(days, counts, per-day Gram of [1, x], per-day [1, x]' y, per-day y'y) of the one-hot
    x of every feature: any run of days is then one sum, so every boundary costs one small
    solve, not a pass over rows. Taken from the codes (`design`), never the design itself."""
    days, inv, counts = np.unique(units.day, return_inverse=True, return_counts=True)
    grams, rhs, yy = [], [], []
    y = units.y
    order = np.argsort(inv, kind="stable")  # each day's rows, ascending
    for rows in np.split(order, np.cumsum(counts)[:-1]):
        x = gram(units, rows)
        g = np.empty((len(x) + 1, len(x) + 1))
        g[0, 0] = len(rows)
        g[0, 1:] = g[1:, 0] = np.diag(x)
        g[1:, 1:] = x
        grams.append(g)
        yi = y[rows]
        rhs.append(np.concatenate([[total(yi)], xty(units, y, rows)]))
        yy.append(float(yi @ yi))
    return days, counts, np.array(grams), np.array(rhs), np.array(yy)


def outcome_break(units: UnitSet, alpha: float, min_windows: int) -> Break | None:
    """The day boundary where the additive outcome model of `units.y` on the one-hot of
    every feature changes most, if significant at `alpha` after the
    Bonferroni correction over the boundaries tried; None otherwise. A boundary is tried
    when both sides hold at least `min_windows` windows."""
    if len(np.unique(units.day)) < 2 or units.n < 2 * min_windows:
        return None
    days, counts, grams, rhs, yy = _day_sums(units)
    pooled, rank = _rss(grams.sum(axis=0), rhs.sum(axis=0), float(yy.sum()))
    best: tuple[float, float, int] | None = None
    tried = 0
    for b in range(1, len(days)):
        n_late = int(counts[b:].sum())
        if n_late < min_windows or units.n - n_late < min_windows:
            continue
        tried += 1
        early_rss, r1 = _rss(grams[:b].sum(axis=0), rhs[:b].sum(axis=0), float(yy[:b].sum()))
        late_rss, r2 = _rss(grams[b:].sum(axis=0), rhs[b:].sum(axis=0), float(yy[b:].sum()))
        split = early_rss + late_rss
        df_num = r1 + r2 - rank
        df_den = units.n - r1 - r2
        if df_num <= 0 or df_den <= 0 or split <= 0:
            continue
        f = ((pooled - split) / df_num) / (split / df_den)
        p = float(fdtrc(df_num, df_den, f))
        if best is None or p < best[1]:
            best = (f, p, int(days[b]))
    if best is None:
        return None
    f, p, day = best
    p_adj = min(1.0, p * tried)
    return Break(day, float(f), p_adj, tried) if p_adj < alpha else None


def window_break(units: UnitSet, cfg: EstimatorConfig) -> Break | None:
    """The window's break (`outcome_break` at cfg.break_alpha), or None: no break found,
    or the test is off (break_alpha null)."""
    if cfg.break_alpha is None:
        return None
    return outcome_break(units, cfg.break_alpha, cfg.break_min_windows)


def periods(units: UnitSet, cfg: EstimatorConfig) -> np.ndarray | None:
    """`Break.period` of the window's break, or None (no break: one period)."""
    found = window_break(units, cfg)
    return None if found is None else found.period(units)
