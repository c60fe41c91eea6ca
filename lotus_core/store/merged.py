"""A day's coins read back in the day's time order.

A time-ordered table (signal_eval: rows in (ts_ms, coin, the coin's own order)) made a
coin at a time, in a spill (`CoinSpill`) or in the lake's coin files of a day x coin asset,
is handed on in that order without holding an order of the whole day: each coin's time
column is kept (`CoinTimes`, 4 bytes a row), where each coin's rows of the next slice end is
found by bisection (`merge_cuts`), and the slice takes a contiguous range of each coin's
rows, sorted by time (stable: ties in coin order). `merged_files` does this over Parquet
files, one a coin in coin order, reading each coin's row groups once, in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TIME_ORDERED: dict[str, str] = {"signal_eval": "ts_ms", "signal_events": "ts_ms",
                                "curator_log": "window_id"}
"""Day x coin assets whose day is in (time, coin, row) order, and their time column (a
ULID column: the time its first 10 characters hold, `ulid_ms`): a day in coins reads back
in that order (`Lake.read`, `read_slices`, `read_row_groups`), the order one process
scoring the coins wrote, so no reader of the table changes."""

_CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
_DIGIT = np.zeros(256, dtype=np.int64)
_DIGIT[_CROCKFORD] = np.arange(32)
_ULID_TIME_CHARS = 10


def ulid_ms(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The times (int64 ms) of ULID strings: their first 10 Crockford base32 characters (a
    window_id's ts_ms: lotus_core.signals.ids.window_ids)."""
    if len(ids) == 0:
        return np.empty(0, dtype=np.int64)
    chars = (np.asarray(ids.to_numpy(zero_copy_only=False), dtype=f"S{_ULID_TIME_CHARS}")
             .view(np.uint8).reshape(-1, _ULID_TIME_CHARS))
    out = np.zeros(len(chars), dtype=np.int64)
    for i in range(_ULID_TIME_CHARS):
        out = (out << 5) | _DIGIT[chars[:, i]]
    return out


def _times(column: pa.ChunkedArray) -> np.ndarray:
    """A time column as int64: integers as they are, ULID strings by their time part."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return ulid_ms(column)
    return column.to_numpy().astype(np.int64, copy=False)

MERGE_GROUP_ROWS = 4_096
"""Row groups of a time-ordered asset's coin file: a merged read holds one a coin (at 100
coins about 40 MB of signal_eval), and the footers of a hundred files stay small."""

_WIDE_GROUP_ROWS = {"signal_events": 1_024}
"""... smaller for a wide table (signal_events: 75 columns, ~1.3 kB a row): a merged read
of its readers' columns (the DM's 12, ~150 B a row) holds ~15 MB at 100 coins, not ~60."""


def merge_group_rows(asset: str) -> int:
    """The row group size of `asset`'s coin files (a time-ordered asset)."""
    return _WIDE_GROUP_ROWS.get(asset, MERGE_GROUP_ROWS)


class CoinTimes:
    """A coin part's time column (non-decreasing) as offsets from its first time: 4 bytes a
    row when its span fits int32 (a day in ms does), 8 otherwise."""

    def __init__(self, times: np.ndarray) -> None:
        self.base = int(times[0]) if len(times) else 0
        span = int(times[-1]) - self.base if len(times) else 0
        narrow = span < 2**31 - 1
        self.offsets = (times - self.base).astype(np.int32 if narrow else np.int64)
        self._top = 2**31 - 1 if narrow else 2**63 - 1  # above every int32 offset

    def __len__(self) -> int:
        return len(self.offsets)

    def first(self, row: int) -> int:
        return self.base + int(self.offsets[row])

    def last(self) -> int:
        return self.base + int(self.offsets[-1])

    def upto(self, time: int, side: Literal["left", "right"]) -> int:
        """Rows before `time` (side="left") or at or before it (side="right")."""
        if time < self.base:
            return 0
        # the offsets' own scalar type: a Python int makes numpy cast the whole array
        at = self.offsets.dtype.type(min(time - self.base, self._top))
        return int(self.offsets.searchsorted(at, side))

    def at(self, start: int, stop: int) -> np.ndarray:
        return self.offsets[start:stop].astype(np.int64) + self.base


def merge_cuts(times: Sequence[CoinTimes], taken: np.ndarray, want: int) -> np.ndarray:
    """Where each coin's rows end in the next `want` rows of the merge after `taken`: the
    rows are in (time, coin, row) order, so the slice is every row before some time T and,
    of the rows at T, the first ones in coin order. T is the least time with `want` rows at
    or before it, found by bisection over the times (each step a binary search a coin)."""
    ends = np.array([len(t) for t in times], dtype=np.int64)
    left = [c for c in range(len(times)) if taken[c] < ends[c]]
    if not left:
        return taken.copy()

    def through(time: int, side: Literal["left", "right"]) -> np.ndarray:
        return np.maximum([t.upto(time, side) for t in times], taken)

    lo = min(times[c].first(int(taken[c])) for c in left)
    hi = max(times[c].last() for c in left)
    if int((through(hi, "right") - taken).sum()) <= want:
        return ends
    # a coin with `want` rows left has them all at or before its want-th time: T is no later
    hi = min([hi, *(times[c].first(int(taken[c]) + want - 1) for c in left
                    if ends[c] - taken[c] >= want)])
    while lo < hi:  # the least T with at least `want` rows at or before it
        mid = (lo + hi) // 2
        if int((through(mid, "right") - taken).sum()) >= want:
            hi = mid
        else:
            lo = mid + 1
    cut, at_t = through(lo, "left"), through(lo, "right")
    need = want - int((cut - taken).sum())  # rows at T still to take, in coin order
    for c in range(len(times)):
        more = min(int(at_t[c] - cut[c]), need)
        cut[c] += more
        need -= more
    return cut


NO_TIMES = CoinTimes(np.empty(0, np.int64))
"""A spread table's parts (read by coin, never merged) keep no times."""


Opener = Callable[[], AbstractContextManager[pq.ParquetFile]]
"""Opens a coin's file (and closes it on leaving): a merged read opens each file when it
reads one of its row groups, never holding every coin's footer (a 75-column file's parsed
footer is ~0.7 MB: 70 MB at 100 coins)."""


def path_opener(path: str | Path) -> Opener:
    """An `Opener` of a local file."""

    @contextlib.contextmanager
    def opened() -> Iterator[pq.ParquetFile]:
        f = pq.ParquetFile(path)
        try:
            yield f
        finally:
            f.close()

    return opened


class _Cursor:
    """A coin's file read forward by row ranges, a row group decoded once (the last one
    kept for the next range, which starts where this one stopped); the file is open only
    while a row group is read."""

    def __init__(self, open_file: Opener, sizes: list[int], columns: list[str] | None) -> None:
        self.open_file, self.columns = open_file, columns
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self._group, self._table = -1, None

    def _get(self, g: int) -> pa.Table:
        if g != self._group:
            self._group, self._table = g, None  # the previous group freed before the next
            with self.open_file() as f:
                self._table = f.read_row_group(g, columns=self.columns, use_threads=False)
        assert self._table is not None
        return self._table

    def rows(self, start: int, stop: int) -> pa.Table:
        first = int(np.searchsorted(self.starts, start, "right")) - 1
        last = int(np.searchsorted(self.starts, stop - 1, "right")) - 1
        pieces = []
        for g in range(first, last + 1):
            table, lo = self._get(g), int(self.starts[g])
            a, b = max(start, lo) - lo, min(stop, int(self.starts[g + 1])) - lo
            pieces.append(table.slice(a, b - a))
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


def merged_files(files: Sequence[Opener], time: str, rows: int,
                 columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The rows of `files` (openers of a coin's file each, in coin order, each in time
    order) in (time, coin, row) order, in tables of `rows` rows (the last one shorter; none
    when there are none). A file is open while its times or one of its row groups is read."""
    times, cursors = [], []
    for open_file in files:
        with open_file() as f:
            times.append(CoinTimes(_times(f.read(columns=[time], use_threads=False).column(0))))
            meta = f.metadata
            sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        cursors.append(_Cursor(open_file, sizes, columns))
    taken = np.zeros(len(files), dtype=np.int64)
    while True:
        cut = merge_cuts(times, taken, rows)
        feeds = [c for c in range(len(files)) if cut[c] > taken[c]]
        if not feeds:
            return
        pieces = [cursors[c].rows(int(taken[c]), int(cut[c])) for c in feeds]
        piece = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        keys = np.concatenate([times[c].at(int(taken[c]), int(cut[c])) for c in feeds])
        yield piece.take(pa.array(np.argsort(keys, kind="stable")))
        taken = cut
