"""Cross-fitted nuisances and per-window AIPW pseudo-outcomes, once per fold for every literal.

For a literal l = (feature f = value v) the treatment is A = 1{x_f = v} and the confounders
W are the other features. Per time-blocked fold k (contiguous hours), fitted on the OTHER
folds only:

- propensity: one multinomial logistic regression per feature, P(x_f = . | W); it gives
  e_l(W) for every value of f at once (clipped to the configured bounds);
- outcome: one additive ridge model mu(X) on the one-hot of all features, so that
  mu(W, x_f = u) = mu(X) - beta[f, x_f] + beta[f, u] for any u, and
  mu(W, A = 0) = sum_{u != v} P(u | W) mu(W, u) / (1 - P(v | W)).
  For a feature with an "na" value (the input was not known) a split on a known value v is
  judged where f is known, so P(. | W) is taken conditional on f != na there: u also skips na
  and e = P(v | W) / (1 - P(na | W)).

psi_il = mu1 - mu0 + A (Y - mu1) / e - (1 - A)(Y - mu0) / (1 - e)  (FORMULAS.md).
The effect of l within any scope C of other literals is then the mean of psi_l over C: the
rule search evaluates thousands of rules by grouped sums of this one matrix, no refits.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools
from scipy.special import expit
from threadpoolctl import threadpool_limits

from lotus_core.arrays import small_int
from lotus_core.learning.config import EstimatorConfig
from lotus_core.learning.design import flat_codes, gram, one_hot, x_beta, xty
from lotus_core.learning.units import UnitSet

if TYPE_CHECKING:  # sklearn is imported where a model is fitted: ~1 s every process spared
    from sklearn.linear_model import LogisticRegression


def time_folds(hour: np.ndarray, k: int) -> np.ndarray:
    """Fold id per unit: the sorted distinct hours cut into `k` contiguous blocks of about
    equal unit counts (an hour never straddles two folds). Fewer hours than k: fewer folds."""
    hours, counts = np.unique(hour, return_counts=True)
    k = max(1, min(k, len(hours)))
    cum = np.cumsum(counts) / counts.sum()
    block = np.minimum((cum * k - 1e-9).astype(np.int64), k - 1)
    block = np.unique(np.maximum.accumulate(block), return_inverse=True)[1]  # no empty fold
    return block[np.searchsorted(hours, hour)]


_PREDICT_ROWS = 8_192
"""Rows whose propensities are predicted together (their design: ~1.4 MB of 15 features;
32,768 rows' ~6 MB would be at the search's peak)."""


def _within(test: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the test rows among `rows`, their positions in `rows`); both ascending."""
    if len(rows) == 0 or len(test) == 0:
        return test[:0], test[:0]
    lo = int(np.searchsorted(test, rows[0], side="left"))
    hi = int(np.searchsorted(test, rows[-1], side="right"))
    cand = test[lo:hi]
    pos = np.searchsorted(rows, cand)
    hit = rows[np.minimum(pos, len(rows) - 1)] == cand
    return cand[hit], pos[hit]


_PSI_ROWS = 32_768
"""Windows whose pseudo-outcomes are made together (`pseudo_outcomes`)."""


class Propensities:
    """Out-of-fold P(x_f = v | W) for every unit, a feature's columns computed when asked
    (the n x literals matrix held whole would be the rule search's largest allocation,
    ~160 MB of a 250,000-window night). Each fold keeps its fitted models (a feature's: values
    x literals coefficients) and its test rows; `feature(f)` predicts f's columns for every
    fold's rows from them, exactly as the fit would have (the same rows through the same
    model), and keeps the most recently asked features' up to `_KEEP_COLUMNS` columns (the
    validity study's pseudo-outcomes, a literal at a time, ask a feature again and again;
    the nightly search and a rule's detail ask `rows` of the windows they read, nothing
    kept). Rows of no fold (`fit_nuisances(only=)`) are 0, as they were."""

    _KEEP_COLUMNS = 16

    def __init__(self, units: UnitSet, tests: list[np.ndarray],
                 models: Mapping[tuple[int, int], LogisticRegression | int]) -> None:
        self.units, self.tests, self.models = units, tests, models
        self._cache: dict[int, np.ndarray] = {}

    def feature(self, f: int) -> np.ndarray:
        """(n, |V_f|): P(x_f = each value | W), each unit from its own fold's model."""
        got = self._cache.pop(f, None)
        if got is None:
            got = self._predict(f)
        self._cache[f] = got  # the most recently asked last
        while len(self._cache) > 1 and \
                sum(c.shape[1] for c in self._cache.values()) > self._KEEP_COLUMNS:
            del self._cache[next(iter(self._cache))]
        return got

    def _predict(self, f: int) -> np.ndarray:
        return self.rows(f, np.arange(self.units.n))

    def rows(self, f: int, rows: np.ndarray) -> np.ndarray:
        """(len(rows), |V_f|) P(x_f = each value | W) of some `rows` (ascending), each from
        its own fold's model, predicted `_PREDICT_ROWS` at a time (a row's prediction is its
        own: the same numbers as the whole fold's at once), nothing kept."""
        units = self.units
        out = np.zeros((len(rows), len(units.values[f])))
        for j, test in enumerate(self.tests):
            mine, at = _within(test, rows)
            if len(mine) == 0:
                continue
            model = self.models[(f, j)]
            if isinstance(model, int):  # one value in the training rows
                out[at, model] = 1.0
                continue
            for lo in range(0, len(mine), _PREDICT_ROWS):
                part = np.zeros((min(_PREDICT_ROWS, len(mine) - lo), out.shape[1]))
                part[:, model.classes_] = predict_proba(model, units, f,
                                                        mine[lo:lo + _PREDICT_ROWS])
                out[at[lo:lo + _PREDICT_ROWS]] = part
        return out

    def literal(self, lit: int) -> np.ndarray:
        """(n,) the propensity of one literal."""
        f = int(self.units.literal_feature[lit])
        return self.feature(f)[:, lit - int(self.units.offsets[f])]

    def take(self, rows: np.ndarray, units: UnitSet) -> Propensities:
        """The propensities of `rows` (ascending) alone; `units` is `self.units.take(rows)`."""
        rows = np.asarray(rows, dtype=np.int64)
        return Propensities(units, [np.flatnonzero(np.isin(rows, t)) for t in self.tests],
                            self.models)

    def matrix(self) -> np.ndarray:
        """(n, L) every feature's columns side by side (tests: the whole matrix held)."""
        return np.hstack([self._predict(f) for f in range(len(self.units.features))]) \
            if self.units.features else np.zeros((self.units.n, 0))


def predict_proba(model: LogisticRegression, units: UnitSet, f: int,
                  rows: np.ndarray) -> np.ndarray:
    """`model.predict_proba(one_hot(units, drop=(f,), rows=rows))`, the same operations on
    the same numbers, without the design or sklearn's checks of it: a night's propensities
    are asked thousands of chunks at a time (the search's blocks of cells, the detailed
    rules' literals), and building and validating a design per chunk was most of their CPU.

    sklearn's decision is the sparse product `X @ coef_.T` (scipy's CSR kernel adds each
    row's entries into zeros in their column order; an entry of 1.0 adds its coefficient
    exactly), plus `intercept_`; then `softmax` (several classes) or `expit` (two). So each
    row's coefficients are added here from zeros feature by feature, in the features'
    order, then the intercept, then the same numpy and scipy calls on arrays of the same
    shape and layout. tests/core/learning/test_lessons_cpu.py holds it to sklearn's."""
    codes = units.codes[rows]
    coef_t = model.coef_.T
    decision = np.zeros((len(rows), coef_t.shape[1]))
    for g in range(codes.shape[1]):
        if g != f:
            lo = int(units.offsets[g])
            decision += coef_t[lo:lo + len(units.values[g])][codes[:, g]]
    decision += model.intercept_
    if len(model.classes_) <= 2:  # sklearn: the expit of the one column, and 1 - it
        prob = expit(decision.reshape(-1), out=decision.reshape(-1))
        return np.stack([1 - prob, prob], axis=1)
    decision -= np.max(decision, axis=1).reshape((-1, 1))  # sklearn.utils.extmath.softmax
    np.exp(decision, out=decision)
    decision /= np.sum(decision, axis=1).reshape((-1, 1))
    return decision


@dataclass(frozen=True)
class Nuisances:
    fold: np.ndarray  # (n,) fold id
    prop: Propensities  # out-of-fold P(x_f = v | W), rows sum to 1 within a feature
    beta_y: np.ndarray  # (folds, L) additive outcome coefficients for y
    base_y: np.ndarray  # (n,) out-of-fold mu(X) for y
    beta_hit: np.ndarray
    base_hit: np.ndarray
    clip: tuple[float, float]


def _fit_rows(train: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    if len(train) <= cap:
        return train
    return np.sort(rng.choice(train, size=cap, replace=False))


NEWTON_MAX_ROWS = 20_000
"""Propensity fits on at most this many rows use Newton-Cholesky, larger ones lbfgs
(`propensity_model`)."""


def propensity_model(cfg: EstimatorConfig, rows: int) -> LogisticRegression:
    """The one propensity model (the lesson search, the DR mask and the econml peer in
    bench/lessons.py): an L2 logit, multinomial over a feature's values, fitted on `rows`
    rows. The one-hot design is collinear up to the penalty (each feature's columns sum to
    the intercept), so lbfgs at tol 1e-4 stops up to 0.046 in probability from the optimum
    on a night's few thousand rows and takes ~55 overhead-bound steps, where Newton-Cholesky
    stops within 0.004 in 4-5 steps at about a quarter less CPU. Newton's Hessian costs
    n p^2 K^2 a step, so past `NEWTON_MAX_ROWS` lbfgs is cheaper (2.6x at the 50,000-row fits
    of `python -m bench lessons`): it fits there, on the sparse design."""
    from sklearn.linear_model import LogisticRegression

    if rows > NEWTON_MAX_ROWS:
        return LogisticRegression(C=cfg.propensity_c, max_iter=200, tol=1e-4)
    return LogisticRegression(C=cfg.propensity_c, solver="newton-cholesky", max_iter=100,
                              tol=1e-4)


def fit_quietly(model: LogisticRegression, x: np.ndarray | sp.spmatrix,
                target: np.ndarray) -> LogisticRegression:
    """`model.fit` with sklearn's ConvergenceWarning silenced (max_iter is the budget)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, target)
    return model


class FoldModels(Mapping[tuple[int, int], "LogisticRegression | int"]):
    """The propensity models by (feature, fold index), a feature's models fitted when one
    of them is first asked: a feature's folds in order, each warm-started from the one
    before (`_propensity`), on each fold's sample rows (drawn before any fit), as the
    eager fit of every feature made them. Every feature of the search is asked, but the
    watchdog's out-of-sample checks ask only their rules' few features (7 of 60 fits on the
    fixture night 2026-02-05: the other 53 were ~12 % of the lessons step's CPU)."""

    def __init__(self, units: UnitSet, cfg: EstimatorConfig, samples: list[np.ndarray]) -> None:
        self.units, self.cfg, self.samples = units, cfg, samples
        self._models: dict[tuple[int, int], LogisticRegression | int] = {}

    def fit(self, f: int) -> None:
        """Fit feature f's models of every fold, in the caller's BLAS threads
        (`fit_nuisances` limits them to one)."""
        units, cfg = self.units, self.cfg
        start: LogisticRegression | int | None = None
        for j, sample in enumerate(self.samples):
            start = self._models[(f, j)] = _propensity(
                units, f, _design(units, f, sample, cfg), sample, cfg, start)

    def __getitem__(self, key: tuple[int, int]) -> LogisticRegression | int:
        got = self._models.get(key)
        if got is not None:
            return got
        f, j = key
        if not (0 <= f < len(self.units.features) and 0 <= j < len(self.samples)):
            raise KeyError(key)
        # one BLAS thread, as `fit_nuisances` fits (a lazy fit runs outside it; entering
        # the limit costs ~4 ms, so once a feature)
        with threadpool_limits(1):
            self.fit(f)
        return self._models[key]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((f, j) for f in range(len(self.units.features))
                for j in range(len(self.samples)))

    def __len__(self) -> int:
        return len(self.units.features) * len(self.samples)


def _design(units: UnitSet, f: int, rows: np.ndarray,
            cfg: EstimatorConfig) -> np.ndarray | sp.csr_matrix:
    """The design of P(x_f = . | W) on `rows`: the one-hot without f's columns, sparse
    where lbfgs fits it (`propensity_model`), else dense, as `one_hot(...).toarray()` is
    (the same zeros and ones, C-ordered), without the sparse matrix between."""
    if len(rows) > NEWTON_MAX_ROWS:
        return one_hot(units, drop=(f,), rows=rows)
    flat = flat_codes(units, rows)
    width = units.n_literals
    x = np.zeros((len(rows), width))
    at = flat[:, [g for g in range(flat.shape[1]) if g != f]] \
        + (np.arange(len(rows), dtype=np.int64) * width)[:, None]
    x.reshape(-1)[at.ravel()] = 1.0
    return x


def _propensity(units: UnitSet, f: int, x_other: np.ndarray | sp.csr_matrix, train: np.ndarray,
                cfg: EstimatorConfig, start: LogisticRegression | int | None = None,
                ) -> LogisticRegression | int:
    """The model of P(x_f = . | W) fitted on the `train` rows, whose design without f is
    `x_other` (`Propensities` predicts from it); the value itself when the training rows
    hold only one. `start`: the same feature's model of another fold, whose coefficients
    start the Newton steps when it knows the same values (the folds' training rows overlap,
    so it is near this optimum: a step fewer; the optimum is the same)."""
    target = units.codes[train, f]
    present = np.unique(target)
    if len(present) == 1:
        return int(present[0])
    model = propensity_model(cfg, len(train))
    if model.solver == "lbfgs":
        return fit_quietly(model, x_other, target)
    if isinstance(start, int) or start is None or start.solver != model.solver \
            or not np.array_equal(start.classes_, present):
        start = None
    # dense: ~50 one-hot columns of a few thousand rows, where sparse products cost more
    x = x_other.toarray() if sp.issparse(x_other) else x_other
    flat = flat_codes(units, train)
    return newton_fit(model, x, target, flat[:, [g for g in range(flat.shape[1]) if g != f]],
                      start)


def newton_fit(model: LogisticRegression, x: np.ndarray, target: np.ndarray,
               ones: np.ndarray, start: LogisticRegression | None = None) -> LogisticRegression:
    """`model.fit(x, target)` for the Newton-Cholesky `model`, warm-started from `start`'s
    coefficients when given: the same steps by sklearn's own solver (`NewtonCholeskySolver`,
    its line search and stopping rule, on the same loss and penalty), with the Hessian
    summed from the one-hot structure. `x` is a one-hot design whose row i holds 1.0 in
    the columns `ones[i]` (ascending) and 0 elsewhere.

    sklearn builds each Newton step's Hessian as dense products x' diag(h) x, one per pair
    of classes: ~n p^2 K^2 / 2 multiply-adds over mostly zeros, 90 % of the propensity fits'
    CPU on the fixture nights. A row of a one-hot design adds h to the entries of its
    own pairs of ones only, ~F^2 / 2 of them, so here every class pair's Hessian is one
    sparse product of that fixed pattern (`_pairs`) with the rows' h. The sums are the
    same terms in another order: equal to rounding (~1e-15 relative), so the steps and
    the optimum are sklearn's; tests/core/learning/test_lessons_cpu.py holds the fitted
    coefficients and iteration counts to `LogisticRegression.fit`'s (scikit-learn is
    pinned: this reads its private solver and loss classes)."""
    from functools import partial

    from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model._glm._newton_solver import NewtonCholeskySolver
    from sklearn.linear_model._linear_loss import LinearModelLoss

    # as LogisticRegression.fit and sklearn's _logistic_regression_path set the problem up
    classes = np.unique(target)
    k = len(classes)
    n, width = x.shape
    warm = None if start is None else \
        np.concatenate([start.coef_, start.intercept_[:, None]], axis=1)
    # A column of zeros whose coefficients start at 0 keeps them at 0 (its gradient is the
    # penalty's, 0; its Hessian row is the penalty's diagonal alone): fitted without it,
    # the other coefficients take the same steps, on a smaller Hessian. Such are the
    # columns of the feature being modelled and any value no training row holds.
    keep = np.bincount(ones.ravel(), minlength=width) > 0
    if warm is not None:
        keep |= (warm[:, :width] != 0).any(axis=0)
    cols = np.flatnonzero(keep)
    p = len(cols)
    if p < width:
        x, ones = np.ascontiguousarray(x[:, cols]), np.searchsorted(cols, ones)
        if warm is not None:
            warm = warm[:, np.append(cols, width)]
    if k == 2:
        loss = LinearModelLoss(base_loss=HalfBinomialLoss(), fit_intercept=True)
        y = np.ones(n)
        y[target != classes[1]] = 0.0
        w0 = np.zeros(p + 1)
        if warm is not None:
            w0[:] = warm[0]
    else:
        loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=k), fit_intercept=True)
        y = np.searchsorted(classes, target).astype(np.float64)  # LabelEncoder's codes
        w0 = np.zeros((k, p + 1), order="F")
        if warm is not None:
            w0[:, :] = warm
        w0 = w0.ravel(order="F")
    loss.gradient_hessian = partial(_one_hot_gradient_hessian, loss, _pairs(ones, p))
    solver = NewtonCholeskySolver(coef=w0, linear_loss=loss, l2_reg_strength=1.0 / (model.C * n),
                                  tol=model.tol, max_iter=model.max_iter, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        w = solver.solve(X=x, y=y, sample_weight=None)
    coef = np.stack([w.copy(order="K") if k == 2 else
                     np.reshape(w, (k, -1), order="F").copy(order="K")])[0]
    if p < width:  # the columns left out: their coefficients stayed 0
        wide = np.zeros(coef.shape[:-1] + (width + 1,))
        wide[..., np.append(cols, width)] = coef
        coef = wide
    model.classes_, model.n_features_in_ = classes, width
    model.n_iter_ = np.asarray([solver.iteration], dtype=np.int32)
    if k == 2:
        model.intercept_, model.coef_ = coef[-1:], coef[:-1][None, :]
    else:
        model.intercept_, model.coef_ = coef[:, -1], coef[:, :-1]
    if start is not None:
        model.set_params(warm_start=True)
    return model


@dataclass(frozen=True)
class _Pairs:
    """The ((p + 1)^2, n) 0/1 pattern whose column i marks the pairs (a, b), a <= b, of row
    i's ones and the intercept (column p), as a * (p + 1) + b, in CSC arrays: so its
    product with h (`sum_over`) sums h over the rows of each pair: the upper triangle of
    [x, 1]' diag(h) [x, 1]."""

    pointers: np.ndarray  # (n + 1,) each row's first pair in `ids`
    ids: np.ndarray  # every row's pair ids, row by row
    ones: np.ndarray  # 1.0 for each pair
    size: int  # (p + 1)^2

    def sum_over(self, h: np.ndarray) -> np.ndarray:
        """((p + 1)^2, J) the pattern times h (n x J): scipy's CSC product kernel, called
        as `sp.csc_matrix(...) @ h` calls it (each row's 1.0 * h added into zeros, rows in
        order), without building and checking a sparse matrix a fit."""
        h = np.ascontiguousarray(h, dtype=np.float64)
        out = np.zeros((self.size, h.shape[1]))
        _sparsetools.csc_matvecs(self.size, h.shape[0], h.shape[1], self.pointers, self.ids,
                                 self.ones, h.ravel(), out.ravel())
        return out


def _pairs(ones: np.ndarray, p: int) -> _Pairs:
    """The pair pattern (`_Pairs`) of a one-hot design whose row i holds ones at `ones[i]`
    (ascending) of p columns."""
    on = np.hstack([ones.astype(np.int32), np.full((len(ones), 1), p, dtype=np.int32)])
    a, b = np.triu_indices(on.shape[1])
    pid = (on * np.int32(p + 1))[:, a]
    pid += on[:, b]
    index = np.int32 if pid.size < 2**31 else np.int64
    return _Pairs(np.arange(0, pid.size + 1, len(a), dtype=index), pid.ravel().astype(index),
                  np.ones(pid.size), (p + 1) ** 2)


def _one_hot_gradient_hessian(loss: Any, pairs: _Pairs, coef: np.ndarray, X: np.ndarray,
                              y: np.ndarray, sample_weight: None = None,
                              l2_reg_strength: float = 0.0, n_threads: int = 1,
                              gradient_out: np.ndarray | None = None,
                              hessian_out: np.ndarray | None = None,
                              raw_prediction: np.ndarray | None = None,
                              ) -> tuple[np.ndarray, np.ndarray, bool]:
    """sklearn's `LinearModelLoss.gradient_hessian` (an intercept, no sample weights): the
    gradient by its own operations, the Hessian's [x, 1]' diag(h) [x, 1] blocks from
    `pairs` (`newton_fit`)."""
    (n, p), base = X.shape, loss.base_loss
    if raw_prediction is None:
        weights, _, raw_prediction = loss.weight_intercept_raw(coef, X)
    else:
        weights, _ = loss.weight_intercept(coef)
    grad = np.empty_like(coef, order="F") if gradient_out is None else gradient_out
    size = coef.size
    hess = np.empty((size, size)) if hessian_out is None else hessian_out
    if not base.is_multiclass:
        grad_pointwise, hess_pointwise = base.gradient_hessian(
            y_true=y, raw_prediction=raw_prediction, sample_weight=None, n_threads=n_threads)
        grad_pointwise /= n
        hess_pointwise /= n
        warning = bool(np.average(hess_pointwise <= 0) > 0.25)
        hess_pointwise = np.abs(hess_pointwise)
        grad[:p] = X.T @ grad_pointwise + l2_reg_strength * weights
        grad[-1] = grad_pointwise.sum()
        if warning:
            return grad, hess, warning
        hess[:] = _symmetric(pairs.sum_over(hess_pointwise[:, None]), p + 1)[0]
        hess[np.arange(p), np.arange(p)] += l2_reg_strength
        return grad, hess, warning
    k = base.n_classes
    grad_pointwise, proba = base.gradient_proba(
        y_true=y, raw_prediction=raw_prediction, sample_weight=None, n_threads=n_threads)
    grad_pointwise /= n
    grad = grad.reshape((k, p + 1), order="F")
    grad[:, :p] = grad_pointwise.T @ X + l2_reg_strength * weights
    grad[:, -1] = grad_pointwise.sum(axis=0)
    if coef.ndim == 1:
        grad = grad.ravel(order="F")
    sw = 1.0 / n
    same, c_of, d_of, pair_of = _class_pairs(k)
    h = np.empty((n, len(c_of)))
    # sklearn's pointwise Hessian of each class pair (c, d), c <= d: the same products,
    # every pair's column at once
    pc = proba[:, c_of[same]]
    h[:, same] = pc * (1 - pc) * sw
    h[:, ~same] = -proba[:, c_of[~same]] * proba[:, d_of[~same]] * sw
    blocks = _symmetric(pairs.sum_over(h), p + 1)
    # sklearn's layout: a coefficient's classes contiguous, (feature or intercept a, class
    # c): full[a, c, b, d] is the (c, d) block's [a, b]
    hess[:] = blocks[pair_of].transpose(2, 0, 3, 1).reshape(size, size)
    hess[np.arange(k * p), np.arange(k * p)] += l2_reg_strength
    return grad, hess, False


@lru_cache(maxsize=16)
def _class_pairs(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The class pairs (c, d), c <= d, in order: (c == d, c, d, and the (k, k) index of
    each ordered pair's column), made once per class count."""
    c_of, d_of = np.triu_indices(k)
    pair_of = np.empty((k, k), dtype=np.int64)
    pair_of[c_of, d_of] = pair_of[d_of, c_of] = np.arange(len(c_of))
    return c_of == d_of, c_of, d_of, pair_of


def _symmetric(upper: np.ndarray, width: int) -> np.ndarray:
    """(J, width, width) symmetric matrices from `_pairs`' (width^2, J) upper triangles."""
    tri = np.ascontiguousarray(upper.T).reshape(-1, width, width)
    out = tri + tri.transpose(0, 2, 1)
    at = np.arange(width)
    out[:, at, at] = tri[:, at, at]
    return out


def _outcome(units: UnitSet, counts: np.ndarray, target: np.ndarray, train: np.ndarray,
             cfg: EstimatorConfig) -> tuple[float, np.ndarray]:
    """Ridge with an unpenalised intercept, solved in closed form on every training row:
    the one-hot Gram matrix is literals x literals (`counts`: the training rows' X'X), so
    this is exact and fast, and the design itself is never built (`design`)."""
    k = counts.shape[0]
    gram_ = np.empty((k + 1, k + 1))
    gram_[0, 0] = len(train)
    gram_[0, 1:] = gram_[1:, 0] = np.diag(counts)
    gram_[1:, 1:] = counts
    gram_[1:, 1:] += cfg.ridge_alpha * np.eye(k)
    rhs = np.concatenate([[target[train].sum()], xty(units, target, train)])
    sol = np.linalg.lstsq(gram_, rhs, rcond=None)[0]
    return float(sol[0]), sol[1:]


def period_folds(hour: np.ndarray, period: np.ndarray, k: int) -> np.ndarray:
    """`time_folds` within each period (0, 1, ...), numbered on: period 0's folds first."""
    fold = np.zeros(len(hour), dtype=np.int64)
    first = 0
    for p in np.unique(period):
        m = period == p
        fold[m] = time_folds(hour[m], k) + first
        first = int(fold[m].max()) + 1
    return fold


def cross_folds(hour: np.ndarray, k: int, period: np.ndarray | None = None) -> np.ndarray:
    """The cross-fitting folds: `time_folds`, or `period_folds` when the window has periods."""
    return time_folds(hour, k) if period is None else period_folds(hour, period, k)


def train_rows(fold: np.ndarray, test: np.ndarray, period: np.ndarray | None) -> np.ndarray:
    """The rows a test fold's nuisances are fitted on: the other folds (of the test fold's
    own period, when there are periods); the test rows themselves when there are none."""
    if len(test) == 0:
        return test
    other = fold != fold[test[0]]
    if period is not None:
        other &= period == period[test[0]]
    return np.flatnonzero(other) if other.any() else test  # one fold: no cross-fitting


def fit_nuisances(units: UnitSet, cfg: EstimatorConfig, fold: np.ndarray | None = None,
                  only: tuple[int, ...] | None = None,
                  period: np.ndarray | None = None, lazy: bool = False) -> Nuisances:
    """Cross-fitted propensities and outcome models (see the module docstring). `fold`
    overrides the time-blocked folds; `only` limits which folds get nuisances (e.g. the
    newest day, fitted on the earlier ones, for an out-of-sample check). `period` (an int
    per unit: the market's periods, lotus_core.learning.breaks) fits each period's
    nuisances on that period alone, cross-fitted over its own time folds. `lazy`: a
    feature's propensity models are fitted when its propensities are first asked
    (`FoldModels`), for a caller that asks few features (the watchdog's checks of a few
    rules); the same models either way."""
    # one BLAS/OpenMP thread: these fits are small and thread hand-offs cost more than they
    # save (measured 4x faster on 2 cores)
    with threadpool_limits(1):
        return _fit_nuisances(units, cfg, fold, only, period, lazy)


def _fit_nuisances(units: UnitSet, cfg: EstimatorConfig, fold: np.ndarray | None,
                   only: tuple[int, ...] | None, period: np.ndarray | None,
                   lazy: bool = False) -> Nuisances:
    fold = cross_folds(units.hour, cfg.folds, period) if fold is None else np.asarray(fold)
    k = int(fold.max()) + 1 if units.n else 1
    # the folds' ids and each fold's rows as the smallest ints that hold them: held through
    # the search, as int64 they would be 4 MB of a 250,000-window night
    fold = fold.astype(small_int(k), copy=False)
    rows_type = small_int(n=units.n)
    n, nl = units.n, units.n_literals
    beta_y, beta_hit = np.zeros((k, nl)), np.zeros((k, nl))
    base_y, base_hit = np.zeros(n), np.zeros(n)
    rng = np.random.default_rng(cfg.seed)
    folds = []  # (fold, test rows, training rows, the propensities' sample), drawn in order
    for j in range(k):
        if only is not None and j not in only:
            continue
        test = np.flatnonzero(fold == j).astype(rows_type, copy=False)
        if len(test) == 0:
            continue
        train = train_rows(fold, test, period).astype(rows_type, copy=False)
        folds.append((j, test, train, _fit_rows(train, cfg.max_fit_rows, rng)))
    models = FoldModels(units, cfg, [sample for _, _, _, sample in folds])
    if not lazy:
        for f in range(len(units.features)):
            models.fit(f)
    for j, test, train, _ in folds:
        counts = gram(units, train)
        b0, beta_y[j] = _outcome(units, counts, units.y, train, cfg)
        base_y[test] = b0 + x_beta(units, beta_y[j], test)
        b0, beta_hit[j] = _outcome(units, counts, units.hit, train, cfg)
        base_hit[test] = b0 + x_beta(units, beta_hit[j], test)
    prop = Propensities(units, [test for _, test, _, _ in folds], models)
    return Nuisances(fold, prop, beta_y, base_y, beta_hit, base_hit, cfg.propensity_clip)


def pseudo_outcomes(units: UnitSet, nz: Nuisances, lits: np.ndarray | None = None,
                    outcome: str = "y", kind: str = "dr",
                    rows: np.ndarray | None = None) -> np.ndarray:
    """(n, len(lits)) per-window pseudo-outcomes: `dr` (AIPW psi), `ipw`, or `reg` (the
    outcome model's mu1 - mu0 alone: what DR adds its correction to), for outcome `y`
    (net bps) or `hit`, for each literal in `lits` (default: all). `rows` (ascending): those
    windows' rows alone, their propensities predicted for them and not kept
    (`Propensities.rows`). A window's psi is its own, so they are made `_PSI_ROWS` windows
    at a time (a dozen window-long temporaries a literal would be ~40 MB at 250,000
    windows): the same numbers as all at once."""
    lits = np.arange(units.n_literals) if lits is None else np.asarray(lits, dtype=np.int64)
    n = units.n if rows is None else len(rows)
    out = np.empty((n, len(lits)))
    for f in np.unique(units.literal_feature[lits]):
        cols = np.flatnonzero(units.literal_feature[lits] == f)
        pf = nz.prop.feature(int(f)) if rows is None else nz.prop.rows(int(f), rows)
        for lo in range(0, n, _PSI_ROWS):
            part = slice(lo, min(n, lo + _PSI_ROWS))
            at = np.arange(part.start, part.stop) if rows is None else rows[part]
            out[part, cols] = _feature_psi(units, nz, int(f), lits[cols], at, pf[part],
                                           outcome, kind)
    return out


@dataclass(frozen=True)
class LiteralTerms:
    """One literal's per-window terms over some windows (`literal_terms`)."""

    dr: np.ndarray  # AIPW pseudo-outcome of y (`pseudo_outcomes`' "dr")
    ipw: np.ndarray  # IPW pseudo-outcome of y ("ipw")
    hit: np.ndarray  # AIPW pseudo-outcome of hit
    e_raw: np.ndarray  # P(x_f = v | W), unclipped (`Propensities.literal`)


def literal_terms(units: UnitSet, nz: Nuisances, lit: int, rows: np.ndarray,
                  known: tuple[np.ndarray, np.ndarray] | None = None) -> LiteralTerms:
    """What a rule's detail reads of literal `lit` for the windows `rows` (ascending), a
    window's propensities predicted once for all four terms, `_PSI_ROWS` windows at a time
    (never its literals' whole-window columns or the propensities of 16 values of every
    window). Each the same numbers as `pseudo_outcomes` (and
    `Propensities.literal`) give those windows: a window's terms are its own. `known`:
    (the propensities of lit's feature for some windows, the position of each of `rows`
    among them), when the caller has predicted them (`evaluate.rule_details`)."""
    f = int(units.literal_feature[lit])
    v = lit - int(units.offsets[f])
    lits = np.array([lit], dtype=np.int64)
    n = len(rows)
    dr, ipw, hit, e_raw = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for lo in range(0, n, _PSI_ROWS):
        part = slice(lo, min(n, lo + _PSI_ROWS))
        at = rows[part]
        pf = nz.prop.rows(f, at) if known is None else known[0][known[1][part]]
        dr[part] = _feature_psi(units, nz, f, lits, at, pf, "y", "dr")[:, 0]
        ipw[part] = _feature_psi(units, nz, f, lits, at, pf, "y", "ipw")[:, 0]
        hit[part] = _feature_psi(units, nz, f, lits, at, pf, "hit", "dr")[:, 0]
        e_raw[part] = pf[:, v]
    return LiteralTerms(dr, ipw, hit, e_raw)


def _feature_psi(units: UnitSet, nz: Nuisances, f: int, lits: np.ndarray, at: np.ndarray,
                 pf: np.ndarray, outcome: str, kind: str) -> np.ndarray:
    """(len(at), len(lits)) `pseudo_outcomes` of feature f's literals `lits` for the windows
    `at`, whose propensities for f's values are `pf`."""
    y = (units.y if outcome == "y" else units.hit)[at]
    beta_all = nz.beta_y if outcome == "y" else nz.beta_hit
    base_all = (nz.base_y if outcome == "y" else nz.base_hit)[at]
    lo_clip, hi_clip = nz.clip
    n = len(at)
    out = np.empty((n, len(lits)))
    lo = int(units.offsets[f])
    hi = lo + len(units.values[f])
    bf = beta_all[:, lo:hi][nz.fold[at]]  # each unit's own fold's coefficients for f
    own = units.codes[at, f].astype(np.int64)  # the unit's own value of f
    base = base_all - bf[np.arange(n), own]  # mu(W) without f's term
    total = (pf * bf).sum(axis=1)
    na = int(units.na_value[f])
    for c, lit in enumerate(lits):
        v = int(lit) - lo
        a = (own == v).astype(np.float64)
        # A split on a known value is judged where f is known (UnitSet.known), so its
        # propensity and control arm are conditional on "f is not na": e = P(v | W, known)
        # and mu0 averages the other KNOWN values (a coin recorded without the book would
        # otherwise pull the control arm's mean and deflate e for every other window).
        pk = np.ones(n) if na < 0 or v == na else np.maximum(1.0 - pf[:, na], 1e-12)
        e = np.clip(pf[:, v] / pk, lo_clip, hi_clip)
        if kind == "ipw":
            out[:, c] = a * y / e - (1 - a) * y / (1 - e)
            continue
        mu1 = base + bf[:, v]
        rest = np.maximum(pk - pf[:, v], 1e-12)
        other = total - pf[:, v] * bf[:, v]
        if na >= 0 and v != na:
            other = other - pf[:, na] * bf[:, na]
        mu0 = base + other / rest
        if kind == "reg":  # the outcome model alone (regression adjustment)
            out[:, c] = mu1 - mu0
            continue
        out[:, c] = mu1 - mu0 + a * (y - mu1) / e - (1 - a) * (y - mu0) / (1 - e)
    return out
