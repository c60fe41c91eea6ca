"""The scoring constants (scoring.yaml), validated: every formula's knob in one place."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel

_Strict = StrictModel  # the one strict base (lotus_core/strict.py)


class SqWeights(_Strict):
    accuracy: float = Field(ge=0)
    precision: float = Field(ge=0)
    stability: float = Field(ge=0)
    orthogonality: float = Field(ge=0)
    cost: float = Field(ge=0)

    @model_validator(mode="after")
    def _sum_one(self) -> SqWeights:
        total = sum(self.model_dump().values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"sq weights must sum to 1, got {total}")
        return self


class SqPrior(_Strict):
    accuracy: float = Field(ge=0, le=1)
    precision: float = Field(ge=0, le=1)
    stability: float = Field(ge=0, le=1)
    rho: float = Field(ge=0, le=1)


class SqConfig(_Strict):
    weights: SqWeights
    prior: SqPrior
    pseudo_pool: float = Field(gt=0)
    pseudo_coin: float = Field(gt=0)
    min_day_windows: int = Field(ge=1)
    stability_sd_ref: float = Field(gt=0)
    fee_bps: float = Field(ge=0)
    corr_grid_s: int = Field(gt=0)


class KrConfig(_Strict):
    theta_min: float = Field(ge=0, le=1)
    phi_max: float = Field(gt=0, le=1)
    theta_min_bounds: tuple[float, float]
    phi_max_bounds: tuple[float, float]
    spread_ema_s: int = Field(gt=0)
    spread_excess: float = Field(gt=0)
    stale_free_ms: int = Field(ge=0)
    stale_full_ms: int = Field(gt=0)
    vacuum_rel: float = Field(gt=0)
    vacuum_weight: float = Field(ge=0, le=1)
    rho_weight: float = Field(ge=0, le=1)
    rho_half: float = Field(gt=0)
    micro_scale_bps: float = Field(gt=0)
    flow_span_s: int = Field(gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> KrConfig:
        lo, hi = self.theta_min_bounds
        if not 0 <= lo <= self.theta_min <= hi <= 1:
            raise ValueError("need 0 <= theta_min_bounds[0] <= theta_min "
                             "<= theta_min_bounds[1] <= 1")
        lo, hi = self.phi_max_bounds
        if not 0 < lo <= self.phi_max <= hi <= 1:
            raise ValueError("need 0 < phi_max_bounds[0] <= phi_max <= phi_max_bounds[1] <= 1")
        if self.stale_full_ms <= self.stale_free_ms:
            raise ValueError("stale_full_ms must be > stale_free_ms")
        return self


class DsiConfig(_Strict):
    beta_mx: float = Field(ge=0)
    gamma_mx: float = Field(ge=0)
    beta_cap: float = Field(ge=0, le=1)
    gamma_cap: float = Field(ge=0, le=0.5)

    @model_validator(mode="after")
    def _capped(self) -> DsiConfig:
        if self.beta_mx > self.beta_cap:
            raise ValueError(f"beta_mx {self.beta_mx} exceeds beta_cap {self.beta_cap}")
        if self.gamma_mx > self.gamma_cap:
            raise ValueError(f"gamma_mx {self.gamma_mx} exceeds gamma_cap {self.gamma_cap}")
        return self


class AsymWeights(_Strict):
    oi: float = Field(ge=0)
    funding: float = Field(ge=0)
    basis: float = Field(ge=0)
    depth: float = Field(ge=0)


class MetaConfig(_Strict):
    kairos_rv_span_s: int = Field(gt=0)
    kairos_fast_s: int = Field(gt=0)
    kairos_slow_s: int = Field(gt=0)
    asym_weights: AsymWeights
    asym_tau: float
    asym_basis_span_s: int = Field(gt=0)
    asym_depth_scale: float = Field(gt=0)
    asym_clip: float = Field(gt=0)


class ContextConfig(_Strict):
    pctl_edges: tuple[float, float]
    mx_edges: tuple[float, float]
    depth_edges: tuple[float, float]
    spread_edges: tuple[float]
    # book and tape (docs/learning.md, "Vocabulary"); `aligned` ones bin direction * value
    bimb1_edges: tuple[float, float]
    bimb5_edges: tuple[float, float]
    bimb10_edges: tuple[float, float]
    flow_edges: tuple[float, float]
    run_edges: tuple[float, float]
    drift_edges: tuple[float, float]
    basis_edges: tuple[float, float]
    oi_delta_edges: tuple[float, float]
    trend_edges: tuple[float, float]
    cancel_edges: tuple[float, float]


class ScoringConfig(_Strict):
    version: int = Field(ge=1)
    u: float = Field(ge=0, le=1)
    history_days: int = Field(ge=0, le=60)
    sq: SqConfig
    kr: KrConfig
    dsi: DsiConfig
    meta: MetaConfig
    context: ContextConfig


def load_scoring(source: str | Path | Mapping[str, Any] | None = None) -> ScoringConfig:
    """The scoring constants from `source` (YAML path or mapping; default: packaged)."""
    body, where = read_yaml(source, "scoring.yaml")
    try:
        return ScoringConfig.model_validate(body)
    except ValidationError as exc:
        raise SpecError(error_message(where, exc)) from None
