"""The braid algebra (FORMULAS.md): effects, how they compose, and the patches they become.

An Effect is (theta_delta, phi_mult): theta' = theta + theta_delta, phi' = phi * phi_mult.
UNION averages with weights summing to 1 (theta linearly, phi geometrically), INTERSECT
adds (multiplies), ATTENUATE(l) scales by l in (0, 1], LIFT_ONLY keeps phi only,
PENALTY_ONLY keeps theta only. A composed braid's PATCHES are increments over what its
parents already apply, so replacing the parents' effect on the composed windows never
double counts: EXCEPT(b1, b2) is b1 plus a patch cancelling b1 where b2's rule holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lotus_core.signals.context import canonical_cond_key, parse_cond_key


@dataclass(frozen=True)
class Effect:
    theta_delta: float = 0.0
    phi_mult: float = 1.0

    def minus(self, other: Effect) -> Effect:
        return Effect(self.theta_delta - other.theta_delta, self.phi_mult / other.phi_mult)


NONE = Effect()


def union(effects: Sequence[Effect], weights: Sequence[float]) -> Effect:
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("UNION weights must sum to a positive number")
    w = [x / total for x in weights]
    return Effect(sum(wi * e.theta_delta for wi, e in zip(w, effects, strict=True)),
                  math.prod(e.phi_mult ** wi for wi, e in zip(w, effects, strict=True)))


def intersect(effects: Sequence[Effect]) -> Effect:
    return Effect(sum(e.theta_delta for e in effects), math.prod(e.phi_mult for e in effects))


def attenuate(effect: Effect, lam: float) -> Effect:
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"ATTENUATE needs lambda in (0, 1], got {lam}")
    return Effect(effect.theta_delta * lam, effect.phi_mult ** lam)


def lift_only(effect: Effect) -> Effect:
    return Effect(0.0, effect.phi_mult)


def penalty_only(effect: Effect) -> Effect:
    return Effect(effect.theta_delta, 1.0)


def effect_from_uplift(uplift_bps: float, half_bps: float, max_theta: float,
                       max_phi_step: float) -> Effect:
    """A bounded effect from an uplift: strength s = |u| / (|u| + half) in [0, 1); a positive
    uplift lowers the context penalty and lifts resonance, a negative one does the reverse."""
    s = abs(uplift_bps) / (abs(uplift_bps) + half_bps)
    sign = 1.0 if uplift_bps > 0 else -1.0 if uplift_bps < 0 else 0.0
    return Effect(-sign * max_theta * s, (1.0 + max_phi_step * s) ** sign)


def conjoin(a: str, b: str) -> str | None:
    """The cond_key of both rules holding, or None when they contradict."""
    la, lb = dict(parse_cond_key(a)), dict(parse_cond_key(b))
    for k, v in lb.items():
        if la.get(k, v) != v:
            return None
    la.update(lb)
    return canonical_cond_key("&".join(f"{k}={v}" for k, v in la.items()))


def disjoint(a: str, b: str) -> bool:
    return conjoin(a, b) is None


@dataclass(frozen=True)
class RulePatch:
    """One cond_key and the increment it applies (what the compiler receives)."""

    cond_key: str
    effect: Effect


def intersect_patches(r1: str, e1: Effect, r2: str, e2: Effect,
                      composed: Effect) -> list[RulePatch]:
    both = conjoin(r1, r2)
    if both is None:
        return []
    return [RulePatch(both, composed.minus(intersect([e1, e2])))]


def except_patches(r1: str, e1: Effect, r2: str) -> list[RulePatch]:
    both = conjoin(r1, r2)
    return [] if both is None else [RulePatch(both, NONE.minus(e1))]


def union_patches(r1: str, e1: Effect, r2: str, e2: Effect, composed: Effect) -> list[RulePatch]:
    """Siblings only (disjoint rules): each side moves from its own effect to the union's."""
    if not disjoint(r1, r2):
        raise ValueError(f"UNION patches need disjoint rules, got {r1!r} and {r2!r}")
    return [RulePatch(r1, composed.minus(e1)), RulePatch(r2, composed.minus(e2))]
