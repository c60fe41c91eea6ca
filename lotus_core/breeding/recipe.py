"""The Mutation Curator's breeding recipe (recipe.yaml), validated: jitter ranges, bounds,
fresh-term defaults, how many candidates of each origin a night proposes, and the context
gates the proposer puts on its voting candidates (`gates`: defaults here, in `GateRecipe`;
recipe.yaml overrides any of them)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from lotus_core.breeding.grammar import CONTEXT_PCTL, REGIME_LABELS
from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel

Range = tuple[float, float]


class Jitter(StrictModel):
    window: float = Field(ge=0, le=2)
    threshold: float = Field(ge=0, le=2)
    horizon: float = Field(ge=0, le=2)
    flip_sign: float = Field(ge=0, le=1)


class Bounds(StrictModel):
    window_s: Range
    horizon_s: Range
    cooldown_s: Range
    within_s: Range
    threshold: dict[str, Range]

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        ranges = {"window_s": self.window_s, "horizon_s": self.horizon_s,
                  "cooldown_s": self.cooldown_s, "within_s": self.within_s,
                  **{f"threshold.{k}": v for k, v in self.threshold.items()}}
        for name, (lo, hi) in ranges.items():
            if not 0 < lo <= hi:
                raise ValueError(f"{name}: need 0 < low <= high, got [{lo}, {hi}]")
        return self


class Defaults(StrictModel):
    window_s: int = Field(gt=0)
    horizon_s: int = Field(gt=0)
    cooldown_s: int = Field(ge=0)
    within_s: int = Field(gt=0)
    threshold: dict[str, float]


class PerNight(StrictModel):
    fresh: int = Field(ge=0, le=500)
    mutations: int = Field(ge=0, le=500)
    recombinations: int = Field(ge=0, le=500)
    compositions: int = Field(ge=0, le=500)
    within_vetted: int = Field(ge=0, le=500)
    leaky: int = Field(ge=0, le=500)


TERCILES: tuple[Range, ...] = ((0.0, 1 / 3), (2 / 3, 1.0))


class GateRecipe(StrictModel):
    """The gated twins a night proposes: a `share` of the night's AND candidates (fresh,
    mutation, recombination, composition; rounded down) each get one gate, from the
    percentile `inputs` x `bands` and one gate per `regimes` label, in a seeded order. A
    twin adds to the night's proposal, so the night's size scales with its `per_night`
    counts (0: no twins). The one place these defaults live."""

    share: float = Field(default=0.25, ge=0.0, le=1.0)
    inputs: tuple[str, ...] = CONTEXT_PCTL
    bands: tuple[Range, ...] = TERCILES  # lower and upper tercile of the percentile
    regimes: tuple[str, ...] = ("trend", "chop")

    @model_validator(mode="after")
    def _known(self) -> GateRecipe:
        bad = sorted(set(self.inputs) - set(CONTEXT_PCTL))
        if bad:
            raise ValueError(f"inputs {bad}: twins gate on the percentiles {CONTEXT_PCTL}")
        bad = sorted(set(self.regimes) - set(REGIME_LABELS))
        if bad:
            raise ValueError(f"regimes {bad}: gateable labels are {REGIME_LABELS}")
        for lo, hi in self.bands:
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"bands: need 0 <= low < high <= 1, got [{lo}, {hi}]")
        return self


class Recipe(StrictModel):
    version: int = Field(ge=1)
    jitter: Jitter
    bounds: Bounds
    defaults: Defaults
    per_night: PerNight
    gates: GateRecipe = Field(default_factory=GateRecipe)

    def clip(self, name: str, value: float, transform: str | None = None) -> float:
        lo, hi = self.bounds.threshold[transform] if transform else getattr(self.bounds, name)
        return float(min(max(value, lo), hi))


def load_recipe(source: str | Path | Mapping[str, Any] | None = None) -> Recipe:
    """The recipe from `source` (YAML path or mapping; default: the packaged recipe.yaml)."""
    body, where = read_yaml(source, "recipe.yaml", package="lotus_core.breeding")
    try:
        return Recipe.model_validate(body)
    except ValidationError as exc:
        raise SpecError(error_message(where, exc)) from None
