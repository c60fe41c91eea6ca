"""The learning window read from the lake a slice at a time, as a bounded uniform sample of
its windows (a 100-coin lake's 14-day window is ~11 M windows; held whole, the learning
steps' memory would grow ~28 MB a coin-day).

Why a sample and how: every estimate the night makes (atoms, the doubly robust uplifts,
their bootstrap intervals, braids, the pooled search) is a function of the window's rows.
A uniform random sample of those rows leaves each estimate unbiased and widens its
interval by the sample's size, which the intervals already report (they are computed on
the rows they see). So above `max_windows` a window is read as a sample of rate
`max_windows / windows`, the same rate for every detector, coin and day (a per-detector or
per-day rate would re-weight the pooled search and the EWMA across days). Which windows
are kept is a hash of `window_id` (`kept`), not a draw: the same lake gives the same
sample on every machine and every night, a window kept at a lower rate is kept at every
higher one, and adding coins only lowers the rate. At or below `max_windows` nothing is
sampled and the frame is the whole window's, as before.

What is held: the kept events (the learning frame's columns), the kept windows' outcomes
at the lesson horizon only (signal_eval holds four horizons), and one row group of a table,
filtered in Arrow before it becomes pandas objects. The row groups' freed pages stay in
glibc's heap unless handed back (`release_free_heap` after every row group of either table,
`releasing_heap`): without it a 100-coin, 14-day window's read ends 290 MB higher
than a 3-coin one's, for the same 250,000 windows kept; and a group's read (~20 MB of a
100-coin day's) left among the kept rows grows the heap by most of itself each group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from lotus_core.evaluation import with_late
from lotus_core.learning.frame import EVAL_COLUMNS, EVENT_COLUMNS, missing_horizon
from lotus_core.learning.ids import id_hashes
from lotus_core.malloc import release_free_heap
from lotus_core.store.by_coin import CoinDay

_SPAN = 2.0 ** 64


def keep_rate(windows: int, max_windows: int | None) -> float:
    """The sampling rate of a window of `windows` windows (1.0: all of them)."""
    if max_windows is None or windows <= max_windows:
        return 1.0
    return max_windows / windows


def kept(window_ids: np.ndarray, rate: float) -> np.ndarray:
    """Which of `window_ids` a sample of `rate` keeps: the window's 64-bit hash (pandas'
    SipHash of the id's UTF-8 bytes, a fixed key) below `rate` of the hash range."""
    if rate >= 1.0:
        return np.ones(len(window_ids), dtype=bool)
    return pd.util.hash_array(np.asarray(window_ids, dtype=object), categorize=False) \
        < _bar(rate)


def _bar(rate: float) -> np.uint64:
    """The hash below which a window is kept at `rate`."""
    return np.uint64(min(int(rate * _SPAN), 2 ** 64 - 1))


@dataclass(frozen=True)
class SampledWindow:
    """The window's events (with `date`) and their outcomes at the lesson horizon (late
    outcomes laid on), kept at `rate` of `windows` (the window's windows, all days)."""

    events: pd.DataFrame
    evals: pd.DataFrame
    windows: int
    rate: float


def concat_or_empty(frames: Sequence[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """The frames with rows concatenated, else `empty` (its columns)."""
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty


def kept_tables(groups: Iterator[pa.Table], keep: Callable[[pa.Table], np.ndarray]
                ) -> Iterator[pa.Table]:
    """Each row group's rows `keep(group)` marks, filtered in Arrow: the rows dropped never
    become pandas objects (at a 2 % rate, 98 % of the window's rows)."""
    for group in groups:
        mask = keep(group)
        if mask.any():
            yield group if mask.all() else group.filter(pa.array(mask))


def kept_rows(groups: Iterator[pa.Table], keep: Callable[[pa.Table], np.ndarray]
              ) -> Iterator[pd.DataFrame]:
    """`kept_tables` converted to pandas, a row group at a time."""
    for table in kept_tables(groups, keep):
        yield table.to_pandas()


def tables_frame(tables: list[pa.Table], empty: pd.DataFrame) -> pd.DataFrame:
    """`concat_or_empty` of the tables made pandas, the list emptied: joined in Arrow (no
    copy) and converted a column at a time, each column's Arrow buffers let go as it is
    converted, so the rows are never held twice (the row groups made pandas and
    their concatenation would be two copies of a 250,000-window night's outcomes, ~25 MB each).
    Tables whose schemas differ (days written apart) are concatenated as pandas does it."""
    tables[:] = [t for t in tables if t.num_rows]
    if not tables:
        return empty
    try:
        table = pa.concat_tables(tables)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)
    tables.clear()
    return table.to_pandas(split_blocks=True, self_destruct=True)


class _Parts:
    """The window's kept events, shaped a row group at a time, held as Arrow tables (their
    pandas columns' own buffers: Arrow-backed strings and numbers as they are, a categorical's
    codes) to be joined by `tables_frame`. Categoricals join as pandas joins them: parts
    whose categories differ (a value the feature's list does not name) become one object
    column, as `pd.concat` makes them, so those are joined in pandas."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.categories: dict[str, pd.Index] | None = None
        self.uniform = True

    def add(self, part: pd.DataFrame) -> None:
        if not len(part):
            return
        cats = {c: part[c].cat.categories for c in part.columns
                if isinstance(part[c].dtype, pd.CategoricalDtype)}
        if self.categories is None:
            self.categories = cats
        elif cats.keys() != self.categories.keys() or \
                not all(cats[c].equals(self.categories[c]) for c in cats):
            self.uniform = False
        self.tables.append(pa.Table.from_pandas(part, preserve_index=False))

    def frame(self, empty: pd.DataFrame) -> pd.DataFrame:
        if self.uniform:
            return tables_frame(self.tables, empty)
        return concat_or_empty([t.to_pandas() for t in self.tables], empty)


def releasing_heap(groups: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """`groups`, the heap handed back after each (once the caller is done with it): a row
    group's read is freed among the rows kept of it, which glibc's heap keeps unless trimmed
    (measured, a 100-coin day's events sampled to 250,000 windows: the read's RSS 86 MB above
    its start trimmed once a day, 49 MB trimmed every group)."""
    for group in groups:
        yield group
        release_free_heap()


def kept_of(group: pa.Table, rate: float) -> np.ndarray:
    """`kept` of a row group's window ids, hashed a slice at a time (`id_hashes`: a
    100-coin day's row group held as Python strings was ~70 MB to hash)."""
    if rate >= 1.0:
        return np.ones(group.num_rows, dtype=bool)
    return id_hashes(group.column("window_id")) < _bar(rate)


def at_horizon(group: pa.Table, horizon_s: int, rate: float) -> np.ndarray:
    """The lesson horizon's rows of the kept windows in a row group of signal_eval (or its
    late rows): a window's outcome is kept by the same hash as its event (no set of the
    kept ids held; an outcome whose window has no event is kept too, and the frame's join
    leaves it out, as it left it out before)."""
    mask = group.column("horizon_s").to_numpy() == horizon_s
    if rate < 1.0 and mask.any():
        mask[mask] = kept_of(group.filter(pa.array(mask)), rate)
    return mask


def read_events(events: Sequence[CoinDay], rate: float,
                shape: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                columns: Sequence[str] = EVENT_COLUMNS) -> pd.DataFrame:
    """The kept events of `events` (their `columns` and `date`), shaped (`read_window`)."""
    parts = _Parts()
    for d in events:
        groups = releasing_heap(d.row_groups(list(columns)))
        for part in kept_rows(groups, lambda g: kept_of(g, rate)):
            part = part.assign(date=d.day)
            parts.add(shape(part) if shape is not None else part)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in (*columns, "date")})
    return parts.frame(shape(empty) if shape is not None else empty)


def eval_groups(evals: Sequence[CoinDay], horizon_s: int, rate: float,
                horizons: set[int]) -> Iterator[pa.Table]:
    """signal_eval's kept rows at the lesson horizon (`at_horizon`), a row group at a time,
    every horizon met added to `horizons` (the heap handed back after each group)."""

    def counted(groups: Iterator[pa.Table]) -> Iterator[pa.Table]:
        for group in groups:
            horizons.update(int(h) for h in np.unique(group.column("horizon_s").to_numpy()))
            yield group

    groups = counted(g for d in evals for g in d.row_groups(EVAL_COLUMNS))
    return kept_tables(releasing_heap(groups), lambda g: at_horizon(g, horizon_s, rate))


def read_late(late: Sequence[CoinDay], horizon_s: int, rate: float) -> pd.DataFrame:
    """signal_eval_late's kept rows at the lesson horizon (a few per window, if any)."""
    return concat_or_empty(list(kept_rows((g for d in late for g in d.row_groups()),
                                          lambda g: at_horizon(g, horizon_s, rate))),
                           pd.DataFrame())


def read_window(events: Sequence[CoinDay], evals: Sequence[CoinDay], late: Sequence[CoinDay],
                horizon_s: int, max_windows: int | None,
                shape: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                columns: Sequence[str] = EVENT_COLUMNS) -> SampledWindow:
    """The learning window's inputs, read a row group at a time: `events` (signal_events'
    days, their `columns` and `date`), `evals` (signal_eval's) and `late`
    (signal_eval_late's), sampled as the module docstring says. `shape`, when given, makes
    each row group's kept events what is held of them (their literals instead of their
    context, `lotus_core.learning.pipeline`); it must keep `window_id`. The outcomes are only
    `horizon_s`'s; a window whose evals hold rows but none at `horizon_s` is refused, as
    `learning_frame` refuses it."""
    windows = sum(d.rows() for d in events)
    rate = keep_rate(windows, max_windows)
    ev = read_events(events, rate, shape, columns)
    horizons: set[int] = set()
    out = tables_frame(list(eval_groups(evals, horizon_s, rate, horizons)),
                       pd.DataFrame({c: pd.Series(dtype=object) for c in EVAL_COLUMNS}))
    if horizons and horizon_s not in horizons:
        raise missing_horizon(horizon_s, horizons)
    lt = read_late(late, horizon_s, rate)
    release_free_heap()
    return SampledWindow(ev, with_late(out, lt), windows, rate)
