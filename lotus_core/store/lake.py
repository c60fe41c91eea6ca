"""The lake: one Parquet file per asset and UTC day, or per asset, day and coin, replaced
atomically, queried with DuckDB.

Layout: `<asset>/date=<day>/part.parquet` for a daily asset; `<asset>/date=<day>/coin=<coin>/
part.parquet` for one partitioned by day x coin (the coin URL-quoted). A day is in
one layout or the other: writing a coin removes that day's whole-day file, writing the day
removes its coin files. Every reader of a day (`read`, `read_coin`, `coins`, `read_slices`,
...) takes either: a day in coins reads as the coins' files in coin order, as if one file;
a time-ordered asset's (`lotus_core.store.merged.TIME_ORDERED`: signal_eval, signal_events,
curator_log) merged back into the day's time order, the order one process making every coin
wrote.

The root is a filesystem path (local, or a shared mount every worker reaches: NFS, EFS,
CephFS, ...) or an object-store URL (s3://, gs://, abfs://, hdfs://, memory://; pyarrow's
filesystems, or fsspec's through pyarrow's FSSpecHandler). The atomic-write guarantee:

- filesystem: a partition is written to a hidden temporary file in its own directory,
  flushed to disk and then renamed over the previous file (rename is atomic on POSIX
  filesystems, including NFSv3+/EFS within one directory), so readers (and a failed or killed
  run) only ever see the old complete file or the new complete file;
- object store: the whole file is built in memory and sent as one object put (S3 PutObject,
  or a multipart upload that becomes visible only when CompleteMultipartUpload succeeds; GCS
  and Azure likewise), so readers see the old object or the new one, never a torn write.
  There is no temporary object and nothing to sweep.

Parallel partitions of a backfill write to different directories/keys and never meet.

A whole day of partitions at once (filesystem lakes): while `staging(root, day)` is open,
every `Lake` of that root made in the process writes into a stage under `<root>/.stage/`
and reads a partition from the stage when the stage holds it; `Stage.publish()` then moves
each day directory made into the lake (journalled: `recover_stages` finishes a publish a
kill interrupted and removes a stage that never got that far). `lotus materialize` makes
each day so: a day that fails or is killed leaves the lake's partitions of it as they were.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote, unquote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:  # DuckDB loads when a query first needs it (~0.2-0.4 s a process)
    import duckdb

from lotus_core.processes import pid_alive
from lotus_core.store.merged import (
    TIME_ORDERED,
    Opener,
    merge_group_rows,
    merged_files,
    path_opener,
)

PART_FILE = "part.parquet"


def use_system_allocator() -> None:
    """Arrow allocates through the C library's malloc, not its bundled mimalloc (a process
    setting, made once here because every Parquet read in Lotus goes through the lake).

    Why: mimalloc keeps a read's decode buffers resident after the read. A
    30-coin x 6-hour MicroTape day (214 MB as a frame) read whole peaked at +735 MB and
    stayed +644 MB; with the system allocator +428 / +428 (the Arrow table and its pandas
    copy), and no slower (0.34 s against 1.13 s). Freed blocks then go back to the OS
    (large ones at once, the heap's with `release_free_heap`). Values never change.
    This moves pyarrow's own allocations only; Arrow's C++ code allocates from the pool that
    `ARROW_DEFAULT_MEMORY_POOL` named when pyarrow loaded, which `lotus_core` sets first
    (its docstring)."""
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


use_system_allocator()
_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_COIN_DIR = re.compile(r"^coin=(.+)$")
_ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


SLICE_ROWS = 25_000
"""Rows a slice of `read_slices` holds at most, and of a row group of a partition written
whole: Arrow's reader decodes a row group at a time, so a slice is bounded only when the
row groups are (a check that folds signal_events holds a slice, not the day).
Measured (`python -m bench.fold_memory`: the signal_events check alone, a fresh process):
3 / 10 / 30 / 100 coins x 24 h peak 298 / 358 / 380 / 401 MB folded; read whole, 284 / 426
/ 839 / 2,229 MB."""


def _row_groups(f: pq.ParquetFile, columns: list[str] | None) -> Iterator[pa.Table]:
    """Each row group as an Arrow table (a reader that filters rows before it converts
    them: the rows it drops never become pandas objects)."""
    for g in range(f.metadata.num_row_groups):
        yield f.read_row_group(g, columns=columns)


def _slices(f: pq.ParquetFile, rows: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
    """A row group read at a time, cut into `rows`-row frames. Not `iter_batches`: measured on
    pyarrow 26, its RSS grew by most of a row group per row group read (a 100-coin
    signal_events, 8 row groups: 380 -> 945 MB), while a row group read on its own and
    dropped stays bounded (214-429 MB)."""
    for table in _row_groups(f, columns):
        for start in range(0, table.num_rows, rows):
            yield table.slice(start, rows).to_pandas()
        del table


def _head(files: Iterable[Opener], rows: int, columns: list[str] | None) -> pd.DataFrame:
    """The first `rows` rows of the files, in file order, only they decoded (a batch at a
    time): a row of a wide table without its row group (a night's 240,000 lesson atoms
    repeat one 800-byte quantiser: read whole, ~190 MB for one value)."""
    parts: list[pa.Table] = []
    empty = None
    for f in _opened(files):
        empty = _empty_of(f, columns) if empty is None else empty
        for batch in f.iter_batches(batch_size=max(1, rows), columns=columns):
            parts.append(pa.Table.from_batches([batch.slice(0, rows)]))
            rows -= min(rows, batch.num_rows)
            if rows == 0:
                return pa.concat_tables(parts).to_pandas()
    return pa.concat_tables(parts).to_pandas() if parts else \
        (empty if empty is not None else pd.DataFrame())


class LakeError(RuntimeError):
    """A partition is missing or unreadable; the message names it."""


def is_object_store_url(root: Path | str) -> bool:
    """True for a URL with a scheme other than file:// (s3://, gs://, memory://, ...)."""
    text = str(root)
    return "://" in text and not text.startswith("file://")


def open_lake(root: Path | str) -> Lake | ObjectLake:
    """The lake at `root`: a path or file:// URL (rename) or an object-store URL (put)."""
    if is_object_store_url(root):
        return ObjectLake.from_url(str(root))
    text = str(root)
    return Lake(text[len("file://"):] if text.startswith("file://") else text)


def _table(df: pd.DataFrame, metadata: dict[str, str] | None) -> pa.Table:
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({f"lotus.{k}".encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    return table


Validate = Callable[[pd.DataFrame], pd.DataFrame]


def _write_parts(sink: BinaryIO | pa.NativeFile, parts: Iterable[pd.DataFrame],
                 empty: pd.DataFrame, validate: Validate | None,
                 metadata: dict[str, str] | None, row_group: int | None = None) -> int:
    """Each frame of `parts` validated and written as its own row group(s), one held at a
    time; `empty` (validated too) gives the schema when there is no part. Returns the rows.
    Every part must have the first part's columns and types: a part that differs is
    refused with its position, before the file is complete (so nothing replaces the old).
    `row_group`: the parts are slices of one table, re-cut into row groups of that many
    rows (at most one row group's rows held beyond the part)."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    held: list[pa.Table] = []
    try:
        for k, df in enumerate(parts):
            if validate is not None:
                df = validate(df)
            table = _table(df, metadata)
            if writer is None:
                writer = pq.ParquetWriter(sink, table.schema, compression="zstd",
                                          write_statistics=True)
            elif not table.schema.equals(writer.schema, check_metadata=False):
                raise LakeError(f"part {k} does not have the first part's columns and types: "
                                f"{table.schema} against {writer.schema}")
            if not len(table):
                continue
            rows += len(table)
            if row_group is None:
                writer.write_table(table, row_group_size=len(table))
                continue
            held.append(table)
            full = (sum(len(t) for t in held) // row_group) * row_group
            if full:
                pending = pa.concat_tables(held)
                writer.write_table(pending.slice(0, full), row_group_size=row_group)
                held = [pending.slice(full)] if len(pending) > full else []
        if held and writer is not None:
            writer.write_table(pa.concat_tables(held), row_group_size=row_group)
        if writer is None:
            df = validate(empty) if validate is not None else empty
            writer = pq.ParquetWriter(sink, _table(df, metadata).schema, compression="zstd",
                                      write_statistics=True)
    finally:
        if writer is not None:
            writer.close()
    return rows


def coin_groups_in(file: pq.ParquetFile, column: str = "coin") -> dict[str, list[int]] | None:
    """Each coin's row groups in a file written by parts (a row group per coin), from the
    footer's statistics; None when some row group holds more than one coin (or has no
    statistics): a table not written by coin."""
    meta = file.metadata
    k = file.schema_arrow.get_field_index(column)
    if k < 0:
        raise LakeError(f"no {column!r} column to read by coin")
    groups: dict[str, list[int]] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if not group.num_rows:
            continue
        stats = group.column(k).statistics
        if stats is None or not stats.has_min_max or stats.min != stats.max:
            return None
        groups.setdefault(str(stats.min), []).append(g)
    return groups


def read_coin_of(file: pq.ParquetFile, coin: str, columns: list[str] | None,
                 filtered: Callable[[], pa.Table]) -> pd.DataFrame:
    """One coin's rows of an open file: its row groups alone when the file was written by
    coin, read on this thread (a dataset read with a filter per coin, a hundred
    coins in a row, left ~70 MB more resident at 100 coins than at 3, the footer parsed and
    decoded on Arrow's threads each time); else `filtered()`, the rows the filter keeps."""
    groups = coin_groups_in(file)
    if groups is None:
        return filtered().to_pandas()
    if coin not in groups:
        return _empty_of(file, columns)
    return file.read_row_groups(groups[coin], columns=columns, use_threads=False).to_pandas()


def coin_rows_in(file: pq.ParquetFile, column: str = "coin") -> dict[str, int]:
    """Each coin's row count in a file written by parts (a row group per coin), read from
    the row groups' statistics and sizes when each holds one coin, else counted from the
    column a row group at a time. In file order; nothing but the footer read in the first case."""
    meta = file.metadata
    if meta.num_rows == 0:
        return {}
    groups = coin_groups_in(file, column)
    if groups is None:
        return _counted(file, column)  # a table not written by coin
    return {coin: sum(meta.row_group(g).num_rows for g in gs) for coin, gs in groups.items()}


def _counted(file: pq.ParquetFile, column: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for h in range(file.metadata.num_row_groups):
        col = file.read_row_group(h, columns=[column]).column(0)
        for item in pc.value_counts(col).to_pylist():
            coin = str(item["values"])
            counts[coin] = counts.get(coin, 0) + int(item["counts"])
    return counts


def coins_in(file: pq.ParquetFile, column: str = "coin") -> list[str]:
    """The coins of a file (`coin_rows_in`), in file order."""
    return list(coin_rows_in(file, column))


def coin_dir_name(coin: str) -> str:
    """`coin=<coin>`, quoted: a coin name may hold `/` or `@` (Hyperliquid's `@107`,
    `PURR/USDC`), which a path must not."""
    if not coin:
        raise LakeError("a coin partition needs a coin name")
    return f"coin={quote(coin, safe='')}"


def coin_of_dir(name: str) -> str | None:
    """The coin a `coin=<quoted>` directory holds, None for any other name."""
    m = _COIN_DIR.match(name)
    return unquote(m.group(1)) if m else None


def _read_files(files: Sequence[Opener], columns: list[str] | None) -> pa.Table:
    """The files' rows as one table, in file order (a day in coins: coin order), each file
    open while it is read."""
    tables = [f.read(columns=columns) for f in _opened(files)]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables,
                                                               promote_options="permissive")


def _opened(files: Iterable[Opener]) -> Iterator[pq.ParquetFile]:
    """Each file open in turn (closed before the next opens: a hundred coins' footers are
    never held at once)."""
    for open_file in files:
        with open_file() as f:
            yield f


def _coin_rows(files: Iterable[pq.ParquetFile]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in files:
        for coin, n in coin_rows_in(f).items():
            out[coin] = out.get(coin, 0) + n
    return out


def _empty_of(file: pq.ParquetFile, columns: list[str] | None) -> pd.DataFrame:
    schema = file.schema_arrow
    return (schema if columns is None else pa.schema([schema.field(c) for c in columns])
            ).empty_table().to_pandas()


def _group_rows(asset: str, coin: str | None, row_group: int | None) -> int | None:
    """A time-ordered asset's coin file in small row groups (a merged read holds one a
    coin: `lotus_core.store.merged`); any other file as asked."""
    return merge_group_rows(asset) if coin is not None and asset in TIME_ORDERED else row_group


def _merged_read(files: Sequence[Opener], time: str,
                 columns: list[str] | None) -> pd.DataFrame:
    """A time-ordered day in coins, whole, in the day's order."""
    total = sum(f.metadata.num_rows for f in _opened(files))
    tables = list(merged_files(files, time, max(total, 1), columns))
    return (tables[0] if tables else _read_files(files, columns)).to_pandas()


def _check_asset(asset: str) -> None:
    if not _ASSET_NAME.match(asset):
        raise LakeError(f"asset name {asset!r} must be lowercase snake_case")


STAGE_DIR = ".stage"
"""Under a filesystem lake's root: the days being made by `staging` (hidden: no asset, no
view, no sweep sees it)."""
_PUBLISHING = "PUBLISHING"
_STAGED: dict[str, Path] = {}
"""Real path of a lake root -> the stage this process writes it through (`staging`)."""


def _holds(directory: Path) -> bool:
    """True when `directory` (a day's) holds a partition: its file, or a coin's."""
    if (directory / PART_FILE).is_file():
        return True
    return directory.is_dir() and any(coin_of_dir(p.name) is not None
                                      and (p / PART_FILE).is_file()
                                      for p in directory.iterdir())


class Stage:
    """The partitions a run made while `staging` was open, kept apart from the lake until
    `publish` moves them in. `made()`: what it holds, as `<asset>/date=<day>` names."""

    def __init__(self, root: Path, path: Path) -> None:
        self.root, self.path = root, path
        self.published = False

    def made(self) -> list[str]:
        return sorted(f"{p.parent.name}/{p.name}" for p in self.path.glob("*/date=*")
                      if _holds(p))

    def publish(self) -> list[str]:
        """Move every partition made into the lake, each day directory replacing the
        lake's whole (a coin the day no longer has goes with it). A journal written first
        makes it one step: killed half way, `recover_stages` finishes it. Returns `made()`."""
        made = self.made()
        journal = self.path / _PUBLISHING
        with open(journal, "w") as fh:
            fh.write("\n".join(made) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self.path)
        _finish_publish(self.root, self.path, made)
        self.published = True
        return made

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def staging(root: Path | str, name: str) -> Iterator[Stage]:
    """While open, every `Lake` of `root` made in this process (and in the processes it
    forks) writes its partitions into a stage under `<root>/.stage/` and reads a partition
    from the stage when the stage holds it, from the lake otherwise. Nothing reaches the
    lake until `Stage.publish()`; leaving without publishing discards the stage, so a failed
    or killed run leaves the lake's partitions as they were (a kill leaves the stage
    behind: `recover_stages` removes it). One stage per root at a time."""
    root = Path(root)
    key = os.path.realpath(root)
    if key in _STAGED:
        raise LakeError(f"{root} is already being staged ({_STAGED[key]})")
    path = root / STAGE_DIR / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    stage = Stage(root, path)
    _STAGED[key] = path
    try:
        yield stage
    finally:
        del _STAGED[key]
        if not stage.published:
            stage.discard()


def recover_stages(root: Path | str) -> list[str]:
    """Put the lake at `root` back in order after a killed run: a stage whose publishing
    began is finished (its journal lists what it moves), any other stage is removed (its
    day was not complete; the lake still holds the partitions it had). Returns what was
    published. Call with no run writing the lake (`lotus materialize` holds its lock)."""
    base = Path(root) / STAGE_DIR
    done: list[str] = []
    for path in sorted(base.iterdir()) if base.is_dir() else []:
        if _running(path.name) or path.name.startswith("."):
            continue  # another process's stage, still being made
        journal = path / _PUBLISHING
        if journal.is_file():
            made = [x for x in journal.read_text().splitlines() if x]
            _finish_publish(Path(root), path, made)
            done += made
        shutil.rmtree(path, ignore_errors=True)
    return done


def _running(name: str) -> bool:
    """True when the stage `name` (`<name>-<pid>-<id>`) belongs to a live process other
    than this one."""
    try:
        pid = int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return False
    return pid != os.getpid() and pid_alive(pid)


def _finish_publish(root: Path, stage: Path, made: list[str]) -> None:
    """Each `<asset>/date=<day>` of `made` still in the stage replaces the lake's: the old
    directory renamed aside, the new one renamed in, the old removed (a reader in between
    finds the partition missing for that moment, never torn). Idempotent."""
    for name in made:
        src, dst = stage / name, root / name
        if src.is_dir():
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                os.rename(dst, dst.parent / f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(src, dst)
            _fsync_dir(dst.parent)
        for old in dst.parent.glob(f".{dst.name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


class Lake:
    """A lake rooted at a directory (any local or mounted filesystem path)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        # a day this process is making (`staging`): written there, read from there first
        self.stage: Path | None = _STAGED.get(os.path.realpath(self.root)) if _STAGED else None

    @classmethod
    def _plain(cls, root: Path) -> Lake:
        """The lake at `root` itself, staged or not (what a stage is written as)."""
        lake = cls.__new__(cls)
        lake.root, lake.stage = Path(root), None
        return lake

    def location(self, asset: str, day: str) -> str:
        """Where the partition lives, as text (a path here; a URL for an object store): the
        day's file, or its directory when the day is in coins."""
        path = self.path(asset, day)
        return str(path if path.is_file() or not self._coin_files(asset, day) else path.parent)

    def size(self, asset: str, day: str, coin: str | None = None) -> int:
        """The day's bytes on disk; with `coin`, that coin's file's."""
        if coin is not None:
            return self.coin_path(asset, day, coin).stat().st_size
        return sum(p.stat().st_size for p in self._existing(asset, day).values())

    def partition_dir(self, asset: str, day: str) -> Path:
        """The day's directory; while this process stages (`staging`), the stage's when the
        stage holds that partition (a reader sees what the day's run wrote so far)."""
        _check_asset(asset)
        if self.stage is not None:
            staged = self.stage / asset / f"date={day}"
            if _holds(staged):
                return staged
        return self.root / asset / f"date={day}"

    def path(self, asset: str, day: str) -> Path:
        """The day's whole-day file (which a day in coins does not have)."""
        return self.partition_dir(asset, day) / PART_FILE

    def coin_path(self, asset: str, day: str, coin: str) -> Path:
        """A coin's file of a day partitioned by coin."""
        return self.partition_dir(asset, day) / coin_dir_name(coin) / PART_FILE

    def exists(self, asset: str, day: str) -> bool:
        return self.path(asset, day).is_file() or bool(self._coin_files(asset, day))

    def coin_exists(self, asset: str, day: str, coin: str) -> bool:
        return self.coin_path(asset, day, coin).is_file()

    def write(self, asset: str, day: str, df: pd.DataFrame,
              validate: Validate | None = None,
              metadata: dict[str, str] | None = None, coin: str | None = None) -> Path:
        """Validate, then atomically replace the partition (temp file + rename); with `coin`
        the day's file of that coin."""
        if validate is not None:
            df = validate(df)
        table = _table(df, metadata)
        return self._replace(asset, day, lambda sink: pq.write_table(
            table, sink, compression="zstd", write_statistics=True,
            row_group_size=_group_rows(asset, coin, SLICE_ROWS)), coin)

    def write_parts(self, asset: str, day: str, parts: Iterable[pd.DataFrame],
                    empty: pd.DataFrame, validate: Validate | None = None,
                    metadata: dict[str, str] | None = None,
                    row_group: int | None = None, coin: str | None = None) -> Path:
        """`write` of the concatenated parts, one part held at a time and written as its
        own row group (a coin's rows: `read_coin` then reads that group only); with
        `row_group` (SLICE_ROWS: `write`'s row groups) the parts are slices of the table in its
        order, re-cut into row groups of that size. The same atomic replace: a part that
        fails leaves the previous partition in place."""
        return self._replace(asset, day, lambda sink: _write_parts(
            sink, parts, empty, validate, metadata, _group_rows(asset, coin, row_group)), coin)

    def _replace(self, asset: str, day: str, fill: Callable[[BinaryIO], object],
                 coin: str | None = None) -> Path:
        if self.stage is not None:  # into the stage; the path it will have once published
            Lake._plain(self.stage)._replace(asset, day, fill, coin)
            where = self.root / asset / f"date={day}"
            return where / PART_FILE if coin is None else where / coin_dir_name(coin) / PART_FILE
        target = self.path(asset, day) if coin is None else self.coin_path(asset, day, coin)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{PART_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as sink:
                fill(sink)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            if tmp.exists():
                tmp.unlink()
        self._drop_other_layout(asset, day, coin)
        return target

    def _drop_other_layout(self, asset: str, day: str, coin: str | None) -> None:
        """A day is whole or in coins, never both: a new file of one layout removes the
        other's (after it is in place, so a failed write keeps the old)."""
        if coin is not None:
            self.path(asset, day).unlink(missing_ok=True)
            return
        for path in self._coin_files(asset, day).values():
            shutil.rmtree(path.parent, ignore_errors=True)

    def _coin_files(self, asset: str, day: str) -> dict[str, Path]:
        base = self.partition_dir(asset, day)
        if not base.is_dir():
            return {}
        found = {c: p / PART_FILE for p in base.iterdir()
                 if (c := coin_of_dir(p.name)) is not None and (p / PART_FILE).is_file()}
        return dict(sorted(found.items()))

    def _existing(self, asset: str, day: str) -> dict[str | None, Path]:
        """The day's files: {None: the whole-day file}, or {coin: its file} in coin order."""
        path = self.path(asset, day)
        if path.is_file():
            return {None: path}
        coins = self._coin_files(asset, day)
        if not coins:
            raise LakeError(f"no {asset} partition for {day} (expected {path}, or coin files "
                            f"under {path.parent}); materialise {asset} for {day} first")
        found: dict[str | None, Path] = {}
        found.update(coins)
        return found

    def files(self, asset: str, day: str) -> list[Path]:
        """The day's files: its whole-day file, or its coins' in coin order."""
        return list(self._existing(asset, day).values())

    def _files(self, asset: str, day: str) -> Iterator[pq.ParquetFile]:
        return _opened(path_opener(p) for p in self.files(asset, day))

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame:
        files = self._existing(asset, day)
        if None in files:
            return pq.read_table(files[None], columns=columns).to_pandas()
        opened = [path_opener(f) for f in files.values()]
        if asset in TIME_ORDERED:  # a time-ordered day in coins: in the day's order
            return _merged_read(opened, TIME_ORDERED[asset], columns)
        return _read_files(opened, columns).to_pandas()

    def rows(self, asset: str, day: str) -> int:
        """A partition's row count, from its footer(s) (no row is read)."""
        return sum(f.metadata.num_rows for f in self._files(asset, day))

    def read_row_groups(self, asset: str, day: str,
                        columns: list[str] | None = None) -> Iterator[pa.Table]:
        """A partition a row group at a time, as Arrow tables, in file order (a
        time-ordered day in coins: in slices of SLICE_ROWS in the day's order)."""
        existing = self._existing(asset, day)  # listed once
        files = [path_opener(f) for f in existing.values()]
        if asset in TIME_ORDERED and None not in existing:
            yield from merged_files(files, TIME_ORDERED[asset], SLICE_ROWS, columns)
            return
        for f in _opened(files):
            yield from _row_groups(f, columns)

    def head(self, asset: str, day: str, rows: int = 1,
             columns: list[str] | None = None) -> pd.DataFrame:
        """A partition's first `rows` rows in file order (its first coin's, for a day in
        coins), only they decoded (`_head`)."""
        return _head([path_opener(f) for f in self.files(asset, day)], rows, columns)

    def read_slices(self, asset: str, day: str, rows: int = SLICE_ROWS,
                    columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """A partition in slices of at most `rows` rows, in file order (a reader that folds
        a table, such as a check, holds one slice; a time-ordered day in coins:
        in the day's order). No slice when it has no rows."""
        existing = self._existing(asset, day)  # listed once
        files = [path_opener(f) for f in existing.values()]
        if asset in TIME_ORDERED and None not in existing:
            for table in merged_files(files, TIME_ORDERED[asset], rows, columns):
                yield table.to_pandas()
            return
        for f in _opened(files):
            yield from _slices(f, rows, columns)

    def coins(self, asset: str, day: str) -> list[str]:
        """The coins of a partition, in file order (the row groups' statistics when it was
        written by coin: no row is read)."""
        return list(self.coin_rows(asset, day))

    def coin_rows(self, asset: str, day: str) -> dict[str, int]:
        """Each coin's row count in a partition, in file order (the footer's, when it was
        written by coin)."""
        return _coin_rows(self._files(asset, day))

    def columns(self, asset: str, day: str) -> list[str]:
        """A partition's columns (its footer's schema: no row is read)."""
        return list(pq.read_schema(next(iter(self._existing(asset, day).values()))).names)

    def read_coin(self, asset: str, day: str, coin: str,
                  columns: list[str] | None = None) -> pd.DataFrame:
        """One coin's rows of a partition, in file order: its own file when the day is in
        coins, else only its row groups when the partition was written by coin
        (`write_parts`)."""
        paths = self._existing(asset, day)
        path = paths.get(None) or paths.get(coin)
        if path is None:  # a day in coins without this coin
            return _empty_of(pq.ParquetFile(next(iter(paths.values()))), columns)
        return read_coin_of(pq.ParquetFile(path), coin, columns, lambda: pq.read_table(
            path, columns=columns, filters=[("coin", "==", coin)]))

    def days(self, asset: str) -> list[str]:
        bases = [r / asset for r in self._roots() if (r / asset).is_dir()]
        names = {p.name for base in bases for p in base.iterdir()}
        return sorted(m.group(1) for name in names
                      if (m := _DAY_DIR.match(name)) and self.exists(asset, m.group(1)))

    def assets(self) -> list[str]:
        names = {p.name for r in self._roots() if r.is_dir() for p in r.iterdir()
                 if p.is_dir() and _ASSET_NAME.match(p.name)}
        return sorted(n for n in names if self.days(n))

    def _roots(self) -> list[Path]:
        return [self.root] + ([self.stage] if self.stage is not None else [])

    def sweep_temp_files(self) -> int:
        """Remove temporaries left by killed writers; they are never read either way."""
        n = 0
        for pattern in (f"*/date=*/.{PART_FILE}.*.tmp", f"*/date=*/coin=*/.{PART_FILE}.*.tmp"):
            for tmp in self.root.glob(pattern):
                tmp.unlink(missing_ok=True)
                n += 1
        return n

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-process DuckDB with one view per asset over all its days (column `date`;
        a day in coins is read as its coins' files, their rows carrying their own `coin`)."""
        import duckdb

        con = duckdb.connect()
        for asset in self.assets():
            days = self.days(asset)
            if not any(self._coin_files(asset, d) for d in days):
                glob = str(self.root / asset / "date=*" / PART_FILE)
                con.execute(
                    f"CREATE VIEW {asset} AS SELECT * FROM read_parquet('{_sql_str(glob)}', "
                    "hive_partitioning = true, union_by_name = true)")
                continue
            files = ", ".join(f"'{_sql_str(str(p))}'" for d in days
                              for p in self._existing(asset, d).values())
            con.execute(
                f"CREATE VIEW {asset} AS SELECT * EXCLUDE (filename), "
                "CAST(regexp_extract(filename, 'date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) AS DATE)"
                f" AS date FROM read_parquet([{files}], hive_partitioning = false, "
                "union_by_name = true, filename = true)")
        return con

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).df()




class ObjectLake:
    """The same lake on an object store (any pyarrow FileSystem): each partition is one
    object (a day in coins: one a coin), replaced by a single put. `root` is the key prefix
    inside `filesystem`."""

    def __init__(self, filesystem: pafs.FileSystem, root: str = "", url: str | None = None):
        self.fs = filesystem
        self.root = root.strip("/")
        self.url = url or f"{filesystem.type_name}://{self.root}"

    @classmethod
    def from_url(cls, url: str) -> ObjectLake:
        """s3://bucket/prefix, gs://..., abfs://..., hdfs://... through pyarrow; any other
        scheme fsspec knows (memory://, az://, ...) through pyarrow's FSSpecHandler."""
        try:
            fs, root = pafs.FileSystem.from_uri(url)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            try:
                import fsspec
            except ImportError as exc:
                raise LakeError(f"lake URL {url!r}: pyarrow does not know its scheme and "
                                "fsspec is not installed") from exc
            try:
                spec_fs, root = fsspec.core.url_to_fs(url)
            except (ImportError, ValueError) as exc:
                raise LakeError(f"lake URL {url!r}: no filesystem for it ({exc})") from exc
            fs = pafs.PyFileSystem(pafs.FSSpecHandler(spec_fs))
        return cls(fs, root, url=url.rstrip("/"))

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.root, *parts) if p)

    def key(self, asset: str, day: str, coin: str | None = None) -> str:
        _check_asset(asset)
        if coin is None:
            return self._key(asset, f"date={day}", PART_FILE)
        return self._key(asset, f"date={day}", coin_dir_name(coin), PART_FILE)

    def location(self, asset: str, day: str) -> str:
        whole = f"{self.url}/{asset}/date={day}"
        return whole if self._coin_keys(asset, day) and not self._is_file(
            self.key(asset, day)) else f"{whole}/{PART_FILE}"

    path = location  # what callers that only print or tag the location use

    def _is_file(self, key: str) -> bool:
        return self.fs.get_file_info(key).type == pafs.FileType.File

    def size(self, asset: str, day: str, coin: str | None = None) -> int:
        keys = ([self.key(asset, day, coin)] if coin is not None
                else self._existing(asset, day).values())
        return sum(int(self.fs.get_file_info(k).size or 0) for k in keys)

    def exists(self, asset: str, day: str) -> bool:
        return self._is_file(self.key(asset, day)) or bool(self._coin_keys(asset, day))

    def coin_exists(self, asset: str, day: str, coin: str) -> bool:
        return self._is_file(self.key(asset, day, coin))

    def write(self, asset: str, day: str, df: pd.DataFrame,
              validate: Validate | None = None,
              metadata: dict[str, str] | None = None, coin: str | None = None) -> str:
        """Validate, then replace the partition with one object put (no temporary object)."""
        if validate is not None:
            df = validate(df)
        buffer = pa.BufferOutputStream()
        pq.write_table(_table(df, metadata), buffer, compression="zstd", write_statistics=True,
                       row_group_size=_group_rows(asset, coin, SLICE_ROWS))
        return self._put(asset, day, buffer, coin)

    def write_parts(self, asset: str, day: str, parts: Iterable[pd.DataFrame],
                    empty: pd.DataFrame, validate: Validate | None = None,
                    metadata: dict[str, str] | None = None,
                    row_group: int | None = None, coin: str | None = None) -> str:
        """As Lake.write_parts: one part held at a time; the compressed file is built in
        memory and sent as one put."""
        buffer = pa.BufferOutputStream()
        _write_parts(buffer, parts, empty, validate, metadata, _group_rows(asset, coin, row_group))
        return self._put(asset, day, buffer, coin)

    def _put(self, asset: str, day: str, buffer: pa.BufferOutputStream,
             coin: str | None = None) -> str:
        key = self.key(asset, day, coin)
        body = buffer.getvalue()
        self.fs.create_dir(key.rsplit("/", 1)[0], recursive=True)  # a no-op on object stores
        with self.fs.open_output_stream(key) as sink:  # one put, visible whole on close
            sink.write(body)
        # one layout a day (Lake._drop_other_layout), once the new object is in place
        if coin is not None:
            if self._is_file(self.key(asset, day)):
                self.fs.delete_file(self.key(asset, day))
        else:
            for other in self._coin_keys(asset, day).values():
                self.fs.delete_dir(other.rsplit("/", 1)[0])
        return (self.location(asset, day) if coin is None
                else f"{self.url}/{asset}/date={day}/{coin_dir_name(coin)}/{PART_FILE}")

    def _coin_keys(self, asset: str, day: str) -> dict[str, str]:
        _check_asset(asset)
        found = {c: f"{i.path}/{PART_FILE}"
                 for i in self._children(self._key(asset, f"date={day}"))
                 if (c := coin_of_dir(i.base_name)) is not None
                 and self._is_file(f"{i.path}/{PART_FILE}")}
        return dict(sorted(found.items()))

    def _existing(self, asset: str, day: str) -> dict[str | None, str]:
        """As Lake._existing: {None: the day's object} or {coin: its object}, coin order."""
        whole = self.key(asset, day)
        if self._is_file(whole):
            return {None: whole}
        coins = self._coin_keys(asset, day)
        if not coins:
            raise LakeError(f"no {asset} partition for {day} (expected {self.url}/{asset}/"
                            f"date={day}/{PART_FILE}, or coin files under it); materialise "
                            f"{asset} for {day} first")
        found: dict[str | None, str] = {}
        found.update(coins)
        return found

    def _openers(self, asset: str, day: str,
                 keys: dict[str | None, str] | None = None) -> list[Opener]:
        """An opener of each of the day's objects (`keys`: the day's `_existing`, when the
        caller listed it): an object is open only while it is read."""
        listed = self._existing(asset, day) if keys is None else keys
        return [self._opener(k) for k in listed.values()]

    def _opener(self, key: str) -> Opener:
        @contextlib.contextmanager
        def opened() -> Iterator[pq.ParquetFile]:
            with self.fs.open_input_file(key) as source:
                yield pq.ParquetFile(source)

        return opened

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame:
        keys = self._existing(asset, day)
        if None in keys:
            return pq.read_table(keys[None], columns=columns, filesystem=self.fs).to_pandas()
        files = self._openers(asset, day, keys)
        if asset in TIME_ORDERED:  # a time-ordered day in coins: in the day's order
            return _merged_read(files, TIME_ORDERED[asset], columns)
        return _read_files(files, columns).to_pandas()

    def rows(self, asset: str, day: str) -> int:
        return sum(f.metadata.num_rows for f in _opened(self._openers(asset, day)))

    def read_row_groups(self, asset: str, day: str,
                        columns: list[str] | None = None) -> Iterator[pa.Table]:
        keys = self._existing(asset, day)  # listed once
        if asset in TIME_ORDERED and None not in keys:
            yield from merged_files(self._openers(asset, day, keys), TIME_ORDERED[asset],
                                    SLICE_ROWS, columns)
            return
        for key in keys.values():
            with self.fs.open_input_file(key) as f:
                yield from _row_groups(pq.ParquetFile(f), columns)

    def head(self, asset: str, day: str, rows: int = 1,
             columns: list[str] | None = None) -> pd.DataFrame:
        return _head(self._openers(asset, day), rows, columns)

    def read_slices(self, asset: str, day: str, rows: int = SLICE_ROWS,
                    columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        keys = self._existing(asset, day)  # listed once
        if asset in TIME_ORDERED and None not in keys:
            for table in merged_files(self._openers(asset, day, keys), TIME_ORDERED[asset],
                                      rows, columns):
                yield table.to_pandas()
            return
        for key in keys.values():
            with self.fs.open_input_file(key) as f:
                yield from _slices(pq.ParquetFile(f), rows, columns)

    def coins(self, asset: str, day: str) -> list[str]:
        return list(self.coin_rows(asset, day))

    def coin_rows(self, asset: str, day: str) -> dict[str, int]:
        return _coin_rows(_opened(self._openers(asset, day)))

    def columns(self, asset: str, day: str) -> list[str]:
        with self.fs.open_input_file(next(iter(self._existing(asset, day).values()))) as f:
            return list(pq.read_schema(f).names)

    def read_coin(self, asset: str, day: str, coin: str,
                  columns: list[str] | None = None) -> pd.DataFrame:
        keys = self._existing(asset, day)
        key = keys.get(None) or keys.get(coin)
        if key is None:  # a day in coins without this coin
            with self.fs.open_input_file(next(iter(keys.values()))) as f:
                return _empty_of(pq.ParquetFile(f), columns)
        with self.fs.open_input_file(key) as f:
            return read_coin_of(pq.ParquetFile(f), coin, columns, lambda: pq.read_table(
                key, columns=columns, filesystem=self.fs, filters=[("coin", "==", coin)]))

    def _children(self, base: str) -> list[pafs.FileInfo]:
        info = self.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        return [i for i in info if i.type == pafs.FileType.Directory]

    def days(self, asset: str) -> list[str]:
        return sorted(m.group(1) for i in self._children(self._key(asset))
                      if (m := _DAY_DIR.match(i.base_name)) and self.exists(asset, m.group(1)))

    def assets(self) -> list[str]:
        return sorted(i.base_name for i in self._children(self.root)
                      if _ASSET_NAME.match(i.base_name) and self.days(i.base_name))

    def sweep_temp_files(self) -> int:
        return 0  # single puts leave no temporaries

    def connect(self) -> duckdb.DuckDBPyConnection:
        """DuckDB with one relation per asset over all its days (column `date`), read
        through pyarrow datasets on the store (DuckDB needs no store credentials); a day in
        coins is its coins' objects, their rows carrying their own `coin`."""
        import duckdb
        import pyarrow.dataset as ds  # only this method reads through datasets

        con = duckdb.connect()
        for asset in self.assets():
            files = [k for d in self.days(asset) for k in self._existing(asset, d).values()]
            schema = pa.unify_schemas([pq.read_schema(f, filesystem=self.fs) for f in files])
            # hive `date=` only: a `coin=` directory is read past, the rows hold their coin
            part = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")
            data = ds.dataset(files, schema=schema.append(pa.field("date", pa.date32())),
                              filesystem=self.fs, format="parquet", partitioning=part,
                              partition_base_dir=self._key(asset))
            con.register(asset, data)
        return con

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).df()


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories can't be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
