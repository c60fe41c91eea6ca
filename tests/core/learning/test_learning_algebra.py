"""The braid algebra, directly (FORMULAS.md): UNION, INTERSECT, EXCEPT, ATTENUATE,
LIFT_ONLY / PENALTY_ONLY, and the patches a composed braid becomes. Applying every patch
whose rule holds to a window must give exactly the composed effect once — parents plus
increments, never double counted — on seeded random effects and rules."""

import math

import numpy as np
import pytest

from lotus_core.learning.algebra import (
    NONE,
    Effect,
    attenuate,
    conjoin,
    except_patches,
    intersect,
    intersect_patches,
    lift_only,
    penalty_only,
    union,
    union_patches,
)
from lotus_core.signals.context import LITERALS, parse_cond_key

RNG = np.random.default_rng(13)
FEATURES = sorted(LITERALS)


def _effect() -> Effect:
    return Effect(float(RNG.uniform(-0.1, 0.1)), float(np.exp(RNG.uniform(-0.08, 0.08))))


def _rule(k: int) -> str:
    names = RNG.choice(FEATURES, size=k, replace=False)
    return "&".join(sorted(f"{n}={RNG.choice(LITERALS[n])}" for n in names))


def _window() -> dict[str, str]:
    return {n: str(RNG.choice(LITERALS[n])) for n in FEATURES}


def _holds(rule: str, window: dict[str, str]) -> bool:
    return all(window[k] == v for k, v in parse_cond_key(rule))


def _applied(patches: list[tuple[str, Effect]], window: dict[str, str]) -> Effect:
    """What a window receives: every matching patch, composed once (theta adds, phi
    multiplies)."""
    return intersect([e for r, e in patches if _holds(r, window)] or [NONE])


def _close(a: Effect, b: Effect) -> bool:
    return math.isclose(a.theta_delta, b.theta_delta, abs_tol=1e-12) and \
        math.isclose(a.phi_mult, b.phi_mult, rel_tol=1e-12)


def _windows_for(r1: str, r2: str, n: int = 60) -> list[dict[str, str]]:
    """Random windows, plus some forced into r1, r2 and both."""
    out = [_window() for _ in range(n)]
    for rule in (r1, r2, conjoin(r1, r2)):
        if rule:
            for _ in range(10):
                w = _window()
                w.update(dict(parse_cond_key(rule)))
                out.append(w)
    return out


def test_intersect_patches_give_the_composed_effect_exactly_once_where_both_hold():
    checked = 0
    for _ in range(200):
        r1, r2 = _rule(1), _rule(2)
        e1, e2, composed = _effect(), _effect(), _effect()
        both = conjoin(r1, r2)
        patches = [(r1, e1), (r2, e2)] + [(p.cond_key, p.effect) for p in
                                          intersect_patches(r1, e1, r2, e2, composed)]
        for w in _windows_for(r1, r2):
            got = _applied(patches, w)
            in1, in2 = _holds(r1, w), _holds(r2, w)
            want = composed if in1 and in2 else e1 if in1 else e2 if in2 else NONE
            assert _close(got, want), (r1, r2, w)
            checked += in1 and in2
        if both is None:
            assert intersect_patches(r1, e1, r2, e2, composed) == []
    assert checked > 100


def test_except_carves_the_second_rule_out_of_the_first():
    for _ in range(200):
        r1, r2 = _rule(1), _rule(1)
        e1 = _effect()
        patches = [(r1, e1)] + [(p.cond_key, p.effect) for p in except_patches(r1, e1, r2)]
        for w in _windows_for(r1, r2):
            want = e1 if _holds(r1, w) and not _holds(r2, w) else NONE
            assert _close(_applied(patches, w), want)


def test_union_moves_each_sibling_to_the_union_and_refuses_overlapping_rules():
    for _ in range(200):
        name = str(RNG.choice([f for f in FEATURES if len(LITERALS[f]) > 1]))
        v1, v2 = RNG.choice(LITERALS[name], size=2, replace=False)
        r1, r2 = f"{name}={v1}", f"{name}={v2}"
        e1, e2 = _effect(), _effect()
        w1, w2 = float(RNG.uniform(0.1, 3)), float(RNG.uniform(0.1, 3))
        composed = union([e1, e2], [w1, w2])
        assert math.isclose(composed.theta_delta,
                            (w1 * e1.theta_delta + w2 * e2.theta_delta) / (w1 + w2))
        assert math.isclose(math.log(composed.phi_mult),
                            (w1 * math.log(e1.phi_mult) + w2 * math.log(e2.phi_mult)) / (w1 + w2))
        patches = [(r1, e1), (r2, e2)] + [(p.cond_key, p.effect) for p in
                                          union_patches(r1, e1, r2, e2, composed)]
        for w in _windows_for(r1, r2):
            want = composed if _holds(r1, w) or _holds(r2, w) else NONE
            assert _close(_applied(patches, w), want)
    with pytest.raises(ValueError, match="disjoint"):
        union_patches("dir=long", NONE, "session=us", NONE, NONE)
    with pytest.raises(ValueError, match="positive"):
        union([NONE], [0.0])


def test_attenuate_lift_only_and_penalty_only():
    for _ in range(200):
        e = _effect()
        a, b = float(RNG.uniform(0.05, 1)), float(RNG.uniform(0.05, 1))
        assert _close(attenuate(attenuate(e, a), b), attenuate(e, a * b))
        assert _close(attenuate(e, 1.0), e)
        assert abs(attenuate(e, a).theta_delta) <= abs(e.theta_delta)
        assert abs(math.log(attenuate(e, a).phi_mult)) <= abs(math.log(e.phi_mult)) + 1e-15
        lift, pen = lift_only(e), penalty_only(e)
        assert lift.theta_delta == 0.0 and lift.phi_mult == e.phi_mult
        assert pen.phi_mult == 1.0 and pen.theta_delta == e.theta_delta
        assert _close(intersect([lift, pen]), e)  # the two halves never double count
        assert _close(e.minus(e), NONE)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="ATTENUATE"):
            attenuate(NONE, bad)
