"""The learning window's events joined to their outcomes a few row groups of signal_eval at
a time (`JOIN_ROWS` kept rows): the outcomes are never held as a table of the
window's evals (their ids, horizons and statuses would be ~25 MB of a 250,000-window night,
held beside the events while the ids were hashed and joined, the `braids` and
`meta_braids` steps' peak), only each joined window's outcome columns and its row of the
events.

The rows, their order and their values are `frame.joined_rows` + `frame.outcomes_of` of
`sample.read_window`'s frames: a window's outcome is its lesson-horizon row of signal_eval
with the late row laid on (`LateRows`, row-wise, so a piece at a time is the whole's),
joined when `done`, by the ids' 64-bit hashes with every match's strings compared. What
the hashes cannot decide alone (two events or two done outcomes of one hash: a window
twice, refused there, or a collision; a match whose strings differ) is left to that
whole-table join: `read_joined` returns None and the caller reads the window so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.evaluation.late import LateRows
from lotus_core.learning.frame import (
    EVENT_COLUMNS,
    OUTCOMES,
    missing_horizon,
    outcomes_of,
    repeats,
    sorted_rows,
)
from lotus_core.learning.ids import arrow_ids, id_hashes, take_ids
from lotus_core.learning.sample import (
    eval_groups,
    keep_rate,
    read_events,
    read_late,
    tables_frame,
)
from lotus_core.malloc import release_free_heap
from lotus_core.store.by_coin import CoinDay

_NO_ROWS = pd.DataFrame()

JOIN_ROWS = 8_192
"""Kept outcome rows joined at a time (a few MB): each piece's pandas work (the late rows
laid on, the ids hashed) costs ~8 ms whatever its rows, ~1 s a night in row groups of
~2,000 kept rows (a 100-coin day's, sampled)."""


@dataclass(frozen=True)
class JoinedWindow:
    """The window's kept events as read, which of their rows the learning frame holds (in
    its order), those rows' `OUTCOMES` (indexed from 0), and what was sampled."""

    events: pd.DataFrame
    rows: np.ndarray
    outcomes: pd.DataFrame
    windows: int
    rate: float
    outcome_rows: int  # signal_eval's kept rows at the horizon (0: the window has none)


class _Events:
    """The events' ids hashed and sorted, to find a group's outcomes' windows among them."""

    def __init__(self, ids: pd.Series) -> None:
        hashes = id_hashes(ids)
        self.order = np.argsort(hashes, kind="stable")
        self.ranked = hashes[self.order]
        self.ids = arrow_ids(ids)

    def rows_of(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of `hashes` an event has, those events' rows)."""
        if not len(self.ranked):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ranked, hashes), len(self.ranked) - 1)
        found = np.flatnonzero(self.ranked[at] == hashes)
        return found, self.order[at[found]]


def read_joined(events: Sequence[CoinDay], evals: Sequence[CoinDay], late: Sequence[CoinDay],
                horizon_s: int, max_windows: int | None,
                shape: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                columns: Sequence[str] = EVENT_COLUMNS) -> JoinedWindow | None:
    """`read_window`'s events, joined to their outcomes as its frames would be, the outcomes
    a row group at a time (module docstring); None where the hashes cannot decide."""
    windows = sum(d.rows() for d in events)
    rate = keep_rate(windows, max_windows)
    ev = read_events(events, rate, shape, columns)
    lt = LateRows(read_late(late, horizon_s, rate))
    mine = _Events(ev["window_id"])
    if repeats(mine.ranked):
        return None
    horizons: set[int] = set()
    hashes, ev_rows, parts = [], [], []
    outcome_rows = 0
    for piece in _batched(eval_groups(evals, horizon_s, rate, horizons), JOIN_ROWS):
        outcome_rows += len(piece)
        df = lt.on(piece)
        del piece
        done = np.flatnonzero((df["status"] == "done").to_numpy(dtype=bool))
        h = id_hashes(df["window_id"].iloc[done])
        found, at = mine.rows_of(h)
        theirs = done[found]
        if len(theirs) and not pc.all(pc.equal(
                take_ids(mine.ids, at), arrow_ids(df["window_id"]).take(theirs))).as_py():
            return None  # an id met another's hash
        hashes.append(h)
        ev_rows.append(at)
        parts.append(df[list(OUTCOMES)].iloc[theirs])
        del df
    if horizons and horizon_s not in horizons:
        raise missing_horizon(horizon_s, horizons)
    if hashes and repeats(np.sort(np.concatenate(hashes))):
        return None  # a done outcome twice (refused there), or a collision
    del hashes, mine
    joined = np.concatenate(ev_rows) if ev_rows else np.zeros(0, dtype=np.int64)
    del ev_rows
    pos = np.full(len(ev), -1, dtype=np.int64)
    pos[joined] = np.arange(len(joined))
    del joined
    order = sorted_rows(ev)
    rows = order[pos[order] >= 0]
    del order
    take = pos[rows]
    del pos
    read = pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame({c: pd.Series(dtype="float64") for c in OUTCOMES})
    del parts
    release_free_heap()
    return JoinedWindow(ev, rows, outcomes_of(read, take), windows, rate, outcome_rows)


def _batched(groups: Iterator[pa.Table], rows: int) -> Iterator[pd.DataFrame]:
    """The groups' rows in frames of at least `rows` rows (the last may hold fewer), joined
    as the window's tables are (`tables_frame`; `kept_tables` gives no group without rows)."""
    held: list[pa.Table] = []
    n = 0
    for group in groups:
        held.append(group)
        n += group.num_rows
        if n >= rows:
            yield tables_frame(held, _NO_ROWS)
            held, n = [], 0
    if held:
        yield tables_frame(held, _NO_ROWS)

