"""The dialect object: one classification of real driver errors (both backends) that the
router and the inbox handlers share, and the per-dialect SQL pieces."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from lotus_core.store.dialect import (
    POSTGRES,
    SQLITE,
    ErrorKind,
    classify_error,
    is_infrastructure_error,
    sql_dialect,
)


def _raised(fn) -> BaseException:  # noqa: ANN001
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an error")


def test_sqlite_errors_are_classified(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    a = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    a.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    row = _raised(lambda: a.execute("INSERT INTO t (k, v) VALUES (1, NULL)"))
    assert classify_error(row) is ErrorKind.ROW and not is_infrastructure_error(row)
    a.execute("BEGIN IMMEDIATE")
    b = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    locked = _raised(lambda: b.execute("BEGIN IMMEDIATE"))
    assert classify_error(locked) is ErrorKind.CONFLICT and is_infrastructure_error(locked)
    a.execute("ROLLBACK")
    gone = _raised(lambda: sqlite3.connect(tmp_path / "no" / "such.sqlite"))
    assert classify_error(gone) is ErrorKind.UNAVAILABLE and is_infrastructure_error(gone)
    assert classify_error(ValueError("x")) is ErrorKind.OTHER


@pytest.mark.postgres
def test_postgres_errors_are_classified(fabric_pg_dsn: str) -> None:
    with psycopg.connect(fabric_pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (k INT PRIMARY KEY, v TEXT NOT NULL)")
        row = _raised(lambda: conn.execute("INSERT INTO t (k, v) VALUES (1, NULL)"))
        assert classify_error(row) is ErrorKind.ROW
        conn.execute("INSERT INTO t (k, v) VALUES (1, 'a')")
        with psycopg.connect(fabric_pg_dsn) as other:
            other.execute("SELECT * FROM t WHERE k = 1 FOR UPDATE")
            conn.execute("SET lock_timeout = '50ms'")
            locked = _raised(lambda: conn.execute("SELECT * FROM t WHERE k = 1 FOR UPDATE NOWAIT"))
            other.rollback()
    assert classify_error(locked) is ErrorKind.CONFLICT and is_infrastructure_error(locked)
    gone = _raised(lambda: psycopg.connect("postgresql://nobody@127.0.0.1:1/x",
                                           connect_timeout=2))
    assert classify_error(gone) is ErrorKind.UNAVAILABLE


def test_sql_pieces_per_dialect() -> None:
    assert sql_dialect("sqlite") is SQLITE and sql_dialect("postgres") is POSTGRES
    assert SQLITE.paramstyle("a = ? AND b LIKE '5%'") == "a = ? AND b LIKE '5%'"
    assert POSTGRES.paramstyle("a = ? AND b LIKE '5%'") == "a = %s AND b LIKE '5%%'"
    assert (SQLITE.for_update, POSTGRES.for_update) == ("", " FOR UPDATE")
    assert (SQLITE.bool_param(True), POSTGRES.bool_param(True)) == (1, True)
    assert SQLITE.in_list("o.seq", [3, 4], "?, ?") == ("o.seq IN (?, ?)", (3, 4))
    assert POSTGRES.in_list("o.seq", [3, 4], "?, ?") == ("o.seq = ANY(?)", ([3, 4],))
    assert POSTGRES.json_as_text("o.payload") == "o.payload::text AS payload"
    with pytest.raises(ValueError, match="mysql"):
        sql_dialect("mysql")
