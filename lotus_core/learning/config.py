"""The learning loop's configuration (learning.yaml), validated: one object every stage reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from lotus_core.signals.context import LITERALS
from lotus_core.signals.priors import EDGE_NAMES
from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel

# The search's time budget (docs/learning.md, "Vocabulary"): bench.lessons measured the
# lessons stage on 1M windows of this many features and literals (na values included).
MAX_FEATURES = 15
MAX_LITERALS = 53


_Strict = StrictModel  # the one strict base (lotus_core/strict.py)


class QuantizerConfig(_Strict):
    features: tuple[str, ...] = Field(min_length=1, max_length=MAX_FEATURES)
    fit_edges: tuple[str, ...] = ()
    min_fit_windows: int = Field(ge=10)

    @model_validator(mode="after")
    def _known(self) -> QuantizerConfig:
        unknown = sorted(set(self.features) - set(LITERALS))
        if unknown:
            raise ValueError(f"unknown features {unknown}; known: {sorted(LITERALS)}")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features repeat")
        n_lits = sum(len(LITERALS[f]) for f in self.features)
        if n_lits > MAX_LITERALS:
            raise ValueError(f"features have {n_lits} literals (na included), more than "
                             f"{MAX_LITERALS}: the search's measured time budget")
        bad = sorted(set(self.fit_edges) - set(EDGE_NAMES))
        if bad:
            raise ValueError(f"unknown fit_edges {bad}; known: {list(EDGE_NAMES)}")
        return self


class EstimatorConfig(_Strict):
    folds: int = Field(ge=2, le=10)
    propensity_clip: tuple[float, float]
    propensity_c: float = Field(gt=0)
    ridge_alpha: float = Field(ge=0)
    max_fit_rows: int = Field(ge=1000)
    seed: int
    # a change of the outcome model inside the window (lotus_core.learning.breaks): tested
    # at this level (None: never), nuisances then fitted per period
    break_alpha: float | None = Field(default=None, gt=0, lt=1)
    break_min_windows: int = Field(default=100, ge=10)

    @model_validator(mode="after")
    def _clip(self) -> EstimatorConfig:
        lo, hi = self.propensity_clip
        if not 0.0 < lo < 0.5 < hi < 1.0:
            raise ValueError(f"propensity_clip must satisfy 0 < lo < 0.5 < hi < 1, got {lo, hi}")
        return self


class SearchConfig(_Strict):
    max_literals: int = Field(ge=1, le=3)
    min_support: int = Field(ge=1)
    min_control: int = Field(ge=1)
    lambda_mdl: float = Field(ge=0)
    top_k: int = Field(ge=1)
    monotone: dict[str, Literal["increasing", "decreasing"]] = {}
    na_literals: bool = False  # may a rule name a feature's "na" (not-yet-known) value?

    @model_validator(mode="after")
    def _ordinal(self) -> SearchConfig:
        for name in self.monotone:
            if name not in LITERALS:
                raise ValueError(f"monotone: unknown feature {name!r}")
        return self


class OverlapConfig(_Strict):
    """Positivity checks every rule passes before it may activate (docs/learning.md)."""
    max_clipped_share: float = Field(ge=0, le=1)
    min_ess: float = Field(ge=0)
    max_dr_ipw_z: float = Field(gt=0)


class BootstrapConfig(_Strict):
    resamples: int = Field(ge=200)
    ci: float = Field(gt=0.5, lt=1.0)
    seed: int


class ActivationConfig(_Strict):
    min_support: int = Field(ge=1)
    min_stability: float = Field(ge=0)
    family_alpha: float = Field(gt=0, lt=0.5)
    # family_alpha's shares for rules of 1, 2, 3 literals (weighted Bonferroni, lessons.z_crit)
    length_alpha: tuple[float, float, float] = (0.5, 0.25, 0.25)
    ttl_days: int = Field(ge=1)
    min_days: int = Field(ge=1)
    min_hours: int = Field(ge=1)
    oos_confirm: bool = True
    # a season's family-wise budget, spent season_alpha / season_nights a night (anytime.py);
    # None: each night spends family_alpha (no bound across nights)
    season_alpha: float | None = Field(default=None, gt=0, lt=1)
    season_nights: int = Field(default=90, ge=1)

    @model_validator(mode="after")
    def _shares(self) -> ActivationConfig:
        if any(not 0.0 <= w <= 1.0 for w in self.length_alpha):
            raise ValueError(f"length_alpha shares must lie in [0, 1], got {self.length_alpha}")
        if sum(self.length_alpha) > 1.0 + 1e-9:
            raise ValueError(f"length_alpha shares sum to {sum(self.length_alpha):g} > 1: the "
                             "night's family-wise error would exceed family_alpha")
        return self


class PooledConfig(_Strict):
    """Pooled ("field") lessons: one more search over every detector's windows together
    (detector id `*`), with its own share of the night's error budget (docs/learning.md,
    "Pooled lessons")."""
    enabled: bool = True
    # share of activation.family_alpha spent on the pooled family; the per-detector families
    # keep 1 - alpha_share of it, so the night's bound stays family_alpha
    alpha_share: float = Field(default=0.25, ge=0.0, lt=1.0)
    min_groups: int = Field(default=2, ge=2)  # detectors with enough windows to pool


class HeteroConfig(_Strict):
    """The heterogeneity search in continuous features (lotus_core/learning/hetero.py,
    docs/learning.md "Heterogeneity in continuous features")."""
    enabled: bool = False
    # candidate rules a task takes from each half of the window (the family adds twice
    # this per task and rule length, found or not)
    max_rules: int = Field(default=3, ge=1, le=20)
    block_hours: int = Field(default=6, ge=1)  # the halves: alternating blocks of hours
    trees: int = Field(default=64, ge=4)  # econml.grf.RegressionForest's trees
    min_leaf: int = Field(default=20, ge=5)  # its min_samples_leaf
    forest_depth: int | None = Field(default=6, ge=1)
    max_samples: float = Field(default=0.7, gt=0, le=1)  # each tree's subsample
    honest: bool = True
    max_rows: int = Field(default=20_000, ge=1000)  # discovery reads at most this many windows
    seed: int = 20261130


class WatchdogConfig(_Strict):
    min_support: int = Field(ge=1)
    resamples: int = Field(ge=50)
    rule: Literal["cusum", "first_fail"] = "cusum"
    cusum_h: float = Field(default=2.0, gt=0)


class BqsConfig(_Strict):
    a: float = Field(ge=0)
    b: float = Field(ge=0)
    c: float = Field(ge=0)
    d: float = Field(ge=0)


class EffectConfig(_Strict):
    half_bps: float = Field(gt=0)
    max_theta_delta: float = Field(gt=0, le=0.5)
    max_phi_step: float = Field(gt=0, le=0.5)


class CapsConfig(_Strict):
    theta_min: float = Field(ge=0, le=1)
    phi_max: float = Field(gt=0, le=1)
    max_abs_theta_delta: float = Field(gt=0, le=1)
    phi_mult_max: float = Field(ge=1)
    phi_mult_min: float = Field(gt=0, le=1)
    max_step_theta: float = Field(gt=0)
    max_step_log_phi: float = Field(gt=0)


class LearningConfig(_Strict):
    version: int = Field(ge=1)
    horizon_s: int = Field(gt=0)
    window_days: int = Field(ge=1, le=120)
    max_windows: int | None = Field(default=None, ge=1_000)
    """Above this many windows in the training window, the learning steps read a uniform
    sample of this size (lotus_core.learning.sample); None: always every window."""
    ewma_halflife_days: float = Field(gt=0)
    quantizer: QuantizerConfig
    estimator: EstimatorConfig
    search: SearchConfig
    overlap: OverlapConfig
    bootstrap: BootstrapConfig
    activation: ActivationConfig
    watchdog: WatchdogConfig
    pooled: PooledConfig = PooledConfig()
    hetero: HeteroConfig = HeteroConfig()
    bqs: BqsConfig
    effect: EffectConfig
    caps: CapsConfig

    @model_validator(mode="after")
    def _monotone_in_features(self) -> LearningConfig:
        missing = sorted(set(self.search.monotone) - set(self.quantizer.features))
        if missing:
            raise ValueError(f"search.monotone names features not quantised: {missing}")
        return self

    @model_validator(mode="after")
    def _every_length_searched_has_alpha(self) -> LearningConfig:
        shares = self.activation.length_alpha[:self.search.max_literals]
        if min(shares) <= 0.0:
            raise ValueError(f"activation.length_alpha {self.activation.length_alpha} gives no "
                             f"error budget to some rule length <= search.max_literals "
                             f"({self.search.max_literals}): those rules could never activate")
        return self


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `over`'s values, mappings merged key by key (nested overrides)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) \
            else v
    return out


def load_learning_with(overrides: Mapping[str, Any]) -> LearningConfig:
    """The packaged learning.yaml with another module's `learning:` overrides (the Trader's
    execution lessons, the charts' lessons): one search, estimator and gates, sized for
    their own units."""
    base, _ = read_yaml(None, "learning.yaml", package="lotus_core.learning")
    return load_learning(merged(base, overrides))


def load_learning(source: str | Path | Mapping[str, Any] | None = None) -> LearningConfig:
    """The learning configuration from `source` (YAML path or mapping; default: packaged)."""
    body, where = read_yaml(source, "learning.yaml", package="lotus_core.learning")
    try:
        return LearningConfig.model_validate(body)
    except ValidationError as exc:
        raise SpecError(error_message(where, exc)) from None
