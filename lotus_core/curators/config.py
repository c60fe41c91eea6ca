"""The council's one config file (curators.yaml), validated: a bad key fails naming its path.

Each curator has its own model, so a lever a curator may not hold (a veto for regime or
mutation, a kappa above 0.15) is simply not a valid key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel

KAPPA_MAX = 0.15
CURATORS = ("data", "leakage", "diversity", "regime", "compliance", "mutation", "adversarial",
            "explainability")
VETO_CURATORS = ("data", "leakage", "diversity", "compliance", "adversarial", "explainability")
SOFT_CURATORS = ("data", "diversity", "regime", "mutation", "adversarial")


class CuratorConfigError(SpecError):
    """curators.yaml is invalid; the message names the key."""


_Strict = StrictModel  # the one strict base (lotus_core/strict.py)


def _kappa() -> Any:
    return Field(ge=0.0, le=KAPPA_MAX)


class DataCurator(_Strict):
    kappa: float = _kappa()
    max_stale_ms: int = Field(gt=0)
    max_spread_rel: float = Field(gt=1)
    context_columns: list[str] = Field(min_length=1)


class LeakageCurator(_Strict):
    pass


class DiversityCurator(_Strict):
    kappa: float = _kappa()
    corr_cap: float = Field(gt=0, le=1)
    window_s: int = Field(gt=0)


class RegimeCurator(_Strict):
    kappa: float = _kappa()
    quiet_hbar_max: float = Field(ge=0, le=1)
    active_hbar_min: float = Field(ge=0, le=1)
    hbar_lo: float = Field(ge=0, le=1)
    hbar_hi: float = Field(ge=0, le=1)
    entrain_lo: float = Field(ge=0, le=1)
    entrain_hi: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> RegimeCurator:
        if not (self.hbar_lo <= self.hbar_hi and self.entrain_lo <= self.entrain_hi):
            raise ValueError("need hbar_lo <= hbar_hi and entrain_lo <= entrain_hi")
        return self


class ComplianceCurator(_Strict):
    excluded_coins: list[str] = Field(default_factory=list)
    excluded_detectors: list[str] = Field(default_factory=list)
    excluded_sessions: list[str] = Field(default_factory=list)
    blackouts_ms: list[tuple[int, int]] = Field(default_factory=list)


class MutationCurator(_Strict):
    kappa: float = _kappa()
    earn_edge: float = Field(gt=0, le=0.5)


class AdversarialCurator(_Strict):
    kappa: float = _kappa()
    marginal_from: float = Field(ge=0, lt=1)


class ExplainabilityCurator(_Strict):
    require_card: bool = False


class Curators(_Strict):
    data: DataCurator
    leakage: LeakageCurator
    diversity: DiversityCurator
    regime: RegimeCurator
    compliance: ComplianceCurator
    mutation: MutationCurator
    adversarial: AdversarialCurator
    explainability: ExplainabilityCurator


class Exploration(_Strict):
    epsilon: float = Field(ge=0, le=0.5)
    seed: int = Field(ge=0)


class ExplorationDetectors(_Strict):
    """Detectors whose spec says `status: exploration` (bred, not yet vetted) may make at
    most this share of each coin's publications of the day (curators/exploration.py)."""

    max_share: float = Field(default=0.1, ge=0, le=1)


class StandingActions(_Strict):
    """The Curator API's standing vetoes and nudges (curators/standing.py): an action
    signed at t is in force for windows at ts_ms >= t + settle_s. settle_s must exceed
    the API's accepted clock skew (300 s) plus the live poll period, so every action in
    force for a window is in the log before the live daemon scores that window."""

    settle_s: int = Field(default=600, ge=0, le=86_400)


class CouncilConfig(_Strict):
    version: int = Field(ge=1)
    tau_publish: float = Field(gt=0, le=1)
    exploration: Exploration
    curators: Curators
    exploration_detectors: ExplorationDetectors = Field(default_factory=ExplorationDetectors)
    standing_actions: StandingActions = Field(default_factory=StandingActions)

    def kappa(self, name: str) -> float:
        """The curator's nudge bound (0 for veto-only curators)."""
        return float(getattr(getattr(self.curators, name), "kappa", 0.0))


def load_curators(source: str | Path | Mapping[str, Any] | None = None) -> CouncilConfig:
    """The council config from `source` (YAML path or mapping; default: the packaged file)."""
    body, where = read_yaml(source, "curators.yaml", package="lotus_core.curators")
    try:
        return CouncilConfig.model_validate(body)
    except ValidationError as exc:
        raise CuratorConfigError(error_message(where, exc)) from None
