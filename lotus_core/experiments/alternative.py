"""What a counterfactual replay changes, typed, and how it lands on the stage configs.

An `Alternative` is a tuple of changes; the empty one is the null alternative (replay the
day as it ran). Each change is applied to the validated config objects the stages already
take (the DSI `Registry`, `DetectorSet`, `ScoringConfig`, `CouncilConfig`) by editing their
dumped mapping and validating it again with the loader that owns the file, so a replay runs
the same stage functions with no copy of any rule, and a bad value fails naming its key:

    knock_out     an active DSI expert set inactive (the DSI is refitted without it)
    gate          a curators.yaml key moved (`tau_publish`, `curators.data.max_stale_ms`, ...)
    threshold     a scoring.yaml key (`u`, `kr.theta_min`, ...) or a detector's
                  (`detectors.<id>.params.break_bps`, `detectors.<id>.horizon_s`, ...)
    add_detector  an extra detector spec (a bred candidate), as detectors.yaml holds one
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from lotus_core.curators.config import CouncilConfig, load_curators
from lotus_core.dsi.registry import Registry, load_registry, parse_registry
from lotus_core.signals.config import ScoringConfig, load_scoring
from lotus_core.signals.spec import DetectorSet, SpecError, load_detectors
from lotus_core.strict import StrictModel
from lotus_core.yaml_io import parse_yaml


class AlternativeError(ValueError):
    """An alternative that cannot be applied; the message names the change and the key."""


class KnockOut(StrictModel):
    kind: Literal["knock_out"] = "knock_out"
    expert: str = Field(min_length=1)

    def label(self) -> str:
        return f"knock_out:{self.expert}"


class GateMoved(StrictModel):
    kind: Literal["gate"] = "gate"
    name: str = Field(min_length=1)
    value: Any

    def label(self) -> str:
        return f"gate:{self.name}={json.dumps(self.value)}"


class ThresholdChanged(StrictModel):
    kind: Literal["threshold"] = "threshold"
    name: str = Field(min_length=1)
    value: Any

    def label(self) -> str:
        return f"threshold:{self.name}={json.dumps(self.value)}"


class DetectorAdded(StrictModel):
    kind: Literal["add_detector"] = "add_detector"
    spec: dict[str, Any]

    def label(self) -> str:
        return f"add_detector:{self.spec.get('id', '?')}"


Change = Annotated[KnockOut | GateMoved | ThresholdChanged | DetectorAdded,
                   Field(discriminator="kind")]


class Alternative(StrictModel):
    """The changes a replay applies, in order; none = the null alternative."""

    changes: tuple[Change, ...] = ()

    @property
    def is_null(self) -> bool:
        return not self.changes

    @property
    def touches_dsi(self) -> bool:
        """True when the DSI must be refitted (the stored annotations no longer apply)."""
        return any(isinstance(c, KnockOut) for c in self.changes)

    def canonical(self) -> str:
        """The alternative as canonical JSON (what the experiments table stores and hashes)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def label(self) -> str:
        return "; ".join(c.label() for c in self.changes) or "null"


def parse_assignment(text: str, what: str) -> tuple[str, Any]:
    """`NAME=VALUE` from the command line; VALUE is read as a YAML scalar or list
    (`0.7` a float, `2000` an int, `true` a bool, `[a, b]` a list)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name or not raw.strip():
        raise AlternativeError(f"{what} {text!r}: expected NAME=VALUE (e.g. tau_publish=0.7)")
    try:
        return name, parse_yaml(raw)
    except yaml.YAMLError as exc:
        raise AlternativeError(f"{what} {name}: value {raw!r} is not valid YAML: {exc}") from None


@dataclass(frozen=True)
class StageConfig:
    """The validated configs one scoring day runs on (a bundle of already-checked models)."""

    detectors: DetectorSet
    scoring: ScoringConfig
    council: CouncilConfig
    registry: Registry

    def hashes(self) -> dict[str, str]:
        """sha256 (16 hex) of each config's canonical JSON: what the experiments row pins."""
        return {name: _hash(getattr(self, name).model_dump(mode="json"))
                for name in ("detectors", "scoring", "council", "registry")}


def base_config(*, detectors: str | Path | None = None, scoring: str | Path | None = None,
                council: str | Path | None = None, registry: str | Path | None = None
                ) -> StageConfig:
    """The configs a day was scored with: each file's path, or the packaged one (None)."""
    return StageConfig(detectors=load_detectors(detectors), scoring=load_scoring(scoring),
                       council=load_curators(council), registry=load_registry(registry))


def _hash(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _set_path(body: dict[str, Any], path: list[str], value: Any, what: str) -> None:
    """Set body[path] = value; every key on the way (the last one too) must exist."""
    node: Any = body
    walked: list[str] = []
    for i, key in enumerate(path):
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise AlternativeError(f"{what}: {'.'.join(walked) or '<root>'} is a list of "
                                       f"{len(node)}; {key!r} is not an index of it")
            ref: Any = int(key)
        elif isinstance(node, dict):
            if key not in node:
                where = ".".join(walked) or "<root>"
                raise AlternativeError(f"{what}: unknown key {key!r} in {where}; it has "
                                       f"{', '.join(sorted(map(str, node)))}")
            ref = key
        else:
            raise AlternativeError(f"{what}: {'.'.join(walked)} is a value, not a section")
        if i == len(path) - 1:
            node[ref] = value
        else:
            node = node[ref]
        walked.append(key)


def _knock_out(reg: Registry, change: KnockOut) -> Registry:
    active = [e.id for e in reg.active]
    if change.expert not in active:
        known = "unknown" if change.expert not in {e.id for e in reg.experts} else "inactive"
        raise AlternativeError(f"knock_out: {known} expert {change.expert!r}; the registry's "
                               f"active experts are {', '.join(active)}")
    if len(active) == 1:
        raise AlternativeError(f"knock_out: {change.expert!r} is the only active expert; "
                               "knocking it out leaves no DSI to fuse")
    body = reg.model_dump(mode="json")
    for e in body["experts"]:
        if e["id"] == change.expert:
            e["active"] = False
    return parse_registry(body)


def _gate(council: CouncilConfig, change: GateMoved) -> CouncilConfig:
    what = f"gate {change.name}"
    body = copy.deepcopy(council.model_dump(mode="json"))
    _set_path(body, change.name.split("."), change.value, what)
    try:
        return load_curators(body)
    except SpecError as exc:
        raise AlternativeError(f"{what}={change.value!r}: {exc}") from None


def _threshold(cfg: StageConfig, change: ThresholdChanged) -> StageConfig:
    what = f"threshold {change.name}"
    path = change.name.split(".")
    if path[0] == "detectors":
        if len(path) < 3:
            raise AlternativeError(f"{what}: a detector threshold is detectors.<id>.<key>")
        body = copy.deepcopy(cfg.detectors.model_dump(mode="json"))
        ids = [d["id"] for d in body["detectors"]]
        if path[1] not in ids:
            raise AlternativeError(f"{what}: unknown detector {path[1]!r}; the set has "
                                   f"{', '.join(ids)}")
        _set_path(body, ["detectors", str(ids.index(path[1])), *path[2:]], change.value, what)
        try:
            return _replace(cfg, detectors=load_detectors(body))
        except SpecError as exc:
            raise AlternativeError(f"{what}={change.value!r}: {exc}") from None
    body = copy.deepcopy(cfg.scoring.model_dump(mode="json"))
    _set_path(body, path, change.value, what)
    try:
        return _replace(cfg, scoring=load_scoring(body))
    except SpecError as exc:
        raise AlternativeError(f"{what}={change.value!r}: {exc}") from None


def _add_detector(dets: DetectorSet, change: DetectorAdded) -> DetectorSet:
    body = copy.deepcopy(dets.model_dump(mode="json"))
    body["detectors"].append(dict(change.spec))
    try:
        return load_detectors(body)
    except SpecError as exc:
        raise AlternativeError(f"add_detector {change.spec.get('id', '?')!r}: {exc}") from None


def _replace(cfg: StageConfig, **changes: Any) -> StageConfig:
    fields: dict[str, Any] = {"detectors": cfg.detectors, "scoring": cfg.scoring,
                              "council": cfg.council, "registry": cfg.registry, **changes}
    return StageConfig(**fields)


def apply(alternative: Alternative, base: StageConfig) -> StageConfig:
    """`base` with every change applied in order; the null alternative returns `base` itself."""
    cfg = base
    for change in alternative.changes:
        if isinstance(change, KnockOut):
            cfg = _replace(cfg, registry=_knock_out(cfg.registry, change))
        elif isinstance(change, GateMoved):
            cfg = _replace(cfg, council=_gate(cfg.council, change))
        elif isinstance(change, ThresholdChanged):
            cfg = _threshold(cfg, change)
        else:
            cfg = _replace(cfg, detectors=_add_detector(cfg.detectors, change))
    return cfg


def alternative_of(knock_out: Sequence[str] = (), gates: Mapping[str, Any] | None = None,
                   thresholds: Mapping[str, Any] | None = None,
                   detectors: Sequence[Mapping[str, Any]] = ()) -> Alternative:
    """An Alternative from the command line's / the UI's flat form (in that order)."""
    changes: list[Any] = [KnockOut(expert=e) for e in knock_out]
    changes += [GateMoved(name=k, value=v) for k, v in (gates or {}).items()]
    changes += [ThresholdChanged(name=k, value=v) for k, v in (thresholds or {}).items()]
    changes += [DetectorAdded(spec=dict(s)) for s in detectors]
    return Alternative(changes=tuple(changes))
