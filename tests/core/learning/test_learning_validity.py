"""A fast, still-meaningful subset of the validity plan (bench/validity.py runs it at >= 200
seeds): interval coverage, double robustness when one nuisance is wrong, interactions named
by both literals, null markets activating nothing false, power at a large effect, and the
watchdog's CUSUM. Seeds are fixed, so each bound is deterministic and each can fail."""

from dataclasses import replace

import numpy as np

from lotus_core.learning.lessons import cusum_step
from lotus_core.learning.validity import (
    estimate_trial,
    night_trial,
    replay,
)
from lotus_core.learning.validity_report import CAL_SPEC, NULLS, SCENARIOS, false_rules
from lotus_core.signals.context import parse_cond_key
from lotus_core.synth.windows import planted_truth


def test_the_90_percent_interval_covers_the_planted_effect_about_90_percent_of_the_time():
    runs = [estimate_trial(CAL_SPEC, 1000 + s) for s in range(24)]
    dr = sum(r["dr_covers"] for r in runs)
    naive = sum(r["naive_covers"] for r in runs)
    # Too wide: a 90 % interval's half-width is about 1.645 sampling sd of the estimate, and
    # the sd across these 24 seeds is that spread measured (its relative error at n = 24 is
    # ~15 %). Measured: ratio 1.03 (half-width 2.02 bps, sd 1.20 bps). An interval widened
    # x1.6 or more fails here even when it covers 24/24.
    est = np.array([r["dr"] for r in runs])
    half = np.array([(r["dr_hi"] - r["dr_lo"]) / 2 for r in runs])
    ratio = float(half.mean() / (1.645 * est.std(ddof=1)))
    print(f"DR covers {dr}/24, naive {naive}/24, half-width / (1.645 sd) = {ratio:.2f}")
    # Binomial(24, 0.9): P(k <= 17) < 1 %
    assert 18 <= dr <= 24
    assert 0.6 <= ratio <= 1.6, ratio
    assert naive <= 12  # the confounded naive difference is biased and its interval misses


def test_dr_holds_when_the_propensity_model_is_wrong_and_ipw_does_not():
    spec = SCENARIOS["propensity model wrong"]
    for seed in (2000, 2001):
        r = estimate_trial(spec, seed)
        assert r["dr_covers"] and not r["ipw_covers"] and not r["naive_covers"], r


def test_dr_holds_when_the_outcome_model_is_wrong_and_naive_does_not():
    spec = SCENARIOS["outcome model wrong"]
    for seed in (2000, 2001):
        r = estimate_trial(spec, seed)
        assert r["dr_covers"] and not r["naive_covers"], r
        assert abs(r["dr"] - r["truth"]) < abs(r["naive"] - r["truth"]) / 2


def test_an_off_edge_effect_is_estimated_as_its_share_of_the_bin():
    spec = SCENARIOS["off-edge (oi top quintile)"]
    r = estimate_trial(spec, 2000)
    assert abs(planted_truth(spec) - 0.6 * spec.delta_bps) < 1e-9
    assert r["dr_covers"], r


def test_an_interaction_is_learned_as_the_conjunction_of_both_literals():
    spec = SCENARIOS["interaction (oi hi & funding hi)"]
    r = night_trial(replace(spec, days=5), 2000)
    print(r["active_rules"])
    assert "funding_pctl_bin=hi&oi_pctl_bin=hi" in r["found_rules"], r
    for rule in r["active_rules"]:
        det, key = rule.split(":", 1)
        names = {k for k, _ in parse_cond_key(key)}
        if det == "planted_v1" and len(names) == 1:
            # a single literal may stand only for its own average effect: never the +6 bps
            # high-OI-only or high-funding-only, which the data do not hold
            assert key not in ("oi_pctl_bin=hi", "funding_pctl_bin=hi"), rule


def test_null_markets_activate_no_false_rule():
    bad = []
    for i, (name, spec) in enumerate(NULLS.items()):
        for seed in (4100 + i, 4200 + i):
            got = false_rules(spec, night_trial(spec, seed)["active_rules"])
            bad += [(name, seed, got)] if got else []
    assert bad == []


def test_a_large_effect_is_found_in_ten_days():
    found = [night_trial(replace(CAL_SPEC, delta_bps=8.0, days=10), 3000 + s)["found"]
             for s in range(3)]
    assert all(found), found


def test_the_watchdog_cusum_sunsets_a_vanished_effect_and_keeps_a_persisting_one():
    # (window uplift, oos uplift, oos sd, oos support, oos p05) per night
    gone = [(5.0, 0.0, 2.5, 70, -4.1)] * 5
    held = [(5.0, 5.0, 2.5, 70, 0.9), (5.0, 1.0, 2.5, 70, -3.1)] * 5  # every other day fails
    # each day gone adds 5 * (2.5 - 0) / 2.5^2 = 2: over 3 on the second day
    assert replay(gone, "cusum", 3.0, 10) == 1
    assert replay(held, "cusum", 3.0, 10) is None
    assert replay(held, "first_fail", 0.0, 10) == 1  # the old rule sunsets a real effect
    assert replay([(5.0, 5.0, 2.0, 5, 1.0)], "cusum", 3.0, 10) == 0  # too little support
    assert cusum_step(0.0, -1, -5.0, -5.0, 2.0) == 0.0  # a short lesson holding, floored
    assert cusum_step(1.0, 1, 5.0, float("nan"), 2.0) == 1.0  # no estimate: no evidence
