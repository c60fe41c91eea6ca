"""The registry's vocabulary: expert kinds, one expert's spec, the label and fusion
parameters, and the error a bad registry raises. Below every expert module (and the
registry parser above them), so that none of them imports another in a circle.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("grammar", "anomaly", "divergence", "sequence")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class RegistryError(ValueError):
    """The registry file is malformed; the message names the key path."""


@dataclass(frozen=True)
class LabelParams:
    """The mechanical label: a mid move of at least k * rv_ref within horizon_s."""

    horizon_s: int = 60
    k: float = 2.0
    rv_ref_window: int = 900
    rv_ref_min_periods: int = 60


@dataclass(frozen=True)
class FusionParams:
    """mx_confirm's m, the weight and z caps, and the base-rate prior."""

    confirm_m: int = 2
    w_max: float = 3.0
    z_cap: float = 3.0
    base_alpha: float = 2.0
    base_beta: float = 8.0


@dataclass(frozen=True)
class ExpertSpec:
    """One registry entry. `spec` is kind-specific; `spec_hash` pins its exact content."""

    id: str
    kind: str
    version: str
    active: bool
    prior_alpha: float
    prior_beta: float
    spec: Mapping[str, Any]

    @property
    def spec_json(self) -> str:
        return json.dumps(self.spec, sort_keys=True, separators=(",", ":"))

    @property
    def spec_hash(self) -> str:
        body = f"{self.id}|{self.kind}|{self.version}|{self.spec_json}"
        return hashlib.sha256(body.encode()).hexdigest()[:16]
