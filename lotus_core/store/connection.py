"""Opening the two backends and running one transaction on either with the same SQL.

OpsDb SQL is written once, with qmark (`?`) parameters; on PostgreSQL they are rewritten
to psycopg's `%s`. Keep `?` out of string literals and use binding for every value.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from lotus_core.store.dialect import sql_dialect
from lotus_core.store.errors import OpsDbConnectError
from lotus_core.store.url import Dialect, OpsDbURL

if TYPE_CHECKING:  # psycopg is imported by `connect_postgres`, the one place that needs it
    import psycopg

RawConnection: TypeAlias = "sqlite3.Connection | psycopg.Connection[Any]"


class Tx:
    """An open transaction (or, for plain reads, an autocommit session) on one connection."""

    def __init__(self, raw: RawConnection, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql_dialect(self.dialect).paramstyle(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the affected row count (-1 when not applicable)."""
        cur = self.raw.execute(self._sql(sql), tuple(params))
        return cur.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row in a single batch (psycopg pipelines it)."""
        if self.dialect == "sqlite":
            cast(sqlite3.Connection, self.raw).executemany(sql, rows)
        else:
            with cast("psycopg.Connection[Any]", self.raw).cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of one query as dicts keyed by column name."""
        return list(self.raw.execute(self._sql(sql), tuple(params)).fetchall())

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def script(self, sql: str) -> None:
        """Run a multi-statement script (a migration) inside the current transaction.

        sqlite3's `executescript` would COMMIT first, so statements are split here instead.
        """
        if self.dialect == "postgres":
            self.raw.execute(sql)
            return
        for statement in split_sqlite_script(sql):
            self.raw.execute(statement)

    def lock(self, name: str) -> None:
        """Serialise writers on `name` until this transaction ends.

        On SQLite every fabric transaction already holds the single write lock
        (`BEGIN IMMEDIATE`); on PostgreSQL this takes a transaction-scoped advisory lock.
        """
        if self.dialect == "postgres":
            self.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))


def split_sqlite_script(sql: str) -> list[str]:
    """Complete statements of `sql` (semicolons in strings, comments and triggers are kept)."""
    statements: list[str] = []
    buf = ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip() != ";":
                statements.append(buf.strip())
            buf = ""
    rest = buf[:-1].strip()  # an unfinished tail (a comment, or an error sqlite will report)
    if rest:
        statements.append(rest)
    return statements


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


def _enable_wal(raw: sqlite3.Connection, busy_timeout_s: float) -> str:
    # Switching the journal mode ignores the busy handler: when processes open a new file
    # at once, the losers get "database is locked" at once, so retry until the timeout.
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            return raw.execute("PRAGMA journal_mode = WAL").fetchone()["journal_mode"]
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def connect_sqlite(url: OpsDbURL, busy_timeout_s: float) -> sqlite3.Connection:
    """Open the SQLite file in WAL mode with a busy timeout, so many processes can write."""
    path = Path(url.target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout= is SQLite's busy timeout; isolation_level=None turns off sqlite3's implicit
        # transactions, because the fabric issues BEGIN IMMEDIATE itself.
        raw = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except (sqlite3.Error, OSError) as exc:
        raise OpsDbConnectError(f"cannot open the SQLite fabric at {path}: {exc}") from exc
    try:
        raw.row_factory = _dict_row
        mode = _enable_wal(raw, busy_timeout_s)
        if mode.lower() != "wal":
            raise OpsDbConnectError(
                f"cannot switch the SQLite fabric at {path} to WAL mode (got {mode!r}); "
                "is it on a network filesystem?"
            )
        raw.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL, much faster
        raw.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raw.close()
        raise OpsDbConnectError(f"cannot open the SQLite fabric at {path}: {exc}") from exc
    except BaseException:
        raw.close()
        raise
    return raw


def connect_postgres(url: OpsDbURL, connect_timeout_s: int) -> psycopg.Connection[Any]:
    """Connect with psycopg 3 in autocommit mode; transactions are explicit blocks."""
    import psycopg
    from psycopg.rows import dict_row

    try:
        return psycopg.connect(
            url.target, autocommit=True, row_factory=dict_row, connect_timeout=connect_timeout_s
        )
    except psycopg.Error as exc:
        raise OpsDbConnectError(
            f"cannot connect to the PostgreSQL fabric at {url.display}: {exc}"
        ) from exc


def connect(url: OpsDbURL, busy_timeout_s: float = 30.0,
            connect_timeout_s: int = 10) -> RawConnection:
    """A raw connection for `url`'s backend (the one place that picks the driver)."""
    if url.dialect == "sqlite":
        return connect_sqlite(url, busy_timeout_s)
    return connect_postgres(url, connect_timeout_s)


@contextmanager
def transaction(raw: RawConnection, dialect: Dialect) -> Iterator[Tx]:
    """One write transaction; commits on success, rolls back on any exception."""
    if dialect == "postgres":
        with cast("psycopg.Connection[Any]", raw).transaction():
            yield Tx(raw, dialect)
        return
    # IMMEDIATE takes the write lock up front: a deferred transaction that later writes can
    # fail with SQLITE_BUSY at once instead of waiting out the busy timeout.
    raw.execute("BEGIN IMMEDIATE")
    try:
        yield Tx(raw, dialect)
    except BaseException:
        if cast(sqlite3.Connection, raw).in_transaction:
            raw.execute("ROLLBACK")
        raise
    raw.execute("COMMIT")
