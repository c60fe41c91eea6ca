"""Migration 0002 rendered from the manifests: deterministic, the same catalogue as the
hand-written SQL it replaced, and databases built from that SQL still open (both backends).

The hand-written files are kept as fixtures: tests/data/fabric_0002_hand_written_<d>.sql.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lotus_core.fabric.ddl import modules_ddl, render
from lotus_core.fabric.manifests import default_root, load_modules
from lotus_core.store.errors import MigrationError
from lotus_core.store.migrations import (
    SUPERSEDED_SHA256,
    VERSION_TABLE,
    default_sql_dir,
    discover,
)
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import parse_url, sqlite_url

DATA = Path(__file__).resolve().parents[2] / "data"
DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def hand_written(dialect: str) -> str:
    return (DATA / f"fabric_0002_hand_written_{dialect}.sql").read_text(encoding="utf-8")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- determinism and source ------------------------------------------------------------------


def test_the_rendering_is_deterministic_and_comes_from_the_manifests(tmp_path: Path) -> None:
    root = tmp_path / "fabric"
    shutil.copytree(default_root(), root)
    for dialect in ("sqlite", "postgres"):
        text = modules_ddl(dialect)
        assert modules_ddl(dialect) == text
        assert render(load_modules(root), dialect) == text  # parsed afresh from a copy
    probe = ("import hashlib; from lotus_core.fabric.ddl import modules_ddl; "
             "print(*(hashlib.sha256(modules_ddl(d).encode()).hexdigest()"
             " for d in ('sqlite', 'postgres')))")
    other_process = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.split()
    assert other_process == [sha(modules_ddl("sqlite")), sha(modules_ddl("postgres"))]

    manifest = root / "modules/vis/module.yaml"  # a new manifest column reaches the DDL
    body = manifest.read_text()
    anchor = "      - {name: ocr_text,"
    assert anchor in body
    manifest.write_text(body.replace(
        anchor, "      - {name: ocr_lang, type: text, nullable: true, null_means: unknown,"
        " doc: ISO code.}\n" + anchor))
    for dialect in ("sqlite", "postgres"):
        edited = render(load_modules(root), dialect)
        assert "    ocr_lang         TEXT,\n    ocr_text" in edited
        assert "ocr_lang" not in modules_ddl(dialect)


def test_the_rendering_differs_from_the_hand_written_file_only_in_its_header() -> None:
    for dialect in ("sqlite", "postgres"):
        def body(text: str) -> list[str]:
            lines = text.splitlines()
            return lines[lines.index("") :]  # everything after the header comment

        assert body(modules_ddl(dialect)) == body(hand_written(dialect))
        assert SUPERSEDED_SHA256[(dialect, 2)] == {sha(hand_written(dialect))}


def test_the_runner_applies_the_rendering_as_migration_0002() -> None:
    for dialect in ("sqlite", "postgres"):
        m = discover(default_sql_dir(), dialect)[1]
        assert (m.version, m.name) == (2, "modules")
        assert m.rendered_by == "lotus_core.fabric.ddl:modules_ddl"
        assert m.sql == modules_ddl(dialect) and m.sha256 == sha(m.sql)
        assert m.path.read_text().startswith("-- lotus:rendered-by ")  # the stub, not SQL


# --- the catalogue ---------------------------------------------------------------------------


def sqlite_catalogue(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").fetchall()
        columns = {t: conn.execute(f"PRAGMA table_xinfo({t})").fetchall()
                   for kind, t, _, _ in objects if kind == "table"}
        indexes = {t: conn.execute(f"PRAGMA index_list({t})").fetchall() for t in columns}
    finally:
        conn.close()
    return {"objects": objects, "columns": columns, "indexes": indexes}


PG_CATALOGUE = {
    "columns": "SELECT table_name, ordinal_position, column_name, data_type, is_nullable,"
               " column_default, is_identity FROM information_schema.columns"
               " WHERE table_schema = current_schema() ORDER BY 1, 2",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
               " WHERE schemaname = current_schema() ORDER BY 1, 2",
    "constraints": "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
                   " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
                   " ORDER BY 1, 2",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
                " WHERE NOT tgisinternal ORDER BY 1, 2",
    "functions": "SELECT proname, prosrc, prosecdef, proconfig, proacl::text FROM pg_proc"
                 " WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
}


def pg_catalogue(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        return {k: conn.execute(q).fetchall() for k, q in PG_CATALOGUE.items()}


def pg_reset(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def run_script(url: str, sql: str) -> None:
    parsed = parse_url(url)
    if parsed.dialect == "sqlite":
        Path(parsed.target).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(parsed.target)
        try:
            conn.executescript(sql)
        finally:
            conn.close()
    else:
        with psycopg.connect(url) as pg:
            pg.execute(sql.encode("utf-8"))


def url_for(dialect: str, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """A fresh, empty database per call: a new SQLite file, or the emptied PG session db."""
    if dialect == "sqlite":
        tmp: Path = request.getfixturevalue("tmp_path")
        return lambda tag: sqlite_url(tmp / tag / "fabric.sqlite")
    dsn: str = request.getfixturevalue("fabric_pg_dsn")

    def fresh(tag: str) -> str:
        pg_reset(dsn)
        return dsn

    return fresh


def catalogue(url: str) -> dict[str, Any]:
    parsed = parse_url(url)
    if parsed.dialect == "sqlite":
        return sqlite_catalogue(Path(parsed.target))
    return pg_catalogue(url)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_rendering_builds_the_catalogue_of_the_hand_written_file(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    fresh = url_for(dialect, request)
    url = fresh("old")
    run_script(url, hand_written(dialect))
    old = catalogue(url)
    url = fresh("new")
    run_script(url, modules_ddl(dialect))
    new = catalogue(url)
    assert new == old
    if dialect == "sqlite":
        kinds = [kind for kind, *_ in new["objects"]]
        assert (kinds.count("table"), kinds.count("index"), kinds.count("trigger")) == (20, 37, 24)
    else:
        assert len({row[0] for row in new["columns"]}) == 20
        assert len(new["triggers"]) == 8 and len(new["functions"]) == 2


def build_with_hand_written_0002(url: str, dialect: str) -> None:
    """A database as the code before the renderer left it: 0001 and the old 0002, recorded."""
    first = discover(default_sql_dir(), dialect)[0]
    old = hand_written(dialect)
    insert = "INSERT INTO schema_version (version, name, sha256) VALUES"
    run_script(url, f"""{VERSION_TABLE[dialect]};
{first.sql}
{old}
{insert} (1, '{first.name}', '{first.sha256}');
{insert} (2, 'modules', '{sha(old)}');
""")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_database_built_from_the_hand_written_0002_still_opens(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    fresh = url_for(dialect, request)
    url = fresh("old")
    build_with_hand_written_0002(url, dialect)
    with OpsDb.open(url) as fabric, fabric.transaction() as tx:  # accepted; 0003 on top
        rows = tx.query("SELECT version, sha256 FROM schema_version ORDER BY version")
    last = discover(default_sql_dir(), dialect)[-1].version
    assert [r["version"] for r in rows] == list(range(1, last + 1))
    assert rows[1]["sha256"] == sha(hand_written(dialect))
    migrated = catalogue(url)

    url = fresh("new")
    with OpsDb.open(url) as fabric, fabric.transaction() as tx:
        recorded = tx.scalar("SELECT sha256 FROM schema_version WHERE version = 2")
    assert recorded == sha(modules_ddl(dialect))
    assert catalogue(url) == migrated  # same schema, whichever 0002 built it

    with OpsDb.open(url) as fabric, fabric.transaction() as tx:  # any other checksum: refused
        tx.execute("UPDATE schema_version SET sha256 = ? WHERE version = 2", ("0" * 64,))
    with pytest.raises(MigrationError, match="rendered by lotus_core.fabric.ddl:modules_ddl"):
        OpsDb.open(url)
