"""The declarative spec of a synthetic market: pattern densities, planted effects, decoys.

Loaded from YAML or JSON and validated up front; every error names the offending key
(e.g. `effects[0].direction`) so a bad fixture spec fails at start-up, not mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self, get_args

import yaml
from pydantic import Field, StrictBool, StrictStr, ValidationError, field_validator, model_validator

from lotus_core.strict import StrictModel
from lotus_core.synth.vocab import (
    CONTEXT_NAMES,
    EFFECT_DIRECTIONS,
    PATTERN_TYPES,
    UNDIRECTED_PATTERNS,
)
from lotus_core.yaml_io import parse_yaml

SPEC_VERSION: Final = 1

DEFAULT_PATTERN_RATES: dict[str, float] = {
    "sweep": 1.5,
    "sweep_then_stall": 3.0,
    "depth_vacuum": 1.5,
    "wick_triplet": 0.6,
    "funding_shock": 0.4,
    "oi_shock": 0.4,
}
"""Expected occurrences per coin per hour (Poisson); each hour holds at most what fits."""

MAX_RATE_PER_HOUR = 30.0
MAX_HORIZON_S = 900.0
MAX_DELTA_BPS = 200.0


class SpecError(ValueError):
    """A spec file or mapping is malformed; the message names the key (`effects[0].trigger`).

    `SynthSpec.from_dict`/`load_spec` raise it; building the models in code raises pydantic's
    ValidationError (also a ValueError) naming the same fields.
    """


Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A finite YAML/JSON number: an int or a float (never a bool or a string), held as a float."""
Pattern = Literal["sweep", "sweep_then_stall", "depth_vacuum", "wick_triplet",
                  "funding_shock", "oi_shock"]
Context = Literal["oi_high", "funding_high"]
Direction = Literal["with_trigger", "against_trigger", "up", "down"]
assert get_args(Pattern) == PATTERN_TYPES and get_args(Context) == CONTEXT_NAMES
assert get_args(Direction) == EFFECT_DIRECTIONS


class _Spec(StrictModel):
    def replace(self, **changes: Any) -> Self:
        """A validated copy with `changes` (the models are frozen)."""
        return self.model_validate({**dict(self), **changes})


class EffectSpec(_Spec):
    """A conditional return effect: after `trigger`, if `context` holds, move the mid.

    The mid moves `delta_bps` (signed by `direction`) linearly over `horizon_s` seconds
    starting at the trigger occurrence's `end_ms` (for sweep_then_stall: the end of the
    stall); the context is read at that same instant.
    """

    name: StrictStr = Field(min_length=1)
    trigger: Pattern
    context: dict[Context, StrictBool] = Field(default_factory=dict)
    direction: Direction
    delta_bps: Number = Field(ge=-MAX_DELTA_BPS, le=MAX_DELTA_BPS)
    horizon_s: Number = Field(ge=1.0, le=MAX_HORIZON_S)

    @field_validator("context", mode="before")
    @classmethod
    def _null_context(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _side(self) -> EffectSpec:
        if self.trigger in UNDIRECTED_PATTERNS and self.direction in ("with_trigger",
                                                                      "against_trigger"):
            raise ValueError(f"direction: {self.trigger} has no side; use up or down")
        return self


class DecoySpec(_Spec):
    """A context that equals `tracks` a fraction `agreement` of the time and does nothing."""

    name: Context
    tracks: Context
    agreement: Number = Field(ge=0.5, le=1.0)

    @model_validator(mode="after")
    def _not_itself(self) -> DecoySpec:
        if self.name == self.tracks:
            raise ValueError("tracks: a decoy cannot track itself")
        return self


class SynthSpec(_Spec):
    """Everything about a synthetic market that a fixture author may choose."""

    version: Literal[1] = SPEC_VERSION
    pattern_rate_per_hour: dict[str, Annotated[Number, Field(ge=0.0, le=MAX_RATE_PER_HOUR)]] \
        = Field(default_factory=lambda: dict(DEFAULT_PATTERN_RATES))
    """Missing patterns take their DEFAULT_PATTERN_RATES value (kept in PATTERN_TYPES order)."""
    context_minutes: tuple[Number, Number] = (20.0, 90.0)
    effects: tuple[EffectSpec, ...] = ()
    decoys: tuple[DecoySpec, ...] = ()
    edges: tuple[Literal["book_flow_absorption"], ...] = ()
    """Opt-in planted edges (synth/absorption.py); empty by default, and then absent from
    `to_dict`, so every default output keeps its bytes."""

    @field_validator("pattern_rate_per_hour", mode="before")
    @classmethod
    def _fill_rates(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        unknown = sorted(str(k) for k in value if k not in PATTERN_TYPES)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown pattern (allowed: {', '.join(PATTERN_TYPES)})")
        return {k: value.get(k, DEFAULT_PATTERN_RATES[k]) for k in PATTERN_TYPES}

    @field_validator("effects", "decoys", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return () if value is None else value

    @model_validator(mode="after")
    def _across(self) -> SynthSpec:
        lo, hi = self.context_minutes
        if not 1.0 <= lo <= hi <= 24 * 60:
            raise ValueError(f"context_minutes: need 1 <= min <= max <= 1440, got [{lo}, {hi}]")
        decoy_names = self.decoy_names()
        names: set[str] = set()
        for i, e in enumerate(self.effects):
            if e.name in names:
                raise ValueError(f"effects[{i}].name: duplicate effect name {e.name!r}")
            names.add(e.name)
            for key in e.context:
                if key in decoy_names:
                    raise ValueError(f"effects[{i}].context.{key}: is a decoy, which has no effect")
        seen: set[str] = set()
        for i, d in enumerate(self.decoys):
            if d.tracks in decoy_names:
                raise ValueError(f"decoys[{i}].tracks: {d.tracks} is itself a decoy")
            if d.name in seen:
                raise ValueError(f"decoys[{i}].name: {d.name} is declared as a decoy twice")
            seen.add(d.name)
        return self

    @property
    def max_horizon_s(self) -> float:
        """The longest effect horizon (events keep this much quiet time after them)."""
        return max((e.horizon_s for e in self.effects), default=60.0)

    def decoy_names(self) -> set[str]:
        return {d.name for d in self.decoys}

    def to_dict(self) -> dict[str, Any]:
        """The canonical, JSON-ready dict (hashed into fixture manifests, so its bytes are
        fixed) that `SynthSpec.from_dict` reads back unchanged."""
        return {
            "version": self.version,
            "pattern_rate_per_hour": {k: float(self.pattern_rate_per_hour[k])
                                      for k in PATTERN_TYPES},
            "context_minutes": [float(x) for x in self.context_minutes],
            "effects": [
                {
                    "name": e.name,
                    "trigger": e.trigger,
                    "context": {k: bool(v) for k, v in sorted(e.context.items())},
                    "direction": e.direction,
                    "delta_bps": float(e.delta_bps),
                    "horizon_s": float(e.horizon_s),
                }
                for e in self.effects
            ],
            "decoys": [
                {"name": d.name, "tracks": d.tracks, "agreement": float(d.agreement)}
                for d in self.decoys
            ],
        } | ({"edges": list(self.edges)} if self.edges else {})

    @classmethod
    def from_dict(cls, data: Any) -> SynthSpec:
        """Build and validate a spec from parsed YAML/JSON; a SpecError names the first bad
        key (unknown keys are errors)."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise spec_error(exc) from None


def spec_error(exc: ValidationError) -> SpecError:
    """The first problem of a ValidationError as a SpecError whose message starts with its
    key path (`effects[0].horizon_s: ...`; a top-level unknown key is `spec.<key>`)."""
    err = exc.errors()[0]
    loc = [part for part in err["loc"] if part != "[key]"]  # a bad dict key: its own path
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    cause = err.get("ctx", {}).get("error")
    if cause is not None:  # a validator's message starts with the key it names
        return SpecError(f"{path}.{cause}" if path else str(cause))
    if err["type"] == "extra_forbidden":
        return SpecError(f"{path if len(loc) > 1 else 'spec.' + path}: unknown key")
    return SpecError(f"{path or 'spec'}: {err['msg']}")


def spec_mapping(path: Path) -> dict[str, Any]:
    """A spec file's mapping (YAML or JSON: JSON is valid YAML; an empty file is {}), or a
    SpecError naming the file: every generator's specs are read here."""
    try:
        data = parse_yaml(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"spec: {path} is not valid YAML/JSON: {exc}") from exc
    return data if data is not None else {}


def load_spec(path: Path) -> SynthSpec:
    """Read a spec from a YAML or JSON file."""
    return SynthSpec.from_dict(spec_mapping(path))


def default_spec() -> SynthSpec:
    """One planted effect (sweep-then-stall continues under high OI) plus a funding decoy."""
    return SynthSpec(
        effects=(
            EffectSpec(
                name="sweep_stall_high_oi",
                trigger="sweep_then_stall",
                context={"oi_high": True},
                direction="with_trigger",
                delta_bps=8.0,
                horizon_s=60.0,
            ),
        ),
        decoys=(DecoySpec(name="funding_high", tracks="oi_high", agreement=0.8),),
    )


def null_spec() -> SynthSpec:
    """The default market with no effect planted: the same patterns and decoy, no edge."""
    return SynthSpec(decoys=default_spec().decoys)
