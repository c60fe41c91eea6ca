"""The learning frame: signal_events joined to their realised outcome at the lesson horizon.

One row per window whose outcome is `done` at `horizon_s`; pending and missing outcomes are
left out (never guessed). Rows are ordered (ts_ms, coin, detector_id) so every later stage
is deterministic whatever order the lake returned.
"""

from __future__ import annotations

import pandas as pd

from lotus_core.evaluation.outcomes import OUTCOME_COLUMNS
from lotus_core.learning.quantize import CONTEXT_COLUMNS

KEEP = ("window_id", "ts_ms", "coin", "detector_id", *CONTEXT_COLUMNS, "date")
EVENT_COLUMNS = [c for c in KEEP if c != "date"]
"""The signal_events columns the learning frame reads (the lake adds `date`)."""
EVAL_COLUMNS = ["window_id", "horizon_s", *OUTCOME_COLUMNS]
"""The signal_eval columns it reads: the key and what a late outcome may replace."""


def missing_horizon(horizon_s: int, have: set[int]) -> ValueError:
    """The error of a window whose signal_eval has no row at the lesson horizon."""
    return ValueError(f"signal_eval has no horizon {horizon_s} s (it has {sorted(have)}); "
                      "set learning horizon_s to one of them")


def learning_frame(events: pd.DataFrame, evals: pd.DataFrame, horizon_s: int) -> pd.DataFrame:
    """Windows with their net return (bps) and hit at `horizon_s` (see the module docstring)."""
    cols = [c for c in KEEP if c in events.columns]
    if events.empty or evals.empty:
        return pd.DataFrame({c: pd.Series(dtype=events[c].dtype if c in events else "float64")
                             for c in (*cols, "net_ret_bps", "hit", "mfe_bps", "mae_bps")})
    have = set(evals["horizon_s"].astype(int))
    if horizon_s not in have:
        raise missing_horizon(horizon_s, have)
    ev = evals[(evals["horizon_s"] == horizon_s) & (evals["status"] == "done")]
    ev = ev[["window_id", "net_ret_bps", "hit", "mfe_bps", "mae_bps"]].copy()
    ev["hit"] = ev["hit"].astype("float64")
    out = events[cols].merge(ev, on="window_id", how="inner", validate="one_to_one")
    out = out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable")
    return out.reset_index(drop=True)
