"""PostgreSQL roles, grants and row-level security, generated from the manifests.

    apply_security(fabric, registry=load_modules())   # as the fabric's owner, after migrating

Roles (cluster-wide, created once, LOGIN, no password: set one or use certificates in
production; the tests' server trusts 127.0.0.1):
    lotus_sig, lotus_dm, lotus_tr, lotus_vis   one per module
    lotus_router                               the Herald router

What each may do (everything else is denied: no grant, or no policy under RLS):
    module m   SELECT, INSERT, UPDATE its m_strand and m_priors;
               SELECT, INSERT its m_outbox (from_module = m, routes allowed by the map);
               SELECT its m_inbox; UPDATE only the delivery-state columns of its boxes;
               INSERT into t_inbox for every t it may tag (per models.map.yaml), only
               rows from m, addressed to t, with an intent the map allows m -> t;
               its own rows (module = m) of heartbeats, dead_letter, curator_queue;
               SELECT, INSERT its patch-set snapshots (sig: sig_priors_snapshot);
               SELECT, INSERT, UPDATE its private working tables (tr: trader_*);
               INSERT into curator_candidates only the kinds it proposes
               (CANDIDATE_KINDS: sig posts the breeder's bred_detector items), with its
               proposer prefix, as pending items: only the proposal's columns are
               granted, so status, decided_* and created_at keep their defaults; it
               reads back only the item_id of its own kinds' items (ON CONFLICT needs it;
               the curators list them: lotus_core/curator_api/security.py);
               SELECT schema_version.
    router     SELECT every outbox and inbox; UPDATE the delivery state of outboxes;
               INSERT into every inbox only what the map allows into it;
               SELECT, INSERT dead_letter; its own heartbeats (module = 'router').
Nobody but the owner may DELETE, touch lotus_ledger (kept by SECURITY DEFINER triggers)
or change an envelope column after insert.

Re-running is safe and converges: grants are revoked and lotus_* policies dropped before
being recreated, so a route removed from the map loses its policy. Role creation
tolerates other databases of the same cluster creating the same roles at the same time.
"""

from __future__ import annotations

from lotus_core.fabric.manifests import ModuleRegistry
from lotus_core.fabric.names import (
    MODULES,
    ROUTER,
    ROUTER_ROLE,
    inbox_table,
    module_role,
    outbox_table,
    priors_table,
    strand_table,
)
from lotus_core.fabric.queue import DELIVERY_COLUMNS
from lotus_core.store.errors import FabricError
from lotus_core.store.opsdb import OpsDb

SHARED_BY_MODULE = ("heartbeats", "dead_letter", "curator_queue")
SNAPSHOT_TABLES = {"sig": "sig_priors_snapshot", "tr": "tr_priors_snapshot",  # append-only
                   "vis": "vis_priors_snapshot"}
# module -> its private working tables (created by their own migrations, not the manifests):
# only that module reads and writes them; nobody deletes.
WORKING_TABLES = {"tr": ("trader_state", "trader_orders", "trader_fills", "trader_positions"),
                  "vis": ("chart_embedding",)}
# module -> {curator_candidates kind it proposes: its proposer prefix}: the
# breeder runs in the signal layer and posts survivors as `breeder:<day>`
# (lotus_core.breeding.night.candidate_items). Detector cards are queued by the owner
# (`lotus curator queue-cards`); no module proposes lessons, patches or retirements yet.
CANDIDATE_KINDS: dict[str, dict[str, str]] = {"sig": {"bred_detector": "breeder:"}}
CANDIDATE_COLUMNS = ("item_id", "kind", "subject_id", "proposer", "summary", "detail")


def roles() -> tuple[str, ...]:
    return (*(module_role(m) for m in MODULES), ROUTER_ROLE)


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(values: object) -> str:
    # ignore: `values` is a set of str from the manifests; typed object to take any set.
    return ", ".join(_q(v) for v in sorted(values))  # type: ignore[call-overload]


def _array(values: object) -> str:
    import json

    # ignore: `values` is a set of str from the manifests; typed object to take any set.
    return _q(json.dumps(sorted(values))) + "::jsonb"  # type: ignore[call-overload]


def create_role_sql(role: str) -> str:
    """CREATE ROLE that is a no-op when the role exists, even when another session (in any
    database of the cluster) creates it at the same moment: the loser's unique violation
    is caught inside the block."""
    if not role.replace("_", "").isalnum():
        raise ValueError(f"not a plain role name: {role!r}")
    return (
        "DO $$ BEGIN CREATE ROLE " + role + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
    )


def _policy(name: str, table: str, command: str, role: str, using: str | None,
            check: str | None) -> str:
    sql = f"CREATE POLICY {name} ON {table} AS PERMISSIVE FOR {command} TO {role}"
    if using is not None:
        sql += f" USING ({using})"
    if check is not None:
        sql += f" WITH CHECK ({check})"
    return sql + ";"


def _route_check(registry: ModuleRegistry, sender: str) -> str:
    """SQL: this outbox row's intent may go from `sender` to every module in to_modules."""
    whens = []
    for intent in sorted({i for ts in registry.map.may_tag.get(sender, {}).values() for i in ts}):
        targets = registry.map.targets(sender, intent)
        whens.append(f"WHEN {_q(intent)} THEN to_modules <@ {_array(targets)}")
    if not whens:
        return "false"
    return f"CASE intent {' '.join(whens)} ELSE false END"


def _into_check(target: str, pairs: dict[str, frozenset[str]]) -> str:
    """SQL: a row in target's inbox from a sender with an intent the map allows into it."""
    ors = [f"(from_module = {_q(s)} AND intent IN ({_in(i)}))" for s, i in sorted(pairs.items())]
    addressed = f"to_modules @> {_array([target])}"
    return f"{addressed} AND ({' OR '.join(ors) if ors else 'false'})"


def security_statements(*, registry: ModuleRegistry) -> list[str]:
    """Every statement `apply_security` runs, in order (pure: no database needed), from
    the manifests the caller loaded."""
    all_roles = roles()
    tables = list(registry.tables()) + [t for ts in WORKING_TABLES.values() for t in ts]
    delivery = ", ".join(DELIVERY_COLUMNS)
    out: list[str] = []
    out.extend(create_role_sql(role) for role in all_roles)
    out.append(
        "DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO "
        + ", ".join(all_roles)
        + "', current_database()); END $$;"
    )
    out.append(
        "DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO "
        + ", ".join(all_roles)
        + "', current_schema()); END $$;"
    )
    # Start from nothing on every fabric table, so re-running converges.
    out.append(
        "DO $$ DECLARE p record; BEGIN FOR p IN SELECT policyname, tablename FROM pg_policies"
        " WHERE schemaname = current_schema() AND policyname LIKE 'lotus\\_%' LOOP"
        " EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename); END LOOP; END $$;"
    )
    for table in tables:
        out.append(f"REVOKE ALL ON {table} FROM {', '.join(all_roles)};")
        out.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;")
    out.append(f"GRANT SELECT ON schema_version TO {', '.join(all_roles)};")

    for m in MODULES:
        role = module_role(m)
        strand, priors = strand_table(m), priors_table(m)
        inbox, outbox = inbox_table(m), outbox_table(m)
        out.append(f"GRANT SELECT, INSERT, UPDATE ON {strand}, {priors} TO {role};")
        out.append(_policy("lotus_owner", strand, "ALL", role, "true", f"module = {_q(m)}"))
        out.append(_policy("lotus_owner", priors, "ALL", role, "true", "true"))
        out.append(f"GRANT SELECT, INSERT ON {outbox} TO {role};")
        out.append(f"GRANT UPDATE ({delivery}) ON {outbox}, {inbox} TO {role};")
        out.append(f"GRANT SELECT ON {inbox} TO {role};")
        out.append(_policy("lotus_owner_read", outbox, "SELECT", role, "true", None))
        out.append(_policy("lotus_owner_post", outbox, "INSERT", role, None,
                           f"from_module = {_q(m)} AND {_route_check(registry, m)}"))
        out.append(_policy("lotus_owner_update", outbox, "UPDATE", role, "true", "true"))
        out.append(_policy("lotus_owner_read", inbox, "SELECT", role, "true", None))
        out.append(_policy("lotus_owner_update", inbox, "UPDATE", role, "true", "true"))
        for target, intents in sorted(registry.map.may_tag.get(m, {}).items()):
            t_inbox = inbox_table(target)
            out.append(f"GRANT INSERT ON {t_inbox} TO {role};")
            out.append(_policy(f"lotus_tag_from_{m}", t_inbox, "INSERT", role, None,
                               _into_check(target, {m: intents})))
        for table in SHARED_BY_MODULE:
            rights = "SELECT, INSERT" if table == "dead_letter" else "SELECT, INSERT, UPDATE"
            out.append(f"GRANT {rights} ON {table} TO {role};")
            own = f"module = {_q(m)}"
            out.append(_policy(f"lotus_{m}", table, "ALL", role, own, own))
        snapshots = SNAPSHOT_TABLES.get(m)
        if snapshots in tables:
            out.append(f"GRANT SELECT, INSERT ON {snapshots} TO {role};")
            out.append(_policy("lotus_owner", snapshots, "ALL", role, "true", "true"))
        for working in WORKING_TABLES.get(m, ()):
            out.append(f"GRANT SELECT, INSERT, UPDATE ON {working} TO {role};")
            out.append(_policy("lotus_owner", working, "ALL", role, "true", "true"))
        proposes = CANDIDATE_KINDS.get(m)
        if proposes and "curator_candidates" in tables:
            # post_candidate's ON CONFLICT (item_id) DO NOTHING needs SELECT on the arbiter
            # column, and PostgreSQL then judges the new row by a SELECT policy too: the
            # module sees the item_id of its own kinds' proposals, nothing else.
            out.append(f"GRANT INSERT ({', '.join(CANDIDATE_COLUMNS)}), SELECT (item_id)"
                       f" ON curator_candidates TO {role};")
            owned = " OR ".join(f"(kind = {_q(kind)} AND starts_with(proposer, {_q(prefix)}))"
                                for kind, prefix in sorted(proposes.items()))
            out.append(_policy(f"lotus_propose_{m}", "curator_candidates", "INSERT", role, None,
                               f"({owned}) AND status = 'pending' AND decided_at IS NULL"
                               " AND decided_by IS NULL"))
            out.append(_policy(f"lotus_proposed_{m}", "curator_candidates", "SELECT", role,
                               owned, None))

    r = ROUTER_ROLE
    for m in MODULES:
        inbox, outbox = inbox_table(m), outbox_table(m)
        out.append(f"GRANT SELECT ON {outbox}, {inbox} TO {r};")
        out.append(f"GRANT UPDATE ({delivery}) ON {outbox} TO {r};")
        out.append(f"GRANT INSERT ON {inbox} TO {r};")
        out.append(_policy("lotus_router_read", outbox, "SELECT", r, "true", None))
        out.append(_policy("lotus_router_update", outbox, "UPDATE", r, "true", "true"))
        out.append(_policy("lotus_router_read", inbox, "SELECT", r, "true", None))
        out.append(_policy("lotus_router_deliver", inbox, "INSERT", r, None,
                           _into_check(m, registry.map.into(m))))
    out.append(f"GRANT SELECT, INSERT ON dead_letter TO {r};")
    out.append(_policy("lotus_router", "dead_letter", "ALL", r, "true", "true"))
    out.append(f"GRANT SELECT, INSERT, UPDATE ON heartbeats TO {r};")
    out.append(_policy("lotus_router_read", "heartbeats", "SELECT", r, "true", None))
    own = f"module = {_q(ROUTER)}"
    out.append(_policy("lotus_router_insert", "heartbeats", "INSERT", r, None, own))
    out.append(_policy("lotus_router_update", "heartbeats", "UPDATE", r, own, own))
    return out


def apply_security(fabric: OpsDb, *, registry: ModuleRegistry) -> int:
    """Create the roles and (re)apply grants and policies in one transaction; returns the
    number of statements run. PostgreSQL only; run it as the tables' owner."""
    if fabric.dialect != "postgres":
        raise FabricError(
            "row-level security is a PostgreSQL feature; a SQLite fabric is a single-user file"
        )
    statements = security_statements(registry=registry)
    with fabric.transaction() as tx:
        for sql in statements:
            # ignore: psycopg wants a LiteralString; this DDL is generated from the manifests.
            tx.raw.execute(sql)  # type: ignore[call-overload]
    return len(statements)
