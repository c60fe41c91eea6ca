"""The registry's vocabulary: expert kinds, one expert's spec, the label and fusion
parameters, and the error a bad registry raises. Below every expert module (and the
registry parser above them), so that none of them imports another in a circle.

The models mirror experts.yaml key for key (`StrictModel`s: unknown keys are errors); a
kind's own `spec` is checked by its kind (`lotus_core.dsi.kinds.validate_spec`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationError

from lotus_core.strict import StrictModel

KINDS = ("grammar", "anomaly", "divergence", "sequence")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

Kind = Literal["grammar", "anomaly", "divergence", "sequence"]
Num = Annotated[float, Field(strict=True)]
"""A YAML number: an int or a float (never a bool or a string), held as a float."""
Positive = Annotated[float, Field(strict=True, ge=1e-9)]


class RegistryError(ValueError):
    """The registry file is malformed; the message names the key path."""


class LabelParams(StrictModel):
    """The mechanical label: a mid move of at least k * rv_ref within horizon_s."""

    horizon_s: StrictInt = Field(60, ge=1)
    k: Num = Field(2.0, ge=0.0)
    rv_ref_window: StrictInt = Field(900, ge=1)
    rv_ref_min_periods: StrictInt = Field(60, ge=1)


class BetaPrior(StrictModel):
    """A Beta(alpha, beta) prior; both strictly positive."""

    alpha: Positive = 1.0
    beta: Positive = 1.0


class FusionParams(StrictModel):
    """mx_confirm's m, the weight and z caps, and the base-rate prior."""

    confirm_m: StrictInt = Field(2, ge=1)
    w_max: Num = Field(3.0, ge=0.0)
    z_cap: Num = Field(3.0, ge=0.0)
    base_prior: BetaPrior = BetaPrior(alpha=2.0, beta=8.0)

    @property
    def base_alpha(self) -> float:
        return self.base_prior.alpha

    @property
    def base_beta(self) -> float:
        return self.base_prior.beta


class ExpertSpec(StrictModel):
    """One registry entry. `spec` is kind-specific; `spec_hash` pins its exact content."""

    id: StrictStr = Field(pattern=_ID.pattern)
    kind: Kind
    version: StrictStr
    active: StrictBool = True
    prior: BetaPrior = BetaPrior()
    spec: dict[str, Any] = Field(default_factory=dict)

    @property
    def prior_alpha(self) -> float:
        return self.prior.alpha

    @property
    def prior_beta(self) -> float:
        return self.prior.beta

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec, sort_keys=True, separators=(",", ":"))

    @property
    def spec_hash(self) -> str:
        body = f"{self.id}|{self.kind}|{self.version}|{self.spec_json}"
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def registry_error(exc: ValidationError, where: str = "") -> RegistryError:
    """The first problem of a ValidationError as a RegistryError naming its key path
    (`experts[3].prior.alpha: ...`); a validator's own message already names its key."""
    err = exc.errors()[0]
    path = where
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    cause = err.get("ctx", {}).get("error")
    if cause is not None:  # a model validator's message: "<key>: ..."
        return RegistryError(f"{path}.{cause}" if path else str(cause))
    return RegistryError(f"{path or 'registry'}: {err['msg']}")
