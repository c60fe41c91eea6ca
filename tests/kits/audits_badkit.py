"""Test-only bad detectors: valid specs plus a tamper that makes each bad on purpose, so
the audits can be shown to catch them. The tamper wraps the engine's kind functions for
the tampered ids while the context is open; nothing in production imports this."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from lotus_core.signals import detectors as engine
from lotus_core.signals.spec import DetectorSpec, load_detectors


class Tamper(BaseModel):
    """peek_frames: every input column is read `peek_frames` frames ahead (a leak).
    exact_decimals: fire only where the mid sits exactly on a 10^-d price grid (fragile)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    peek_frames: int = Field(default=0, ge=0)
    exact_decimals: int | None = None


def load_bad(path: str | Path) -> tuple[list[DetectorSpec], dict[str, Tamper]]:
    """Specs and tampers from a YAML list of {spec: ..., tamper: ...}."""
    body = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    specs = load_detectors({"version": 1, "detectors": [e["spec"] for e in body["detectors"]]})
    return specs.detectors, {e["spec"]["id"]: Tamper(**e["tamper"]) for e in body["detectors"]}


def _ahead(v: np.ndarray, k: int) -> np.ndarray:
    out = np.empty_like(v, dtype=np.float64 if v.dtype.kind == "f" else v.dtype)
    out[: len(v) - k] = v[k:]
    out[len(v) - k:] = np.nan if v.dtype.kind == "f" else v[-1:]
    return out


def _wrap(fn: engine.KindFn, tampers: Mapping[str, Tamper]) -> engine.KindFn:
    def tampered(g: engine.Slice, spec: DetectorSpec, cadence: int) -> engine.Candidates:
        t = tampers.get(spec.id)
        if t is None:
            return fn(g, spec, cadence)
        if t.peek_frames:
            g = {c: _ahead(v, t.peek_frames) for c, v in g.items()}
        cand = fn(g, spec, cadence)
        if t.exact_decimals is not None:
            mid = g["mid_px"].astype(np.float64)
            on_grid = np.abs(mid - np.round(mid, t.exact_decimals)) <= 1e-9
            fire = cand.fire & on_grid
            return engine.Candidates(fire, np.where(fire, cand.direction, 0).astype(np.int8),
                                     np.where(fire, cand.strength, 0.0))
        return cand
    return tampered


@contextmanager
def tampered(tampers: Mapping[str, Tamper]) -> Iterator[None]:
    """While open, the tampered ids run bad; every other detector runs as shipped."""
    saved: dict[str, Any] = dict(engine.KINDS)
    try:
        for kind, fn in saved.items():
            engine.KINDS[kind] = _wrap(fn, tampers)
        yield
    finally:
        engine.KINDS.clear()
        engine.KINDS.update(saved)
