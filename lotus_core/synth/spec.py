"""The declarative spec of a synthetic market: pattern densities, planted effects, decoys.

Loaded from YAML or JSON and validated up front; every error names the offending key
(e.g. `effects[0].direction`) so a bad fixture spec fails at start-up, not mid-run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lotus_core.synth.vocab import (
    CONTEXT_NAMES,
    EFFECT_DIRECTIONS,
    PATTERN_TYPES,
    UNDIRECTED_PATTERNS,
)

SPEC_VERSION = 1

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
    """A spec value is missing, unknown or out of range; the message names the key."""


@dataclass(frozen=True)
class EffectSpec:
    """A conditional return effect: after `trigger`, if `context` holds, move the mid.

    The mid moves `delta_bps` (signed by `direction`) linearly over `horizon_s` seconds
    starting at the trigger occurrence's `end_ms` (for sweep_then_stall: the end of the
    stall); the context is read at that same instant.
    """

    name: str
    trigger: str
    context: Mapping[str, bool]
    direction: str
    delta_bps: float
    horizon_s: float


@dataclass(frozen=True)
class DecoySpec:
    """A context that equals `tracks` a fraction `agreement` of the time and does nothing."""

    name: str
    tracks: str
    agreement: float


@dataclass(frozen=True)
class SynthSpec:
    """Everything about a synthetic market that a fixture author may choose."""

    pattern_rate_per_hour: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_PATTERN_RATES))
    """Missing patterns take their DEFAULT_PATTERN_RATES value."""
    context_minutes: tuple[float, float] = (20.0, 90.0)
    effects: tuple[EffectSpec, ...] = ()
    decoys: tuple[DecoySpec, ...] = ()
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        # normalise containers so specs built in code compare equal to loaded ones
        rates = self.pattern_rate_per_hour
        if not isinstance(rates, Mapping):
            raise SpecError("pattern_rate_per_hour: must be a mapping of pattern -> rate")
        _no_unknown_keys(rates, set(PATTERN_TYPES), "pattern_rate_per_hour")
        merged = {k: rates.get(k, DEFAULT_PATTERN_RATES[k]) for k in PATTERN_TYPES}
        object.__setattr__(self, "pattern_rate_per_hour", merged)
        object.__setattr__(self, "context_minutes", tuple(self.context_minutes))
        object.__setattr__(self, "effects", tuple(self.effects))
        object.__setattr__(self, "decoys", tuple(self.decoys))
        _validate(self)

    @property
    def max_horizon_s(self) -> float:
        """The longest effect horizon (events keep this much quiet time after them)."""
        return max((e.horizon_s for e in self.effects), default=60.0)

    def decoy_names(self) -> set[str]:
        return {d.name for d in self.decoys}

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict that `SynthSpec.from_dict` reads back unchanged."""
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
        }

    @classmethod
    def from_dict(cls, data: Any) -> SynthSpec:
        """Build and validate a spec from parsed YAML/JSON; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise SpecError(f"spec: must be a mapping, got {type(data).__name__}")
        _no_unknown_keys(data, {"version", "pattern_rate_per_hour", "context_minutes",
                                "effects", "decoys"}, "spec")
        version = data.get("version", SPEC_VERSION)
        if version != SPEC_VERSION:
            raise SpecError(f"version: only {SPEC_VERSION} is supported, got {version!r}")
        rates = dict(DEFAULT_PATTERN_RATES)
        raw_rates = data.get("pattern_rate_per_hour", {})
        if not isinstance(raw_rates, Mapping):
            raise SpecError("pattern_rate_per_hour: must be a mapping of pattern -> rate")
        _no_unknown_keys(raw_rates, set(PATTERN_TYPES), "pattern_rate_per_hour")
        for key, value in raw_rates.items():
            rates[key] = _number(value, f"pattern_rate_per_hour.{key}")
        minutes = data.get("context_minutes", [20.0, 90.0])
        if not isinstance(minutes, list | tuple) or len(minutes) != 2:
            raise SpecError("context_minutes: must be a [min, max] pair of minutes")
        lo = _number(minutes[0], "context_minutes[0]")
        hi = _number(minutes[1], "context_minutes[1]")
        effects = tuple(_effect(e, f"effects[{i}]")
                        for i, e in enumerate(_list(data.get("effects", []), "effects")))
        decoys = tuple(_decoy(d, f"decoys[{i}]")
                       for i, d in enumerate(_list(data.get("decoys", []), "decoys")))
        return cls(rates, (lo, hi), effects, decoys, int(version))


def load_spec(path: Path) -> SynthSpec:
    """Read a spec from a YAML or JSON file (JSON is valid YAML)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"spec: {path} is not valid YAML/JSON: {exc}") from exc
    return SynthSpec.from_dict(data if data is not None else {})


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


# --- validation -------------------------------------------------------------------------


def _validate(spec: SynthSpec) -> None:
    for key in PATTERN_TYPES:
        rate = _number(spec.pattern_rate_per_hour[key], f"pattern_rate_per_hour.{key}")
        if not 0.0 <= rate <= MAX_RATE_PER_HOUR:
            raise SpecError(f"pattern_rate_per_hour.{key}: must be in [0, {MAX_RATE_PER_HOUR}],"
                            f" got {rate}")
    if len(spec.context_minutes) != 2:
        raise SpecError("context_minutes: must be a [min, max] pair of minutes")
    lo = _number(spec.context_minutes[0], "context_minutes[0]")
    hi = _number(spec.context_minutes[1], "context_minutes[1]")
    if not 1.0 <= lo <= hi <= 24 * 60:
        raise SpecError(f"context_minutes: need 1 <= min <= max <= 1440, got [{lo}, {hi}]")
    decoy_names = spec.decoy_names()
    names: set[str] = set()
    for i, e in enumerate(spec.effects):
        where = f"effects[{i}]"
        if not isinstance(e.name, str) or not e.name:
            raise SpecError(f"{where}.name: must be a non-empty string")
        if e.name in names:
            raise SpecError(f"{where}.name: duplicate effect name {e.name!r}")
        names.add(e.name)
        _choice(e.trigger, PATTERN_TYPES, f"{where}.trigger")
        _choice(e.direction, EFFECT_DIRECTIONS, f"{where}.direction")
        if e.trigger in UNDIRECTED_PATTERNS and e.direction in ("with_trigger", "against_trigger"):
            raise SpecError(f"{where}.direction: {e.trigger} has no side; use up or down")
        if not isinstance(e.context, Mapping):
            raise SpecError(f"{where}.context: must be a mapping of context -> true/false")
        for key, value in e.context.items():
            _choice(key, CONTEXT_NAMES, f"{where}.context")
            if key in decoy_names:
                raise SpecError(f"{where}.context.{key}: is a decoy, which has no effect")
            if not isinstance(value, bool):
                raise SpecError(f"{where}.context.{key}: must be true or false, got {value!r}")
        delta = _number(e.delta_bps, f"{where}.delta_bps")
        if abs(delta) > MAX_DELTA_BPS:
            raise SpecError(f"{where}.delta_bps: |delta| must be <= {MAX_DELTA_BPS}, got {delta}")
        horizon = _number(e.horizon_s, f"{where}.horizon_s")
        if not 1.0 <= horizon <= MAX_HORIZON_S:
            raise SpecError(f"{where}.horizon_s: must be in [1, {MAX_HORIZON_S}], got {horizon}")
    seen: set[str] = set()
    for i, d in enumerate(spec.decoys):
        where = f"decoys[{i}]"
        _choice(d.name, CONTEXT_NAMES, f"{where}.name")
        _choice(d.tracks, CONTEXT_NAMES, f"{where}.tracks")
        if d.name == d.tracks:
            raise SpecError(f"{where}.tracks: a decoy cannot track itself")
        if d.tracks in decoy_names:
            raise SpecError(f"{where}.tracks: {d.tracks} is itself a decoy")
        if d.name in seen:
            raise SpecError(f"{where}.name: {d.name} is declared as a decoy twice")
        seen.add(d.name)
        agreement = _number(d.agreement, f"{where}.agreement")
        if not 0.5 <= agreement <= 1.0:
            raise SpecError(f"{where}.agreement: must be in [0.5, 1], got {agreement}")


def _effect(raw: Any, where: str) -> EffectSpec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: must be a mapping")
    _no_unknown_keys(raw, {"name", "trigger", "context", "direction", "delta_bps", "horizon_s"},
                     where)
    for key in ("name", "trigger", "direction", "delta_bps", "horizon_s"):
        if key not in raw:
            raise SpecError(f"{where}.{key}: missing")
    context = raw.get("context", {}) or {}
    if not isinstance(context, Mapping):
        raise SpecError(f"{where}.context: must be a mapping of context -> true/false")
    return EffectSpec(
        name=raw["name"],
        trigger=raw["trigger"],
        context=dict(context),
        direction=raw["direction"],
        delta_bps=_number(raw["delta_bps"], f"{where}.delta_bps"),
        horizon_s=_number(raw["horizon_s"], f"{where}.horizon_s"),
    )


def _decoy(raw: Any, where: str) -> DecoySpec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: must be a mapping")
    _no_unknown_keys(raw, {"name", "tracks", "agreement"}, where)
    for key in ("name", "tracks", "agreement"):
        if key not in raw:
            raise SpecError(f"{where}.{key}: missing")
    return DecoySpec(raw["name"], raw["tracks"], _number(raw["agreement"], f"{where}.agreement"))


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise SpecError(f"{where}: must be a list")
    return list(raw)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(f"{where}: must be finite, got {value!r}")
    return float(value)


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise SpecError(f"{where}: must be one of {', '.join(allowed)}; got {value!r}")


def _no_unknown_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        allowed_text = ", ".join(sorted(allowed))
        raise SpecError(f"{where}.{unknown[0]}: unknown key (allowed: {allowed_text})")
