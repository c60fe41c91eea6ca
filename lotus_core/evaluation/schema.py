"""The lake contract of `signal_eval` (docs/evaluation.md)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from lotus_core.signals.schema import F64, I8, I64, STR, WINDOW_ID, _c


def _pending_is_empty(df: pd.DataFrame) -> bool:
    """Pending rows carry no outcome; done rows carry all of them."""
    out = ["fwd_ret_bps", "net_ret_bps", "mfe_bps", "mae_bps", "hit"]
    pending = (df["status"] == "pending").to_numpy()
    isna = df[out].isna().to_numpy()
    return bool(isna[pending].all() and not isna[~pending].any())


def _excursions_bracket(df: pd.DataFrame) -> bool:
    done = df[df["status"] == "done"]
    return bool((done["mfe_bps"] >= -1e-9).all() and (done["mae_bps"] <= 1e-9).all()
                and (done["fwd_ret_bps"] <= done["mfe_bps"] + 1e-9).all()
                and (done["fwd_ret_bps"] >= done["mae_bps"] - 1e-9).all())


SIGNAL_EVAL_SCHEMA = pa.DataFrameSchema(
    {
        "window_id": WINDOW_ID,
        "ts_ms": _c(I64, pa.Check.gt(0)),
        "coin": _c(STR, pa.Check.str_length(min_value=1)),
        "detector_id": _c(STR, pa.Check.str_length(min_value=1)),
        "direction": _c(I8, pa.Check.isin([-1, 1])),
        "horizon_s": _c(I64, pa.Check.gt(0)),
        "fwd_ret_bps": _c(F64, nullable=True),  # NaN: pending
        "net_ret_bps": _c(F64, nullable=True),
        "mfe_bps": _c(F64, nullable=True),
        "mae_bps": _c(F64, nullable=True),
        "hit": _c(pd.BooleanDtype(), nullable=True),
        "status": _c(STR, pa.Check.isin(["done", "pending", "gap"])),
        "published": _c(bool),
        "propensity": _c(F64, pa.Check.in_range(0.0, 1.0)),
    },
    checks=[
        pa.Check(lambda df: not df.duplicated(["window_id", "horizon_s"]).any(),
                 element_wise=False, name="unique_window_horizon"),
        pa.Check(_pending_is_empty, element_wise=False, name="pending_is_empty"),
        pa.Check(_excursions_bracket, element_wise=False, name="excursions_bracket"),
    ],
    strict=True, ordered=True, coerce=False, name="signal_eval",
)
