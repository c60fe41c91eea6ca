"""The calibration's training window read from the lake a row group at a time, as a bounded
uniform sample of its windows (a 100-coin lake's 7 days are ~5.6 M windows and
~22 M signal_eval rows; held whole, `dm_calibration` grew with every coin).

The sample is the learning window's (`lotus_core.learning.sample`: the same rule, one
home): above `max_windows` windows in the training days, a window is kept when the 64-bit
hash of its id is below `max_windows / windows` of the hash range, the same rate for every
detector, coin and day, so each (detector, horizon) fit sees a uniform sample of its own
windows and every detector keeps its share. At or below `max_windows` every window is read,
as before. Of signal_eval only the calibrated horizons' rows of kept windows are held
(filtered in Arrow, before they become pandas objects); the late outcomes are laid on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lotus_core.dm.calibration import TRAIN_EVAL_COLUMNS, TRAIN_EVENT_COLUMNS, TRAIN_LATE_COLUMNS
from lotus_core.evaluation import with_late
from lotus_core.learning.sample import concat_or_empty, keep_rate, kept_of, kept_rows
from lotus_core.malloc import release_free_heap
from lotus_core.store.by_coin import CoinDay


@dataclass(frozen=True)
class TrainingWindow:
    """The kept windows' events (TRAIN_EVENT_COLUMNS) and their evals at the calibrated
    horizons (late outcomes laid on), each with `date`; `windows`: the window's windows."""

    events: pd.DataFrame
    evals: pd.DataFrame
    windows: int
    rate: float


def _concat(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    return concat_or_empty(parts, pd.DataFrame({c: pd.Series(dtype=object)
                                                 for c in (*columns, "date")}))


def read_training(events: Sequence[CoinDay], evals: Sequence[CoinDay], late: Sequence[CoinDay],
                  horizons: Sequence[int], max_windows: int | None) -> TrainingWindow:
    """`events`, `evals`, `late`: the training days' signal_events, signal_eval and
    signal_eval_late partitions (present ones only)."""
    windows = sum(d.rows() for d in events)
    rate = keep_rate(windows, max_windows)
    wanted = np.asarray(sorted(horizons), dtype=np.int64)

    def ours(group: pa.Table) -> np.ndarray:
        mask = np.isin(group.column("horizon_s").to_numpy(), wanted)
        if rate < 1.0 and mask.any():
            mask[mask] = kept_of(group.filter(pa.array(mask)), rate)
        return mask

    def read(days: Sequence[CoinDay], columns: list[str],
             keep: Callable[[pa.Table], np.ndarray]) -> list[pd.DataFrame]:
        out = []
        for d in days:
            out += [p.assign(date=d.day) for p in kept_rows(d.row_groups(columns), keep)]
            release_free_heap()  # the day's dropped rows' pages
        return out

    ev = _concat(read(events, TRAIN_EVENT_COLUMNS, lambda g: kept_of(g, rate)),
                 TRAIN_EVENT_COLUMNS)
    out = _concat(read(evals, TRAIN_EVAL_COLUMNS, ours), TRAIN_EVAL_COLUMNS)
    lt = _concat(read(late, TRAIN_LATE_COLUMNS, ours), TRAIN_LATE_COLUMNS)
    return TrainingWindow(ev, with_late(out, lt.drop(columns="date")), windows, rate)
