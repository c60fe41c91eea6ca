"""Manifests and the model map: loading, cross-checks, and the DDL of both backends
checked column by column against them (a column added in one place only fails here)."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lotus_core.fabric.codec import value_in
from lotus_core.fabric.manifests import (
    Column,
    ManifestError,
    ModuleRegistry,
    Table,
    default_root,
    load_modules,
)
from lotus_core.fabric.names import INTENTS, MODULES
from lotus_core.fabric.security import security_statements
from lotus_core.store.opsdb import OpsDb

SQLITE_TYPES = {"text": "TEXT", "int": "INTEGER", "bigint": "INTEGER", "real": "REAL",
                "bool": "INTEGER", "json": "TEXT", "timestamp": "TEXT"}
PG_TYPES = {"text": "text", "int": "integer", "bigint": "bigint", "real": "double precision",
            "bool": "boolean", "json": "jsonb",
            "timestamp": "timestamp with time zone"}


# --- the shipped manifests --------------------------------------------------------------


def test_shipped_manifests_load_and_agree() -> None:
    reg = load_modules()
    assert sorted(reg.modules) == sorted(MODULES)
    tables = reg.tables()
    for m in MODULES:
        for suffix in ("strand", "inbox", "outbox", "priors"):
            assert f"{m}_{suffix}" in tables
        manifest = reg.modules[m]
        assert manifest.strand_kinds and manifest.priors and manifest.own_columns
        for knob in manifest.priors.values():
            assert knob.min <= knob.default <= knob.max and knob.max_step > 0
    assert {"lotus_ledger", "dead_letter", "heartbeats", "curator_queue"} <= set(tables)
    for table in tables.values():
        for col in table.columns:
            assert col.doc and (col.null_means is not None) == col.nullable
    # Every intent is sent somewhere and heard somewhere.
    sent = {i for targets in reg.map.may_tag.values() for ts in targets.values() for i in ts}
    assert sent == set(INTENTS)
    assert reg.map.allowed("sig", "dm", "ALPHA_PROPOSED")
    assert not reg.map.allowed("vis", "sig", "ALPHA_PROPOSED")
    assert reg.map.targets("tr", "EXEC_REPORT") == ("sig", "dm")
    assert reg.map.routing.backoff_sec(1) == 1.0 and reg.map.routing.backoff_sec(20) == 300.0


# --- broken manifests name the file and the key ------------------------------------------


def copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "fabric"
    src = default_root()
    root.mkdir()
    for name in ("tables.yaml", "models.map.yaml"):
        shutil.copy(src / name, root / name)
    shutil.copytree(src / "modules", root / "modules")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


BROKEN = [
    (  # an unquoted comma inside a flow mapping silently makes a new key
        "modules/tr/module.yaml",
        "doc: Where it executed.}",
        "doc: Where, it executed.}",
        "tables.tr_strand.columns[2]: Additional properties are not allowed",
    ),
    (
        "modules/sig/module.yaml",
        "range: [-1, 1]",
        "range: [1, -1]",
        "tables.sig_strand.columns[2].range: min 1 > max -1",
    ),
    (
        "modules/dm/module.yaml",
        "type: real, unit: probability",
        "type: float, unit: probability",
        "tables.dm_strand.columns[5].type: 'float' is not one of",
    ),
    (
        "modules/vis/module.yaml",
        "nullable: true, null_means: no text found,",
        "nullable: true,",
        "tables.vis_strand.columns[1]: 'null_means' is a required property",
    ),
    (
        "modules/sig/module.yaml",
        "default: 0.05, min: 0.0, max: 0.5",
        "default: 0.75, min: 0.0, max: 0.5",
        "priors[0]: default 0.75 is outside [min 0.0, max 0.5]",
    ),
    (
        "modules/sig/module.yaml",
        "    - {intent: ALPHA_WITHDRAWN, doc: Takes back a signal before its horizon ends.}\n",
        "",
        "may_tag: sig's routes disagree with",
    ),
    (
        "models.map.yaml",
        "    sig: [DM_DECISION]\n",
        "    sig: [DM_DECISION, PRIOR_PATCH]\n",
        "may_tag.sig.dm: dm may send PRIOR_PATCH to sig, so sig must be able to answer",
    ),
    (
        "models.map.yaml",
        "    dm: [ALPHA_PROPOSED, ALPHA_WITHDRAWN, LESSON_PUBLISHED]",
        "    dm: [ALPHA_PROPOSED, ALPHA_WITHDRAWN, LESSON_PUBLISHED, BUY_NOW]",
        "may_tag.sig.dm[3]: 'BUY_NOW' is not one of",
    ),
    (
        "tables.yaml",
        "range: [1, 2592000]",
        "range: [2592000, 1]",
        "templates.queue.columns[11].range: min 2592000 > max 1",
    ),
    (
        "modules/tr/module.yaml",
        "module: tr\n",
        "module: dm\n",
        "module: says 'dm' but the folder is 'tr'",
    ),
    (
        "modules/dm/module.yaml",
        "  dm_priors: {template: priors,",
        "  dm_prior: {template: priors,",
        "tables: 'dm_prior' does not match",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "message"), BROKEN)
def test_broken_manifest_names_file_and_key(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    root = copy_root(tmp_path)
    edit(root / file, old, new)
    with pytest.raises(ManifestError) as err:
        load_modules(root)
    text = str(err.value)
    assert message in text, text
    named = "tables.yaml" if "templates." in message else file
    assert str(root / named) in text or named in text, text


def test_missing_module_folder_is_refused(tmp_path: Path) -> None:
    root = copy_root(tmp_path)
    shutil.rmtree(root / "modules" / "vis")
    expected = r"expected module folders \['dm', 'sig', 'tr', 'vis'\]"
    with pytest.raises(ManifestError, match=expected):
        load_modules(root)


# --- the DDL against the manifests, on both backends ------------------------------------


def introspect(fabric: OpsDb) -> dict[str, list[dict[str, Any]]]:
    """table -> columns as {name, type, notnull, default, pk} from the live database."""
    out: dict[str, list[dict[str, Any]]] = {}
    with fabric.transaction() as tx:
        if fabric.dialect == "sqlite":
            names = [r["name"] for r in tx.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            for t in names:
                out[t] = [
                    {"name": c["name"], "type": c["type"], "notnull": bool(c["notnull"]),
                     "default": c["dflt_value"], "pk": c["pk"]}
                    for c in tx.query(f"PRAGMA table_info({t})")
                ]
        else:
            pks = {
                (r["table_name"], r["column_name"]): r["pos"]
                for r in tx.query(
                    "SELECT k.table_name, k.column_name, k.ordinal_position AS pos"
                    " FROM information_schema.table_constraints c"
                    " JOIN information_schema.key_column_usage k"
                    " ON k.constraint_name = c.constraint_name AND k.table_name = c.table_name"
                    " WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema()"
                )
            }
            for c in tx.query(
                "SELECT table_name, column_name, data_type, is_nullable, column_default,"
                " is_identity FROM information_schema.columns WHERE table_schema = current_schema()"
                " ORDER BY table_name, ordinal_position"
            ):
                default = c["column_default"]
                if c["is_identity"] == "YES":
                    default = "identity"
                out.setdefault(c["table_name"], []).append(
                    {"name": c["column_name"], "type": c["data_type"],
                     "notnull": c["is_nullable"] == "NO", "default": default,
                     "pk": pks.get((c["table_name"], c["column_name"]), 0)}
                )
    return out


def _default_ok(col: Column, actual: Any, dialect: str, pk: int) -> bool:
    if col.default is None:
        return actual is None
    if col.default == "auto":
        return (actual is None and pk == 1) if dialect == "sqlite" else actual == "identity"
    if actual is None:
        return False
    actual = str(actual).lower()
    if col.default == "now":
        return "now" in actual
    if col.type == "bool":
        want = {"true": "1", "false": "0"}[col.default] if dialect == "sqlite" else col.default
        return actual == want
    return col.default.lower() in actual


def ddl_differences(fabric: OpsDb, registry: ModuleRegistry) -> list[str]:
    """Every way the live tables differ from the manifests (empty when they agree)."""
    live = introspect(fabric)
    types = SQLITE_TYPES if fabric.dialect == "sqlite" else PG_TYPES
    problems = []
    for name, table in registry.tables().items():
        cols = live.get(name)
        if cols is None:
            problems.append(f"{name}: in the manifests, not in the database")
            continue
        want = list(table.column_names)
        have = [c["name"] for c in cols]
        if want != have:
            problems.append(f"{name}: columns differ: manifests {want}, database {have}")
            continue
        for col, c in zip(table.columns, cols, strict=True):
            where = f"{name}.{col.name}"
            if c["type"] != types[col.type]:
                problems.append(f"{where}: type {c['type']}, manifest {col.type}")
            if c["notnull"] == col.nullable:
                problems.append(f"{where}: NOT NULL is {c['notnull']}, manifest nullable")
            if not _default_ok(col, c["default"], fabric.dialect, c["pk"]):
                problems.append(f"{where}: default {c['default']!r}, manifest {col.default!r}")
        have_pk = [c["name"] for c in sorted(cols, key=lambda c: c["pk"]) if c["pk"]]
        if have_pk != list(table.primary_key):
            problems.append(f"{name}: primary key {have_pk}, manifest {list(table.primary_key)}")
    module_tables = set(registry.tables())
    for name in live:
        if name.startswith(tuple(f"{m}_" for m in MODULES)) and name not in module_tables:
            problems.append(f"{name}: in the database, in no manifest")
    return problems


def test_ddl_matches_the_manifests(fabric: OpsDb) -> None:
    assert ddl_differences(fabric, load_modules()) == []


def test_a_column_in_only_one_place_fails(fabric: OpsDb, tmp_path: Path) -> None:
    root = copy_root(tmp_path)  # the manifest gains a column the DDL lacks
    edit(root / "modules/vis/module.yaml",
         "      - {name: ocr_text,",
         "      - {name: ocr_lang, type: text, nullable: true, null_means: unknown,"
         " doc: ISO code.}\n"
         "      - {name: ocr_text,")
    problems = ddl_differences(fabric, load_modules(root))
    assert problems and "vis_strand: columns differ" in problems[0]
    with fabric.transaction() as tx:  # the DDL gains a column the manifest lacks
        tx.execute("ALTER TABLE sig_strand ADD COLUMN sneaky TEXT")
    problems = ddl_differences(fabric, load_modules())
    assert problems and "sig_strand: columns differ" in problems[0] and "sneaky" in problems[0]


def _sample(col: Column, table: Table) -> Any:
    if col.name == "to_modules":
        return ["sig"]
    if col.enum:
        return col.enum[0]
    if col.type in ("int", "bigint", "real"):
        lo, hi = col.range or (None, None)
        return lo if lo is not None else (hi if hi is not None else 1)
    return {"text": "x", "bool": False, "timestamp": datetime(2025, 1, 26, tzinfo=UTC),
            "json": {} if col.shape == "object" else []}[col.type]


def _violations(col: Column) -> list[Any]:
    out: list[Any] = []
    if col.range:
        lo, hi = col.range
        if lo is not None:
            out.append(lo - 1)
        if hi is not None:
            out.append(hi + 1)
    if col.enum:
        out.append("no-such-value")
    if col.type == "json":
        out.append([] if col.shape == "object" else {})
    return out


def test_the_database_enforces_every_range_enum_and_json_shape(fabric: OpsDb) -> None:
    errors = (sqlite3.IntegrityError, psycopg.IntegrityError)
    checked = 0
    for table in load_modules().tables().values():
        base = {c.name: _sample(c, table) for c in table.columns
                if c.default is None and not c.nullable}

        def insert(row: dict[str, Any], table: Table = table) -> None:
            with fabric.transaction() as tx:
                params = [value_in(tx.dialect, table.column(k).type, v) for k, v in row.items()]
                tx.execute(f"INSERT INTO {table.name} ({', '.join(row)})"
                           f" VALUES ({', '.join('?' for _ in row)})", params)
                raise _Rollback

        with pytest.raises(_Rollback):
            insert(base)  # the minimal row is valid
        for col in table.columns:
            for bad in _violations(col):
                with pytest.raises(errors):
                    insert({**base, col.name: bad})
                checked += 1
    assert checked > 80


class _Rollback(Exception):
    pass


def test_security_statements_follow_the_map() -> None:
    sql = "\n".join(security_statements(registry=load_modules()))
    assert "CREATE POLICY lotus_tag_from_sig ON dm_inbox" in sql
    assert "CREATE POLICY lotus_tag_from_vis ON sig_inbox" not in sql  # vis may not tag sig
    assert "GRANT INSERT ON sig_inbox TO lotus_vis" not in sql
    assert "GRANT UPDATE (status, attempts, next_attempt_at, last_error, consumed_at)" in sql
    assert "DELETE" not in sql.replace("DROP POLICY", "")
