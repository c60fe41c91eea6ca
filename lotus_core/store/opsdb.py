"""OpsDb: the operational database shared by the daemon, the router, sensors and runs.

One `OpsDb` wraps one connection. Opening it brings the schema up to date, so every
process that opens the fabric can rely on the tables of the code it runs.

    with OpsDb.open(sqlite_url(lotus_home / "fabric.sqlite")) as fabric:
        fabric.replace_dead_letters("2025-01-26", str(path), feed_day.dead, run_id=run_id)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from lotus_core.store import dead_letters
from lotus_core.store.connection import (
    RawConnection,
    Tx,
    connect,
    transaction,
)
from lotus_core.store.errors import FabricError
from lotus_core.store.migrations import default_sql_dir, discover, migrate
from lotus_core.store.url import Dialect, OpsDbURL, parse_url


class OpsDb:
    """An open fabric. Create it with `OpsDb.open`; close it (or use `with`) when done.

    Thread-safe by serialising use of its one connection; give each process its own.
    """

    def __init__(self, raw: RawConnection, url: OpsDbURL) -> None:
        self._raw = raw
        self._url = url
        self._lock = threading.RLock()
        self._in_tx = False

    @classmethod
    def open(
        cls,
        url: str,
        sql_dir: str | Path | None = None,
        *,
        busy_timeout_s: float = 30.0,
        connect_timeout_s: int = 10,
    ) -> OpsDb:
        """Connect to `url` and apply any pending migrations from `sql_dir` (default: `sql/`).

        `busy_timeout_s` is how long a SQLite writer waits for another's lock;
        `connect_timeout_s` bounds how long an unreachable PostgreSQL takes to fail.
        """
        parsed = parse_url(url)
        migrations = discover(Path(sql_dir) if sql_dir else default_sql_dir(), parsed.dialect)
        fabric = cls(connect(parsed, busy_timeout_s, connect_timeout_s), parsed)
        try:
            migrate(fabric.transaction, migrations)
        except BaseException:
            fabric.close()
            raise
        return fabric

    @property
    def dialect(self) -> Dialect:
        return self._url.dialect

    @property
    def url(self) -> str:
        """The URL it was opened with, password masked (safe to log)."""
        return self._url.display

    def __repr__(self) -> str:
        return f"OpsDb({self.url!r})"

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: commits when the block ends, rolls back if it raises.

        Not re-entrant: group the work in one block instead of nesting blocks.
        """
        with self._lock:
            if self._in_tx:
                raise FabricError("OpsDb.transaction() is already open; nesting is not supported")
            self._in_tx = True
            try:
                with transaction(self._raw, self.dialect) as tx:
                    yield tx
            finally:
                self._in_tx = False

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        # Single-statement reads need no transaction (autocommit), only the connection.
        with self._lock:
            yield Tx(self._raw, self.dialect)

    def schema_version(self) -> int:
        """The highest migration applied (0 for an empty database)."""
        with self._read() as tx:
            return int(tx.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    def replace_dead_letters(
        self,
        day: str,
        source: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        run_id: str | None = None,
    ) -> int:
        """Atomically replace `day`'s dead letters with `rows`; returns how many were written.

        Re-materialising a partition therefore never duplicates them. Rows are mappings
        (or the parser's `DeadLetter` dataclasses) with line_no and reason, and optionally
        recv_ts_ms, channel, coin, detail, raw, run_id (defaulting to `run_id`).
        """
        with self.transaction() as tx:
            return dead_letters.replace(tx, day, source, rows, run_id)

    def append_dead_letters(self, day: str, source: str, rows: Iterable[Mapping[str, Any]],
                            *, run_id: str | None = None) -> int:
        """Add dead letters to `day` (the live feed); see `replace_dead_letters`."""
        with self.transaction() as tx:
            return dead_letters.append(tx, day, source, rows, run_id)

    def dead_letters(self, day: str | None = None) -> list[dict[str, Any]]:
        """Dead letters of `day` (every day when None), in file order, as dicts."""
        with self._read() as tx:
            return dead_letters.select(tx, day)

    def count_dead_letters(self, day: str | None = None) -> int:
        with self._read() as tx:
            return dead_letters.count(tx, day)

    def close(self) -> None:
        with self._lock:
            self._raw.close()

    def __enter__(self) -> OpsDb:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
