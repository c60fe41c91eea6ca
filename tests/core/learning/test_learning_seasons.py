"""Intervals that hold after selection (selective.py) and a season's error
budget spent night by night (anytime.py), on the lessons stage itself. The full measurement
is bench/seasons.py (docs/validity.md, "Across nights")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from bench.seasons import power_season, season_rule, today_rule, would_activate_today
from lotus_core.learning import pipeline
from lotus_core.learning.anytime import night_alpha, season_bound
from lotus_core.learning.config import load_learning
from lotus_core.learning.lessons import z_crits
from lotus_core.learning.selective import selective
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

CFG = season_rule(load_learning())  # the season rule, opt-in in learning.yaml


def _selected(m: float, c: float, n: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).normal(m, 1.0, n)
    return z[np.abs(z) >= c]


@pytest.mark.parametrize("m", [4.0, 5.0])
def test_selective_intervals_cover_at_their_level_among_the_selected(m):
    """Estimates that cleared the bar: the selective 90 % interval covers the truth ~90 %
    of the time (binomial 3.3 sd margin), the raw one does not near the bar - and the
    selective estimate undoes the winner's curse the raw mean shows."""
    c = 4.78
    z = _selected(m, c, 1500, seed=int(m * 10))
    got = np.array([selective(float(x), 1.0, c, 0.90) for x in z])
    n = len(z)
    cover = float(np.mean((got[:, 1] <= m) & (m <= got[:, 2])))
    assert abs(cover - 0.90) <= 3.3 * np.sqrt(0.09 / n), (cover, n)
    raw = float(np.mean(np.abs(z - m) <= norm.isf(0.05)))
    if m == 4.0:  # near the bar the raw interval under-covers clearly
        assert raw < 0.82, raw
    assert np.mean(z) - m > 0.5  # the winner's curse is there...
    assert abs(float(np.median(got[:, 0])) - m) < 0.25  # ...and the median estimate is not


def test_selective_is_the_normal_interval_far_above_the_bar_and_none_below_it():
    est, lo, hi = selective(-15.0, 1.0, 4.2, 0.90)  # a negative lesson: signs restored
    assert est == pytest.approx(-15.0, abs=1e-3)
    assert (lo, hi) == pytest.approx((-15 - 1.6449, -15 + 1.6449), abs=1e-3)
    assert selective(4.0, 1.0, 4.2, 0.90) is None  # never cleared the bar
    assert selective(5.0, float("nan"), 4.2, 0.90) is None


def test_a_season_spends_its_budget_night_by_night():
    act = CFG.activation
    assert act.season_alpha is not None
    assert night_alpha(act) == pytest.approx(act.season_alpha / act.season_nights)
    assert season_bound(act, act.season_nights) <= act.season_alpha + 1e-12
    # the per-(rule, sign) tails of one night sum to the night's share: bars are higher
    fam = (52, 1258, 18780)
    bars = np.array(z_crits(CFG, fam))
    tails = 2 * np.array(fam) * norm.sf(bars)
    assert tails.sum() <= night_alpha(act) * (1 + 1e-9)
    assert (bars > np.array(z_crits(today_rule(CFG), fam))).all()
    assert night_alpha(today_rule(CFG).activation) == act.family_alpha


def test_the_lessons_stage_reports_the_season_bar_and_selective_intervals():
    """One real night at a large effect: the planted lesson activates against the season's
    bar; its selective interval sits inside [0, raw hi] territory (far above the bar it is
    the raw normal one) and every row that cleared the bar is shrunk toward zero."""
    frame = window_frame(WindowSpec(days=3, windows_per_day=216, delta_bps=12.0), 11)
    tw = pipeline.training_window(frame, CFG, load_scoring().context)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], CFG)
    row = lessons[(lessons["detector_id"] == PLANTED) & (lessons["rule"] == "oi_pctl_bin=hi")]
    assert row["state"].iloc[0] == "active"
    over = lessons[lessons["z"] >= lessons["z_crit"]]
    assert len(over)
    assert (over["sel_uplift_bps"].abs() <= over["uplift_bps"].abs() + 1e-9).all()
    assert (over["sel_ci_lo"] <= over["sel_uplift_bps"]).all()
    under = lessons[lessons["z"] < lessons["z_crit"]]
    assert np.allclose(under["sel_uplift_bps"], under["uplift_bps"], equal_nan=True)
    # tonight's bars are the season's, not family_alpha's: none is what today's rule sets
    one = lessons[(lessons["n_literals"] == 1) & (lessons["detector_id"] != "*")]["z_crit"]
    assert float(one.iloc[0]) > 4.3
    assert would_activate_today(lessons, CFG)["state"].eq("proposed").all()


def test_power_at_a_clear_effect_is_kept_across_nights():
    """A 12 bps effect from day 0, paired: the season rule activates it within the nights
    today's rule does, at most a night later."""
    got = power_season(21, nights=4, spec=WindowSpec(days=4, windows_per_day=216,
                                                     delta_bps=12.0))
    assert got["today"] is not None and got["anytime"] is not None
    assert 0 <= got["anytime"] - got["today"] <= 1
