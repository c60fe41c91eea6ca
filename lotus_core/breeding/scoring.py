"""The breeder's survivors as scoring sees them: an `ExtraDetectors` set
(lotus_core.signals.pipeline) of detector specs with status `exploration` and the windows
the bred recipes fire. Scoring adds them when settings `scoring.exploration` is on; the
council caps the publication share of status `exploration` (curators.yaml).

A bred recipe is not one of the engine's kinds, so its DetectorSpec is a carrier: the
fields scoring reads (id, horizon, cooldown, strength scale, alignment weights, regime
penalty, status) with the recipe flattened into `params` (so `complexity` counts its free
parameters); it is built without the kind check and never reaches run_detectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from lotus_core.breeding.compile import bred_windows
from lotus_core.breeding.grammar import STATUS_EXPLORATION, BredSpec
from lotus_core.breeding.store import LakeLike, specs_for_scoring
from lotus_core.signals.spec import Align, DetectorSpec

ALIGN = Align.model_validate({"book": 0.4, "flow": 0.4, "micro": 0.2})
REGIME_PENALTY = {"warmup": 0.3}


def carrier(spec: BredSpec) -> DetectorSpec:
    params: dict[str, Any] = {}
    for i, t in enumerate(spec.votes):
        params.update({f"t{i}_{t.input}_{t.transform}_window_s": t.window_s,
                       f"t{i}_threshold": t.threshold, f"t{i}_sign": t.sign})
    for i, g in enumerate(spec.gates):  # a gate's free parameters: its band ends or labels
        if g.labels is not None:
            params[f"g{i}_regime_labels"] = ",".join(g.labels)
        params.update({f"g{i}_{g.input}_{end}": v for end, v in (("lo", g.lo), ("hi", g.hi))
                       if v is not None})
    if spec.combine == "within":
        params["within_s"] = spec.within_s
    fields: dict[str, Any] = {
        "id": spec.detector_id, "kind": "bred", "version": 1,
        "description": f"bred recipe {spec.recipe_hash[:19]}: {spec.combine} of "
                       + ", ".join([f"{t.transform}({t.input})" for t in spec.votes]
                                   + [f"gate({g.describe()})" for g in spec.gates]),
        "horizon_s": spec.horizon_s, "cooldown_s": spec.cooldown_s, "strength_scale": 1.0,
        "align": ALIGN, "regime_penalty": dict(REGIME_PENALTY),
        "failure_modes": ["bred on one training window: the edge may be that window's"],
        "params": params, "enabled": True, "status": STATUS_EXPLORATION}
    return cast(DetectorSpec, DetectorSpec.model_construct(**fields))


@dataclass(frozen=True)
class ExplorationSet:
    """pipeline.ExtraDetectors of bred recipes."""

    bred: Sequence[BredSpec]

    @property
    def specs(self) -> list[DetectorSpec]:
        return [carrier(b) for b in self.bred]

    def windows(self, frames: pd.DataFrame) -> pd.DataFrame:
        return bred_windows(frames, list(self.bred))


def exploration_set(lake: LakeLike, day: str) -> ExplorationSet:
    """The exploration specs in force for scoring `day` (the newest night before it).
    Recipes composed with a vetted detector's windows wait for the engine to run them
    (scoring has no vetted windows to hand them yet), so they are left out here."""
    bred = [s for _, s in specs_for_scoring(lake, day)
            if not any(t.input.startswith("detector:") for t in s.terms)]
    return ExplorationSet(tuple(bred))
