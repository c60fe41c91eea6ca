"""Helpers that turn a stage's headline scalars into numeric metadata (Dagster plots those
by partition) and its tables into Markdown (rendered in the asset's materialisation panel).
`dagster/row_count` and `dagster/column_schema` come from the lake IO manager
(`lotus_resources.table_metadata`) for every table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd


def numeric(values: Mapping[str, float | int | None]) -> dict[str, Any]:
    """Scalars as numeric metadata (int or float; NaN/None skipped): plotted by partition."""
    out: dict[str, Any] = {}
    for key, v in values.items():
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_, int, np.integer)):
            out[key] = dg.MetadataValue.int(int(v))
        elif np.isfinite(float(v)):
            out[key] = dg.MetadataValue.float(float(v))
    return out


def md(text: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(text)


# --- each stage's own story (short calls from the asset modules) ---------------------------

def lessons_story(out: pd.DataFrame, previous: pd.DataFrame | None) -> dict[str, Any]:
    """The night's active and changed lessons as a table and a forest plot, plus counts."""
    from lotus_core.report.tables import lessons_forest, lessons_table, night_lessons

    state = out["state"].astype(str) if len(out) else pd.Series(dtype="str")
    changed = night_lessons(out, previous) if len(out) else out
    meta = numeric({"lessons_active": int((state == "active").sum()),
                    "lessons_proposed": int((state == "proposed").sum()),
                    "lessons_changed": int((changed["state"] != "active").sum())
                    if len(changed) else 0})
    meta["lessons_table"] = md(lessons_table(out, previous))
    meta["lessons_forest"] = md(lessons_forest(out, previous))
    return meta


def braids_story(out: pd.DataFrame) -> dict[str, Any]:
    from lotus_core.report.tables import braids_table

    active = out[out["state"] == "active"] if len(out) else out
    meta = numeric({"braids_active": len(active)})
    meta["braids_table"] = md(braids_table(out))
    return meta


def priors_story(out: pd.DataFrame) -> dict[str, Any]:
    from lotus_core.report.tables import priors_diff, priors_table

    d = priors_diff(out)
    patch = out[out["kind"] == "patch"] if len(out) else out
    meta = numeric({"patches_after": int(patch["after_value"].notna().sum()) if len(out) else 0,
                    "keys_changed": len(d)})
    meta["priors_diff"] = md(priors_table(out))
    return meta


def eval_story(out: pd.DataFrame) -> dict[str, Any]:
    """Hit rates and net returns by detector and horizon as a table; the published hit rate
    and net return per horizon as numbers (plotted by partition)."""
    from lotus_core.report.tables import hit_rates, markdown_table

    rates = hit_rates(out)
    meta: dict[str, Any] = {"hit_rates_table": md(markdown_table(rates, max_rows=80))}
    done = out[out["status"] == "done"]
    pub = done[done["published"].astype(bool)]
    for h, g in pub.groupby("horizon_s"):
        meta.update(numeric({f"published_hit_rate_{h}s": float(g["hit"].astype(float).mean()),
                             f"published_net_bps_{h}s": float(g["net_ret_bps"].mean())}))
    meta.update(numeric({"published_hit_rate": float(pub["hit"].astype(float).mean())
                         if len(pub) else None,
                         "pending_rows": int((out["status"] != "done").sum())}))
    return meta
