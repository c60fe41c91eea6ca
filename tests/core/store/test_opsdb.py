"""The fabric store, on SQLite and PostgreSQL: migrations, dead letters, URLs, concurrency."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lotus_core.feed.tables import DeadLetter
from lotus_core.store.connection import Tx
from lotus_core.store.errors import FabricError, MigrationError, OpsDbConnectError, OpsDbURLError
from lotus_core.store.migrations import default_sql_dir, discover
from lotus_core.store.opsdb import OpsDb

DAY = "2025-01-26"
# The repo's newest migration; tests add theirs after it.
LAST = discover(default_sql_dir(), "sqlite")[-1].version


def mig(offset: int, name: str) -> str:
    """File name of the migration `offset` places after the repo's newest."""
    return f"{LAST + offset:04d}_{name}.sql"


SOURCE = "/feeds/2025-01-26.jsonl.gz"


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite:") else "postgres"


def copy_sql(tmp_path: Path, dialect: str, extra: dict[str, str] | None = None) -> Path:
    """A private copy of the repo's sql/ folder, plus `extra` migrations for `dialect`."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(default_sql_dir(), sql_dir)
    for name, text in (extra or {}).items():
        (sql_dir / dialect / name).write_text(text)
    return sql_dir


def table_exists(tx: Tx, name: str) -> bool:
    if tx.dialect == "sqlite":
        sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = ?"
    return tx.scalar(sql, (name,)) == 1


def letters(n: int, reason: str = "malformed_json", start: int = 1) -> list[dict]:
    return [
        {"line_no": start + i, "recv_ts_ms": 1_737_849_600_000 + i, "channel": "trades",
         "coin": "BTC", "reason": reason, "detail": f"line {start + i}", "raw": "{oops"}
        for i in range(n)
    ]


# --- migrations -------------------------------------------------------------------------


def test_migrations_are_applied_and_recorded(fabric: OpsDb) -> None:
    files = discover(default_sql_dir(), fabric.dialect)
    assert fabric.schema_version() == files[-1].version
    with fabric.transaction() as tx:
        rows = tx.query("SELECT version, name, sha256, applied_at FROM schema_version")
        assert table_exists(tx, "feed_dead_letter")
    assert [(r["version"], r["name"], r["sha256"]) for r in rows] == [
        (m.version, m.name, hashlib.sha256(m.sql.encode()).hexdigest()) for m in files
    ]
    for m in files:  # a file's own bytes, except a stub's: the text it renders (0002)
        if m.rendered_by is None:
            assert m.sha256 == hashlib.sha256(m.path.read_bytes()).hexdigest()
    assert all(r["applied_at"] for r in rows)


def test_reopen_applies_only_new_migrations(fabric_url: str, tmp_path: Path) -> None:
    dialect = dialect_of(fabric_url)
    sql_dir = copy_sql(tmp_path, dialect)
    with OpsDb.open(fabric_url, sql_dir=sql_dir) as fabric:
        fabric.replace_dead_letters(DAY, SOURCE, letters(3))
        with fabric.transaction() as tx:
            first = tx.query("SELECT version, applied_at FROM schema_version ORDER BY version")
    with OpsDb.open(fabric_url, sql_dir=sql_dir) as fabric:  # nothing new: a no-op
        assert fabric.schema_version() == LAST
    (sql_dir / dialect / mig(1, "notes")).write_text("CREATE TABLE notes (body TEXT);\n")
    with OpsDb.open(fabric_url, sql_dir=sql_dir) as fabric:
        assert fabric.schema_version() == LAST + 1
        assert fabric.count_dead_letters() == 3
        with fabric.transaction() as tx:
            rows = tx.query("SELECT version, applied_at FROM schema_version ORDER BY version")
            assert table_exists(tx, "notes")
    assert rows[:LAST] == first  # the repo's migrations were not applied again


def test_changed_migration_is_refused_naming_the_file(fabric_url: str, tmp_path: Path) -> None:
    sql_dir = copy_sql(tmp_path, dialect_of(fabric_url))
    OpsDb.open(fabric_url, sql_dir=sql_dir).close()
    path = sql_dir / dialect_of(fabric_url) / "0001_feed_dead_letter.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="changed after it was applied") as err:
        OpsDb.open(fabric_url, sql_dir=sql_dir)
    assert str(path) in str(err.value)


def test_database_newer_than_the_code_is_refused(fabric_url: str, tmp_path: Path) -> None:
    dialect = dialect_of(fabric_url)
    sql_dir = copy_sql(tmp_path, dialect, {mig(1, "notes"): "CREATE TABLE notes (b TEXT);"})
    OpsDb.open(fabric_url, sql_dir=sql_dir).close()
    (sql_dir / dialect / mig(1, "notes")).unlink()
    with pytest.raises(MigrationError, match=f"{LAST + 1:04d}_notes applied but there is no"):
        OpsDb.open(fabric_url, sql_dir=sql_dir)


def test_failed_migration_rolls_back_and_names_the_file(fabric_url: str, tmp_path: Path) -> None:
    dialect = dialect_of(fabric_url)
    bad = "CREATE TABLE half_done (a INTEGER);\nSELECT no_such_function();\n"
    sql_dir = copy_sql(tmp_path, dialect, {mig(1, "broken"): bad})
    with pytest.raises(MigrationError, match=f"{mig(1, 'broken')} failed"):
        OpsDb.open(fabric_url, sql_dir=sql_dir)
    (sql_dir / dialect / mig(1, "broken")).unlink()
    with OpsDb.open(fabric_url, sql_dir=sql_dir) as fabric:
        assert fabric.schema_version() == LAST
        with fabric.transaction() as tx:
            assert not table_exists(tx, "half_done")


SLOW_ONCE = {  # not idempotent: a second application would fail or add a row
    "sqlite": """
        CREATE TABLE once_only (n INTEGER);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
        INSERT INTO once_only SELECT 2 FROM c WHERE x = 300000;
    """,
    "postgres": """
        CREATE TABLE once_only (n INTEGER);
        SELECT pg_sleep(0.2);
        INSERT INTO once_only VALUES (2);
    """,
}
CHILD = """
import sys, time
from lotus_core.store.opsdb import OpsDb
url, sql_dir, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
OpsDb.open(url, sql_dir=sql_dir).close()
"""


def test_concurrent_opens_apply_each_migration_once(fabric_url: str, tmp_path: Path) -> None:
    dialect = dialect_of(fabric_url)
    sql_dir = copy_sql(
        tmp_path,
        dialect,
        {mig(1, "slow"): SLOW_ONCE[dialect], mig(2, "more"): "INSERT INTO once_only VALUES (3);"},
    )
    start = time.time() + 0.8  # every child has imported by then, so they collide
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, fabric_url, str(sql_dir), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    with OpsDb.open(fabric_url, sql_dir=sql_dir) as fabric:
        assert fabric.schema_version() == LAST + 2
        with fabric.transaction() as tx:
            assert tx.query("SELECT n FROM once_only ORDER BY n") == [{"n": 2}, {"n": 3}]
            assert tx.scalar("SELECT COUNT(*) FROM schema_version") == LAST + 2


def test_default_sql_dir_has_the_same_migrations_for_both_dialects() -> None:
    sql_dir = default_sql_dir()
    assert sql_dir == Path(__file__).resolve().parents[3] / "sql"
    labels = {d: [m.label for m in discover(sql_dir, d)] for d in ("sqlite", "postgres")}
    assert labels["sqlite"] == labels["postgres"]
    assert labels["sqlite"][0] == "0001_feed_dead_letter"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["0001_a.sql", "0003_c.sql"], "without gaps"),
        (["0001_a.sql", "0001_b.sql"], "share version 0001"),
        (["0001_a.sql", "2_b.sql"], "is not named NNNN_lowercase_name.sql"),
    ],
)
def test_bad_migration_folders_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    (tmp_path / "sqlite").mkdir()
    for name in names:
        (tmp_path / "sqlite" / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=message):
        discover(tmp_path, "sqlite")


@pytest.mark.postgres
def test_both_dialects_build_the_same_columns(
    fabric_sqlite: OpsDb, fabric_postgres: OpsDb
) -> None:
    with fabric_sqlite.transaction() as tx:
        tables = [r["name"] for r in tx.query("SELECT name FROM sqlite_master WHERE type='table'")]
        lite = {t: [c["name"] for c in tx.query(f"PRAGMA table_info({t})")] for t in tables}
    with fabric_postgres.transaction() as tx:
        rows = tx.query(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
    pg: dict[str, list[str]] = {}
    for r in rows:
        pg.setdefault(r["table_name"], []).append(r["column_name"])
    assert lite == pg


# --- dead letters -----------------------------------------------------------------------


def test_replace_dead_letters_replaces_never_duplicates(fabric: OpsDb) -> None:
    assert fabric.replace_dead_letters(DAY, SOURCE, letters(3), run_id="run-1") == 3
    assert fabric.replace_dead_letters("2025-01-27", "/feeds/27.jsonl.gz", letters(2)) == 2
    assert fabric.replace_dead_letters(DAY, SOURCE, letters(2, "bad_record"), run_id="run-2") == 2

    assert fabric.count_dead_letters(DAY) == 2
    assert fabric.count_dead_letters("2025-01-27") == 2
    assert fabric.count_dead_letters() == 4
    rows = fabric.dead_letters(DAY)
    assert [r["line_no"] for r in rows] == [1, 2]
    row = rows[0]
    assert {k: row[k] for k in ("day", "source", "reason", "run_id", "coin", "raw")} == {
        "day": DAY, "source": SOURCE, "reason": "bad_record", "run_id": "run-2",
        "coin": "BTC", "raw": "{oops",
    }
    assert row["recv_ts_ms"] == 1_737_849_600_000
    assert isinstance(row["created_at"], datetime) and row["created_at"].tzinfo == UTC
    assert len(fabric.dead_letters()) == 4

    assert fabric.replace_dead_letters(DAY, SOURCE, []) == 0
    assert fabric.count_dead_letters(DAY) == 0
    assert fabric.count_dead_letters() == 2


def test_replace_dead_letters_takes_thousands_and_parser_rows(fabric: OpsDb) -> None:
    assert fabric.replace_dead_letters(DAY, SOURCE, letters(5000)) == 5000
    assert fabric.count_dead_letters(DAY) == 5000
    dead = [DeadLetter(7, None, None, None, "malformed_json", "Expecting value", "{")]
    assert fabric.replace_dead_letters(DAY, SOURCE, dead, run_id="r") == 1
    (row,) = fabric.dead_letters(DAY)
    assert (row["line_no"], row["recv_ts_ms"], row["run_id"]) == (7, None, "r")


def test_replace_dead_letters_is_atomic(fabric: OpsDb, monkeypatch: pytest.MonkeyPatch) -> None:
    fabric.replace_dead_letters(DAY, SOURCE, letters(3))
    with pytest.raises(ValueError, match="missing \\['reason'\\]"):
        fabric.replace_dead_letters(DAY, SOURCE, [*letters(2), {"line_no": 9}])
    with pytest.raises(ValueError, match="unknown \\['colour'\\]"):
        fabric.replace_dead_letters(DAY, SOURCE, [{"line_no": 1, "reason": "x", "colour": 1}])

    def fail(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Tx, "executemany", fail)  # after the DELETE, inside the transaction
    with pytest.raises(RuntimeError, match="disk full"):
        fabric.replace_dead_letters(DAY, SOURCE, letters(1))
    assert fabric.count_dead_letters(DAY) == 3


def test_concurrent_replacements_of_one_day_never_duplicate(fabric_url: str) -> None:
    OpsDb.open(fabric_url).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with OpsDb.open(fabric_url) as fabric:
                for _ in range(10):
                    fabric.replace_dead_letters(DAY, SOURCE, letters(n))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(50,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with OpsDb.open(fabric_url) as fabric:
        assert fabric.count_dead_letters(DAY) == 50


def test_bad_day_is_refused(fabric: OpsDb) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        fabric.replace_dead_letters("26/01/2025", SOURCE, letters(1))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        fabric.dead_letters("yesterday")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        fabric.count_dead_letters("2025-02-30")


# --- transactions and connections -------------------------------------------------------


def test_transaction_rolls_back_on_error_and_refuses_nesting(fabric: OpsDb) -> None:
    with pytest.raises(RuntimeError, match="boom"), fabric.transaction() as tx:
        tx.execute(
            "INSERT INTO feed_dead_letter (day, source, line_no, reason) VALUES (?, ?, ?, ?)",
            (DAY, SOURCE, 1, "x"),
        )
        raise RuntimeError("boom")
    assert fabric.count_dead_letters() == 0
    with fabric.transaction(), pytest.raises(FabricError, match="nesting"):  # noqa: SIM117
        with fabric.transaction():
            pass


def test_qmark_parameters_work_on_both_dialects(fabric: OpsDb) -> None:
    with fabric.transaction() as tx:
        assert tx.scalar("SELECT ? || '%'", ("50",)) == "50%"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(fabric_sqlite: OpsDb) -> None:
    with fabric_sqlite.transaction() as tx:
        assert tx.scalar("PRAGMA journal_mode") == "wal"
        assert tx.scalar("PRAGMA busy_timeout") == 30_000


@pytest.mark.parametrize(
    "url", ["mysql://lotus:pw@db/lotus", "fabric.sqlite", "sqlite://fabric.sqlite", ""]
)
def test_bad_url_is_refused_listing_the_accepted_forms(url: str) -> None:
    with pytest.raises(OpsDbURLError) as err:
        OpsDb.open(url)
    message = str(err.value)
    assert "sqlite:///" in message and "postgresql://" in message
    assert ":pw@" not in message


def test_unreachable_postgres_names_the_dsn_without_its_password() -> None:
    dsn = "postgresql://lotus:s3cret@127.0.0.1:1/lotus"
    with pytest.raises(OpsDbConnectError) as err:
        OpsDb.open(dsn, connect_timeout_s=2)
    message = str(err.value)
    assert "postgresql://lotus:***@127.0.0.1:1/lotus" in message
    assert "s3cret" not in message
    assert "refused" in message.lower() or "failed" in message.lower()
