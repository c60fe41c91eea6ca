"""Planted conditional return effects: which triggers fire, whether their context held.

Every occurrence of an effect's trigger pattern is listed, treated or not, so a test can
compare the forward move after triggers with the context held against those without.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lotus_core.synth.patterns import Occurrence
from lotus_core.synth.segments import at_ms
from lotus_core.synth.spec import EffectSpec


@dataclass(frozen=True)
class AppliedEffect:
    """One trigger occurrence of one effect; the mid moved only if `context_held`.

    `direction` is the sign of the planted move (+1 up, -1 down); the move is
    `direction * delta_bps`, ramped linearly over [t_ms, t_ms + horizon_s].
    """

    effect: str
    coin: str
    trigger_id: str
    trigger_type: str
    t_ms: int
    direction: int
    delta_bps: float
    horizon_s: float
    context_held: bool
    context_state: Mapping[str, bool]

    @property
    def applied_bps(self) -> float:
        """The signed move actually planted (0 when the context did not hold)."""
        return self.direction * self.delta_bps if self.context_held else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "coin": self.coin,
            "trigger_id": self.trigger_id,
            "trigger_type": self.trigger_type,
            "t_ms": self.t_ms,
            "direction": self.direction,
            "delta_bps": self.delta_bps,
            "horizon_s": self.horizon_s,
            "context_held": self.context_held,
            "context_state": dict(sorted(self.context_state.items())),
            "applied_bps": self.applied_bps,
        }


def effect_direction(effect: EffectSpec, trigger: Occurrence) -> int:
    """The sign of the planted move for one trigger occurrence."""
    if effect.direction == "up":
        return 1
    if effect.direction == "down":
        return -1
    sign = trigger.direction if effect.direction == "with_trigger" else -trigger.direction
    return sign or 1


def plan_effects(
    effects: Sequence[EffectSpec],
    occurrences: Sequence[Occurrence],
    contexts: Mapping[str, np.ndarray],
    day_start_ms: int,
) -> list[AppliedEffect]:
    """For each effect, each top-level occurrence of its trigger, with the context at end_ms.

    Phases of a larger pattern (the sweep inside a sweep_then_stall) are not triggers of
    their own type: a `sweep` effect fires on standalone sweeps only.
    """
    out: list[AppliedEffect] = []
    for effect in effects:
        for occ in occurrences:
            if occ.type != effect.trigger or occ.parent_id is not None:
                continue
            state = {name: bool(at_ms(values, occ.end_ms, day_start_ms))
                     for name, values in contexts.items()}
            held = all(state[name] == want for name, want in effect.context.items())
            out.append(AppliedEffect(
                effect=effect.name,
                coin=occ.coin,
                trigger_id=occ.id,
                trigger_type=occ.type,
                t_ms=occ.end_ms,
                direction=effect_direction(effect, occ),
                delta_bps=effect.delta_bps,
                horizon_s=effect.horizon_s,
                context_held=held,
                context_state=state,
            ))
    return out
