"""Doubly robust uplift of an arbitrary window set (a composed braid), cross-fitted.

The lesson search never refits per rule; compositions are few (pairs of active braids per
detector, a handful of field patterns), so each gets its own nuisances here: a logistic
propensity of "the set holds" on the one-hot of the features the set does not name, and a
ridge outcome model on the same plus the treatment. The last time fold is the newest
block, fitted on earlier folds only: its mean psi is the out-of-sample check. A window
that broke (lotus_core.learning.breaks) gets its nuisances per period, as the lesson
search does. A window where a feature the set names is unknown ("na") is in neither arm.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lotus_core.learning.breaks import periods
from lotus_core.learning.config import LearningConfig
from lotus_core.learning.design import one_hot
from lotus_core.learning.estimator import cross_folds, fit_quietly, propensity_model, train_rows
from lotus_core.learning.evaluate import hour_weights
from lotus_core.learning.units import UnitSet


@dataclass(frozen=True)
class MaskEstimate:
    uplift: float
    ci_lo: float
    ci_hi: float
    p05: float  # in the direction of `sign`
    boot_sd: float
    support: int
    oos_uplift: float  # mean psi over the newest fold's set windows (nan: none)
    psi: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))


def known_rows(units: UnitSet, mask: np.ndarray, exclude: set[int]) -> np.ndarray:
    """(n,) bool: the windows a set named by the features `exclude` is judged on. As a
    lesson's split (UnitSet.known): where one of those features is "na" (the input was not
    known) the window is in neither arm, unless the set itself holds there (it names "na")."""
    keep = np.ones(units.n, dtype=bool)
    for f in sorted(exclude):
        unknown = units.unknown(f)
        if not (mask & unknown).any():
            keep &= ~unknown
    return keep


def dr_mask(units: UnitSet, mask: np.ndarray, exclude: set[int], sign: int,
            cfg: LearningConfig) -> MaskEstimate:
    """AIPW uplift of `mask` vs the rest of `units`, confounders = features not in `exclude`,
    judged on `known_rows` (psi is nan on the others)."""
    keep = known_rows(units, mask, exclude)
    with threadpool_limits(1):
        if keep.all():
            return _dr_mask(units, mask, exclude, sign, cfg)
        idx = np.flatnonzero(keep)
        est = _dr_mask(units.take(idx), mask[idx], exclude, sign, cfg)
    psi = np.full(units.n, np.nan)
    psi[idx] = est.psi
    return replace(est, psi=psi)


def _dr_mask(units: UnitSet, mask: np.ndarray, exclude: set[int], sign: int,
             cfg: LearningConfig) -> MaskEstimate:
    from sklearn.linear_model import Ridge  # here: ~1 s of import every process that
    # never fits spared

    a = mask.astype(np.float64)
    x = one_hot(units, drop=exclude)
    period = periods(units, cfg.estimator)  # as the lesson search: nuisances per period
    fold = cross_folds(units.hour, cfg.estimator.folds, period)
    k = int(fold.max()) + 1 if units.n else 1
    e = np.full(units.n, a.mean() if units.n else 0.5)
    mu1, mu0 = np.zeros(units.n), np.zeros(units.n)
    lo, hi = cfg.estimator.propensity_clip
    for j in range(k):
        test = np.flatnonzero(fold == j)
        train = train_rows(fold, test, period)
        if 0 < a[train].sum() < len(train):
            model = propensity_model(cfg.estimator, len(train))
            design = x[train] if model.solver == "lbfgs" else x[train].toarray()
            model = fit_quietly(model, design, a[train].astype(np.int64))
            e[test] = model.predict_proba(x[test])[:, 1]
        xa = sp.hstack([x, sp.csr_matrix(a[:, None])]).tocsr()
        reg = Ridge(alpha=cfg.estimator.ridge_alpha).fit(xa[train], units.y[train])
        one = sp.hstack([x[test], sp.csr_matrix(np.ones((len(test), 1)))]).tocsr()
        zero = sp.hstack([x[test], sp.csr_matrix((len(test), 1))]).tocsr()
        mu1[test], mu0[test] = reg.predict(one), reg.predict(zero)
    e = np.clip(e, lo, hi)
    y = units.y
    psi = mu1 - mu0 + a * (y - mu1) / e - (1 - a) * (y - mu0) / (1 - e)
    hour_idx, w = hour_weights(units, cfg.bootstrap.resamples, cfg.bootstrap.seed)
    s_h = np.bincount(hour_idx, weights=psi, minlength=w.shape[1])
    n_h = np.bincount(hour_idx, minlength=w.shape[1]).astype(np.float64)
    draws = (w @ s_h) / (w @ n_h)
    q = (1 - cfg.bootstrap.ci) / 2
    last = fold == k - 1
    oos = float(psi[last].mean()) if k > 1 and last.any() else float("nan")
    return MaskEstimate(
        uplift=float(psi.mean()), ci_lo=float(np.quantile(draws, q)),
        ci_hi=float(np.quantile(draws, 1 - q)),
        p05=float(np.quantile((sign or 1) * draws, 0.05)),
        boot_sd=float(np.std(draws, ddof=1)), support=int(mask.sum()), oos_uplift=oos,
        psi=psi,
    )
