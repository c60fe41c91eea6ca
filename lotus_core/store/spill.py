"""Per-coin parts of a day's time-ordered tables, put aside on disk while the day is made
coin by coin and read back merged into the day's order (a step's memory
independent of how many coins run).

A table such as signal_events is sorted by (ts_ms, coin, ...): a stage that makes it one
coin at a time cannot hand it on a coin at a time without changing its order. So each
coin's part (already in the table's order within the coin) is written to its own Arrow IPC
file in record batches of a few rows, its time column kept in memory (4 bytes a row: offsets
from the coin's first time), and `merged` yields slices of the table in its order
(`InOrder` hands them to the lake): where each coin's rows of the next slice end is found
from the time columns by bisection, then the slice reads, from each coin's file, only the
batches that hold its rows, and sorts them by time. Held: a slice, about two batches a
coin, and the times; no order of the whole table (at 100 coins an order of signal_eval's
3.2 M rows is ~90 MB).

Arrow IPC, not Parquet: a Parquet file's footer describes every row group's every column,
and a merge holds every coin's file open; a hundred coins' files cut in small row groups
would hold hundreds of MB of footers. An IPC file's footer is a list of batch offsets.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lotus_core.arrays import positions_by
from lotus_core.malloc import release_free_heap
from lotus_core.store.lake import SLICE_ROWS
from lotus_core.store.merged import NO_TIMES, CoinTimes, merge_cuts

_IPC = pa.ipc.IpcWriteOptions(compression="lz4")
SLICE_BYTES = 8 << 20
"""About the bytes (Arrow) of a merged slice: a table of wide rows (signal_events, ~1.3 KB a
row) comes in slices of ~6,000 rows, a narrow one (signal_eval, curator_log) in slices of
up to 100,000. Each slice is checked against the schema on its way to the lake, a cost
mostly per call, so narrow tables are not cut finer than their memory needs."""


class RowSpill:
    """A table made in its final order a few rows at a time (the DM's tickets and the paper
    Trader's rows as the joint replay makes them), appended to an Arrow IPC file and read
    back in slices: its maker holds a batch, not the day. `empty` fixes the columns and
    their types (each appended frame is cast to them). Write everything, `close`, then
    read (`slices`, `columns`, `take`)."""

    def __init__(self, path: Path, empty: pd.DataFrame) -> None:
        self.path, self.empty, self.rows = Path(path), empty, 0
        self._schema = pa.Schema.from_pandas(empty, preserve_index=False)
        self._sink: pa.OSFile | None = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_file(self._sink, self._schema, options=_IPC)

    def append(self, frame: pd.DataFrame) -> None:
        if self._sink is None:
            raise ValueError(f"{self.path.name}: appended to after close")
        if len(frame):
            self._writer.write_table(pa.Table.from_pandas(
                frame[list(self.empty.columns)], schema=self._schema, preserve_index=False))
            self.rows += len(frame)

    def close(self) -> None:
        if self._sink is not None:
            self._writer.close()
            self._sink.close()
            self._sink = None

    def _batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        if self._sink is not None:
            raise ValueError(f"{self.path.name}: read before close")
        with pa.OSFile(str(self.path)) as f:
            reader = pa.ipc.open_file(f)
            for b in range(reader.num_record_batches):
                batch = reader.get_batch(b)
                yield batch if columns is None else batch.select(columns)

    def slices(self, rows: int = SLICE_ROWS) -> Iterator[pd.DataFrame]:
        """The rows in order, about `rows` at a time (whole batches; none when empty)."""
        held: list[pa.RecordBatch] = []
        count = 0
        for batch in self._batches():
            held.append(batch)
            count += batch.num_rows
            if count >= rows:
                yield pa.Table.from_batches(held, self._schema).to_pandas()
                held, count = [], 0
        if held:
            yield pa.Table.from_batches(held, self._schema).to_pandas()

    def columns(self, names: list[str]) -> pd.DataFrame:
        """Every row, only `names` (a view of a few narrow columns)."""
        schema = pa.schema([self._schema.field(n) for n in names])
        return pa.Table.from_batches(list(self._batches(names)), schema).to_pandas()

    def take(self, positions: np.ndarray, names: list[str]) -> pd.DataFrame:
        """The rows at `positions` (ascending), only `names`: a batch read at a time."""
        want = np.asarray(positions, dtype=np.int64)
        parts: list[pa.Table] = []
        start = 0
        for batch in self._batches(names):
            stop = start + batch.num_rows
            at = want[(want >= start) & (want < stop)] - start
            if len(at):
                parts.append(pa.Table.from_batches([batch]).take(pa.array(at)))
            start = stop
        schema = pa.schema([self._schema.field(n) for n in names])
        return (pa.concat_tables(parts) if parts else schema.empty_table()).to_pandas()


class CoinSpill:
    """A directory of per-coin parts (one file per table and coin), removed by `close`.

    `put` a coin's part of a table, sorted within the coin in the table's order, with a
    time column (int64; the table's own `ts_ms`, or one added for the merge and dropped
    after: `drop`). `merged` gives the table's rows sorted by (time, coin, the part's
    order): the order `np.lexsort` of (..., coin, ts_ms) gives the whole day's rows when
    the part's order is the rest of the key (coins compared as Python strings).

    A table's slice is sized from its first part's bytes a row (`SLICE_BYTES`), and its
    batches so that one for each of `coins` coins is about a slice; `chunk_rows` fixes the
    batches instead (tests)."""

    def __init__(self, coins: int, directory: Path | None = None, *,
                 slice_bytes: int = SLICE_BYTES, chunk_rows: int | None = None) -> None:
        if coins < 1 or (chunk_rows is not None and chunk_rows < 1):
            raise ValueError(f"coins and chunk_rows must be >= 1, got {coins}, {chunk_rows}")
        self._coins, self._slice_bytes, self._fixed = coins, slice_bytes, chunk_rows
        self._dir = Path(tempfile.mkdtemp(prefix="lotus-spill-", dir=directory))
        self._parts: dict[str, dict[str, tuple[Path, CoinTimes]]] = {}
        self._sizes: dict[str, tuple[int, int]] = {}  # table: (slice rows, batch rows)

    def _size(self, table: str, data: pa.Table) -> tuple[int, int]:
        if table not in self._sizes:
            row = max(data.nbytes // max(data.num_rows, 1), 1)
            rows = int(min(max(self._slice_bytes // row, 1_000), 100_000))
            self._sizes[table] = (rows, self._fixed or max(16, rows // self._coins))
        return self._sizes[table]

    def put(self, table: str, coin: str, part: pd.DataFrame, time: str = "ts_ms") -> None:
        if coin in self._parts.get(table, {}):
            raise ValueError(f"{table}: coin {coin} was put already")
        times = part[time].to_numpy(dtype=np.int64)
        if len(times) > 1 and (np.diff(times) < 0).any():
            raise ValueError(f"{table}: coin {coin}'s part is not in {time} order")
        path = self._dir / f"{table}.{len(self._parts.get(table, {}))}.arrow"
        data = pa.Table.from_pandas(part, preserve_index=False).combine_chunks()
        chunk = self._size(table, data)[1]
        with pa.OSFile(str(path), "wb") as sink, \
                pa.ipc.new_file(sink, data.schema, options=_IPC) as writer:
            writer.write_table(data, max_chunksize=chunk)  # batch k: rows k x chunk on
        self._parts.setdefault(table, {})[coin] = (path, CoinTimes(times))

    def coins(self, table: str) -> list[str]:
        return sorted(self._parts.get(table, {}))

    def merged(self, table: str, drop: tuple[str, ...] = (),
               rows: int | None = None) -> Iterator[pd.DataFrame]:
        """The table's rows in (time, coin, part order), in slices of `rows` rows (default:
        sized by its bytes a row; the last one shorter; none when the table has none).
        `drop`: columns put only for the merge. Each slice takes from each coin a contiguous
        range of its rows (the merge keeps each coin's order): where each coin's range ends
        is found from the time columns (`_cuts`), so no order of the whole table is held,
        and only the batches that hold the range are read."""
        parts = [self._parts[table][c] for c in self.coins(table)]
        if not parts:
            return
        step, chunk = rows or self._sizes[table][0], self._sizes[table][1]
        times = [t for _, t in parts]
        taken = np.zeros(len(parts), dtype=np.int64)  # each coin's rows handed on so far
        files = [pa.OSFile(str(path)) for path, _ in parts]
        try:
            readers = [pa.ipc.open_file(f) for f in files]
            while True:
                cut = merge_cuts(times, taken, step)
                feeds = [c for c in range(len(parts)) if cut[c] > taken[c]]
                if not feeds:
                    return
                pieces = [_rows(readers[c], chunk, int(taken[c]), int(cut[c])) for c in feeds]
                piece = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
                # laid end to end in coin order: a stable sort by time is the merge's order
                keys = np.concatenate([times[c].at(int(taken[c]), int(cut[c])) for c in feeds])
                frame = piece.take(pa.array(np.argsort(keys, kind="stable"))).to_pandas()
                taken = cut
                del piece, pieces, keys
                release_free_heap()  # each slice's many small pieces leave pages in the heap
                yield frame.drop(columns=list(drop)) if drop else frame
        finally:
            for f in files:
                f.close()

    def spread(self, table: str, slices: Iterable[pd.DataFrame | pa.Table],
               columns: list[str] | None = None) -> SpilledCoins:
        """A table not stored by coin (e.g. signal_events, in (ts_ms, coin) order) regrouped
        by coin in one pass over its slices: each slice's rows of a coin appended to that
        coin's file. Returns it as a `CoinTape` (each coin's rows in the table's order), so
        a step walks it a coin at a time without scanning the table once per coin. Slices
        given as Arrow tables (a partition's row groups) are split in Arrow: no row becomes
        a pandas object (what a wide table's strings would cost)."""
        if table in self._parts:
            raise ValueError(f"{table} was put or spread already")
        writers: dict[str, tuple[pa.OSFile, pa.ipc.RecordBatchFileWriter]] = {}
        empty: pd.DataFrame | None = None
        try:
            for frame in slices:
                if empty is None:
                    empty = _empty_of(frame, columns)
                for coin, data in _by_coin(frame, columns):
                    if coin not in writers:
                        path = self._dir / f"{table}.{len(writers)}.arrow"
                        sink = pa.OSFile(str(path), "wb")
                        writers[coin] = (sink, pa.ipc.new_file(sink, data.schema,
                                                               options=_IPC))
                        self._parts.setdefault(table, {})[coin] = (path, NO_TIMES)
                    writers[coin][1].write_table(data)
        finally:
            for sink, writer in writers.values():
                writer.close()
                sink.close()
        self._parts.setdefault(table, {})
        return SpilledCoins(self, table, empty)

    def read(self, table: str, coin: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A coin's rows of a spread table, in the table's order."""
        with pa.OSFile(str(self._parts[table][coin][0])) as f:
            data = pa.ipc.open_file(f).read_all()
        return (data if columns is None else data.select(columns)).to_pandas()

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> CoinSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _empty_of(frame: pd.DataFrame | pa.Table, columns: list[str] | None) -> pd.DataFrame:
    """The slice's columns, no rows (what a coin without rows reads as)."""
    if isinstance(frame, pa.Table):
        part = frame if columns is None else frame.select(columns)
        return part.schema.empty_table().to_pandas()
    return (frame if columns is None else frame[columns]).iloc[:0]


def _by_coin(frame: pd.DataFrame | pa.Table, columns: list[str] | None
             ) -> Iterator[tuple[str, pa.Table]]:
    """(coin, its rows of `frame` as Arrow, in the frame's order) per coin, first seen first."""
    if isinstance(frame, pa.Table):
        data = frame if columns is None else frame.select(columns)
        coin = data["coin"]
        for name in pc.unique(coin).to_pylist():
            yield str(name), data.filter(pc.equal(coin, name))
        return
    part = frame if columns is None else frame[columns]
    for name, rows in positions_by(part["coin"].to_numpy(dtype=object)).items():
        yield str(name), pa.Table.from_pandas(part.iloc[rows], preserve_index=False)


def _rows(reader: pa.ipc.RecordBatchFileReader, chunk: int, start: int, stop: int) -> pa.Table:
    """Rows [start, stop) of a coin's file of `chunk`-row batches: only the batches that
    hold them."""
    first, last = start // chunk, (stop - 1) // chunk
    batches = pa.Table.from_batches([reader.get_batch(b) for b in range(first, last + 1)])
    return batches.slice(start - first * chunk, stop - start)


class SpilledCoins:
    """A table spread by coin in a `CoinSpill` (`CoinSpill.spread`), read like a `CoinDay`."""

    def __init__(self, spill: CoinSpill, table: str, empty: pd.DataFrame | None) -> None:
        self._spill, self._table, self._empty = spill, table, empty

    def coins(self) -> list[str]:
        return self._spill.coins(self._table)

    def columns(self) -> list[str]:
        """The table's columns (none when it had no slice)."""
        return [] if self._empty is None else list(self._empty.columns)

    def read(self, coin: str, columns: list[str] | None = None) -> pd.DataFrame:
        if coin not in self._spill.coins(self._table):
            empty = self._empty if self._empty is not None else pd.DataFrame()
            return empty if columns is None else empty[columns]
        return self._spill.read(self._table, coin, columns)

    def whole(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every coin's rows (in coin order, then the table's): small tables and tests."""
        frames = [self.read(c, columns) for c in self.coins()]
        if frames:
            return pd.concat(frames, ignore_index=True)
        empty = self._empty if self._empty is not None else pd.DataFrame()
        return empty if columns is None else empty[columns]
