"""Window-level planted truth (`lotus_core.synth.windows`) written as the lake tables the
learning steps read: signal_events (the learning frame's columns), signal_eval (every
horizon; the lesson horizon's outcome is the frame's own) and signal_eval_late (the rows
left pending, completed). What the learning steps' tests and their memory bench
(`bench.learning_memory`) read without materialising a market day by day."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lotus_core.evaluation.outcomes import DEFAULT_HORIZONS_S
from lotus_core.learning.frame import EVENT_COLUMNS
from lotus_core.store.lake import Lake

PENDING_EVERY = 97
"""Every this-many'th window's outcomes are pending in signal_eval (late rows complete them)."""

LATE_NET_BPS = -3.0
"""The net return the late rows give (distinct from any drawn one, so a test can see it)."""


def eval_rows(frame: pd.DataFrame, lesson_horizon_s: int,
              horizons_s: Sequence[int] = DEFAULT_HORIZONS_S) -> pd.DataFrame:
    """signal_eval rows of `frame`'s windows: one per horizon, sorted by (window, horizon);
    the lesson horizon's net return the frame's, the others' half of it."""
    pending = np.where(np.arange(len(frame)) % PENDING_EVERY == 0, "pending", "done")
    rows = []
    for h in horizons_s:
        net = frame["net_ret_bps"].to_numpy(dtype=np.float64)
        rows.append(pd.DataFrame({
            "window_id": frame["window_id"].to_numpy(dtype=object),
            "horizon_s": np.int64(h),
            "fwd_ret_bps": net + 1.0,
            "net_ret_bps": net if h == lesson_horizon_s else net * 0.5,
            "mfe_bps": frame["mfe_bps"].to_numpy(dtype=np.float64),
            "mae_bps": frame["mae_bps"].to_numpy(dtype=np.float64),
            "hit": frame["hit"].to_numpy(dtype=np.float64) > 0,
            "status": pending}))
    return pd.concat(rows, ignore_index=True).sort_values(
        ["window_id", "horizon_s"], kind="stable", ignore_index=True)


def write_day(lake: Lake, day: str, frame: pd.DataFrame, lesson_horizon_s: int) -> int:
    """`frame`'s windows (one day's) as the day's three tables; returns the windows."""
    lake.write("signal_events", day, frame[EVENT_COLUMNS].reset_index(drop=True))
    evals = eval_rows(frame, lesson_horizon_s)
    lake.write("signal_eval", day, evals)
    late = evals[evals["status"] == "pending"].assign(status="done", net_ret_bps=LATE_NET_BPS)
    lake.write("signal_eval_late", day, late.reset_index(drop=True))
    return len(frame)


def write_frame(lake: Lake, frame: pd.DataFrame, lesson_horizon_s: int) -> list[str]:
    """Each day of a window frame (its `date` column) written by `write_day`; the days."""
    days = sorted(str(d) for d in frame["date"].unique())
    for day in days:
        write_day(lake, day, frame[frame["date"] == day], lesson_horizon_s)
    return days
