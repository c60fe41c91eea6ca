"""The Mutation Curator's breeding recipe (recipe.yaml), validated: jitter ranges, bounds,
fresh-term defaults and how many candidates of each origin a night proposes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

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


class Recipe(StrictModel):
    version: int = Field(ge=1)
    jitter: Jitter
    bounds: Bounds
    defaults: Defaults
    per_night: PerNight

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
