"""Migration 0002_modules, rendered from the manifests for SQLite and PostgreSQL.

    sql = modules_ddl("sqlite")   # the same text for the same manifests, byte for byte

`tables.yaml` and `modules/<m>/module.yaml` declare every column (type, null, default,
range, enum, JSON shape), key and index of the module fabric; this pure renderer turns them
into CREATE TABLE / CREATE INDEX statements plus the ledger triggers, so the DDL cannot drift
from the manifests. The migration runner applies the text as migration 0002 (the file
`sql/<dialect>/0002_modules.sql` is a stub naming this function) and records its sha256;
a change of the manifests that alters a 0002 table therefore changes that checksum and is
refused on existing databases, exactly like an edited migration file.
"""

from __future__ import annotations

from lotus_core.fabric.manifests import Column, ModuleRegistry, Table, load_modules
from lotus_core.fabric.names import MODULES

MIGRATION = 2
DIALECTS = ("sqlite", "postgres")
NAME_WIDTH = 17  # column names are padded so the types line up

TYPES = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "bigint": "INTEGER", "real": "REAL",
               "bool": "INTEGER", "json": "TEXT", "timestamp": "TEXT"},
    "postgres": {"text": "TEXT", "int": "INTEGER", "bigint": "BIGINT",
                 "real": "DOUBLE PRECISION", "bool": "BOOLEAN", "json": "JSONB",
                 "timestamp": "TIMESTAMPTZ"},
}
SQLITE_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
SQLITE_ISO = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'"
# Inbox rows rank in the ledger by intent: alerts first, then priors traffic.
PRIORITY = ("CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 "
            "WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END")

HEADER = {
    "sqlite": """\
-- Migration 0002_modules for SQLite, rendered by lotus_core/fabric/ddl.py from
-- lotus_core/fabric/tables.yaml and lotus_core/fabric/modules/<m>/module.yaml: per module m
-- in (sig, dm, tr, vis) the tables m_strand, m_inbox, m_outbox and m_priors; the shared
-- lotus_ledger, dead_letter, heartbeats and curator_queue. Do not edit the output: edit the
-- manifests (and add a migration for existing databases).
--
-- Ledger: every strand and inbox row has exactly one lotus_ledger row ('<table>:<id>'),
-- kept by SQLite triggers in the same transaction as the row itself (insert, update and delete).
-- JSON columns are TEXT checked with json_valid; timestamps are ISO-8601 UTC text with \
milliseconds (2025-01-26T12:00:00.000Z), so they sort as text.
""",
    "postgres": """\
-- Migration 0002_modules for PostgreSQL, rendered by lotus_core/fabric/ddl.py from
-- lotus_core/fabric/tables.yaml and lotus_core/fabric/modules/<m>/module.yaml: per module m
-- in (sig, dm, tr, vis) the tables m_strand, m_inbox, m_outbox and m_priors; the shared
-- lotus_ledger, dead_letter, heartbeats and curator_queue. Do not edit the output: edit the
-- manifests (and add a migration for existing databases).
--
-- Ledger: every strand and inbox row has exactly one lotus_ledger row ('<table>:<id>'),
-- kept by plpgsql triggers in the same transaction as the row itself (insert, update and delete).
-- JSON columns are JSONB; timestamps are TIMESTAMPTZ.
""",
}

LEDGER_COLUMNS = ("ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, "
                  "timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, "
                  "created_at, processed_at")


def modules_ddl(dialect: str) -> str:
    """The whole of migration 0002 for `dialect` ("sqlite" or "postgres")."""
    if dialect not in DIALECTS:
        raise ValueError(f"no module DDL for dialect {dialect!r}; expected one of {DIALECTS}")
    return render(load_modules(), dialect)


def render(registry: ModuleRegistry, dialect: str) -> str:
    """Migration 0002 for `dialect` from `registry` (pure: same manifests, same text)."""
    shared = [t for t in registry.shared_tables.values() if t.migration == MIGRATION]
    ledger, others = shared[0], shared[1:]
    if ledger.name != "lotus_ledger":
        raise ValueError("tables.yaml: lotus_ledger must be the first shared table of 0002")
    out = [HEADER[dialect], "\n", _block(ledger, dialect)]
    for m in MODULES:
        out.extend(_block(table, dialect) for table in registry.modules[m].tables.values())
    out.extend(_block(t, dialect) for t in others)
    out.append("\n")
    out.append(_sqlite_triggers() if dialect == "sqlite" else _postgres_triggers())
    return "".join(out)


def _block(table: Table, dialect: str) -> str:
    """`-- doc`, the CREATE TABLE, a blank line, its indexes and a blank line."""
    lines = [_column(c, table, dialect) for c in table.columns]
    pk = table.primary_key
    if len(pk) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(pk)})")
    if table.template == "priors":  # the caps copied into each row hold its value
        lines.append("CHECK (min_value IS NULL OR value >= min_value)")
        lines.append("CHECK (max_value IS NULL OR value <= max_value)")
    lines.extend(f"UNIQUE ({', '.join(u)})" for u in table.unique)
    body = ",\n".join(f"    {line}" for line in lines)
    indexes = "".join(f"CREATE INDEX {table.name}_{suffix} ON {table.name} ({', '.join(cs)});\n"
                      for suffix, cs in table.indexes)
    doc = " ".join(table.doc.split())
    return f"-- {doc}\nCREATE TABLE {table.name} (\n{body}\n);\n\n{indexes}\n"


def _column(col: Column, table: Table, dialect: str) -> str:
    single_pk = col.key == "primary" and len(table.primary_key) == 1
    if col.default == "auto" and dialect == "postgres":
        parts = ["BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
    else:
        parts = [TYPES[dialect][col.type]]
        if single_pk:
            parts.append("PRIMARY KEY")
        if not col.nullable and not (single_pk and dialect == "postgres"):
            parts.append("NOT NULL")
        if col.key == "unique":
            parts.append("UNIQUE")
        if col.default is not None and col.default != "auto":
            parts.append(f"DEFAULT {_default(col, dialect)}")
    check = _check(col, dialect)
    if check:
        parts.append(f"CHECK ({check})")
    return f"{col.name:<{NAME_WIDTH}}{' '.join(parts)}"


def _default(col: Column, dialect: str) -> str:
    value = col.default or ""
    if value == "now":
        return SQLITE_NOW if dialect == "sqlite" else "now()"
    if col.type == "bool":
        return ("1" if value == "true" else "0") if dialect == "sqlite" else value.upper()
    if col.type in ("int", "bigint", "real"):
        return value
    literal = "'" + value.replace("'", "''") + "'"
    return f"{literal}::jsonb" if col.type == "json" and dialect == "postgres" else literal


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _check(col: Column, dialect: str) -> str | None:
    name = col.name
    if col.enum is not None:  # as 0002 made it: values a later migration added are not in it
        later = {v for v, m in col.enum_since if m > MIGRATION}
        return f"{name} IN ({', '.join(_quote(v) for v in col.enum if v not in later)})"
    if col.range is not None:
        lo, hi = col.range
        if lo is not None and hi is not None:
            return f"{name} BETWEEN {_number(lo)} AND {_number(hi)}"
        return f"{name} >= {_number(lo)}" if lo is not None else f"{name} <= {_number(hi or 0)}"
    if col.type == "bool":
        return f"{name} IN (0, 1)" if dialect == "sqlite" else None
    if col.type == "timestamp":
        return f"{name} GLOB {SQLITE_ISO}" if dialect == "sqlite" else None
    if col.type != "json":
        return None
    if dialect == "sqlite":
        shape = f"json_valid({name}) AND json_type({name}) = '{col.shape}'"
        length = f"json_array_length({name}) >= {col.min_items}"
    else:
        shape = f"jsonb_typeof({name}) = '{col.shape}'"
        length = f"jsonb_array_length({name}) >= {col.min_items}"
    expr = f"({shape}) AND ({length})" if col.min_items else shape
    if col.nullable and dialect == "sqlite":  # json_valid(NULL) is 0, which CHECK refuses
        return f"{name} IS NULL OR ({expr})"
    return expr


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sqlite_triggers() -> str:
    groups = []
    for m in MODULES:
        strand, inbox = f"{m}_strand", f"{m}_inbox"
        tags = "json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module)"
        groups.append(f"""\
CREATE TRIGGER {strand}_ledger_insert AFTER INSERT ON {strand} BEGIN
    INSERT INTO lotus_ledger ({LEDGER_COLUMNS})
    VALUES ('{strand}:' || NEW.id, NEW.module, NEW.kind, '{strand}', NEW.id, NEW.lifecycle_id,
            NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket, NEW.regime, '[]', 0,
            NULL, 0, 'recorded', NEW.created_at, NULL);
END;

CREATE TRIGGER {strand}_ledger_update AFTER UPDATE ON {strand} BEGIN
    UPDATE lotus_ledger
       SET ledger_id = '{strand}:' || NEW.id, ref_id = NEW.id, module = NEW.module, kind = NEW.kind,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id, symbol = NEW.symbol,
           timeframe = NEW.timeframe, session_bucket = NEW.session_bucket, regime = NEW.regime,
           created_at = NEW.created_at
     WHERE ledger_id = '{strand}:' || OLD.id;
END;

CREATE TRIGGER {strand}_ledger_delete AFTER DELETE ON {strand} BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = '{strand}:' || OLD.id;
END;

CREATE TRIGGER {inbox}_ledger_insert AFTER INSERT ON {inbox} BEGIN
    INSERT INTO lotus_ledger ({LEDGER_COLUMNS})
    VALUES ('{inbox}:' || NEW.event_id, '{m}', NEW.intent, '{inbox}', NEW.event_id, \
NEW.lifecycle_id,
            NEW.parent_id, NULL, NULL, NULL, NULL,
            {tags},
            {PRIORITY}, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at, NEW.consumed_at);
END;

CREATE TRIGGER {inbox}_ledger_update AFTER UPDATE ON {inbox} BEGIN
    UPDATE lotus_ledger
       SET ledger_id = '{inbox}:' || NEW.event_id, ref_id = NEW.event_id, kind = NEW.intent,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
           tags = {tags},
           priority = {PRIORITY}, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
           status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
     WHERE ledger_id = '{inbox}:' || OLD.event_id;
END;

CREATE TRIGGER {inbox}_ledger_delete AFTER DELETE ON {inbox} BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = '{inbox}:' || OLD.event_id;
END;
""")
    return "\n\n".join(groups)


def _postgres_triggers() -> str:
    tags = "NEW.tags || jsonb_build_array('from:' || NEW.from_module)"
    functions = f"""\
-- Ledger mirroring. SECURITY DEFINER: a module role that may insert into another module's
-- inbox has no right to the ledger, yet its insert must be mirrored in the same transaction.
-- The search_path is pinned to this schema with pg_temp last, so no temporary table can
-- stand in for lotus_ledger.
CREATE FUNCTION lotus_ledger_strand() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lotus_ledger ({LEDGER_COLUMNS})
        VALUES (TG_TABLE_NAME || ':' || NEW.id, NEW.module, NEW.kind, TG_TABLE_NAME, NEW.id,
                NEW.lifecycle_id, NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket,
                NEW.regime, '[]'::jsonb, 0, NULL, 0, 'recorded', NEW.created_at, NULL);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE lotus_ledger
           SET ledger_id = TG_TABLE_NAME || ':' || NEW.id, ref_id = NEW.id, module = NEW.module,
               kind = NEW.kind, lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
               symbol = NEW.symbol, timeframe = NEW.timeframe,
               session_bucket = NEW.session_bucket, regime = NEW.regime,
               created_at = NEW.created_at
         WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.id;
    ELSE
        DELETE FROM lotus_ledger WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION lotus_ledger_inbox() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lotus_ledger ({LEDGER_COLUMNS})
        VALUES (TG_TABLE_NAME || ':' || NEW.event_id, split_part(TG_TABLE_NAME, '_', 1),
                NEW.intent, TG_TABLE_NAME, NEW.event_id, NEW.lifecycle_id, NEW.parent_id,
                NULL, NULL, NULL, NULL, {tags},
                {PRIORITY}, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at,
                NEW.consumed_at);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE lotus_ledger
           SET ledger_id = TG_TABLE_NAME || ':' || NEW.event_id, ref_id = NEW.event_id,
               kind = NEW.intent, lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
               tags = {tags},
               priority = {PRIORITY}, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
               status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
         WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.event_id;
    ELSE
        DELETE FROM lotus_ledger WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.event_id;
    END IF;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION lotus_ledger_strand() SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION lotus_ledger_inbox() SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
REVOKE ALL ON FUNCTION lotus_ledger_strand() FROM PUBLIC;
REVOKE ALL ON FUNCTION lotus_ledger_inbox() FROM PUBLIC;
"""
    triggers = [f"""\
CREATE TRIGGER {m}_strand_ledger AFTER INSERT OR UPDATE OR DELETE ON {m}_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER {m}_inbox_ledger AFTER INSERT OR UPDATE OR DELETE ON {m}_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();
""" for m in MODULES]
    return functions + "\n" + "\n".join(triggers)


if __name__ == "__main__":  # print the migration: python -m lotus_core.fabric.ddl sqlite
    import sys

    sys.stdout.write(modules_ddl(sys.argv[1] if len(sys.argv) > 1 else "sqlite"))
