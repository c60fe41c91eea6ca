"""Compiling braid effects into one patch set: the caps and the night's step hold for every
window (a property test over random braids, applied through the signal layer's own
patch_effects), and precedence, BQS/specificity, near-duplicates and determinism behave."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning.compile import (
    BraidEffect,
    CompiledPriors,
    CompileError,
    PatchCaps,
    compile_patches,
)
from lotus_core.signals.context import LITERALS, canonical_cond_key, parse_cond_key
from lotus_core.signals.priors import ActivePriors, Patch, patch_effects

DETECTORS = ("d1", "d2", "d3")
COINS = ("BTC", "ETH")
NAMES = sorted(LITERALS)
TOL = 1e-9


def _cond(rng: np.random.Generator, most: int = 3) -> str:
    k = int(rng.integers(0, most + 1))
    names = rng.choice(NAMES, size=k, replace=False)
    return canonical_cond_key("&".join(f"{n}={rng.choice(LITERALS[n])}" for n in names) or "*")


def _braids(rng: np.random.Generator, tag: str) -> list[BraidEffect]:
    out = []
    for i in range(int(rng.integers(1, 26))):
        scope = str(rng.choice(["detector", "meta", "field"]))
        det = "*" if scope == "field" or rng.random() < 0.15 else str(rng.choice(DETECTORS))
        coin = "*" if rng.random() < 0.5 else str(rng.choice(COINS))
        theta = 0.0 if rng.random() < 0.15 else float(rng.uniform(-0.12, 0.12))
        phi = 1.0 if rng.random() < 0.15 else float(math.exp(rng.uniform(-0.12, 0.12)))
        out.append(BraidEffect(f"{tag}{i:02d}", scope, det, coin, _cond(rng), theta, phi,
                               float(rng.uniform(-1, 10)), round(float(rng.uniform(0, 3)), 1)))
    return out


def _windows(rng: np.random.Generator, patches: list[Patch], n_clique: int = 120,
             n_uniform: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Windows built to match as many patches at once as possible (greedy cliques), plus
    uniform ones: the worst windows are the ones the caps are about."""
    dets, coins, rows = [], [], []
    for w in range(n_clique + n_uniform):
        det, coin = str(rng.choice(DETECTORS)), str(rng.choice(COINS))
        lits: dict[str, str] = {}
        if w < n_clique:
            for j in rng.permutation(len(patches)):
                p = patches[j]
                if p.detector_id not in ("*", det) or p.coin not in ("*", coin):
                    continue
                cond = dict(parse_cond_key(p.cond_key))
                if all(lits.get(k, v) == v for k, v in cond.items()):
                    lits.update(cond)
        for name in NAMES:
            lits.setdefault(name, str(rng.choice(LITERALS[name])))
        dets.append(det)
        coins.append(coin)
        rows.append(lits)
    windows = pd.DataFrame({"detector_id": dets, "coin": coins})
    return windows, pd.DataFrame(rows, columns=NAMES).astype(object)


def _effect(windows, lits, patches) -> tuple[np.ndarray, np.ndarray]:
    eff = patch_effects(windows, lits, ActivePriors(version=1, patches=tuple(patches)))
    return eff.theta_delta, np.log(eff.phi_mult)


def test_caps_and_night_steps_hold_for_every_window_of_random_braid_sets():
    binding_total = binding_step = naive_violations = dropped_by_caps = 0
    for case in range(300):
        rng = np.random.default_rng(1000 + case)
        loose = case % 3 == 0  # every third case: steps too wide to bind, so the totals do
        caps = PatchCaps(theta_min=0.05, phi_max=1.0,
                         max_abs_theta_delta=float(rng.uniform(0.05, 0.2)),
                         phi_mult_max=float(rng.uniform(1.05, 1.2)),
                         phi_mult_min=float(1 / rng.uniform(1.05, 1.2)),
                         max_step_theta=1.0 if loose else float(rng.uniform(0.02, 0.2)),
                         max_step_log_phi=1.0 if loose else float(rng.uniform(0.02, 0.2)))
        previous = None
        if case % 2:
            previous = compile_patches(_braids(rng, "p"), caps, None)
        braids = _braids(rng, "b")
        got = compile_patches(braids, caps, previous)
        assert set(got.chosen).isdisjoint(d.braid_id for d in got.dropped)
        assert set(got.chosen) | {d.braid_id for d in got.dropped} == {b.braid_id for b in braids}
        dropped_by_caps += sum("caps bind" in d.reason for d in got.dropped)
        prev_patches = list(previous.patches) if previous else []
        windows, lits = _windows(rng, list(got.patches) + prev_patches)
        theta, lphi = _effect(windows, lits, got.patches)
        p_theta, p_lphi = _effect(windows, lits, prev_patches)
        assert (np.abs(theta) <= caps.max_abs_theta_delta + TOL).all(), case
        assert (lphi <= math.log(caps.phi_mult_max) + TOL).all(), case
        assert (lphi >= math.log(caps.phi_mult_min) - TOL).all(), case
        assert (np.abs(theta - p_theta) <= caps.max_step_theta + TOL).all(), case
        assert (np.abs(lphi - p_lphi) <= caps.max_step_log_phi + TOL).all(), case
        binding_total += bool((np.abs(theta) >= 0.75 * caps.max_abs_theta_delta).any())
        binding_step += bool((np.abs(theta - p_theta) >= caps.max_step_theta - 1e-6).any())
        # switching every braid with uplift on would have broken the caps
        naive = [Patch(b.detector_id, b.coin, canonical_cond_key(b.cond_key), b.theta_delta,
                       b.phi_mult) for b in braids if b.uplift > 0]
        n_theta, _ = _effect(windows, lits, naive)
        naive_violations += bool((np.abs(n_theta) > caps.max_abs_theta_delta + TOL).any())
        if case % 25 == 0:  # same braids in another order: the identical set
            shuffled = list(braids)
            random.Random(case).shuffle(shuffled)
            assert compile_patches(shuffled, caps, previous) == got
    # the property is not vacuous: caps and steps bind, and the raw braids would break them
    assert binding_total > 30 and binding_step > 60
    assert naive_violations > 60 and dropped_by_caps > 30


def _b(bid, scope="detector", det="d1", coin="*", cond="*", theta=-0.05, phi=1.0, uplift=5.0,
       bqs=1.0) -> BraidEffect:
    return BraidEffect(bid, scope, det, coin, cond, theta, phi, uplift, bqs)


FREE = PatchCaps(max_step_theta=10.0, max_step_log_phi=10.0)  # no night step in the way


def _reasons(got: CompiledPriors) -> dict[str, str]:
    return {d.braid_id: d.reason for d in got.dropped}


def test_precedence_detector_over_meta_over_field():
    got = compile_patches([
        _b("det", cond="session=us", theta=-0.05, bqs=1.0),
        _b("meta", scope="meta", cond="regime=trend", theta=0.04, bqs=5.0),
        _b("field", scope="field", det="*", cond="session=us&spread_bin=wide", theta=0.05,
           bqs=9.0),
        _b("field_asia", scope="field", det="*", cond="session=asia", theta=0.05, bqs=9.0),
        _b("field_same_sign", scope="field", det="*", coin="BTC", cond="dir=long&session=us",
           theta=-0.02, bqs=0.1),
        _b("meta_other_det", scope="meta", det="d2", coin="ETH", cond="regime=trend",
           theta=0.04),
    ], FREE, None)
    why = _reasons(got)
    assert why["meta"].startswith("precedence: detector braid det")
    assert why["field"].startswith("precedence: detector braid det")
    assert set(got.chosen) == {"det", "field_asia", "field_same_sign", "meta_other_det"}
    keys = {(p.detector_id, p.coin, p.cond_key): p.theta_delta for p in got.patches}
    assert keys == {("d1", "*", "session=us"): -0.05, ("*", "*", "session=asia"): 0.05,
                    ("*", "BTC", "dir=long&session=us"): -0.02,
                    ("d2", "ETH", "regime=trend"): 0.04}


def test_conflicts_go_to_the_higher_bqs_then_the_more_specific():
    got = compile_patches([
        _b("broad_strong", cond="session=us", theta=-0.05, bqs=3.0),
        _b("narrow_weak", cond="session=us&dir=long", theta=0.05, bqs=2.0),
    ], FREE, None)
    assert got.chosen == ("broad_strong",)
    assert "higher BQS" in _reasons(got)["narrow_weak"]
    got = compile_patches([
        _b("broad", cond="session=us", theta=-0.05, bqs=2.0, uplift=9.0),
        _b("narrow", cond="dir=long&session=us", theta=0.05, bqs=2.0, uplift=1.0),
    ], FREE, None)
    assert got.chosen == ("narrow",)
    assert "same BQS" in _reasons(got)["broad"]
    # a phi conflict counts as a conflict too; no overlap (us vs asia) is no conflict
    got = compile_patches([
        _b("lift", cond="session=us", theta=0.0, phi=1.1, bqs=2.0),
        _b("damp", cond="regime=trend", theta=0.0, phi=0.9, bqs=1.0),
        _b("asia", cond="session=asia", theta=0.0, phi=0.9, bqs=1.0),
    ], FREE, None)
    assert got.chosen == ("asia", "lift")


def test_near_duplicates_are_never_both_on():
    got = compile_patches([
        _b("a", cond="session=us&dir=long", theta=-0.04, uplift=4.0),
        _b("b", cond="dir=long&session=us", theta=-0.03, uplift=6.0),
        _b("other_det", det="d2", cond="dir=long&session=us", theta=-0.03, uplift=1.0),
    ], FREE, None)
    assert got.chosen == ("b", "other_det")
    assert _reasons(got)["a"].startswith("near-duplicate of b")


def test_the_optimiser_beats_greedy_under_the_window_cap():
    got = compile_patches([
        _b("big", cond="session=us", theta=-0.10, uplift=5.0),
        _b("mid", cond="regime=trend", theta=-0.08, uplift=4.0),
        _b("small", cond="dir=long", theta=-0.07, uplift=4.0),
        _b("useless", cond="mx_bin=hi", theta=-0.01, uplift=-1.0),
    ], FREE, None)
    assert got.chosen == ("mid", "small")  # 8 bps beats the greedy 5 (big alone)
    why = _reasons(got)
    assert "caps bind" in why["big"] and "no expected uplift" in why["useless"]
    assert sum(p.theta_delta for p in got.patches) == pytest.approx(-0.15)


def test_the_night_step_is_a_contraction_toward_the_new_set():
    caps = PatchCaps(max_step_theta=0.05, max_step_log_phi=0.05)
    night1 = compile_patches([_b("a", cond="session=us", theta=-0.12, phi=1.1)], caps, None)
    (p,) = night1.patches
    assert p.theta_delta == pytest.approx(-0.05) and night1.step_scale < 1
    assert math.log(p.phi_mult) == pytest.approx(math.log(1.1) * 0.05 / 0.12)  # one factor
    night2 = compile_patches([_b("a", cond="session=us", theta=-0.12, phi=1.1)], caps, night1)
    assert night2.patches[0].theta_delta == pytest.approx(-0.10)
    night3 = compile_patches([_b("a", cond="session=us", theta=-0.12, phi=1.1)], caps, night2)
    assert night3.patches[0].theta_delta == pytest.approx(-0.12)
    assert night3.patches[0].phi_mult == pytest.approx(1.1)
    # the braid is gone: the patch fades by the step, then disappears
    fade = compile_patches([], caps, night3)
    assert fade.patches[0].theta_delta == pytest.approx(-0.07)
    gone = compile_patches([], caps, compile_patches([], caps, fade))
    assert gone.patches == ()
    # tighter caps than the previous set was compiled under: the caps win over the step
    old = CompiledPriors.from_patches([Patch("d1", "*", "session=us", -0.15, 1.0)], 0.05, 1.0)
    tight = compile_patches([], PatchCaps(max_abs_theta_delta=0.05, max_step_theta=0.01), old)
    assert abs(tight.patches[0].theta_delta) <= 0.05 + TOL


def test_same_braids_in_any_order_compile_identically():
    rng = np.random.default_rng(5)
    braids = _braids(rng, "x") + _braids(rng, "y")
    first = compile_patches(braids, PatchCaps(), None)
    for seed in range(5):
        shuffled = list(braids)
        random.Random(seed).shuffle(shuffled)
        assert compile_patches(shuffled, PatchCaps(), None) == first


@pytest.mark.parametrize(("braid", "message"), [
    (_b("x", cond="session=mars"), "braid 'x': session has no value 'mars'"),
    (_b("x", phi=0.0), "braid 'x': phi_mult must be > 0"),
    (_b("x", theta=float("nan")), "braid 'x': theta_delta is not finite"),
    (_b("x", scope="micro"), "braid 'x': scope 'micro' is not one of"),
    (_b("x", coin="BTC/USD"), "braid 'x': coin 'BTC/USD' must be a non-empty name"),
])
def test_malformed_braids_are_refused_by_name(braid, message):
    with pytest.raises(CompileError, match=message.replace("(", r"\(")):
        compile_patches([braid], PatchCaps(), None)


def test_duplicate_braids_and_bad_caps_are_refused():
    with pytest.raises(CompileError, match="braid 'a' appears twice"):
        compile_patches([_b("a"), _b("a")], PatchCaps(), None)
    with pytest.raises(ValueError, match="phi_mult_max=0.9"):  # pydantic's ValidationError
        PatchCaps(phi_mult_max=0.9)
