"""The quantiser: context columns -> literals, with bin edges fitted on the training window.

Bins come from `lotus_core.signals.context.literals`, the same function scoring uses, so a
lesson's cond_key means the same windows when a patch is applied. The edges named in
`quantizer.fit_edges` are fitted here on the training window only (terciles of mx_evidence
and depth_5_rel, the 80th percentile of spread_rel, terciles of each book/tape feature's
value - direction * value for the aligned ones, NaN left out); the fitted edges travel
with the priors version (`edge/<name>/<i>` keys) so tomorrow's scoring bins exactly as
tonight's learning did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.learning.config import QuantizerConfig
from lotus_core.signals.config import ContextConfig
from lotus_core.signals.context import (
    BOOK_TAPE,
    CONTEXT_COLUMNS,
    LITERALS,
    book_tape_value,
    literals,
)

_TERCILE_QS = (1 / 3, 2 / 3)
_FITS: dict[str, tuple[str, tuple[float, ...]]] = {
    "mx_edges": ("mx_evidence", _TERCILE_QS),
    "depth_edges": ("depth_5_rel", _TERCILE_QS),
    "spread_edges": ("spread_rel", (0.8,)),
    "pctl_edges": ("oi_pctl", _TERCILE_QS),
}
_BOOK_TAPE_FITS = {f.edges: f for f in BOOK_TAPE.values()}
FITTABLE = (*_FITS, *_BOOK_TAPE_FITS)
__all__ = ["CONTEXT_COLUMNS", "FITTABLE", "Quantizer", "fit_quantizer"]


@dataclass(frozen=True)
class Quantizer:
    features: tuple[str, ...]
    edges: dict[str, tuple[float, ...]]  # ContextConfig field -> edges in force
    fitted: tuple[str, ...]  # which of them were fitted (the rest: configured)

    def context_config(self) -> ContextConfig:
        return ContextConfig(**{k: tuple(v) for k, v in self.edges.items()})

    def literals(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in CONTEXT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"cannot quantise: context columns missing {missing}")
        return literals(frame, self.context_config())[list(self.features)]

    @property
    def values(self) -> dict[str, tuple[str, ...]]:
        return {f: LITERALS[f] for f in self.features}

    def edge_keys(self) -> dict[str, float]:
        """The fitted edges as priors rows: edge/<name>/<i> -> value."""
        return {f"edge/{name}/{i}": float(x) for name in self.fitted
                for i, x in enumerate(self.edges[name])}

    def to_dict(self) -> dict:
        return {"features": list(self.features),
                "edges": {k: [float(x) for x in v] for k, v in sorted(self.edges.items())},
                "fitted": list(self.fitted)}

    @classmethod
    def from_dict(cls, data: dict) -> Quantizer:
        return cls(tuple(data["features"]),
                   {k: tuple(float(x) for x in v) for k, v in data["edges"].items()},
                   tuple(data["fitted"]))


def fit_quantizer(train: pd.DataFrame, cfg: QuantizerConfig, base: ContextConfig) -> Quantizer:
    """Edges from the training window (`train` must hold only training-window rows)."""
    edges = {k: tuple(v) for k, v in base.model_dump().items()}
    fitted: list[str] = []
    for name in cfg.fit_edges:
        x = _fit_values(train, name)
        qs = _FITS[name][1] if name in _FITS else _TERCILE_QS
        x = x[np.isfinite(x)]
        if len(x) < cfg.min_fit_windows:
            continue
        cand = tuple(round(float(v), 6) for v in np.quantile(x, qs))
        if len(cand) > 1 and not all(a < b for a, b in zip(cand, cand[1:], strict=False)):
            continue  # a degenerate distribution: keep the configured edges
        edges[name] = cand
        fitted.append(name)
    return Quantizer(tuple(cfg.features), edges, tuple(fitted))


def fit_columns(names: tuple[str, ...]) -> list[str]:
    """The context columns `fit_quantizer` reads to fit the edge sets `names`."""
    out: list[str] = []
    for name in names:
        if name in _BOOK_TAPE_FITS:
            f = _BOOK_TAPE_FITS[name]
            out += [f.column, "direction"] if f.aligned else [f.column]
        elif name in _FITS:
            out.append(_FITS[name][0])
    return list(dict.fromkeys(out))


def compact(lits: pd.DataFrame) -> pd.DataFrame:
    """`lits` with each column a pandas Categorical over its feature's values (a byte a
    window instead of an 8-byte pointer). The values are unchanged; a value the
    feature's list does not name (a regime the tape invented) is a category of its own."""
    out = {}
    for name in lits.columns:
        col = lits[name].to_numpy(dtype=object)
        known = LITERALS.get(name, ())
        named = set(known)
        extra = [v for v in pd.unique(col) if not pd.isna(v) and v not in named]
        out[name] = pd.Categorical(col, categories=[*known, *extra])
    return pd.DataFrame(out, index=lits.index)


def _fit_values(train: pd.DataFrame, name: str) -> np.ndarray:
    """The training values an edge set is fitted on (empty when the column is absent)."""
    if name in _BOOK_TAPE_FITS:
        f = _BOOK_TAPE_FITS[name]
        if f.column not in train or (f.aligned and "direction" not in train):
            return np.array([])
        return book_tape_value(train, f)
    if name not in _FITS:
        raise ValueError(f"edge set {name!r} cannot be fitted; fittable: {list(FITTABLE)}")
    column = _FITS[name][0]
    if column not in train:
        return np.array([])
    return pd.to_numeric(train[column], errors="coerce").to_numpy(dtype=np.float64)
