"""A change of the market inside the training window (lotus_core.learning.breaks): found at
the day it happened, not found in a stationary window, and the nuisances then fitted per
period so the period is adjusted for. Seeds: tuning range of validity_seeds.yaml `harder`
(the regime-shift cell from 75000, its twin from 75500; plain markets 75200+)."""

from dataclasses import replace

import numpy as np
import pandas as pd

from lotus_core.learning import pipeline
from lotus_core.learning.breaks import outcome_break, window_break
from lotus_core.learning.config import load_learning
from lotus_core.learning.estimator import fit_nuisances, period_folds, time_folds
from lotus_core.learning.lessons import detector_units
from lotus_core.learning.validity import estimate_trial
from lotus_core.learning.validity_report import HARDER_BASE, harder_spec
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, shift_day, window_frame

CFG = load_learning()
BASE = load_scoring().context


def _units(spec, seed):
    frame = window_frame(spec, seed)
    tw = pipeline.training_window(frame, CFG, load_scoring().context)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    days = sorted(frame["date"].unique())
    return detector_units(tw.frame[m], tw.lits[m], tw.quantizer), days


def test_a_regime_shift_is_found_on_the_day_it_happened():
    spec = harder_spec("shift", null=True)
    found = 0
    for seed in range(75500, 75506):
        units, days = _units(spec, seed)
        brk = window_break(units, CFG.estimator)
        if brk is None:
            continue
        found += 1
        assert brk.first_date == days[shift_day(spec, seed)], seed
        assert brk.p < CFG.estimator.break_alpha and brk.tried == len(days) - 1
        period = brk.period(units)
        assert set(np.unique(period)) == {0, 1}
        assert (units.day[period == 1] >= brk.day).all()
    assert found >= 5  # measured: 6 of 6 at the packaged break_alpha


def test_a_stationary_window_does_not_break():
    spec = HARDER_BASE.null()
    p = []
    for seed in range(75200, 75206):
        units, _ = _units(spec, seed)
        got = outcome_break(units, alpha=1.0, min_windows=100)
        p.append(1.0 if got is None else got.p)
    assert min(p) > CFG.estimator.break_alpha, p
    # alpha 1 reports the most significant boundary whatever it is: a valid p, not a break
    assert all(0.0 <= x <= 1.0 for x in p)


def test_no_boundary_without_enough_windows_on_both_sides():
    units, _ = _units(harder_spec("shift", null=True), 75500)
    assert outcome_break(units, alpha=1.0, min_windows=units.n) is None
    off = CFG.estimator.model_copy(update={"break_alpha": None})
    assert window_break(units, off) is None


def test_period_folds_cut_each_period_on_its_own_hours():
    hour = np.repeat(np.arange(48), 10)
    period = (hour >= 30).astype(np.int64)
    fold = period_folds(hour, period, 3)
    assert sorted(np.unique(fold[period == 0])) == [0, 1, 2]
    assert sorted(np.unique(fold[period == 1])) == [3, 4, 5]
    assert (np.diff(fold) >= 0).all()  # contiguous, in time order
    np.testing.assert_array_equal(period_folds(hour, np.zeros_like(hour), 3),
                                  time_folds(hour, 3))


def test_per_period_nuisances_see_only_their_own_period():
    """Outcome coefficients fitted on one period carry nothing of the other: a period
    whose outcome is shifted by a constant has its intercept there and only there."""
    units, _ = _units(harder_spec("shift", null=True), 75500)
    brk = window_break(units, CFG.estimator)
    assert brk is not None
    period = brk.period(units)
    shifted = replace(units, y=units.y + 100.0 * period)
    a = fit_nuisances(units, CFG.estimator, period=period)
    b = fit_nuisances(shifted, CFG.estimator, period=period)
    np.testing.assert_allclose(b.prop.matrix(), a.prop.matrix(), rtol=0,
                               atol=1e-12)  # y never enters it
    diff = b.base_y - a.base_y
    np.testing.assert_allclose(diff[period == 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(diff[period == 1], 100.0, atol=1e-6)
    # one period: the default (no break) is the estimator as it was
    one = fit_nuisances(units, CFG.estimator)
    np.testing.assert_array_equal(one.fold, time_folds(units.hour, CFG.estimator.folds))


def test_the_shifted_null_twin_is_not_biased_once_periods_are_adjusted_for():
    """The null twin of the regime-shift market (nothing planted), 6 seeds: the DR estimate
    of `oi_pctl_bin=hi` averages about +2.4 bps without the break test and near 0 with it
    (measured on these seeds: +2.39 -> +0.36 mean; 2 of 6 intervals cover 0 -> 5 of 6; with
    the test, docs/validity.md "Harder markets" gives the null twin's bias over 50 seeds)."""
    spec = harder_spec("shift", null=True)
    off = CFG.model_copy(update={"estimator": CFG.estimator.model_copy(
        update={"break_alpha": None})})
    seeds = range(75600, 75606)
    on = [estimate_trial(spec, s, cfg=CFG, base=BASE) for s in seeds]
    before = [estimate_trial(spec, s, cfg=off, base=BASE) for s in seeds]
    assert np.mean([r["dr"] for r in before]) > 1.5
    assert abs(np.mean([r["dr"] for r in on])) < 1.0
    assert sum(r["dr_covers"] for r in on) >= sum(r["dr_covers"] for r in before) + 2


def test_the_lessons_table_names_the_period():
    units_spec = harder_spec("shift", null=True)
    frame = window_frame(units_spec, 75500)
    day = sorted(frame["date"].unique())[-1]
    lessons, _ = pipeline.lessons(pipeline.training_window(frame, CFG, load_scoring().context),
                               pd.DataFrame(), day, CFG)
    assert lessons["period_from"].notna().any()
    plain = window_frame(HARDER_BASE.null(), 75200)
    quiet, _ = pipeline.lessons(pipeline.training_window(plain, CFG, load_scoring().context),
                             pd.DataFrame(), sorted(plain["date"].unique())[-1], CFG)
    assert quiet["period_from"].isna().all()


def test_composed_sets_adjust_for_the_period_as_the_search_does():
    """dr_mask (braids, a pooled lesson's per-detector share) fits its nuisances per period
    too: on the shifted null twin the uplift of `oi_pctl_bin=hi` moves toward 0 with the
    break test, as the lesson search's estimate does."""
    from lotus_core.learning.drmask import dr_mask
    from lotus_core.learning.lessons import rule_lits

    off = CFG.model_copy(update={"estimator": CFG.estimator.model_copy(
        update={"break_alpha": None})})
    on_up, off_up = [], []
    for seed in range(75600, 75604):
        units, _ = _units(harder_spec("shift", null=True), seed)
        (lit,) = rule_lits(units, "oi_pctl_bin=hi")
        f = int(units.literal_feature[lit])
        mask = units.codes[:, f] == int(units.literal_value[lit])
        on_up.append(dr_mask(units, mask, {f}, 1, CFG).uplift)
        off_up.append(dr_mask(units, mask, {f}, 1, off).uplift)
    assert np.mean(off_up) > 1.5, off_up
    assert abs(np.mean(on_up)) < abs(np.mean(off_up)) - 1.0, (on_up, off_up)


def _oos_psi(units, newest, nz_new, lit):
    from lotus_core.learning.estimator import pseudo_outcomes

    new = units.take(np.flatnonzero(units.day == newest))
    return new, pseudo_outcomes(new, nz_new, np.array([lit]))[:, 0]


def test_the_newest_days_check_uses_the_model_of_its_own_period():
    """The out-of-sample check scores the newest day with nuisances fitted on the earlier
    days of its own period (seed 75501: the shift on day 3 of 0..4), as if the days before
    the break were not in the window; a newest day that starts a period of its own (seed
    75500: the shift on day 4) is cross-fitted over its own time folds."""
    from lotus_core.learning.lessons import Watchdog

    spec = harder_spec("shift", null=True)
    for seed, shift in ((75501, 3), (75500, 4)):
        units, days = _units(spec, seed)
        assert shift_day(spec, seed) == shift
        brk = window_break(units, CFG.estimator)
        assert brk is not None and brk.first_date == days[shift]
        newest = int(units.day.max())
        lit = units.literal_index("regime", "trend")
        got_new, got_nz = Watchdog(CFG, newest)._fit(units)
        _, got = _oos_psi(units, newest, got_nz, lit)
        if shift < len(days) - 1:  # the same fit on the window's later period alone
            late = units.take(np.flatnonzero(units.day >= brk.day))
            is_new = late.day == newest
            nz = fit_nuisances(late, CFG.estimator, fold=is_new.astype(np.int64), only=(1,))
            want = nz.base_y[is_new]
            np.testing.assert_allclose(got_nz.base_y, want, rtol=0, atol=1e-9)
            # and not the fit over every earlier day, both periods (what it did before)
            mixed = fit_nuisances(units, CFG.estimator,
                                  fold=(units.day == newest).astype(np.int64), only=(1,))
            assert np.abs(mixed.base_y[units.day == newest] - want).max() > 0.5
        else:
            own = fit_nuisances(got_new, CFG.estimator)
            np.testing.assert_allclose(got_nz.base_y, own.base_y, rtol=0, atol=1e-9)
            assert len(np.unique(got_nz.fold)) == CFG.estimator.folds
        assert np.isfinite(got).all()
