"""The lake contracts of the DM's tables: dm_calibration and dm_decisions (docs/dm.md)."""

from __future__ import annotations

import json

import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR, column
from lotus_core.costs import EXECUTIONS
from lotus_core.dm.ticket import validate_ticket


def _c(dtype: object, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return column(dtype, *checks, nullable=nullable, text=True)


def _tickets_valid(s: pd.Series) -> bool:
    for text in s:
        validate_ticket(json.loads(text))  # raises TicketError naming the path
    return True


DM_CALIBRATION_SCHEMA = pa.DataFrameSchema(
    {
        "detector_id": _c(STR, pa.Check.str_length(min_value=1)),
        "horizon_s": _c("int64", pa.Check.gt(0)),
        "status": _c(STR, pa.Check.isin(["fitted", "prior"])),
        "n": _c("int64", pa.Check.ge(0)),
        "days": _c("int64", pa.Check.ge(0)),
        "train_window": _c(STR),
        "x_knots": _c(STR, pa.Check.str_startswith("[")),
        "mu_knots": _c(STR, pa.Check.str_startswith("[")),
        "hit_knots": _c(STR, pa.Check.str_startswith("[")),
        "n_knots": _c(STR, pa.Check.str_startswith("[")),
        "sigma_bps": _c("float64", pa.Check.gt(0)),
        "reliability": _c("float64", pa.Check.in_range(0.0, 1.0)),
        "mse_oof": _c("float64", nullable=True),  # NaN: the prior (nothing to validate)
        "mse_null": _c("float64", nullable=True),
        "cost_bps": _c("float64"),
        "coin_offsets": _c(STR, pa.Check.str_startswith("{")),
        "corr": _c(STR, pa.Check.str_startswith("{")),
        "se_knots": _c(STR, pa.Check.str_startswith("[")),  # the bins' standard errors
        "reliability_se": _c("float64", pa.Check.ge(0)),  # the slope's standard error
    },
    strict=True, ordered=True, coerce=False, name="dm_calibration",
)

DM_DECISIONS_SCHEMA = pa.DataFrameSchema(
    {
        "decision_id": _c(STR, pa.Check.str_length(min_value=1)),
        "ts_ms": _c("int64", pa.Check.gt(0)),
        "coin": _c(STR, pa.Check.str_length(min_value=1)),
        "ticket_json": _c(STR, pa.Check(_tickets_valid, element_wise=False,
                                        name="dm_decision_1_0")),
        "alpha_id": _c(STR),
        "action": _c(STR, pa.Check.isin(["trade", "hold"])),
        "w0": _c("float64"),
        "target": _c("float64"),
        "binding": _c(STR, pa.Check.str_startswith("[")),
        "turnover": _c("float64", pa.Check.ge(0)),
        "edge_bps": _c("float64"),  # the calibrated edge the DM solved with (signed)
        "cost_bps": _c("float64"),  # the cost it priced a side (a maker rebate may be < 0)
        "execution": _c(STR, pa.Check.isin(list(EXECUTIONS))),  # the execution it assumed
        "ticket_digest": _c(STR, pa.Check.str_startswith("sha256:")),
        "curation_json": _c(STR, pa.Check.str_startswith("[")),
        "seq": _c("int64", pa.Check.ge(0)),  # the DM's order (tickets of one ms)
    },
    checks=[pa.Check(lambda df: bool(df["decision_id"].is_unique), element_wise=False,
                     name="unique_decision_id")],
    strict=True, ordered=True, coerce=False, name="dm_decisions",
)

DM_SCHEMAS = {"dm_calibration": DM_CALIBRATION_SCHEMA, "dm_decisions": DM_DECISIONS_SCHEMA}
