"""Late horizons: the outcomes of a day's windows whose horizons end on the next day.

`signal_eval` for day D reads day D's MicroTape only, so it is a function of that day's
partitions and a re-run gives the same bytes whatever else the lake holds. Its rows whose
horizon runs past the day's tape stay `pending`. The next day completes them in a partition
of its own (`signal_eval_late` for D + 1, from D's pending rows and the tapes of D and
D + 1), and the readers that want every known outcome lay those rows over the first ones
with `with_late`. Pure and deterministic; no dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.evaluation.outcomes import OUTCOME_COLUMNS, READ_COLUMNS, evaluate_windows
from lotus_core.microtape.schema import empty_frame

KEY = ["window_id", "horizon_s"]
EVAL_COLUMNS = [*KEY, "status"]
"""What `late_rows` reads of signal_eval (of signal_events: outcomes.WINDOW_COLUMNS)."""


def pending_windows(events: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """The windows of `events` with a `pending` row in `evals`, in `events` order."""
    if evals.empty or events.empty:
        return events.iloc[:0]
    ids = set(evals.loc[evals["status"] == "pending", "window_id"].astype(str))
    return events[events["window_id"].astype(str).isin(ids)].reset_index(drop=True)


def late_tape(windows: pd.DataFrame, read_coin: Callable[[str], pd.DataFrame],
              horizons_s: Sequence[int]) -> pd.DataFrame:
    """The frames `late_rows` reads of the two days' tape (`read_coin(coin)`: that coin's
    frames of both days), a coin of `windows` at a time: from the last frame at or before
    its earliest window to the first frame after its latest horizon end. Every entry, exit,
    range and coverage `evaluate_windows` finds for these windows lies there, so the rows
    are those of the whole tape, without the step holding both days of every coin."""
    if windows.empty or "coin" not in windows.columns:  # e.g. an empty look-back frame
        return empty_frame()[READ_COLUMNS]  # (the lake's window with no day: no columns)
    far = int(max(horizons_s, default=0)) * 1000
    parts = []
    for coin, rows in windows.groupby(windows["coin"].astype(str), sort=True):
        tape = read_coin(coin)
        ts = tape["ts_ms"].to_numpy(dtype=np.int64)
        first, last = int(rows["ts_ms"].min()), int(rows["ts_ms"].max()) + far
        before, after = ts[ts <= first], ts[ts > last]
        lo = int(before.max()) if len(before) else np.iinfo(np.int64).min
        hi = int(after.min()) if len(after) else np.iinfo(np.int64).max
        parts.append(tape[(ts >= lo) & (ts <= hi)])
        del tape
    return (pd.concat(parts, ignore_index=True) if parts
            else empty_frame()[READ_COLUMNS])


def late_rows(events: pd.DataFrame, evals: pd.DataFrame, tape: pd.DataFrame | None,
              horizons_s: Sequence[int], fee_bps: float,
              gap_tolerance_s: float) -> pd.DataFrame:
    """The `pending` rows of `evals` (one day's signal_eval) evaluated again over `tape`
    (that day's MicroTape and the next day's, or `late_tape`'s frames of them; None: no
    tape, nothing to complete), in `evals` order; an empty frame with the
    signal_eval columns when nothing is pending. `events` is the same day's signal_events
    (the windows' direction, publication and propensity)."""
    empty = evaluate_windows(_no_windows(), empty_frame(), horizons_s, fee_bps,
                             gap_tolerance_s)
    if evals.empty or events.empty or tape is None:
        return empty
    pending = evals[evals["status"] == "pending"]
    if pending.empty:
        return empty
    windows = pending_windows(events, evals)
    again = evaluate_windows(windows, tape, horizons_s, fee_bps, gap_tolerance_s)
    wanted = pd.MultiIndex.from_frame(pending[KEY].astype({"window_id": str}))
    have = pd.MultiIndex.from_frame(again[KEY].astype({"window_id": str}))
    pos = have.get_indexer(wanted)
    if (pos < 0).any():
        missing = pending.iloc[int(np.flatnonzero(pos < 0)[0])]
        raise ValueError(f"signal_eval row ({missing['window_id']}, {missing['horizon_s']} s) "
                         "has no window in signal_events or no such horizon: the two "
                         "partitions do not belong together")
    return again.iloc[pos].reset_index(drop=True)


def with_late(evals: pd.DataFrame, late: pd.DataFrame) -> pd.DataFrame:
    """`evals` (signal_eval rows, any number of days) with each row that `late` holds again
    (same window and horizon) taking `late`'s outcome and status (those of its outcome
    columns `evals` holds: a reader may read only some); every other column, the row order
    and the row count are `evals`'. `late` may hold rows of days outside `evals`:
    they are ignored."""
    return LateRows(late).on(evals)


class LateRows:
    """`late` keyed once, to lay over many pieces of signal_eval (`on(piece)` is
    `with_late(piece, late)`; row-wise, so the pieces laid are the whole laid)."""

    def __init__(self, late: pd.DataFrame) -> None:
        self.late = late
        self.have: pd.MultiIndex | None = None  # keyed at the first piece with rows
        self.ids: pa.Array | None = None

    def on(self, evals: pd.DataFrame) -> pd.DataFrame:
        if evals.empty or self.late.empty:
            return evals
        if self.have is None:
            self.have = pd.MultiIndex.from_frame(self.late[KEY].astype({"window_id": str}))
            if self.have.has_duplicates:
                raise ValueError("signal_eval_late holds a (window, horizon) twice")
            self.ids = _ids(self.late["window_id"])
        # only the rows whose window `late` names are keyed (in Arrow: a 250,000-window
        # read's every id as a Python string was ~40 MB, for a few hundred late rows)
        maybe = np.flatnonzero(pc.is_in(_ids(evals["window_id"]), value_set=self.ids)
                               .to_numpy(zero_copy_only=False))
        pos = self.have.get_indexer(pd.MultiIndex.from_frame(
            evals[KEY].iloc[maybe].astype({"window_id": str})))
        hit = pos >= 0
        if not hit.any():
            return evals
        out = evals.copy()
        rows, take = maybe[hit], pos[hit]
        for col in (c for c in OUTCOME_COLUMNS if c in out.columns):  # evals may hold a few
            out.iloc[rows, out.columns.get_loc(col)] = self.late[col].array[take]  # dtypes kept
        return out


def _ids(ids: pd.Series) -> pa.Array:
    """Window ids as Arrow strings (`with_late`'s set lookup)."""
    return pa.array(ids.astype(str).array, type=pa.large_string())


def _no_windows() -> pd.DataFrame:
    return pd.DataFrame({"window_id": pd.Series([], dtype=str),
                         "ts_ms": pd.Series([], dtype="int64"),
                         "coin": pd.Series([], dtype=str),
                         "detector_id": pd.Series([], dtype=str),
                         "direction": pd.Series([], dtype="int8"),
                         "published": pd.Series([], dtype=bool),
                         "propensity": pd.Series([], dtype="float64")})

