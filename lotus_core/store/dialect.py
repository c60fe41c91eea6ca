"""Everything that differs between the fabric's two backends, in one object per dialect.

Callers keep passing the dialect's name around (`Tx.dialect`, `OpsDb.dialect`: "sqlite" or
"postgres") and ask `sql_dialect(name)` for what differs: parameter style, how timestamps
and booleans are bound, row locks, set membership, catalogue queries. Driver errors are
classified here too (`classify_error`), so the router and the inbox handlers agree on what
a lock conflict, a row's own fault and an unreachable database are.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any


class ErrorKind(Enum):
    CONFLICT = "conflict"        # a lock / serialisation conflict: retry the batch later
    ROW = "row"                  # some row's data (a constraint, a trigger): find it row by row
    UNAVAILABLE = "unavailable"  # the database itself failed (connection, I/O): not the row's fault
    OTHER = "other"


_ROW_SQLITE = (sqlite3.IntegrityError, sqlite3.DataError)
_UNAVAILABLE_SQLITE = (sqlite3.OperationalError,)


@cache
def _pg_errors() -> tuple[tuple[type[BaseException], ...], ...]:
    """psycopg's (conflict, row, unavailable) classes. Only asked once psycopg is imported:
    a process that never touches PostgreSQL does not pay for the driver's import."""
    import psycopg

    return ((psycopg.errors.TransactionRollback, psycopg.errors.LockNotAvailable),
            (psycopg.errors.IntegrityError, psycopg.errors.DataError,
             psycopg.errors.InternalError, psycopg.errors.RaiseException,
             psycopg.errors.InsufficientPrivilege),
            (psycopg.OperationalError,))


def classify_error(exc: BaseException) -> ErrorKind:
    """What a driver exception means, the same on both backends."""
    # an exception of psycopg's exists only once psycopg is imported
    conflict_pg, row_pg, unavailable_pg = _pg_errors() if "psycopg" in sys.modules \
        else ((), (), ())
    if isinstance(exc, conflict_pg):
        return ErrorKind.CONFLICT
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return ErrorKind.CONFLICT
    if isinstance(exc, (*row_pg, *_ROW_SQLITE)):
        return ErrorKind.ROW
    if isinstance(exc, (*unavailable_pg, *_UNAVAILABLE_SQLITE)):
        return ErrorKind.UNAVAILABLE
    return ErrorKind.OTHER


def is_infrastructure_error(exc: BaseException) -> bool:
    """The database, not the row: a conflict or an unavailable database."""
    return classify_error(exc) in (ErrorKind.CONFLICT, ErrorKind.UNAVAILABLE)


@dataclass(frozen=True)
class SqlDialect:
    name: str
    native_timestamps: bool   # bind datetimes (PostgreSQL timestamptz) or ISO text (SQLite)
    native_bools: bool        # bind True/False or 1/0
    row_locks: bool           # SELECT ... FOR UPDATE [SKIP LOCKED]; SQLite uses leases instead
    page_cache_pragma: bool   # PRAGMA cache_size applies

    def paramstyle(self, sql: str) -> str:
        """Our SQL is written with `?` marks; psycopg wants `%s` (and literal `%` doubled)."""
        return sql.replace("%", "%%").replace("?", "%s") if self.name == "postgres" else sql

    @property
    def for_update(self) -> str:
        return " FOR UPDATE" if self.row_locks else ""

    def bool_param(self, value: bool) -> Any:
        return bool(value) if self.native_bools else int(bool(value))

    def json_as_text(self, column: str) -> str:
        """A JSON column read as text (PostgreSQL's JSONB parsed by us is ~4x faster)."""
        return f"{column}::text AS {column.rpartition('.')[2]}" if self.name == "postgres" \
            else column

    def in_list(self, column: str, values: Sequence[Any], marks: str) -> tuple[str, tuple]:
        """`column IN (...)`: one array parameter on PostgreSQL, one mark per value on SQLite."""
        if self.name == "postgres":
            return f"{column} = ANY(?)", (list(values),)
        return f"{column} IN ({marks})", tuple(values)

    def table_exists_sql(self, table: str) -> str:
        if self.name == "sqlite":
            return f"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        return ("SELECT COUNT(*) FROM information_schema.tables "
                f"WHERE table_schema = current_schema() AND table_name = '{table}'")


SQLITE = SqlDialect("sqlite", native_timestamps=False, native_bools=False, row_locks=False,
                    page_cache_pragma=True)
POSTGRES = SqlDialect("postgres", native_timestamps=True, native_bools=True, row_locks=True,
                      page_cache_pragma=False)
_BY_NAME = {"sqlite": SQLITE, "postgres": POSTGRES}


def sql_dialect(name: str) -> SqlDialect:
    """The dialect object for a dialect name ("sqlite" | "postgres")."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}") from None
