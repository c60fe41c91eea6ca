"""Which chart is a Decision-Maker source, and the fields it travels with (docs/vision.md):
vis's own rule, which the DM reads nightly (`lotus_core.dm.vis_source`) and vis posts live
(`lotus_core.vis.store`, a CHART_ALPHA to dm).

A strand is a source when it was read (`kind` analysis), has a coin and a time, and its
pattern flags state a direction (`lotus_core.vis.patterns.direction_of`: an up flag alone
long, a down flag alone short, anything else none).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.vis.patterns import direction_of

DETECTOR = "vis"
"""The detector id a source chart goes by in the Decision-Maker."""
SOURCE_COLUMNS = ["strand_id", "kind", "coin", "ts_ms", "confidence", "pattern_flags"]
"""The vis_strands columns a source reads (of outcomes.STRAND_COLUMNS)."""
CHART_SCHEMA = "urn:lotus:schema:chart-alpha-1.0"
"""The payload schema of CHART_ALPHA (vis -> dm): the SOURCE_COLUMNS."""


def _directions(strands: pd.DataFrame) -> np.ndarray:
    flags = strands["pattern_flags"].astype(object).to_numpy()
    return np.array([direction_of(json.loads(f)) if isinstance(f, str) else 0 for f in flags],
                    dtype=np.int64)


def sources(strands: pd.DataFrame) -> pd.DataFrame:
    """The strands that are sources (read, with a coin, directed), with their `direction`,
    in the DM's order (time, coin, strand id)."""
    if strands.empty or not set(SOURCE_COLUMNS) <= set(strands.columns):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in [*SOURCE_COLUMNS,
                                                                       "direction"]})
    s = strands[(strands["kind"].astype(object) == "analysis")
                & strands["coin"].notna()].copy()
    s["direction"] = _directions(s) if len(s) else np.array([], dtype=np.int64)
    s = s[s["direction"] != 0]
    return s.sort_values(["ts_ms", "coin", "strand_id"], kind="stable").reset_index(drop=True)


def chart_payload(strands: pd.DataFrame) -> dict[str, Any] | None:
    """The CHART_ALPHA payload (`CHART_SCHEMA`) of a one-strand `vis_strands` frame when
    that strand is a source, else None: its SOURCE_COLUMNS, the flags as an object, its
    timeframe when one was read and its weight when the frame holds one."""
    src = sources(strands)
    if len(strands) != 1 or src.empty:
        return None
    r = src.iloc[0]
    out = {"strand_id": str(r["strand_id"]), "kind": str(r["kind"]), "coin": str(r["coin"]),
           "ts_ms": int(r["ts_ms"]), "confidence": float(r["confidence"]),
           "pattern_flags": json.loads(str(r["pattern_flags"]))}
    tf = r.get("timeframe")
    if isinstance(tf, str) and tf:
        out["timeframe"] = tf  # a literal of the chart lessons (lotus_core.vis.lessons)
    if "weight" in strands.columns:
        out["weight"] = float(r["weight"])  # the vis priors' weight (lessons.weigh)
    return out
