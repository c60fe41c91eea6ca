"""Numbered DDL migrations under `sql/<dialect>/NNNN_name.sql`, applied once each, in order.

Every migration runs in its own transaction that also records it in `schema_version`
with the sha256 of its file, so a database always says exactly which DDL built it, and an
edited migration is caught instead of silently diverging between machines.

A migration file may instead be a stub whose first line names the pure function that renders
it (`-- lotus:rendered-by lotus_core.fabric.ddl:modules_ddl`): the runner applies the text
that function returns for the dialect and records that text's sha256. 0002_modules is such a
migration, rendered from the fabric's manifests (docs/fabric.md). The function is resolved by
name, like the handlers the module manifests name, so the store does not import the fabric.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import lotus_core
from lotus_core.store.connection import Tx
from lotus_core.store.errors import MigrationError
from lotus_core.store.url import Dialect

log = logging.getLogger(__name__)

MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9][a-z0-9_]*)\.sql$")
LOCK_NAME = "lotus.fabric.migrations"
RENDERED_BY = re.compile(
    r"^-- lotus:rendered-by (lotus_core(?:\.[a-z_][a-z0-9_]*)+):([a-z_][a-z0-9_]*)\s*$"
)

# Checksums recorded by databases built from text that a later, equivalent text replaced:
# still accepted for that migration. 0002_modules was hand-written SQL until it became
# rendered from the manifests (lotus_core/fabric/ddl.py); these are the sha256 of those files
# (sql/<dialect>/0002_modules.sql at commit 94caa99, kept as tests/data/fabric_0002_*.sql).
# tests/core/fabric/test_module_ddl.py proves both texts build the same catalogue.
SUPERSEDED_SHA256: dict[tuple[Dialect, int], frozenset[str]] = {
    ("sqlite", 2): frozenset({"971a051145c034ac131e79733ac7a11b86ee799b167192f3b4b6a96f3db24f1e"}),
    ("postgres", 2): frozenset(
        {"73e51c340e405f957a19483517056d620d557fc388b21f30b62b70b9e9d97737"}
    ),
}

# The bookkeeping table is created by the runner, not by a migration: it must exist
# before the first migration can be recorded.
VERSION_TABLE: dict[Dialect, str] = {
    "sqlite": """
        CREATE TABLE IF NOT EXISTS schema_version (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )""",
    "postgres": """
        CREATE TABLE IF NOT EXISTS schema_version (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            sha256     TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
}


@dataclass(frozen=True)
class Migration:
    """One migration file: `version` from its number, `name` from the rest of its name."""

    version: int
    name: str
    path: Path
    sql: str
    sha256: str
    rendered_by: str | None = None  # "module:function" when the file is a stub
    also_accepts: frozenset[str] = frozenset()  # SUPERSEDED_SHA256 of this migration

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def default_sql_dir() -> Path:
    """The repository's `sql/` folder, found next to the `lotus_core` package."""
    candidate = Path(lotus_core.__file__).resolve().parent.parent / "sql"
    if not candidate.is_dir():
        raise MigrationError(
            f"no fabric DDL folder at {candidate}; pass sql_dir= to OpsDb.open "
            "(the folder holding sqlite/ and postgres/)"
        )
    return candidate


def discover(sql_dir: Path, dialect: Dialect) -> list[Migration]:
    """The dialect's migrations in order; refuses stray names, duplicates and gaps."""
    folder = Path(sql_dir) / dialect
    if not folder.is_dir():
        raise MigrationError(f"no migrations folder for {dialect} at {folder}")
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(
                f"migration file {path} is not named NNNN_lowercase_name.sql "
                "(e.g. 0002_strands.sql)"
            )
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"migrations {found[version].path} and {path} share version {version:04d}"
            )
        data = path.read_bytes()
        text = data.decode("utf-8")
        rendered_by = _rendered_by(path, text)
        if rendered_by is not None:
            text = _render(path, rendered_by, dialect)
            data = text.encode("utf-8")
        found[version] = Migration(
            version=version,
            name=match.group(2),
            path=path,
            sql=text,
            sha256=hashlib.sha256(data).hexdigest(),
            rendered_by=rendered_by,
            also_accepts=SUPERSEDED_SHA256.get((dialect, version), frozenset()),
        )
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(
            f"migrations in {folder} must be numbered 0001, 0002, ... without gaps; "
            f"found {[f'{v:04d}' for v in versions]}"
        )
    return [found[v] for v in versions]


def _rendered_by(path: Path, text: str) -> str | None:
    first = text.split("\n", 1)[0]
    if not first.startswith("-- lotus:rendered-by"):
        return None
    match = RENDERED_BY.match(first)
    if match is None:
        raise MigrationError(
            f"migration file {path}: first line {first!r} must read "
            "'-- lotus:rendered-by lotus_core.<module>:<function>'"
        )
    return f"{match.group(1)}:{match.group(2)}"


def _render(path: Path, rendered_by: str, dialect: Dialect) -> str:
    module_name, function_name = rendered_by.split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        raise MigrationError(f"migration file {path}: cannot find {rendered_by}: {exc}") from exc
    text = function(dialect)
    if not isinstance(text, str) or not text.strip():
        raise MigrationError(f"migration file {path}: {rendered_by} rendered no SQL")
    return text


def _check_recorded(recorded: dict[int, dict], migrations: list[Migration]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, row in sorted(recorded.items()):
        m = by_version.get(version)
        if m is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{row['name']} applied but there is "
                "no such file; is this code older than the database?"
            )
        if m.sha256 != row["sha256"] and row["sha256"] not in m.also_accepts:
            if m.rendered_by is not None:
                raise MigrationError(
                    f"migration {m.label} (rendered by {m.rendered_by}, stub {m.path}) changed "
                    f"after it was applied (sha256 {m.sha256} rendered, {row['sha256']} "
                    "recorded): the manifests it is rendered from no longer describe the "
                    "tables this database was built with; make such a change in a new "
                    "migration"
                )
            raise MigrationError(
                f"migration file {m.path} changed after it was applied (sha256 {m.sha256} on "
                f"disk, {row['sha256']} recorded); add a new migration instead of editing it"
            )


def migrate(
    transaction: Callable[[], AbstractContextManager[Tx]], migrations: list[Migration]
) -> list[Migration]:
    """Apply the pending `migrations`, one locked transaction each; returns those applied.

    Each step re-reads `schema_version` under the lock, so when several processes open the
    fabric at once, each migration is applied by exactly one of them.
    """
    applied: list[Migration] = []
    while True:
        with transaction() as tx:
            tx.lock(LOCK_NAME)
            tx.script(VERSION_TABLE[tx.dialect])
            rows = tx.query("SELECT version, name, sha256 FROM schema_version")
            recorded = {int(r["version"]): r for r in rows}
            _check_recorded(recorded, migrations)
            pending = [m for m in migrations if m.version not in recorded]
            if not pending:
                return applied
            step = pending[0]
            try:
                tx.script(step.sql)
            except Exception as exc:
                raise MigrationError(f"migration {step.path} failed: {exc}") from exc
            tx.execute(
                "INSERT INTO schema_version (version, name, sha256) VALUES (?, ?, ?)",
                (step.version, step.name, step.sha256),
            )
        log.info("fabric: applied migration %s", step.label)
        applied.append(step)
