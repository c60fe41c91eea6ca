"""PostgreSQL roles and row-level security for the Curator API, from the role rules.

    apply_curator_security(fabric, council)   # as the tables' owner, after apply_security

One NOLOGIN role per council curator, `lotus_curator_<role>`, granted to the connecting
user, which assumes it per request (`SET LOCAL ROLE`, store.role_session): in production
that user is a login role for the API service with no rights of its own. What each may do:

    every curator role   SELECT curator_candidates, curator_actions, curator_queue;
                         UPDATE curator_queue.status/resolved_at to acknowledged or resolved
    role r               INSERT into curator_actions only rows with role = r, an action r
                         may take (rules.allowed_actions) and, for a nudge, |value| <= r's kappa
                         (curators.yaml, baked into the policy when this runs: re-run it
                         after changing kappa);
                         UPDATE curator_candidates.status/decided_* of pending rows, to
                         signed_off only if r may sign off, to vetoed only if r may veto
    nobody               DELETE, or UPDATE curator_actions (also blocked by a trigger)

Policies are named `curator_*`, so the module fabric's `apply_security` (which drops
`lotus_*` policies) leaves them alone, and re-running this converges.
"""

from __future__ import annotations

from lotus_core.curator_api.rules import ALARM_STATUS, DECISION, allowed_actions, nudge_bound
from lotus_core.curator_api.store import db_role
from lotus_core.curators.config import CURATORS, CouncilConfig
from lotus_core.store.errors import FabricError
from lotus_core.store.opsdb import OpsDb

TABLES = ("curator_candidates", "curator_actions", "curator_queue")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def curator_roles() -> tuple[str, ...]:
    return tuple(db_role(r) for r in CURATORS)


def _create_role(role: str) -> str:
    return ("DO $$ BEGIN CREATE ROLE " + role + " NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;"
            " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;")


def curator_security_statements(council: CouncilConfig) -> list[str]:
    """Every statement `apply_curator_security` runs, in order (pure)."""
    roles = curator_roles()
    everyone = ", ".join(roles)
    out = [_create_role(r) for r in roles]
    out.append("DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO " + everyone
               + "', current_schema()); END $$;")
    out.append("DO $$ DECLARE p record; BEGIN FOR p IN SELECT policyname, tablename FROM"
               " pg_policies WHERE schemaname = current_schema() AND policyname LIKE"
               " 'curator\\_%' LOOP EXECUTE format('DROP POLICY %I ON %I', p.policyname,"
               " p.tablename); END LOOP; END $$;")
    for table in TABLES:
        out.append(f"REVOKE ALL ON {table} FROM {everyone};")
        out.append(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;")
        out.append(f"GRANT SELECT ON {table} TO {everyone};")
        out.append(f"CREATE POLICY curator_read ON {table} FOR SELECT TO {everyone} USING (true);")
    out.append(f"GRANT INSERT ON curator_actions TO {everyone};")
    out.append(f"GRANT UPDATE (status, resolved_at) ON curator_queue TO {everyone};")
    alarm = ", ".join(_q(s) for s in sorted(ALARM_STATUS.values()))
    out.append(f"CREATE POLICY curator_alarm ON curator_queue FOR UPDATE TO {everyone}"
               f" USING (status <> 'resolved') WITH CHECK (status IN ({alarm}));")
    for name in CURATORS:
        role = db_role(name)
        acts = sorted(allowed_actions(name))
        kappa = nudge_bound(council, name)
        check = (f"role = {_q(name)} AND action IN ({', '.join(_q(a) for a in acts)})"
                 f" AND (value IS NULL OR abs(value) <= {kappa!r})")
        out.append(f"CREATE POLICY curator_{name}_act ON curator_actions FOR INSERT TO {role}"
                   f" WITH CHECK ({check});")
        decisions = sorted(DECISION[a] for a in acts if a in DECISION)  # type: ignore[index]
        if decisions:
            out.append(f"GRANT UPDATE (status, decided_at, decided_by) ON curator_candidates"
                       f" TO {role};")
            out.append(f"CREATE POLICY curator_{name}_decide ON curator_candidates FOR UPDATE"
                       f" TO {role} USING (status = 'pending') WITH CHECK (status IN"
                       f" ({', '.join(_q(d) for d in decisions)}));")
        out.append(f"GRANT {role} TO CURRENT_USER;")
    return out


def apply_curator_security(fabric: OpsDb, council: CouncilConfig) -> int:
    """Create the curator roles and (re)apply their grants and policies in one transaction;
    returns the number of statements. PostgreSQL only; run it as the tables' owner."""
    if fabric.dialect != "postgres":
        raise FabricError("row-level security is a PostgreSQL feature; on a SQLite fabric the "
                          "Curator API's own role checks are the guard")
    statements = curator_security_statements(council)
    with fabric.transaction() as tx:
        for sql in statements:
            tx.raw.execute(sql)  # type: ignore[call-overload]
    return len(statements)
