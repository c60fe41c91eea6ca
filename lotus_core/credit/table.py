"""The `expert_credit` table (lake, one partition per credit run's day): each credited
expert's Shapley-lite credit, its standard error across inclusion orders, its knock-out
effect and its coin-pooled credit, per metric and scope (docs/experiments.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR, column

ASSET = "expert_credit"
TEXT = ["day", "expert_id", "metric", "scope", "window", "registry_hash", "players"]
INTS = ["days", "orders", "seed", "evaluations"]
FLOATS = ["shapley", "se", "knockout", "pooled", "pool_weight", "pooled_mean"]

CREDIT_SCHEMA = pa.DataFrameSchema(
    {
        "day": column(STR, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "expert_id": column(STR, pa.Check.str_length(min_value=1)),
        "metric": column(STR, pa.Check.isin(["det_sigma", "net_bps"])),
        "scope": column(STR, pa.Check.str_length(min_value=1)),
        "shapley": column(np.float64),
        "se": column(np.float64, nullable=True),
        "knockout": column(np.float64),
        "pooled": column(np.float64),
        "pool_weight": column(np.float64, nullable=True),  # NaN: not a coin scope
        "pooled_mean": column(np.float64, nullable=True),
        "window": column(STR),
        "days": column(np.int64, pa.Check.ge(1)),
        "orders": column(np.int64, pa.Check.in_range(8, 16)),
        "seed": column(np.int64),
        "evaluations": column(np.int64, pa.Check.ge(1)),
        "registry_hash": column(STR),
        "players": column(STR),
    },
    strict=True, ordered=True,
)
COLUMNS = list(CREDIT_SCHEMA.columns)


def typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=COLUMNS).copy()
    for c in TEXT:
        out[c] = out[c].astype(STR)
    for c in INTS:
        out[c] = out[c].astype(np.int64)
    for c in FLOATS:
        out[c] = out[c].astype(np.float64)
    return CREDIT_SCHEMA.validate(out.reset_index(drop=True))
