"""The learning frame: signal_events joined to their realised outcome at the lesson horizon.

One row per window whose outcome is `done` at `horizon_s`; pending and missing outcomes are
left out (never guessed). Rows are ordered (ts_ms, coin, detector_id) so every later stage
is deterministic whatever order the lake returned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.evaluation.outcomes import OUTCOME_COLUMNS
from lotus_core.learning.ids import arrow_ids, id_hashes, take_ids
from lotus_core.learning.quantize import CONTEXT_COLUMNS
from lotus_core.malloc import release_free_heap

KEEP = ("window_id", "ts_ms", "coin", "detector_id", *CONTEXT_COLUMNS, "date")
EVENT_COLUMNS = [c for c in KEEP if c != "date"]
"""The signal_events columns the learning frame reads (the lake adds `date`)."""


def missing_horizon(horizon_s: int, have: set[int]) -> ValueError:
    """The error of a window whose signal_eval has no row at the lesson horizon."""
    return ValueError(f"signal_eval has no horizon {horizon_s} s (it has {sorted(have)}); "
                      "set learning horizon_s to one of them")


_COMPARE_ROWS = 16_384
"""Matched ids whose strings are compared together (`join_ids`): each side's piece is taken
and compared as Arrow strings, a few MB for this many (65,536 were ~15 MB at once)."""

OUTCOMES = ("net_ret_bps", "hit", "mfe_bps", "mae_bps")
"""The outcome columns the frame carries, after the events' columns."""
EVAL_COLUMNS = ["window_id", "horizon_s",
                *(c for c in OUTCOME_COLUMNS if c in (*OUTCOMES, "status"))]
"""The signal_eval columns it reads: the key, the status and the outcomes it carries (a late
row replaces those of them a reader holds)."""
ORDER = ["ts_ms", "coin", "detector_id"]


def frame_rows(events: pd.DataFrame, evals: pd.DataFrame,
               horizon_s: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Which rows of `events` the learning frame holds, in its order, and their outcomes
    (`OUTCOMES`, indexed from 0): `joined_rows`, then `outcomes_of` those."""
    rows, take = joined_rows(events, evals, horizon_s)
    return rows, outcomes_of(evals, take)


def joined_rows(events: pd.DataFrame, evals: pd.DataFrame,
                horizon_s: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows of `events` the frame holds, in its order; each one's row of `evals`): the
    windows' ids joined (`join_ids`) and three columns sorted, the events never copied
    (a merge and a sort would each copy a 250,000-window night's every column).
    The rows and order are the inner, one-to-one merge's on window_id (the events' order)
    stably sorted by (ts_ms, coin, detector_id)."""
    have = set(evals["horizon_s"].astype(int))
    if horizon_s not in have:
        raise missing_horizon(horizon_s, have)
    done = np.flatnonzero(((evals["horizon_s"] == horizon_s)
                           & (evals["status"] == "done")).to_numpy(dtype=bool))
    pos = join_ids(events["window_id"], evals["window_id"], among=done)
    order = sorted_rows(events)
    rows = order[pos[order] >= 0]  # a stable sort's order of every row, the joined kept
    del order
    return rows, done[pos[rows]]


def sorted_rows(events: pd.DataFrame) -> np.ndarray:
    """(n,) the rows of `events` stably sorted by `ORDER` (Arrow's stable sort of the three
    columns as they are held: the joined rows' copy pandas' sort would make of them, and
    its factorised keys, are ~17 MB at 250,000 windows). The joined rows in this
    order are their own stable sort's: a stable order restricted to some rows keeps them
    in theirs."""
    table = pa.table({c: _arrow(events[c]) for c in ORDER})
    return pc.sort_indices(table, sort_keys=[(c, "ascending") for c in ORDER]).to_numpy()


def _arrow(col: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A column as Arrow (an Arrow-backed one's own arrays, a NumPy one's buffer)."""
    return pa.array(col.array if hasattr(col.array, "__arrow_array__") else col.to_numpy())


def outcomes_of(evals: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """`evals[OUTCOMES].iloc[rows]` (indexed from 0) with `hit` as float64. (Taken a column
    at a time instead, into one block or each its own, the read's peak was the same and
    the search after it 3-7 MB higher at 250,000 windows: the heap laid out otherwise.)"""
    out = evals[list(OUTCOMES)].iloc[rows].reset_index(drop=True)
    out["hit"] = out["hit"].astype("float64")
    return out


def join_ids(mine: pd.Series, theirs: pd.Series, among: np.ndarray | None = None) -> np.ndarray:
    """(len(mine),) each id's row in `theirs`, -1 where it has none; a window twice on either
    side is refused (the one-to-one merge's check). Joined by the ids' 64-bit hashes (sorted
    and searched: ~30 MB less than a hash table of the strings at 250,000 windows), every
    match's strings compared; where two ids share a hash, joined by the strings instead.
    `among`: the rows of `theirs` joined (default all), the result their positions in it, as
    `join_ids(mine, theirs.iloc[among])` gives without the copy (~9 MB at 250,000 windows)."""
    if among is None:
        among = np.arange(len(theirs))
    h_theirs = id_hashes(theirs)[among]
    order = np.argsort(h_theirs, kind="stable")
    ranked = h_theirs[order]
    del h_theirs
    h_mine = id_hashes(mine)  # each side's hashes made when needed, not held together longer
    if repeats(ranked) or repeats(np.sort(h_mine)):
        # a window twice (refused there), or a collision
        return _join_strings(mine, theirs.iloc[among])
    if len(ranked):
        at = np.searchsorted(ranked, h_mine)
        np.minimum(at, len(ranked) - 1, out=at)
        found = ranked[at] == h_mine
        del ranked, h_mine
        pos = np.full(len(found), -1, dtype=np.int64)
        pos[found] = order[at[found]]
        del at, order
    else:
        found = np.zeros(len(h_mine), dtype=bool)
        pos = np.full(len(found), -1, dtype=np.int64)
    rows = np.flatnonzero(found)
    del found
    release_free_heap()  # the search's temporaries (~12 MB at 250,000 windows), not compared
    a_all, b_all = arrow_ids(mine), arrow_ids(theirs)  # the columns' own arrays, no copy
    same = all(pc.all(pc.equal(take_ids(a_all, part), take_ids(b_all, among[pos[part]])))
               .as_py()
               for part in (rows[i:i + _COMPARE_ROWS] for i in range(0, len(rows), _COMPARE_ROWS)))
    release_free_heap()  # the compared pieces' pages
    return pos if same else _join_strings(mine, theirs.iloc[among])  # an id met another's hash


def repeats(ranked: np.ndarray) -> bool:
    """Whether sorted hashes hold one twice."""
    return bool(len(ranked) > 1 and (ranked[1:] == ranked[:-1]).any())


def _join_strings(mine: pd.Series, theirs: pd.Series) -> np.ndarray:
    """`join_ids` on the strings themselves (Arrow's hash table of them)."""
    a, b = arrow_ids(mine), arrow_ids(theirs)
    for ids, table in ((b, "signal_eval holds a window twice at the lesson horizon"),
                       (a, "signal_events holds a window twice")):
        if pc.count_distinct(ids, mode="all").as_py() < len(ids):
            raise pd.errors.MergeError(f"{table}: not a one-to-one join on window_id")
    return pc.index_in(a, value_set=b).fill_null(-1).to_numpy()


def learning_frame(events: pd.DataFrame, evals: pd.DataFrame, horizon_s: int) -> pd.DataFrame:
    """Windows with their net return (bps) and hit at `horizon_s` (see the module docstring)."""
    cols = [c for c in KEEP if c in events.columns]
    if events.empty or evals.empty:
        return pd.DataFrame({c: pd.Series(dtype=events[c].dtype if c in events else "float64")
                             for c in (*cols, *OUTCOMES)})
    rows, outcomes = frame_rows(events, evals, horizon_s)
    return frame_of(events, rows, outcomes)


def frame_of(events: pd.DataFrame, rows: np.ndarray, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The learning frame of the joined `rows` of `events` (in its order) and their
    `outcomes` (`frame_rows`)."""
    cols = [c for c in KEEP if c in events.columns]
    return pd.concat([events[cols].iloc[rows].reset_index(drop=True), outcomes], axis=1)
