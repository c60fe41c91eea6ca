"""The micro-expert registry: `experts.yaml` read, validated and frozen.

Experts are data (id, kind, spec, version, active, prior), so adding or retiring one is a
reviewed YAML change with a version bump, and every expert's spec hash travels with its
statistics. A bad value fails at load time naming its key path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, StrictInt, ValidationError, model_validator

from lotus_core.dsi.expert_spec import (  # re-exported: the registry's vocabulary
    KINDS,
    BetaPrior,
    ExpertSpec,
    FusionParams,
    LabelParams,
    RegistryError,
    registry_error,
)
from lotus_core.dsi.kinds import validate_spec  # the kinds know their own specs
from lotus_core.strict import StrictModel
from lotus_core.yaml_io import parse_yaml

__all__ = ["KINDS", "BetaPrior", "ExpertSpec", "FusionParams", "LabelParams", "Registry",
           "RegistryError", "load_registry", "parse_registry"]


class Registry(StrictModel):
    """Everything experts.yaml says; `active` is the order of the annotation columns."""

    version: Literal[1]
    cadence_ms: StrictInt = Field(1000, ge=1)
    seed: StrictInt = Field(0, ge=0)
    history_rows: StrictInt | None = Field(None, ge=1)  # the fit's history bound (history.py)
    label: LabelParams = LabelParams()
    fusion: FusionParams = FusionParams()
    experts: tuple[ExpertSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Registry:
        seen: set[str] = set()
        for i, e in enumerate(self.experts):
            if e.id in seen:
                raise ValueError(f"experts[{i}].id: duplicate id {e.id!r}")
            seen.add(e.id)
        return self

    @property
    def active(self) -> tuple[ExpertSpec, ...]:
        return tuple(e for e in self.experts if e.active)


def default_registry_text() -> str:
    return resources.files("lotus_core.dsi").joinpath("experts.yaml").read_text()


def load_registry(path: Path | str | None = None) -> Registry:
    """The packaged experts.yaml, or the file at `path`; validated (RegistryError)."""
    text = default_registry_text() if path is None else Path(path).read_text()
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"experts.yaml: not valid YAML: {exc}") from exc
    return parse_registry(data)


def parse_registry(data: Any) -> Registry:
    """Validate a registry mapping (as loaded from YAML): the model, then each expert's
    kind-specific spec; a RegistryError names the first bad key path."""
    try:
        registry = Registry.model_validate(data)
    except ValidationError as exc:
        raise registry_error(exc) from None
    for i, e in enumerate(registry.experts):
        validate_spec(e.kind, e.spec, f"experts[{i}].spec")
    return registry
