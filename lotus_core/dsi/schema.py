"""The contracts of `dsi_annotations` and `dsi_experts`: exact dtypes, ranges, no NaN.

`strict=True`, `ordered=True`, no coercion: a wrong dtype, a missing or extra column, a NaN
or an out-of-range value fails naming the column. The annotation columns follow the
active experts of the registry, in registry order (f_, z_, c_ per expert): `dsi_schema`
builds them from the registry its caller's entry point loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR, column
from lotus_core.dsi.registry import Registry

F64, I64, I32, I8, BOOL = "float64", "int64", "int32", "int8", "bool"


def _is_str_column(col: pa.Column) -> bool:
    return any(c.name == "dtype_is_str" for c in col.checks)


_col = column


_UNIT = pa.Check.in_range(0.0, 1.0)
_FLAG = pa.Check.isin([0, 1])
_FINITE = pa.Check(lambda s: np.isfinite(s.to_numpy()).all(), element_wise=False,
                   name="finite")


def _sorted_by_coin_ts(df: pd.DataFrame) -> bool:
    if len(df) < 2:
        return True
    coin = df["coin"].to_numpy(dtype=object)
    ts = df["ts_ms"].to_numpy()
    same = coin[1:] == coin[:-1]
    return bool(np.all((coin[1:] > coin[:-1]) | (same & (ts[1:] > ts[:-1]))))


def annotation_columns(expert_ids: Sequence[str], z_cap: float) -> dict[str, pa.Column]:
    cols = {
        "coin": _col(STR, pa.Check.str_length(min_value=1)),
        "ts_ms": _col(I64, pa.Check.gt(0)),
        "mx_evidence": _col(F64, _UNIT),
        "mx_confirm": _col(I8, _FLAG),
    }
    for eid in expert_ids:
        cols[f"f_{eid}"] = _col(I8, _FLAG)
        cols[f"z_{eid}"] = _col(F64, _FINITE, pa.Check.in_range(-z_cap, z_cap))
        cols[f"c_{eid}"] = _col(F64, _UNIT)
    return cols


def dsi_schema(registry: Registry) -> pa.DataFrameSchema:
    """The schema of the annotations `registry` gives: its active experts' columns in
    registry order, z within its fusion's z_cap."""
    return pa.DataFrameSchema(
        annotation_columns([e.id for e in registry.active], registry.fusion.z_cap),
        checks=[pa.Check(_sorted_by_coin_ts, element_wise=False, name="sorted_by_coin_ts")],
        strict=True, ordered=True, coerce=False, name="dsi_annotations")

EXPERT_COLUMNS: dict[str, pa.Column] = {
    "date": _col(STR, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
    "expert_id": _col(STR, pa.Check.str_length(min_value=1)),
    "kind": _col(STR, pa.Check.isin(["grammar", "anomaly", "divergence", "sequence"])),
    "version": _col(STR),
    "active": _col(BOOL),
    "spec_hash": _col(STR, pa.Check.str_length(16, 16)),
    "spec_json": _col(STR),
    "prior_alpha": _col(F64, pa.Check.gt(0.0)),
    "prior_beta": _col(F64, pa.Check.gt(0.0)),
    "base_rate": _col(F64, _UNIT),
    "hist_days": _col(I32, pa.Check.ge(0)),
    # NaN only on inactive experts' rows (they are listed, not run)
    "fitted": _col(BOOL),
    "fit_rows": _col(I64, pa.Check.ge(0)),
    "hist_trials": _col(I64, pa.Check.ge(0)),
    "hist_successes": _col(I64, pa.Check.ge(0)),
    "alpha": _col(F64, pa.Check.gt(0.0), nullable=True),
    "beta": _col(F64, pa.Check.gt(0.0), nullable=True),
    "reliability": _col(F64, _UNIT, nullable=True),
    "weight": _col(F64, pa.Check.ge(0.0), nullable=True),
    "day_flag_frames": _col(I64, pa.Check.ge(0)),
    "day_episodes": _col(I64, pa.Check.ge(0)),
    "day_trials": _col(I64, pa.Check.ge(0)),
    "day_successes": _col(I64, pa.Check.ge(0)),
    # NaN also when the day had no trial / no directed episode
    "day_hit_rate": _col(F64, _UNIT, nullable=True),
    "day_dir_agree": _col(F64, _UNIT, nullable=True),
    "contribution": _col(F64, pa.Check.in_range(-1.0, 1.0), nullable=True),
    "redundancy": _col(F64, _UNIT, nullable=True),
}

DSI_EXPERTS_SCHEMA = pa.DataFrameSchema(EXPERT_COLUMNS, strict=True, ordered=True,
                                        coerce=False, name="dsi_experts")

_MISSING: dict[str, object] = {I64: 0, I32: 0, BOOL: False, F64: np.nan}
_EXPERT_DTYPES: dict[str, object] = {
    name: STR if _is_str_column(col) else str(col.dtype) for name, col in EXPERT_COLUMNS.items()}


def typed_expert_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Rows to a frame with the schema's exact dtypes and column order: a missing value is
    0 for the integer columns, False for booleans and NaN for floats (inactive experts)."""
    cols = {}
    for name, dtype in _EXPERT_DTYPES.items():
        missing = _MISSING.get(dtype) if isinstance(dtype, str) else None
        values = [r.get(name, missing) for r in rows]
        cols[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(cols)
