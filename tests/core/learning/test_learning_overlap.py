"""Overlap and missingness gates: a rule whose treated and control windows are not
comparable is refused with a named reason, and a missing value is never a lesson's literal.
Each case runs beside a control that the same gate lets through, so the tests can fail."""

from dataclasses import replace

import pandas as pd

from lotus_core.learning import pipeline
from lotus_core.learning.config import load_learning
from lotus_core.signals.config import load_scoring
from lotus_core.signals.context import parse_cond_key
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

CFG = load_learning()
BASE = load_scoring().context
SMALL = WindowSpec(days=4, windows_per_day=800)


def _night(spec: WindowSpec, seed: int, cfg=CFG) -> pd.DataFrame:
    frame = window_frame(spec, seed)
    tw = pipeline.training_window(frame, cfg, BASE)
    return pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], cfg)[0]


def _row(lessons: pd.DataFrame, rule: str) -> pd.Series:
    got = lessons[(lessons["detector_id"] == PLANTED) & (lessons["rule"] == rule)]
    assert len(got) == 1, f"{rule} was not estimated"
    return got.iloc[0]


def test_a_positivity_violation_is_refused_with_a_named_reason():
    # high OI happens (almost) only in the trend regime, which has its own +6 bps: no
    # estimator can tell the two apart, and the clipped propensities and the DR-IPW gap say so
    bad = replace(SMALL, effect="none", delta_bps=0.0, propensity="positivity",
                  regime_effect_bps=6.0)
    row = _row(_night(bad, 3), "oi_pctl_bin=hi")
    print(row[["uplift_bps", "uplift_ipw", "uplift_naive", "clipped_share", "ess", "dr_ipw_z",
               "overlap", "state"]].to_dict())
    assert row["state"] != "active"
    assert "overlap:clipped" in row["overlap"] and "overlap:clipped" in row["gates"]
    assert row["clipped_share"] > 0.5
    # control: the same market with ordinary confounding passes the overlap checks
    good = replace(SMALL, effect="oi_hi", delta_bps=6.0)
    ok = _row(_night(good, 3), "oi_pctl_bin=hi")
    assert pd.isna(ok["overlap"]) and ok["state"] == "active", ok[["gates", "state"]].to_dict()
    assert ok["clipped_share"] < CFG.overlap.max_clipped_share
    assert ok["ess"] >= CFG.overlap.min_ess and ok["dr_ipw_z"] <= CFG.overlap.max_dr_ipw_z


def test_a_missing_value_is_not_a_market_condition():
    # the first 90 minutes of every day have no OI percentile and pay -4 bps (a cold start;
    # one column only, so that the artefact is estimable when na literals are allowed)
    spec = replace(SMALL, effect="none", delta_bps=0.0, regime_effect_bps=0.0,
                   cold_start_minutes=90, cold_start_bps=-4.0, cold_start_columns=("oi_pctl",))
    no_overlap = CFG.overlap.model_copy(update={"max_clipped_share": 1.0, "min_ess": 0.0,
                                                "max_dr_ipw_z": 1e9})
    only_na_gate = CFG.model_copy(update={"overlap": no_overlap})
    lessons = _night(spec, 4, only_na_gate)
    named_na = [r for r in lessons["rule"] if any(v == "na" for _, v in parse_cond_key(r))]
    assert named_na == [], named_na
    # control: allowing na literals too, the artefact is "learned" (the gate refused it)
    lax = only_na_gate.model_copy(update={"search": CFG.search.model_copy(
        update={"na_literals": True})})
    active = _night(spec, 4, lax)
    active = active[active["state"] == "active"]
    assert "oi_pctl_bin=na" in set(active["rule"]), active["rule"].tolist()
    # and the overlap checks alone refuse it too: a cold start happens only in the first
    # session of the day, so no window of the other sessions could have been "na"
    na_allowed = CFG.model_copy(update={"search": lax.search})
    row = _row(_night(spec, 4, na_allowed), "oi_pctl_bin=na")
    assert row["state"] != "active" and "overlap:clipped" in row["overlap"], row["gates"]


def test_dr_ipw_z_without_a_spread_is_missing_and_gated_never_infinite() -> None:
    """A gap between DR and IPW with a zero (or rounding-level, or one-draw) bootstrap spread
    has no z: stored as NaN and gated `overlap:dr_ipw_undefined`; equal estimates are z 0;
    a real spread gives |gap| / sd."""
    import dataclasses

    import numpy as np

    from lotus_core.learning.evaluate import RuleDetail, _gap_z
    from lotus_core.learning.lessons import overlap_failures

    assert np.isnan(_gap_z(0.7, np.full(200, 0.7)))
    assert np.isnan(_gap_z(0.7, np.full(200, 0.7) + 1e-15 * np.arange(200)))
    assert np.isnan(_gap_z(0.7, np.array([0.7])))
    assert _gap_z(0.0, np.zeros(200)) == 0.0
    assert _gap_z(2.0, np.array([1.0, 3.0])) == 2.0 / np.std([1.0, 3.0], ddof=1)
    ok = RuleDetail(uplift=1.0, sign=1, ci_lo=0.5, ci_hi=1.5, p05=0.6, boot_sd=0.3,
                    se_iid=0.3, uplift_ipw=1.0, uplift_naive=1.0, uplift_hit=0.1, support=100,
                    scope_n=200, stability=1.0, stability_regime=1.0, days=3, primary=0,
                    clipped_share=0.0, ess=1e6)
    assert overlap_failures(CFG, dataclasses.replace(ok, dr_ipw_z=float("nan"))) == [
        "overlap:dr_ipw_undefined"]
    assert overlap_failures(CFG, dataclasses.replace(ok, dr_ipw_z=1e6)) == [
        "overlap:dr_ipw_disagree"]
    assert overlap_failures(CFG, ok) == []
