"""The lake: one Parquet file per asset and UTC day, replaced atomically, queried with DuckDB.

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
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

PART_FILE = "part.parquet"
_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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


def _check_asset(asset: str) -> None:
    if not _ASSET_NAME.match(asset):
        raise LakeError(f"asset name {asset!r} must be lowercase snake_case")


class Lake:
    """A lake rooted at a directory (any local or mounted filesystem path)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def location(self, asset: str, day: str) -> str:
        """Where the partition lives, as text (a path here; a URL for an object store)."""
        return str(self.path(asset, day))

    def size(self, asset: str, day: str) -> int:
        return self.path(asset, day).stat().st_size

    def partition_dir(self, asset: str, day: str) -> Path:
        _check_asset(asset)
        return self.root / asset / f"date={day}"

    def path(self, asset: str, day: str) -> Path:
        return self.partition_dir(asset, day) / PART_FILE

    def exists(self, asset: str, day: str) -> bool:
        return self.path(asset, day).is_file()

    def write(self, asset: str, day: str, df: pd.DataFrame,
              validate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
              metadata: dict[str, str] | None = None) -> Path:
        """Validate, then atomically replace the partition (temp file + rename)."""
        if validate is not None:
            df = validate(df)
        target = self.path(asset, day)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{PART_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            table = _table(df, metadata)
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


class ObjectLake:
    """The same lake on an object store (any pyarrow FileSystem): each partition is one
    object, replaced by a single put. `root` is the key prefix inside `filesystem`."""

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

    def key(self, asset: str, day: str) -> str:
        _check_asset(asset)
        return self._key(asset, f"date={day}", PART_FILE)

    def location(self, asset: str, day: str) -> str:
        return f"{self.url}/{asset}/date={day}/{PART_FILE}"

    path = location  # what callers that only print or tag the location use

    def size(self, asset: str, day: str) -> int:
        return int(self.fs.get_file_info(self.key(asset, day)).size or 0)

    def exists(self, asset: str, day: str) -> bool:
        return self.fs.get_file_info(self.key(asset, day)).type == pafs.FileType.File

    def write(self, asset: str, day: str, df: pd.DataFrame,
              validate: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
              metadata: dict[str, str] | None = None) -> str:
        """Validate, then replace the partition with one object put (no temporary object)."""
        if validate is not None:
            df = validate(df)
        key = self.key(asset, day)
        buffer = pa.BufferOutputStream()
        pq.write_table(_table(df, metadata), buffer, compression="zstd", write_statistics=True)
        body = buffer.getvalue()
        self.fs.create_dir(key.rsplit("/", 1)[0], recursive=True)  # a no-op on object stores
        with self.fs.open_output_stream(key) as sink:  # one put, visible whole on close
            sink.write(body)
        return self.location(asset, day)

    def read(self, asset: str, day: str, columns: list[str] | None = None) -> pd.DataFrame:
        if not self.exists(asset, day):
            raise LakeError(f"no {asset} partition for {day} (expected "
                            f"{self.location(asset, day)}); materialise {asset} for {day} first")
        return pq.read_table(self.key(asset, day), columns=columns,
                             filesystem=self.fs).to_pandas()

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
        through pyarrow datasets on the store (DuckDB needs no store credentials)."""
        con = duckdb.connect()
        for asset in self.assets():
            files = [self.key(asset, d) for d in self.days(asset)]
            schema = pa.unify_schemas([pq.read_schema(f, filesystem=self.fs) for f in files])
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
