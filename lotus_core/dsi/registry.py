"""The micro-expert registry: `experts.yaml` read, validated and frozen.

Experts are data (id, kind, spec, version, active, prior), so adding or retiring one is a
reviewed YAML change with a version bump, and every expert's spec hash travels with its
statistics. A bad value fails at load time naming its key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lotus_core.dsi.expert_spec import (  # re-exported: the registry's vocabulary
    _ID,
    KINDS,
    ExpertSpec,
    FusionParams,
    LabelParams,
    RegistryError,
)
from lotus_core.dsi.kinds import validate_spec  # the kinds know their own specs

__all__ = ["KINDS", "ExpertSpec", "FusionParams", "LabelParams", "Registry", "RegistryError",
           "load_registry", "parse_registry"]

@dataclass(frozen=True)
class Registry:
    """Everything experts.yaml says; `active` is the order of the annotation columns."""

    cadence_ms: int
    seed: int
    label: LabelParams
    fusion: FusionParams
    experts: tuple[ExpertSpec, ...]

    @property
    def active(self) -> tuple[ExpertSpec, ...]:
        return tuple(e for e in self.experts if e.active)


def default_registry_text() -> str:
    return resources.files("lotus_core.dsi").joinpath("experts.yaml").read_text()


def load_registry(path: Path | str | None = None) -> Registry:
    """The packaged experts.yaml, or the file at `path`; validated (RegistryError)."""
    text = default_registry_text() if path is None else Path(path).read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"experts.yaml: not valid YAML: {exc}") from exc
    return parse_registry(data)


def parse_registry(data: Any) -> Registry:
    """Validate a registry mapping (as loaded from YAML)."""
    d = _mapping(data, "registry")
    _only(d, {"version", "cadence_ms", "seed", "label", "fusion", "experts"}, "registry")
    if d.get("version") != 1:
        raise RegistryError("version: must be 1")
    lab = _mapping(d.get("label", {}), "label")
    _only(lab, {"horizon_s", "k", "rv_ref_window", "rv_ref_min_periods"}, "label")
    label = LabelParams(
        horizon_s=_int(lab, "horizon_s", 60, "label", lo=1),
        k=_num(lab, "k", 2.0, "label", lo=0.0),
        rv_ref_window=_int(lab, "rv_ref_window", 900, "label", lo=1),
        rv_ref_min_periods=_int(lab, "rv_ref_min_periods", 60, "label", lo=1))
    fus = _mapping(d.get("fusion", {}), "fusion")
    _only(fus, {"confirm_m", "w_max", "z_cap", "base_prior"}, "fusion")
    base = _mapping(fus.get("base_prior", {}), "fusion.base_prior")
    fusion = FusionParams(
        confirm_m=_int(fus, "confirm_m", 2, "fusion", lo=1),
        w_max=_num(fus, "w_max", 3.0, "fusion", lo=0.0),
        z_cap=_num(fus, "z_cap", 3.0, "fusion", lo=0.0),
        base_alpha=_num(base, "alpha", 2.0, "fusion.base_prior", lo=1e-9),
        base_beta=_num(base, "beta", 8.0, "fusion.base_prior", lo=1e-9))
    raw = d.get("experts")
    if not isinstance(raw, list) or not raw:
        raise RegistryError("experts: must be a non-empty list")
    experts, seen = [], set()
    for i, e in enumerate(raw):
        where = f"experts[{i}]"
        e = _mapping(e, where)
        _only(e, {"id", "kind", "version", "active", "prior", "spec"}, where)
        eid = e.get("id")
        if not isinstance(eid, str) or not _ID.match(eid):
            raise RegistryError(f"{where}.id: must match {_ID.pattern}")
        if eid in seen:
            raise RegistryError(f"{where}.id: duplicate id {eid!r}")
        seen.add(eid)
        if e.get("kind") not in KINDS:
            raise RegistryError(f"{where}.kind: must be one of {', '.join(KINDS)}")
        if not isinstance(e.get("version"), str):
            raise RegistryError(f"{where}.version: must be a string")
        if not isinstance(e.get("active", True), bool):
            raise RegistryError(f"{where}.active: must be true or false")
        prior = _mapping(e.get("prior", {}), f"{where}.prior")
        spec = _mapping(e.get("spec", {}), f"{where}.spec")
        validate_spec(e["kind"], spec, f"{where}.spec")
        experts.append(ExpertSpec(
            id=eid, kind=e["kind"], version=e["version"], active=e.get("active", True),
            prior_alpha=_num(prior, "alpha", 1.0, f"{where}.prior", lo=1e-9),
            prior_beta=_num(prior, "beta", 1.0, f"{where}.prior", lo=1e-9),
            spec=spec))
    return Registry(cadence_ms=_int(d, "cadence_ms", 1000, "registry", lo=1),
                    seed=_int(d, "seed", 0, "registry", lo=0), label=label, fusion=fusion,
                    experts=tuple(experts))


def _mapping(x: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(x, Mapping):
        raise RegistryError(f"{where}: must be a mapping")
    return x


def _only(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(d) - allowed
    if extra:
        raise RegistryError(f"{where}: unknown key(s) {sorted(extra)}")


def _num(d: Mapping[str, Any], key: str, default: float, where: str, lo: float) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not v >= lo:
        raise RegistryError(f"{where}.{key}: must be a number >= {lo}")
    return float(v)


def _int(d: Mapping[str, Any], key: str, default: int, where: str, lo: int) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise RegistryError(f"{where}.{key}: must be an integer >= {lo}")
    return v
