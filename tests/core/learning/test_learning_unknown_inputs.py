"""A split is judged where its feature is known. A window whose input was not
recorded (a coin captured without l2Book, hours without activeAssetCtx: the bin `na`) is in
neither arm of a split on that feature: not in its control arm, where it would dilute the
effect and, having no chance of the treatment, fail positivity for the whole scope.
Seeds: the tuning range of validity_seeds.yaml `harder` (book_absent from 76000)."""

from dataclasses import replace

import numpy as np

from lotus_core.learning import pipeline
from lotus_core.learning.config import load_learning
from lotus_core.learning.estimator import fit_nuisances, pseudo_outcomes
from lotus_core.learning.evaluate import hour_weights, rule_detail
from lotus_core.learning.lessons import detector_units, rule_lits
from lotus_core.learning.search import enumerate_rules, scope_sums, score_rules
from lotus_core.learning.validity import night_trial
from lotus_core.learning.validity_report import harder_spec
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, window_frame

CFG = load_learning()
BASE = load_scoring().context


def _units(spec, seed):
    tw = pipeline.training_window(window_frame(spec, seed), CFG, load_scoring().context)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    return detector_units(tw.frame[m], tw.lits[m], tw.quantizer)


def test_a_split_leaves_out_the_windows_where_its_feature_is_unknown():
    units = _units(harder_spec("book_absent", null=False), 76000)
    (lit,) = rule_lits(units, "bimb5_bin=with")
    known = units.known(lit)
    assert 0.2 < 1 - known.mean() < 0.5  # one coin of three has no book
    nz = fit_nuisances(units, CFG.estimator)
    psi = pseudo_outcomes(units, nz)
    sums = scope_sums(units, psi)
    rules = enumerate_rules(units, 1)
    scores = score_rules(units, sums, rules, CFG.search)
    row = scores[scores["l0"] == lit].iloc[0]
    # the one-literal rule: the mean of psi over the windows where the book is known
    assert abs(row["uplift"] - psi[known, lit].mean()) < 1e-9
    assert row["min_control"] == int((known & (units.codes[:, units.literal_feature[lit]]
                                               != units.literal_value[lit])).sum())
    hour_idx, w = hour_weights(units, CFG.bootstrap.resamples, CFG.bootstrap.seed)
    d = rule_detail(units, nz, (lit,), hour_idx, w, CFG.bootstrap.ci)
    assert d.scope_n == int(known.sum())
    assert abs(d.uplift - psi[known, lit].mean()) < 1e-9
    assert d.clipped_share < CFG.overlap.max_clipped_share  # the bookless coin is not in it


def test_without_unknown_windows_nothing_changes():
    units = _units(harder_spec("hetero", null=False), 73000)
    assert (units.na_value[units.literal_feature] < 0).all() or all(
        units.known(int(lit)).all() for lit in range(units.n_literals))
    nz = fit_nuisances(units, CFG.estimator)
    sums = scope_sums(units, pseudo_outcomes(units, nz))
    np.testing.assert_array_equal(sums.known, np.repeat(sums.count[:, None],
                                                        units.n_literals, axis=1))


def test_a_book_effect_is_found_on_a_capture_where_one_coin_has_no_book():
    """Before this rule the planted `bimb5_bin=with` was refused `overlap:clipped` on 5 of
    6 tuning seeds (76100-76105) and on both seeds here (a quarter of its scope, the bookless
    coin, had no chance of
    `with`); judged where the book is known it is found as on a full capture."""
    spec = harder_spec("book_absent", null=False)
    got = [night_trial(spec, s, cfg=CFG, base=BASE) for s in (76001, 76002)]
    assert all(r["found"] for r in got), [r["planted_gates"] for r in got]
    assert not any("overlap:clipped" in r["planted_gates"] for r in got)
    plain = replace(spec, book_absent_coin=False)
    assert all(night_trial(plain, s, cfg=CFG, base=BASE)["found"] for s in (76001, 76002))


def _bookless_units(seed: int = 7, n: int = 6000) -> tuple:
    """A book feature unknown on one coin of three (the coin is not a feature, as in the
    learner's vocabulary), the book leaning `with` likelier in the trend regime, +5 bps in
    `with`, and the bookless coin's outcomes 40 bps higher: a control arm that averaged in
    the `na` windows, or a propensity that counted them, would be far off."""
    from lotus_core.learning.units import UnitSet

    rng = np.random.default_rng(seed)
    trend = rng.random(n) < 0.5
    coin = rng.integers(0, 3, n)
    p_with = np.where(trend, 0.5, 0.2)
    book = np.where(rng.random(n) < p_with, 2, rng.integers(0, 2, n))  # lo, mid, with
    book = np.where(coin == 2, 3, book)  # na
    y = 5.0 * (book == 2) + 3.0 * trend + 40.0 * (coin == 2) + rng.normal(0.0, 2.0, n)
    codes = np.column_stack([book, trend.astype(int), rng.integers(0, 2, n)]).astype(np.int16)
    units = UnitSet(("bimb5_bin", "regime", "session"),
                    (("lo", "mid", "with", "na"), ("range", "trend"), ("asia", "us")),
                    codes, y, (y > 0).astype(np.float64),
                    (np.sort(rng.integers(0, 5 * 86_400_000, n))).astype(np.int64))
    return units, units.literal_index("bimb5_bin", "with")


def test_the_pseudo_outcome_of_a_known_value_is_conditional_on_the_feature_being_known():
    """e = P(v | W) / (1 - P(na | W)) and mu0 over the other known values: +5 recovered
    (n ~ 4000 known windows, noise sd 2: the standard error is ~0.1)."""
    units, lit = _bookless_units()
    known = units.known(lit)
    nz = fit_nuisances(units, CFG.estimator)
    for kind in ("dr", "ipw", "reg"):
        psi = pseudo_outcomes(units, nz, np.array([lit]), kind=kind)[:, 0]
        assert abs(psi[known].mean() - 5.0) < 0.6, (kind, psi[known].mean())


def test_a_composed_set_is_judged_where_its_features_are_known():
    from lotus_core.learning.drmask import dr_mask, known_rows

    units, lit = _bookless_units()
    f = int(units.literal_feature[lit])
    mask = units.codes[:, f] == 2
    keep = known_rows(units, mask, {f})
    np.testing.assert_array_equal(keep, units.known(lit))
    est = dr_mask(units, mask, {f}, 1, CFG)
    assert abs(est.uplift - 5.0) < 0.6
    assert np.isnan(est.psi[~keep]).all() and np.isfinite(est.psi[keep]).all()
    na_set = units.codes[:, f] == 3  # a set that names "na" itself is judged everywhere
    assert known_rows(units, na_set, {f}).all()
