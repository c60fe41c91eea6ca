"""What the flow market plants, as a validated spec (YAML or JSON), and its null twin.

The null twin is the same spec with `planted: false`: contexts, would-be triggers and
every random draw stay the same; only the planted price move is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StrictBool, ValidationError

from lotus_core.strict import StrictModel
from lotus_core.synth.spec import spec_error, spec_mapping

FLOW_SPEC_VERSION = 1

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class InteractionSpec(StrictModel):
    """Funding high against its own trailing history AND the book leaning one way: the mid
    then drifts `delta_bps` in the lean's direction over `horizon_min` minutes."""

    delta_bps: Number = Field(default=6.0, ge=0.0, le=200.0)
    horizon_min: int = Field(default=5, ge=1, le=60)
    funding_percentile: Number = Field(default=80.0, gt=0.0, lt=100.0)
    lookback_hours: int = Field(default=72, ge=2, le=24 * 14)
    lean_levels: int = Field(default=5, ge=1, le=5)
    lean_threshold: Number = Field(default=0.5, gt=0.0, lt=1.0)


class DecoySpec(StrictModel):
    """Funding above its trailing mean AND the same lean: tracks the funding literal,
    carries no effect."""

    mean_hours: int = Field(default=24, ge=2, le=24 * 14)


class FlowSpec(StrictModel):
    version: int = Field(default=FLOW_SPEC_VERSION, ge=FLOW_SPEC_VERSION,
                         le=FLOW_SPEC_VERSION)
    planted: StrictBool = True
    interaction: InteractionSpec = InteractionSpec()
    decoy: DecoySpec = DecoySpec()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, fixed key order; `FlowSpec.from_dict` reads it back unchanged."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any) -> FlowSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise spec_error(exc) from None

    def null_twin(self) -> FlowSpec:
        """The same market with nothing planted."""
        return self.model_copy(update={"planted": False})


def default_flow_spec() -> FlowSpec:
    return FlowSpec()


def null_flow_spec() -> FlowSpec:
    return FlowSpec(planted=False)


def load_flow_spec(path: Path) -> FlowSpec:
    """Read a spec from a YAML or JSON file."""
    return FlowSpec.from_dict(spec_mapping(path))
