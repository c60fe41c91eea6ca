"""Realised paper outcomes of scored windows (`signal_eval`); docs/evaluation.md."""

from lotus_core.evaluation.late import late_rows, with_late
from lotus_core.evaluation.outcomes import (
    DEFAULT_FEE_BPS,
    DEFAULT_HORIZONS_S,
    GAP_TOLERANCE_S,
    evaluate_windows,
)
from lotus_core.evaluation.schema import SIGNAL_EVAL_SCHEMA

__all__ = ["DEFAULT_FEE_BPS", "DEFAULT_HORIZONS_S", "GAP_TOLERANCE_S", "SIGNAL_EVAL_SCHEMA",
           "evaluate_windows", "late_rows", "with_late"]
