"""Active priors: the newest version of sig_priors' patch rows, parsed and applied.

Key convention (docs/scoring.md, "Active priors"), all rows of one `version`:

    patch/<detector_id|*>/<coin|*>/<cond_key|*>/theta_delta   additive change of kr_theta
    patch/<detector_id|*>/<coin|*>/<cond_key|*>/phi_mult      multiplier (> 0) of kr_delta_phi
    cap/theta_min                                             floor of kr_theta
    cap/phi_max                                               cap of kr_delta_phi
    edge/<pctl_edges|mx_edges|...|cancel_edges>/<i>           quantiser edges fitted by the
                                                              learning loop (cond_key bins;
                                                              every ContextConfig field)

The rows of the highest version among `patch/` and `cap/` keys form the active set. Applied
exactly as DESIGN.md's rule: theta' = max(theta_min, theta + sum dtheta) (and <= 1),
phi' = min(phi_max, phi * prod phi_mult), over the patches whose detector, coin and
cond_key match the window.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `PriorsView` is an ActivePriors as the live step
(`pipeline.WindowScorer`) applies it, beside `patch_effects`; tests/core/signals/
test_signals_scoring.py proves them equal (with a priors swap mid-day).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.signals.config import ContextConfig, KrConfig, ScoringConfig
from lotus_core.signals.context import (
    CondKeyError,
    RowQuantiser,
    canonical_cond_key,
    matches,
    parse_cond_key,
)

PATCH_PREFIX = "patch/"
CAP_PREFIX = "cap/"
EDGE_PREFIX = "edge/"
EDGE_NAMES = tuple(ContextConfig.model_fields)  # pctl, mx, depth, spread, the book/tape edges
FIELDS = ("theta_delta", "phi_mult")
ANY = "*"  # a patch's detector or coin that matches every window


@dataclass(frozen=True)
class Patch:
    detector_id: str  # or ANY
    coin: str  # or ANY
    cond_key: str  # canonical, or "*"
    theta_delta: float = 0.0
    phi_mult: float = 1.0

    @property
    def cond(self) -> tuple[tuple[str, str], ...]:
        return parse_cond_key(self.cond_key)


@dataclass(frozen=True)
class ActivePriors:
    version: int = 0  # 0: no active priors
    theta_min: float | None = None  # None: the scoring default
    phi_max: float | None = None
    patches: tuple[Patch, ...] = ()
    rejected: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (key, reason)
    edges: tuple[tuple[str, tuple[float, ...]], ...] = ()  # fitted quantiser edges

    def context(self, base: ContextConfig) -> ContextConfig:
        """The quantiser in force: the configured edges, replaced by fitted ones (an edge set
        whose length or order does not fit is ignored, never half-applied)."""
        if not self.edges:
            return base
        merged = base.model_dump()
        for name, values in self.edges:
            if len(values) == len(merged[name]) and all(
                    a < b for a, b in zip(values, values[1:], strict=False)):
                merged[name] = tuple(values)
        return ContextConfig(**merged)

    def caps(self, kr: KrConfig) -> tuple[float, float]:
        """(theta_min, phi_max) in force: the priors' caps clipped into the configured
        bounds, else the configured defaults."""
        lo, hi = kr.theta_min_bounds
        tmin = kr.theta_min if self.theta_min is None else min(max(self.theta_min, lo), hi)
        lo, hi = kr.phi_max_bounds
        pmax = kr.phi_max if self.phi_max is None else min(max(self.phi_max, lo), hi)
        return tmin, pmax


NO_PRIORS = ActivePriors()


def parse_priors(rows: Iterable[Mapping[str, Any]]) -> ActivePriors:
    """The active set from sig_priors rows (key, version, value); other keys are ignored,
    malformed patch keys are rejected with a reason (and never applied)."""
    rows = [r for r in rows
            if str(r["key"]).startswith((PATCH_PREFIX, CAP_PREFIX, EDGE_PREFIX))]
    if not rows:
        return NO_PRIORS
    version = max(int(r["version"]) for r in rows)
    active = sorted((r for r in rows if int(r["version"]) == version), key=lambda r: r["key"])
    caps: dict[str, float] = {}
    parts: dict[tuple[str, str, str], dict[str, float]] = {}
    rejected: list[tuple[str, str]] = []
    edges: dict[str, dict[int, float]] = {}
    for r in active:
        key, value = str(r["key"]), float(r["value"])
        if not math.isfinite(value):
            rejected.append((key, "value is not finite"))
            continue
        if key.startswith(EDGE_PREFIX):
            bits = key[len(EDGE_PREFIX):].split("/")
            if len(bits) != 2 or bits[0] not in EDGE_NAMES or not bits[1].isdigit():
                rejected.append((key, f"expected edge/<{'|'.join(EDGE_NAMES)}>/<i>"))
            else:
                edges.setdefault(bits[0], {})[int(bits[1])] = value
            continue
        if key.startswith(CAP_PREFIX):
            name = key[len(CAP_PREFIX):]
            if name in ("theta_min", "phi_max"):
                caps[name] = value
            else:
                rejected.append((key, "unknown cap (cap/theta_min, cap/phi_max)"))
            continue
        bits = key[len(PATCH_PREFIX):].split("/")
        if len(bits) != 4 or bits[3] not in FIELDS or not bits[0] or not bits[1]:
            rejected.append((key, "expected patch/<detector|*>/<coin|*>/<cond_key|*>/"
                                  "theta_delta|phi_mult"))
            continue
        if bits[3] == "phi_mult" and value <= 0:
            rejected.append((key, "phi_mult must be > 0"))
            continue
        try:
            cond = canonical_cond_key(bits[2])
        except CondKeyError as exc:
            rejected.append((key, str(exc)))
            continue
        slot = parts.setdefault((bits[0], bits[1], cond), {})
        slot[bits[3]] = slot.get(bits[3], 1.0 if bits[3] == "phi_mult" else 0.0)
        if bits[3] == "phi_mult":
            slot["phi_mult"] *= value  # two spellings of one cond_key compose like two patches
        else:
            slot["theta_delta"] += value
    patches = tuple(Patch(d, c, k, **v) for (d, c, k), v in sorted(parts.items()))
    fitted = tuple((name, tuple(v for _, v in sorted(ix.items())))
                   for name, ix in sorted(edges.items()))
    return ActivePriors(version, caps.get("theta_min"), caps.get("phi_max"), patches,
                        tuple(rejected), fitted)


@dataclass(frozen=True)
class PatchEffect:
    theta_delta: np.ndarray  # sum of matching theta deltas per window
    phi_mult: np.ndarray  # product of matching phi multipliers per window
    matched: np.ndarray  # how many patches matched each window


def patch_effects(windows: pd.DataFrame, lits: pd.DataFrame, priors: ActivePriors) -> PatchEffect:
    """Sum of theta deltas and product of phi multipliers of the patches matching each window."""
    n = len(windows)
    dtheta = np.zeros(n)
    mult = np.ones(n)
    count = np.zeros(n, dtype=np.int64)
    det = windows["detector_id"].to_numpy(dtype=object)
    coin = windows["coin"].to_numpy(dtype=object)
    for p in priors.patches:
        mask = matches(lits, p.cond)
        if p.detector_id != ANY:
            mask &= det == p.detector_id
        if p.coin != ANY:
            mask &= coin == p.coin
        dtheta[mask] += p.theta_delta
        mult[mask] *= p.phi_mult
        count[mask] += 1
    return PatchEffect(dtheta, mult, count)


# (detector_id, theta_delta, phi_mult) of a patch whose coin and cond_key hold on a window
Hit = tuple[str, float, float]


@dataclass(frozen=True)
class PriorsView:
    """An ActivePriors as the step applies it: caps, the quantiser in force and the patches
    as plain tuples; `hits` and `patch_effects_one` are patch_effects of one window."""

    version: int
    theta_min: float
    phi_max: float
    quantiser: RowQuantiser
    patches: tuple[tuple[str, str, tuple[tuple[str, str], ...], float, float], ...]

    @classmethod
    def of(cls, priors: ActivePriors, cfg: ScoringConfig) -> PriorsView:
        theta_min, phi_max = priors.caps(cfg.kr)
        patches = tuple((p.detector_id, p.coin, p.cond, float(p.theta_delta),
                         float(p.phi_mult)) for p in priors.patches)
        return cls(int(priors.version), float(theta_min), float(phi_max),
                   RowQuantiser(priors.context(cfg.context)), patches)

    def hits(self, lits: Mapping[str, str], coin: str) -> tuple[Hit, ...]:
        """The patches whose coin and cond_key hold for a window with these literals on
        `coin` (patch order: the order patch_effects applies them in)."""
        out = []
        for p_det, p_coin, cond, td, pm in self.patches:
            if p_coin != ANY and p_coin != coin:
                continue
            for k, v in cond:  # `matches`: every literal of the cond_key holds
                if lits[k] != v:
                    break
            else:
                out.append((p_det, td, pm))
        return tuple(out)


def patch_effects_one(hits: tuple[Hit, ...], did: str) -> tuple[float, float, int]:
    """patch_effects of one window of detector `did` from its `PriorsView.hits`:
    (theta_delta, phi_mult, matched)."""
    dtheta, mult, matched = 0.0, 1.0, 0
    for p_det, td, pm in hits:
        if p_det in (ANY, did):
            dtheta += td
            mult *= pm
            matched += 1
    return dtheta, mult, matched
