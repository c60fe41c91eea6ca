"""The lake contracts of the Trader's tables: paper_trades, executor_scores, exec_lessons and
tr_priors (docs/trader.md). The lake IO manager enforces them on write (lotus_core.schemas)."""

from __future__ import annotations

import pandera.pandas as pa

from lotus_core.columns import STR, column
from lotus_core.learning.schema import LEARNING_SCHEMAS

KINDS = ["fill", "order", "position", "exec_report", "trigger_eval", "state"]


def _c(dtype: object, *checks: pa.Check, nullable: bool = False) -> pa.Column:
    return column(dtype, *checks, nullable=nullable, coerce=True, text=True)


PAPER_TRADES_SCHEMA = pa.DataFrameSchema(
    {
        "seq": _c("int64", pa.Check.ge(0)),
        "kind": _c(STR, pa.Check.isin(KINDS)),
        "ts_ms": _c("int64"),
        "coin": _c(STR, nullable=True),
        "decision_id": _c(STR, nullable=True),
        "execution_id": _c(STR, nullable=True),
        "data_json": _c(STR, pa.Check.str_startswith("{")),
    },
    strict=True, ordered=True, name="paper_trades",
)

EXECUTOR_SCORES_SCHEMA = pa.DataFrameSchema(
    {
        "window": _c(STR, pa.Check.isin(["day", "7d"])),
        "strategy": _c(STR, pa.Check.str_length(min_value=1)),
        "venue": _c(STR),
        "coin": _c(STR),
        "executions": _c("int64", pa.Check.ge(1)),
        "fill_rate": _c("float64", pa.Check.in_range(0.0, 1.0)),
        "mean_slippage_bps": _c("float64", nullable=True),
        "p95_slippage_bps": _c("float64", nullable=True),
        "mean_adherence": _c("float64", nullable=True),
        "fees": _c("float64"),
        "pnl": _c("float64"),
    },
    strict=True, ordered=True, name="executor_scores",
)

EXEC_LESSONS_SCHEMA = LEARNING_SCHEMAS["lessons"].set_name("exec_lessons")
"""Execution lessons come out of the signal layer's lesson machinery: the same table."""

TR_PRIORS_SCHEMA = pa.DataFrameSchema(
    {
        "braid_id": _c(STR, pa.Check.str_length(min_value=1)),
        "lesson_id": _c(STR),
        "rule": _c(STR),
        "context": _c(STR),
        "choice_json": _c(STR, pa.Check.str_startswith("{")),
        "sign": _c("int64", pa.Check.isin([-1, 1])),
        "uplift_bps": _c("float64"),
        "bqs": _c("float64"),
        "state": _c(STR),
        "reason": _c(STR, nullable=True),
        "compiled": _c(STR),
        "priors_ver": _c("int64", pa.Check.ge(0)),
    },
    strict=True, ordered=True, name="tr_priors",
)

TRADER_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "paper_trades": PAPER_TRADES_SCHEMA,
    "executor_scores": EXECUTOR_SCORES_SCHEMA,
    "exec_lessons": EXEC_LESSONS_SCHEMA,
    "tr_priors": TR_PRIORS_SCHEMA,
}
