"""Kind-specific expert parameters: strict models (lotus_core.strict.StrictModel) of
documented defaults; each model's `_check` states its cross-field rules, naming the field.

Kept apart from the experts so that validating a registry (done when the lake's schemas
are imported) needs neither scikit-learn nor the experts themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError, model_validator

from lotus_core.dsi.expert_spec import RegistryError, registry_error
from lotus_core.strict import StrictModel


class _Params(StrictModel):
    """A kind's parameters: `problem()` names the first field that breaks a rule."""

    def problem(self) -> str | None:
        return None

    @model_validator(mode="after")
    def _check(self) -> _Params:
        problem = self.problem()
        if problem:
            raise ValueError(problem)
        return self


class AnomalyParams(_Params):
    n_estimators: int = 64
    max_samples: int = 256
    fit_rows: int = 20000
    min_rows: int = 600
    flag_quantile: float = 0.995

    def problem(self) -> str | None:
        if not 0.5 < self.flag_quantile < 1.0:
            return "flag_quantile: must be in (0.5, 1)"
        if min(self.n_estimators, self.max_samples, self.fit_rows, self.min_rows) < 1:
            return "n_estimators: counts must be >= 1"
        return None


class DivergenceParams(_Params):
    rsi_frames: int = 120
    macd_fast: int = 120
    macd_slow: int = 260
    lookback: int = 600
    min_age: int = 30
    rsi_gap: float = 10.0
    oscillators: str = "all"
    flow_span: int = 10
    flow_min: float = 0.3
    book_min: float = 0.3

    def problem(self) -> str | None:
        if self.oscillators not in ("any", "all"):
            return "oscillators: must be any or all"
        if not 1 <= self.min_age < self.lookback:
            return "min_age: must be in [1, lookback)"
        if not 1 <= self.macd_fast < self.macd_slow:
            return "macd_fast: must be in [1, macd_slow)"
        if min(self.rsi_frames, self.flow_span) < 1:
            return "rsi_frames: rsi_frames and flow_span must be >= 1"
        return None


class SequenceParams(_Params):
    lags: tuple[int, ...] = (0, 1, 2, 5, 10, 30)
    windows: tuple[int, ...] = (10, 60)
    fit_rows: int = 40000
    min_rows: int = 2000
    C: float = 1.0
    flag_lift: float = 1.0

    def problem(self) -> str | None:
        if not self.lags or min(self.lags) < 0:
            return "lags: must be a non-empty list of integers >= 0"
        if not self.windows or min(self.windows) < 1:
            return "windows: must be a non-empty list of integers >= 1"
        if self.C <= 0 or self.flag_lift <= 0:
            return "C: C and flag_lift must be > 0"
        return None


PARAMS: dict[str, type[_Params]] = {"anomaly": AnomalyParams, "divergence": DivergenceParams,
                            "sequence": SequenceParams}


def _fits(default: Any, v: Any) -> bool:
    """Does `v` (from YAML) have the type of the parameter's default?"""
    if isinstance(v, bool) or isinstance(default, bool):
        return isinstance(v, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(v, int | float)
    if isinstance(default, int):
        return isinstance(v, int)
    if isinstance(default, tuple):
        return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool)
                                           for x in v)
    return isinstance(v, type(default))


def parse_params(cls: type[_Params], spec: Mapping[str, Any], where: str) -> Any:
    """Fill a kind's parameters from a spec mapping, checking names, YAML types (stricter than
    pydantic's coercion: an int parameter refuses 2.5 and "2") and the model's own rules;
    errors are RegistryError naming the key (`<where>.<key>: ...`)."""
    defaults = {name: f.default for name, f in cls.model_fields.items()}
    extra = set(spec) - set(defaults)
    if extra:
        raise RegistryError(f"{where}: unknown key(s) {sorted(extra)}")
    values = {}
    for name, v in spec.items():
        default = defaults[name]
        if not _fits(default, v):
            raise RegistryError(f"{where}.{name}: must be like {default!r}, got {v!r}")
        values[name] = (tuple(v) if isinstance(default, tuple)
                        else float(v) if isinstance(default, float) else v)
    try:
        return cls(**values)
    except ValidationError as exc:
        raise registry_error(exc, where) from None
