"""The learning loop judged against planted truth, on window-level generated data
(tests.kits.learning_kit): the planted effect is found with a CI covering it, the decoy
is refused (while a naive comparison ranks it high), null data promotes nothing, a vanished
effect is sunset by the watchdog, and every stage is deterministic."""

import io

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning import pipeline
from lotus_core.learning.config import load_learning
from lotus_core.signals.config import load_scoring
from lotus_core.signals.context import parse_cond_key
from tests.kits.learning_kit import PLANTED, make_learning_frame, null_frame

CFG = load_learning()
BASE = load_scoring().context
DELTA = 6.0


def _nights(frame: pd.DataFrame, first: int = 2):
    """Run the nights of frame's days from index `first` on; yield (day, lessons, alerts,
    micro, meta, compiled)."""
    days = sorted(frame["date"].unique())
    prev, compiled = pd.DataFrame(), None
    for i in range(first, len(days)):
        win = frame[frame["date"].isin(days[max(0, i - CFG.window_days + 1):i + 1])]
        tw = pipeline.training_window(win, CFG, BASE)
        lessons, alerts = pipeline.lessons(tw, prev, days[i], CFG)
        micro = pipeline.braids(lessons, tw, CFG)
        meta = pipeline.meta_braids(micro, tw, CFG)
        compiled = pipeline.compile_night(micro, meta, CFG, compiled)
        yield days[i], lessons, alerts, micro, meta, compiled
        prev = lessons


@pytest.fixture(scope="module")
def planted_night():
    frame = make_learning_frame(days=6, seed=11, delta_bps=DELTA, decoy_agreement=0.8)
    tw = pipeline.training_window(frame, CFG, BASE)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], CFG)
    return frame, tw, lessons


def test_planted_effect_is_the_top_active_lesson_and_its_ci_covers_delta(planted_night):
    _, _, lessons = planted_night
    mine = lessons[(lessons["detector_id"] == PLANTED) & (lessons["state"] == "active")]
    top = mine.sort_values("bqs", ascending=False).iloc[0]
    assert ("oi_pctl_bin", "hi") in parse_cond_key(top["rule"]), top["rule"]
    assert top["ci_lo"] <= DELTA <= top["ci_hi"], (top["ci_lo"], top["ci_hi"])
    assert top["p05"] > 0 and top["sign"] == 1


def test_no_active_lesson_rests_on_the_decoy_alone(planted_night):
    _, _, lessons = planted_night
    active = lessons[lessons["state"] == "active"]
    for rule in active["rule"]:
        names = {k for k, _ in parse_cond_key(rule)}
        assert names != {"funding_pctl_bin"}, f"decoy-only lesson promoted: {rule}"
    decoy = lessons[(lessons["detector_id"] == PLANTED)
                    & (lessons["rule"] == "funding_pctl_bin=hi")]
    if len(decoy):  # if the search kept it at all, the DR estimate sees through it
        assert abs(decoy["uplift_bps"].iloc[0]) < 1.5


def test_naive_difference_ranks_the_decoy_high_which_is_why_the_estimator_is_dr(planted_night):
    frame, tw, _ = planted_night
    m = (frame["detector_id"] == PLANTED).to_numpy()
    y = frame.loc[m, "net_ret_bps"].to_numpy()
    naive = {}
    for name in tw.quantizer.features:
        col = tw.lits.loc[m, name].to_numpy(dtype=object)
        for v in sorted(set(col)):
            a = col == v
            if 100 < a.sum() < len(a) - 100:
                naive[f"{name}={v}"] = y[a].mean() - y[~a].mean()
    ranked = sorted(naive, key=naive.get, reverse=True)
    print("naive top 3:", [(k, round(naive[k], 2)) for k in ranked[:3]])
    assert ranked[0] == "oi_pctl_bin=hi"
    assert ranked.index("funding_pctl_bin=hi") <= 2  # the decoy looks like an edge
    assert naive["funding_pctl_bin=hi"] > DELTA / 2
    from lotus_core.learning.estimator import fit_nuisances, pseudo_outcomes
    from lotus_core.learning.lessons import detector_units
    units = detector_units(tw.frame[m], tw.lits[m], tw.quantizer)
    psi = pseudo_outcomes(units, fit_nuisances(units, CFG.estimator))
    dr = psi[:, units.literal_index("funding_pctl_bin", "hi")].mean()
    print(f"decoy: naive {naive['funding_pctl_bin=hi']:.2f} bps, DR {dr:.2f} bps")
    assert abs(dr) < 1.5


NULL_SEEDS = 6
"""Null seeds the suite runs (all 20 promoted nothing when last run whole). What six still
prove: a gate that lets noise through is caught (at a false-lesson rate of 40 % six clean
seeds happen 5 % of the time); the rate itself, with its interval, is `python -m bench
validity`'s false nights over sealed null seeds (docs/validity.md)."""


@pytest.mark.slow
def test_null_days_promote_nothing_on_six_seeds():
    promoted = []
    for seed in range(NULL_SEEDS):
        frame = null_frame(seed, days=4, windows_per_day=600)
        tw = pipeline.training_window(frame, CFG, BASE)
        lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], CFG)
        if (lessons["state"] == "active").any():
            promoted.append((seed, lessons.loc[lessons["state"] == "active", "rule"].tolist()))
    print(f"runs promoting a lesson: {len(promoted)} of {NULL_SEEDS} {promoted}")
    assert promoted == []


@pytest.mark.slow
def test_a_vanished_effect_is_sunset_by_the_watchdog_and_its_patch_reverted():
    """The planted detector and one noise detector (two: the pooled search still runs, so a
    pooled lesson on the planted rule must be sunset too, or its patch would stay), nights
    from days[3] on (two before the effect vanishes on days[5]). A third detector and an earlier
    night cost twice the CPU and add nothing this test asserts."""
    frame = make_learning_frame(days=8, seed=5, delta_bps=DELTA, vanish_from_day=5,
                                detectors=(PLANTED, "noise_a_v1"))
    days = sorted(frame["date"].unique())
    seen_active, sunset_on = None, None
    for day, lessons, alerts, _, _, compiled in _nights(frame, first=3):
        row = lessons[(lessons["detector_id"] == PLANTED) & (lessons["rule"] == "oi_pctl_bin=hi")]
        state = row["state"].iloc[0] if len(row) else None
        keys = {(p.detector_id, p.cond_key) for p in compiled.patches}
        if state == "active":
            seen_active = seen_active or day
            assert (PLANTED, "oi_pctl_bin=hi") in keys
        if state == "sunset" and sunset_on is None:
            sunset_on = day
            assert row["reason"].iloc[0].startswith("watchdog:")
            assert (alerts["rule"] == "oi_pctl_bin=hi").any()
            assert (PLANTED, "oi_pctl_bin=hi") not in keys  # reverted tonight
            print(f"sunset with CUSUM {row['oos_cusum'].iloc[0]:.1f} "
                  f"(bar {CFG.watchdog.cusum_h})")
            break  # what the later nights would add is asserted nowhere
    assert seen_active is not None and seen_active < days[5]
    assert sunset_on is not None and sunset_on >= days[5]
    gap = (pd.Timestamp(sunset_on) - pd.Timestamp(days[5])).days
    assert gap < CFG.activation.ttl_days
    print(f"active from {seen_active}, effect gone from {days[5]}, sunset on {sunset_on}")


def _bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_every_stage_is_byte_identical_on_a_rerun():
    frame = make_learning_frame(days=4, seed=2, windows_per_day=600)
    runs = [list(_nights(frame, first=3)) for _ in range(2)]
    for (d1, l1, a1, m1, mm1, c1), (d2, l2, a2, m2, mm2, c2) in zip(*runs, strict=True):
        assert d1 == d2
        for x, y in ((l1, l2), (a1, a2), (m1, m2), (mm1, mm2)):
            assert _bytes(x) == _bytes(y)
        assert c1 == c2
    assert np.isfinite(runs[0][0][1]["uplift_bps"]).all()
