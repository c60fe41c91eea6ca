"""Lake contracts of the governor: `compute_governance` (every pull of a night: arm, quota,
Thompson draw, reward, cost, running spend) and `governance_state` (per arm after the
night: lifetime pulls, spend, reward and the Normal-Gamma posterior)."""

from __future__ import annotations

import pandera.pandas as pa

from lotus_core.columns import STR, column

_ID = column(STR, pa.Check.str_length(min_value=1))
_NONNEG = pa.Check.ge(0)

PULLS_SCHEMA = pa.DataFrameSchema(
    {"date": _ID, "policy": column(STR, pa.Check.isin(["thompson", "uniform"])),
     "seq": column("int64", _NONNEG), "arm": _ID, "kind": _ID, "quota": column("bool"),
     "sample": column("float64", nullable=True), "item": column(STR),
     "reward": column("float64", _NONNEG), "units": column("float64", _NONNEG),
     "cost": column("float64", _NONNEG),
     "cpu_s": column("float64", _NONNEG, nullable=True), "spent": column("float64", _NONNEG),
     "note": column(STR)},
    strict=True, ordered=True, coerce=False, unique=["seq"],
)

STATE_SCHEMA = pa.DataFrameSchema(
    {"date": _ID, "arm": _ID, "kind": _ID, "pulls": column("int64", _NONNEG),
     "spent": column("float64", _NONNEG), "reward": column("float64", _NONNEG),
     "mu": column("float64"), "kappa": column("float64", pa.Check.gt(0)),
     "alpha": column("float64", pa.Check.gt(0)), "beta": column("float64", pa.Check.gt(0))},
    strict=True, ordered=True, coerce=False, unique=["arm"],
)
