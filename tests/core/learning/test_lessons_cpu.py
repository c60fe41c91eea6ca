"""The lessons step's shortcuts give the numbers of the long way, bit for bit: the
propensities predicted without sklearn's design and checks (`estimator.predict_proba`), the
dense design built straight (`estimator._design`), a feature's models fitted when first asked
(`fit_nuisances(lazy=True)`), the detailed rules' splits made a literal at a time
(`evaluate.rule_details`) and the kept rules' family test (`lessons._eligible`). The
propensity fits' Hessian summed from the one-hot structure (`estimator.newton_fit`) is
sklearn's fit to rounding: the same steps, coefficients within `NEWTON_TOL`."""

from dataclasses import astuple

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning import estimator
from lotus_core.learning.config import load_learning
from lotus_core.learning.design import one_hot
from lotus_core.learning.evaluate import hour_weights, rule_detail, rule_details
from lotus_core.learning.lessons import _eligible
from lotus_core.learning.search import enumerate_rules
from lotus_core.learning.units import UnitSet
from lotus_core.time import HOUR_MS

CFG = load_learning()
SIZES = (2, 3, 4, 5, 3, 2)
NEWTON_TOL = 1e-9
"""`newton_fit` against `LogisticRegression.fit`: the Hessian's sums in another order move
the coefficients ~1e-12 (a fixture night's 633 fits: <= 2e-11)."""


def _units(n: int = 1500, seed: int = 3, treatments: tuple[str, ...] | None = None) -> UnitSet:
    """Correlated codes (each feature leans on the one before), an "na" value on the third
    feature, an effect of the first, over 3 days of hours."""
    rng = np.random.default_rng(seed)
    codes = np.empty((n, len(SIZES)), dtype=np.int8)
    codes[:, 0] = rng.integers(0, SIZES[0], n)
    for j in range(1, len(SIZES)):
        lean = rng.random(n) < 0.4
        codes[:, j] = np.where(lean, codes[:, j - 1] % SIZES[j], rng.integers(0, SIZES[j], n))
    values = tuple(tuple(["na", *[f"v{i}" for i in range(1, s)]] if j == 2 else
                         [f"v{i}" for i in range(s)]) for j, s in enumerate(SIZES))
    y = 3.0 * (codes[:, 0] == 1) + rng.normal(0, 5, n)
    ts = np.sort(rng.integers(0, 72 * HOUR_MS, n)).astype(np.int64)
    return UnitSet(tuple(f"f{j}" for j in range(len(SIZES))), values, codes, y,
                   (y > 0).astype(np.float64), ts, treatments)


def _bits(x: object) -> bytes:
    return np.asarray(x, dtype=np.float64).tobytes()


def test_predict_proba_is_sklearns_bit_for_bit(monkeypatch):
    """Two, three and more classes; Newton's models and lbfgs's (on the sparse design)."""
    units = _units()
    rows = np.arange(units.n)
    for newton_max in (estimator.NEWTON_MAX_ROWS, 100):
        monkeypatch.setattr(estimator, "NEWTON_MAX_ROWS", newton_max)
        for f in range(len(SIZES)):
            model = estimator._propensity(units, f, one_hot(units, drop=(f,), rows=rows), rows,
                                          CFG.estimator)
            assert not isinstance(model, int)
            assert len(model.classes_) == SIZES[f]
            some = np.arange(3, units.n, 7)
            for at in (rows, some):
                want = model.predict_proba(one_hot(units, drop=(f,), rows=at))
                got = estimator.predict_proba(model, units, f, at)
                assert got.shape == want.shape
                assert got.tobytes() == want.tobytes(), (newton_max, f)


def test_the_dense_design_is_the_sparse_ones_zeros_and_ones(monkeypatch):
    units = _units()
    rows = np.arange(0, units.n, 3).astype(np.int16)
    for f in range(len(SIZES)):
        x = estimator._design(units, f, rows, CFG.estimator)
        assert isinstance(x, np.ndarray) and x.flags.c_contiguous
        want = one_hot(units, drop=(f,), rows=rows).toarray()
        assert x.dtype == want.dtype and x.tobytes() == want.tobytes()
    monkeypatch.setattr(estimator, "NEWTON_MAX_ROWS", 10)  # lbfgs: the sparse design
    assert not isinstance(estimator._design(units, 0, rows, CFG.estimator), np.ndarray)


@pytest.mark.parametrize("only", [None, (1,)])
def test_lazy_models_are_the_eager_ones(only):
    """Asked in another order, a few features alone, the same models and propensities."""
    units = _units()
    fold = (units.day == units.day.max()).astype(np.int64) if only else None
    eager = estimator.fit_nuisances(units, CFG.estimator, fold=fold, only=only)
    lazy = estimator.fit_nuisances(units, CFG.estimator, fold=fold, only=only, lazy=True)
    assert len(lazy.prop.models) == len(eager.prop.models)
    assert sorted(lazy.prop.models) == sorted(eager.prop.models)
    rows = np.arange(units.n)
    for f in (4, 1):  # a few features, not in order
        assert _bits(lazy.prop.rows(f, rows)) == _bits(eager.prop.rows(f, rows))
    for (f, j), model in eager.prop.models.items():
        got = lazy.prop.models[(f, j)]
        if isinstance(model, int):
            assert got == model
        else:
            assert _bits(got.coef_) == _bits(model.coef_)
            assert _bits(got.intercept_) == _bits(model.intercept_)
    for name in ("beta_y", "base_y", "beta_hit", "base_hit", "fold"):
        assert np.array_equal(getattr(lazy, name), getattr(eager, name))


@pytest.mark.parametrize("treatments", [None, ("f0", "f1", "f3")])
def test_rule_details_are_each_rules_detail(treatments):
    """Rules sharing literals and splits (the same literal in the same scope), of 1, 2 and
    3 literals, one naming an "na" value; some features context only."""
    units = _units(treatments=treatments)
    nz = estimator.fit_nuisances(units, CFG.estimator)
    hour_idx, weights = hour_weights(units, 50, 7)
    lit = units.literal_index
    rules = [(lit("f0", "v1"),), (lit("f0", "v1"), lit("f1", "v2")),
             (lit("f0", "v1"), lit("f1", "v2"), lit("f3", "v0")),
             (lit("f1", "v2"), lit("f3", "v0")), (lit("f0", "v0"), lit("f2", "na")),
             (lit("f2", "v1"), lit("f4", "v2")), (lit("f5", "v1"),)]
    calls = []
    got = rule_details(units, nz, rules, hour_idx, weights, 0.9, each=lambda: calls.append(1))
    assert calls  # once a literal
    for rule, d in zip(rules, got, strict=True):
        want = rule_detail(units, nz, rule, hour_idx, weights, 0.9)
        assert _bits(astuple(d)) == _bits(astuple(want)), rule


def test_eligible_is_membership_of_the_eligible_rules():
    units = _units()
    rules = enumerate_rules(units, 3)
    rng = np.random.default_rng(5)
    scores = pd.DataFrame({"l0": rules[:, 0], "l1": rules[:, 1], "l2": rules[:, 2],
                           "eligible": rng.random(len(rules)) < 0.3})
    eligible = {tuple(int(x) for x in r if x >= 0)
                for r in rules[scores["eligible"].to_numpy()]}
    asked = [tuple(int(x) for x in r if x >= 0) for r in rules[rng.choice(len(rules), 200)]]
    asked += [(0, 2, 5, 9), ()]  # longer than any rule searched; none
    assert _eligible(scores, asked) == [r in eligible for r in asked]
    assert _eligible(scores, []) == []


def test_newton_fit_is_sklearns_fit():
    """Two, three and more classes, from zeros and warm-started from another fold's model;
    a value of a feature that no training row holds (its column all zeros, left out)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    units = _units()
    fold = estimator.cross_folds(units.hour, 3)
    rare = np.flatnonzero(units.codes[:, 3] == 4)  # f3's last value: absent from fold 0's rows
    fold[rare] = 0
    for f in range(len(SIZES)):
        start = None
        for j in (1, 0):
            train = np.flatnonzero(fold != j)
            x = estimator._design(units, f, train, CFG.estimator)
            target = units.codes[train, f]
            want = estimator.propensity_model(CFG.estimator, len(train))
            if start is not None and np.array_equal(start.classes_, np.unique(target)):
                want.set_params(warm_start=True)
                want.coef_, want.intercept_ = start.coef_.copy(), start.intercept_.copy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                want.fit(x, target)
            got = estimator._propensity(units, f, x, train, CFG.estimator, start)
            assert not isinstance(got, int)
            assert np.array_equal(got.classes_, want.classes_)
            assert got.coef_.shape == want.coef_.shape
            assert got.intercept_.shape == want.intercept_.shape
            assert np.array_equal(got.n_iter_, want.n_iter_), (f, j)
            np.testing.assert_allclose(got.coef_, want.coef_, rtol=0, atol=NEWTON_TOL)
            np.testing.assert_allclose(got.intercept_, want.intercept_, rtol=0, atol=NEWTON_TOL)
            np.testing.assert_allclose(got.predict_proba(x), want.predict_proba(x), rtol=0,
                                       atol=NEWTON_TOL)
            start = got
