"""The lake: one Parquet file per asset and UTC day, replaced atomically, queried with DuckDB.

A partition is written to a hidden temporary file in its own directory, flushed to disk and
then renamed over the previous file, so readers (and a failed or killed run) only ever see
the old complete file or the new complete file. Parallel partitions of a backfill write to
different directories and never meet.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PART_FILE = "part.parquet"
_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class LakeError(RuntimeError):
    """A partition is missing or unreadable; the message names it."""


class Lake:
    """A lake rooted at a directory (any local or mounted filesystem path)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def partition_dir(self, asset: str, day: str) -> Path:
        if not _ASSET_NAME.match(asset):
            raise LakeError(f"asset name {asset!r} must be lowercase snake_case")
        return self.root / asset / f"date={day}"

    def path(self, asset: str, day: str) -> Path:
        return self.partition_dir(asset, day) / PART_FILE

    def exists(self, asset: str, day: str) -> bool:
        return self.path(asset, day).is_file()

    def write(self, asset: str, day: str, df: pd.DataFrame,
              validate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
              metadata: dict[str, str] | None = None) -> Path:
        """Validate, then atomically replace the partition. Returns the file's path."""
        if validate is not None:
            df = validate(df)
        target = self.path(asset, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{PART_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            table = pa.Table.from_pandas(df, preserve_index=False)
            if metadata:
                merged = dict(table.schema.metadata or {})
                merged.update({f"lotus.{k}".encode(): v.encode() for k, v in metadata.items()})
                table = table.replace_schema_metadata(merged)
            with open(tmp, "wb") as sink:
                pq.write_table(table, sink, compression="zstd", write_statistics=True)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame:
        path = self.path(asset, day)
        if not path.is_file():
            raise LakeError(f"no {asset} partition for {day} (expected {path}); "
                            f"materialise {asset} for {day} first")
        return pq.read_table(path, columns=columns).to_pandas()

    def days(self, asset: str) -> list[str]:
        base = self.root / asset
        if not base.is_dir():
            return []
        return sorted(m.group(1) for p in base.iterdir()
                      if (m := _DAY_DIR.match(p.name)) and (p / PART_FILE).is_file())

    def assets(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.days(p.name))

    def sweep_temp_files(self) -> int:
        """Remove temporaries left by killed writers; they are never read either way."""
        n = 0
        for tmp in self.root.glob(f"*/date=*/.{PART_FILE}.*.tmp"):
            tmp.unlink(missing_ok=True)
            n += 1
        return n

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-process DuckDB with one view per asset over all its days (column `date`)."""
        con = duckdb.connect()
        for asset in self.assets():
            glob = str(self.root / asset / "date=*" / PART_FILE)
            con.execute(
                f"CREATE VIEW {asset} AS SELECT * FROM read_parquet('{_sql_str(glob)}', "
                "hive_partitioning = true, union_by_name = true)")
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
