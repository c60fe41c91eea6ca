"""Detector specs: small, validated, hashable recipes loaded from YAML.

A detector is data (kind + params), not code, so the same recipe can be re-run on cut,
perturbed or earlier days (audits, cards, history) and its `recipe_hash` names exactly what
ran. A bad spec fails at load time naming the key path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lotus_core.microtape.regime import REGIMES
from lotus_core.strict import StrictModel
from lotus_core.yaml_io import parse_yaml

Kind = Literal["breakout_retest", "divergence", "mean_reversion", "sweep", "flow_pressure"]
Status = Literal["vetted", "exploration"]
"""A detector's standing: `exploration` (bred, not yet vetted) publishes within the council's
capped share (curators.yaml `exploration_detectors.max_share`); `vetted` without a cap."""
GOVERNANCE_FIELDS = frozenset({"status"})
"""Spec fields that say how a recipe is governed, not what it computes: outside the recipe
hash, so promoting a detector out of exploration keeps its recipe_hash and window ids."""


class SpecError(ValueError):
    """A detector or scoring spec is invalid; the message names the key path."""


_Strict = StrictModel  # the one strict base (lotus_core/strict.py)


class BreakoutRetestParams(_Strict):
    lookback_s: int = Field(gt=0)
    break_bps: float = Field(ge=0)
    extend_bps: float = Field(ge=0)
    retest_tol_bps: float = Field(ge=0)
    fail_bps: float = Field(ge=0)
    retest_window_s: int = Field(gt=0)


class DivergenceParams(_Strict):
    lookback_s: int = Field(gt=1)
    rsi_span_s: int = Field(gt=0)
    rsi_gap: float = Field(gt=0, le=100)
    macd_fast_s: int = Field(gt=0)
    macd_slow_s: int = Field(gt=0)
    macd_signal_s: int = Field(gt=0)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> DivergenceParams:
        if self.macd_fast_s >= self.macd_slow_s:
            raise ValueError("macd_fast_s must be < macd_slow_s")
        return self


class MeanReversionParams(_Strict):
    ema_span_s: int = Field(gt=0)
    z_span_s: int = Field(gt=0)
    z_entry: float = Field(gt=0)


class SweepParams(_Strict):
    min_aggr_imb: float = Field(ge=0, le=1)
    vol_span_s: int = Field(gt=0)
    stall_s: int = Field(ge=0)
    max_wait_s: int = Field(ge=0)

    @model_validator(mode="after")
    def _wait_covers_stall(self) -> SweepParams:
        if self.stall_s > 0 and self.max_wait_s < self.stall_s:
            raise ValueError("max_wait_s must be >= stall_s when stall_s > 0")
        return self


class FlowPressureParams(_Strict):
    flow_span_s: int = Field(gt=0)
    min_flow: float = Field(gt=0, le=1)
    min_book: float = Field(ge=0, le=1)
    min_trades: int = Field(ge=0)


PARAMS_BY_KIND: dict[str, type[_Strict]] = {
    "breakout_retest": BreakoutRetestParams,
    "divergence": DivergenceParams,
    "mean_reversion": MeanReversionParams,
    "sweep": SweepParams,
    "flow_pressure": FlowPressureParams,
}


class Align(_Strict):
    """Weights of book imbalance, aggressor flow and micro-price drift in kr_phi's alignment."""

    book: float = Field(ge=0)
    flow: float = Field(ge=0)
    micro: float = Field(ge=0)

    @model_validator(mode="after")
    def _positive_total(self) -> Align:
        if self.book + self.flow + self.micro <= 0:
            raise ValueError("align weights must not all be 0")
        return self


class DetectorSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*_v[0-9]+$", max_length=80)
    kind: Kind
    version: int = Field(ge=1)
    description: str = Field(min_length=10)
    horizon_s: int = Field(gt=0, le=86_400)
    cooldown_s: int = Field(ge=0, le=86_400)
    strength_scale: float = Field(gt=0)
    align: Align
    regime_penalty: dict[str, float] = Field(default_factory=dict)
    failure_modes: list[str] = Field(min_length=1)
    params: dict[str, Any]
    enabled: bool = True
    status: Status = "vetted"

    @field_validator("regime_penalty")
    @classmethod
    def _known_regimes(cls, v: dict[str, float]) -> dict[str, float]:
        for name, p in v.items():
            if name not in REGIMES:
                raise ValueError(f"unknown regime {name!r}; regimes: {list(REGIMES)}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"regime_penalty[{name}] must be in [0, 1], got {p}")
        return v

    @field_validator("params")
    @classmethod
    def _params_match_kind(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if kind in PARAMS_BY_KIND:
            try:
                PARAMS_BY_KIND[kind].model_validate(v)
            except ValidationError as exc:
                raise ValueError(error_message(f"{kind} params", exc)) from None
        return v

    @cached_property
    def typed_params(self) -> Any:
        return PARAMS_BY_KIND[self.kind].model_validate(self.params)

    def canonical(self) -> str:
        """The spec as canonical JSON (sorted keys, no spaces): what the recipe hash covers
        (every field but the GOVERNANCE_FIELDS)."""
        return json.dumps(self.model_dump(mode="json", exclude=set(GOVERNANCE_FIELDS)),
                          sort_keys=True, separators=(",", ":"))

    @cached_property
    def recipe_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical().encode()).hexdigest()

    @property
    def cooldown_ms(self) -> int:
        """`cooldown_s` in ts_ms units: what the episode rule (batch and step) compares."""
        return self.cooldown_s * 1000

    @property
    def complexity(self) -> int:
        """Free parameters of the recipe: its params plus the penalised regimes."""
        return len(self.params) + len(self.regime_penalty)


class DetectorSet(_Strict):
    version: int = Field(ge=1)
    detectors: list[DetectorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> DetectorSet:
        ids = [d.id for d in self.detectors]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate detector ids {dupes}")
        return self

    @property
    def enabled(self) -> list[DetectorSpec]:
        return [d for d in self.detectors if d.enabled]

    def by_id(self) -> dict[str, DetectorSpec]:
        return {d.id: d for d in self.detectors}


def error_message(where: str, exc: ValidationError) -> str:
    """One line per problem, each naming its key path (detectors[2].params.rsi_gap)."""
    lines = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        lines.append(f"{where}: {path or '<root>'}: {err['msg']}")
    return "; ".join(lines)


def read_yaml(source: str | Path | Mapping[str, Any] | None, default: str,
              package: str = "lotus_core.signals") -> tuple[Any, str]:
    """(parsed body, a name for messages) from a mapping, a path, or the packaged default."""
    if isinstance(source, Mapping):
        return dict(source), "<mapping>"
    if source is None:
        text = (resources.files(package) / default).read_text(encoding="utf-8")
        where = f"{package.replace('.', '/')}/{default}"
    else:
        text, where = Path(source).read_text(encoding="utf-8"), str(source)
    try:
        return parse_yaml(text) or {}, where
    except yaml.YAMLError as exc:
        raise SpecError(f"{where} is not valid YAML: {exc}") from exc


def load_detectors(source: str | Path | Mapping[str, Any] | None = None) -> DetectorSet:
    """The detector set from `source` (a YAML path or a mapping; default: the packaged one)."""
    body, where = read_yaml(source, "detectors.yaml")
    try:
        return DetectorSet.model_validate(body)
    except ValidationError as exc:
        raise SpecError(error_message(where, exc)) from None


def enabled_specs(detectors: DetectorSet | Sequence[DetectorSpec] | None) -> list[DetectorSpec]:
    """The detectors a stage runs: the packaged set's enabled ones by default, a set's
    enabled ones, or the given specs as they are (tests and audits pass their own)."""
    if detectors is None:
        return load_detectors().enabled
    if isinstance(detectors, DetectorSet):
        return detectors.enabled
    return list(detectors)
