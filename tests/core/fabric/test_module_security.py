"""PostgreSQL roles and row-level security, proven by connecting as each role to a real
server: what models.map.yaml and the ownership rules allow succeeds, the rest raises
InsufficientPrivilege."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege

from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.dead_letter import record_dead_letter
from lotus_core.fabric.examples import example_envelope, example_payload
from lotus_core.fabric.heartbeats import beat, read_heartbeats
from lotus_core.fabric.inbox import deliver_to_inbox, mark_consumed, read_inbox
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.outbox import mark_routed, post_to_outbox, read_outbox
from lotus_core.fabric.security import apply_security, create_role_sql, roles
from lotus_core.fabric.strands import read_strand, update_strand, write_strand
from lotus_core.fabric.ulid import UlidFactory
from lotus_core.learning.priors_store import current_priors, set_prior
from lotus_core.store.connection import Tx
from lotus_core.store.errors import FabricError
from lotus_core.store.opsdb import OpsDb

pytestmark = pytest.mark.postgres

new_id = UlidFactory(lambda: 1_737_892_800.0, random.Random(11).randbytes)


def as_user(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}@{host}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def secured(fabric_pg_dsn: str) -> Iterator[tuple[OpsDb, str]]:
    """The migrated fabric with security applied, as its owner, and its DSN."""
    with OpsDb.open(fabric_pg_dsn) as owner:
        apply_security(owner, registry=load_modules())
        yield owner, fabric_pg_dsn


@pytest.fixture
def connect(secured: tuple[OpsDb, str]) -> Iterator[Callable[[str], OpsDb]]:
    """Open the fabric as a role (lotus_sig, ..., lotus_router), closed after the test."""
    opened: list[OpsDb] = []

    def _open(role: str) -> OpsDb:
        fabric = open_opsdb(as_user(secured[1], role), migrate=False)
        opened.append(fabric)
        return fabric

    yield _open
    for fabric in opened:
        fabric.close()


def denied(fabric: OpsDb, work: Callable[[Tx], object]) -> str:
    """Run `work` in its own transaction and require a permission error; returns its text."""
    with pytest.raises(InsufficientPrivilege) as err, fabric.transaction() as tx:
        work(tx)
    return str(err.value)


def test_security_is_idempotent_and_covers_every_table(secured: tuple[OpsDb, str]) -> None:
    owner, _ = secured
    with owner.transaction() as tx:
        policies = tx.scalar("SELECT COUNT(*) FROM pg_policies WHERE schemaname = current_schema()")
    # a second run converges to the same state
    assert apply_security(owner, registry=load_modules()) > 100
    with owner.transaction() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM pg_policies"
                         " WHERE schemaname = current_schema()") == policies
        found = {r["rolname"]: r for r in tx.query(
            "SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname LIKE 'lotus\\_%'")}
        no_rls = tx.query(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " AND relkind = 'r' AND NOT relrowsecurity"
            " AND relname NOT IN ('schema_version', 'feed_dead_letter')"
        )
    assert set(roles()) <= set(found)
    assert all(found[r]["rolcanlogin"] and not found[r]["rolsuper"] for r in roles())
    assert no_rls == []


def test_sqlite_has_no_row_level_security(fabric_sqlite: OpsDb) -> None:
    with pytest.raises(FabricError, match="PostgreSQL feature"):
        apply_security(fabric_sqlite, registry=load_modules())


def test_a_module_uses_its_own_tables(secured: tuple[OpsDb, str], connect) -> None:
    owner, _ = secured
    sig = connect("lotus_sig")
    sid = write_strand(sig, "sig", "signal", symbol="BTC", fields={"signal": 0.3}, new_id=new_id)
    assert update_strand(sig, "sig", sid, fields={"published": True})
    assert read_strand(sig, "sig", sid)["published"] is True
    env = example_envelope("sig", "ALPHA_PROPOSED", 1, new_id=new_id)
    seq = post_to_outbox(sig, "sig", env, models_map=load_modules().map)
    assert read_outbox(sig, "sig")[0].seq == seq
    with sig.transaction() as tx:
        assert set_prior(tx, "sig", "publish.tau", "add", 0.01).version == 1
    assert current_priors(sig, "sig")["publish.tau"].version == 1
    beat(sig, "daemon:sig", "sig", "ok")
    assert record_dead_letter(sig, module="sig", reason="handler_error", envelope=env)
    with sig.transaction() as tx:
        tx.execute(
            "INSERT INTO curator_queue (event_id, module, from_module, severity, subject_kind,"
            " subject_id, reason, detail) VALUES"
            " ('E', 'sig', 'sig', 'warning', 'patch', 'p1', 'lost_oos_lift', '{}')"
        )
    # A PRIOR_PATCH for sig arrives (delivered by the owner here); sig reads and consumes it.
    patch = example_envelope("sig", "PRIOR_PATCH", 2, new_id=new_id)
    with owner.transaction() as tx:
        deliver_to_inbox(tx, "sig", patch, models_map=load_modules().map)
    (row,) = read_inbox(sig, "sig")
    with sig.transaction() as tx:
        assert mark_consumed(tx, "sig", row.seq)
    # Everything sig wrote is mirrored in the ledger it cannot read itself.
    with owner.transaction() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM lotus_ledger") == 2
        assert tx.scalar("SELECT status FROM lotus_ledger WHERE ref_table = 'sig_inbox'") == (
            "processed"
        )


def test_a_module_tags_only_what_the_map_allows(secured: tuple[OpsDb, str], connect) -> None:
    owner, _ = secured
    sig, vis = connect("lotus_sig"), connect("lotus_vis")
    ok = example_envelope("sig", "ALPHA_PROPOSED", 3, new_id=new_id)  # sig -> dm: allowed
    models_map = load_modules().map
    with sig.transaction() as tx:
        assert deliver_to_inbox(tx, "dm", ok, on_duplicate="raise", models_map=models_map)
    with owner.transaction() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM dm_inbox") == 1
        sql = "SELECT module FROM lotus_ledger WHERE ref_id = ?"
        assert tx.scalar(sql, (ok["event_id"],)) == "dm"
    # sig may tag dm, but not with DM_DECISION, and never pretending to be dm.
    decision = {**example_envelope("dm", "DM_DECISION", 1, new_id=new_id, to=["tr"]), "to": ["dm"]}
    msg = denied(sig, lambda tx: tx.execute(
        "INSERT INTO dm_inbox (event_id, ts, from_module, to_modules, intent, lifecycle_id,"
        " schema_ref, ttl_sec, tags, payload, hash) VALUES (?, now(), 'sig', '[\"dm\"]',"
        " 'DM_DECISION', 'L', 's', 60, '[]', '{}', 'h')", (decision["event_id"],)))
    assert "row-level security" in msg
    forged = {**ok, "event_id": new_id(), "from": "dm", "intent": "PRIOR_PATCH",
              "payload": example_payload("PRIOR_PATCH"), "to": ["dm"]}
    denied(sig, lambda tx: deliver_to_inbox(tx, "dm", forged, on_duplicate="raise",
                                            models_map=models_map))
    # vis may not tag sig at all (no route in the map): no INSERT right on sig_inbox.
    lesson = {**example_envelope("vis", "LESSON_PUBLISHED", 1, new_id=new_id), "to": ["sig"]}
    msg = denied(vis, lambda tx: tx.execute(
        "INSERT INTO sig_inbox (event_id, ts, from_module, to_modules, intent, lifecycle_id,"
        " schema_ref, ttl_sec, tags, payload, hash) VALUES (?, now(), 'vis', '[\"sig\"]',"
        " 'LESSON_PUBLISHED', 'L', 's', 60, '[]', '{}', 'h')", (lesson["event_id"],)))
    assert "permission denied for table sig_inbox" in msg
    # vis may tag dm with LESSON_PUBLISHED.
    with vis.transaction() as tx:
        assert deliver_to_inbox(tx, "dm", {**lesson, "to": ["dm"]}, on_duplicate="raise",
                                models_map=models_map)
    # An outbox row may only name targets the map allows for its intent.
    wide = example_envelope("sig", "ALPHA_PROPOSED", 4, new_id=new_id, to=["dm", "tr"])
    assert "row-level security" in denied(
        sig, lambda tx: post_to_outbox(tx, "sig", wide, validate=False,
                                       models_map=load_modules().map))


def test_a_module_cannot_touch_what_is_not_its_own(secured: tuple[OpsDb, str], connect) -> None:
    owner, _ = secured
    sig, dm = connect("lotus_sig"), connect("lotus_dm")
    sid = write_strand(owner, "dm", "decision", new_id=new_id)
    post_to_outbox(owner, "sig", example_envelope("sig", "ALPHA_PROPOSED", 5, new_id=new_id),
                   models_map=load_modules().map)
    own = write_strand(sig, "sig", "signal", new_id=new_id)
    beat(owner, "daemon:dm", "dm", "ok")

    assert "permission denied for table dm_strand" in denied(
        sig, lambda tx: tx.query("SELECT * FROM dm_strand"))
    denied(sig, lambda tx: read_strand(tx, "dm", sid))
    denied(sig, lambda tx: tx.query("SELECT * FROM lotus_ledger"))
    denied(sig, lambda tx: tx.query("SELECT * FROM dm_inbox"))
    denied(sig, lambda tx: tx.query("SELECT * FROM feed_dead_letter"))
    denied(sig, lambda tx: write_strand(tx, "dm", "decision", new_id=new_id))
    denied(sig, lambda tx: tx.execute("DELETE FROM sig_strand WHERE id = ?", (own,)))
    assert "permission denied for table sig_outbox" in denied(
        dm, lambda tx: tx.execute("UPDATE sig_outbox SET status = 'processed'"))
    denied(dm, lambda tx: mark_routed(tx, "sig", 1))
    # Envelopes are immutable even for their owner: only the delivery state may change.
    denied(sig, lambda tx: tx.execute("UPDATE sig_outbox SET payload = '{}'"))
    with sig.transaction() as tx:
        assert tx.execute("UPDATE sig_outbox SET last_error = 'cancelled'") == 1
    # Shared tables: a module sees and writes only its own rows.
    assert [h.component for h in read_heartbeats(sig)] == []
    assert "row-level security" in denied(sig, lambda tx: beat(tx, "daemon:dm", "dm", "error"))
    denied(sig, lambda tx: record_dead_letter(tx, module="dm", reason="poison", envelope="x"))
    with sig.transaction() as tx:  # no DDL for modules
        assert tx.scalar("SELECT MAX(version) FROM schema_version") >= 2
    denied(sig, lambda tx: tx.execute("CREATE TABLE sneaky (a int)"))


def test_the_router_moves_envelopes_and_nothing_else(secured: tuple[OpsDb, str], connect) -> None:
    owner, _ = secured
    router = connect("lotus_router")
    env = example_envelope("tr", "EXEC_REPORT", 1, new_id=new_id)  # to sig and dm
    post_to_outbox(owner, "tr", env, models_map=load_modules().map)
    write_strand(owner, "tr", "execution", new_id=new_id)
    (row,) = read_outbox(router, "tr")
    models_map = load_modules().map
    with router.transaction() as tx:
        for target in row.envelope["to"]:
            assert deliver_to_inbox(tx, target, row.envelope, models_map=models_map)
            # ON CONFLICT: may read
            assert not deliver_to_inbox(tx, target, row.envelope, models_map=models_map)
        assert mark_routed(tx, "tr", row.seq)
    assert record_dead_letter(router, module="tr", reason="expired", envelope=env)
    beat(router, "herald", "router", "ok", {"backlog": 0})
    assert [r.event_id for r in read_inbox(router, "dm")] == [env["event_id"]]
    with owner.transaction() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM lotus_ledger WHERE kind = 'EXEC_REPORT'") == 2

    denied(router, lambda tx: tx.query("SELECT * FROM tr_strand"))
    denied(router, lambda tx: tx.query("SELECT * FROM lotus_ledger"))
    denied(router, lambda tx: tx.execute("UPDATE tr_outbox SET payload = '{}'"))
    denied(router, lambda tx: mark_consumed(tx, "dm", 1))  # consuming is the module's job
    denied(router, lambda tx: tx.execute("DELETE FROM tr_outbox"))
    denied(router, lambda tx: post_to_outbox(tx, "tr", env, validate=False,
                                             models_map=load_modules().map))
    forbidden = {**example_envelope("vis", "LESSON_PUBLISHED", 2, new_id=new_id), "to": ["sig"]}
    msg = denied(router, lambda tx: deliver_to_inbox(
        tx, "sig", forbidden, models_map=_permissive_map()))
    assert "row-level security" in msg
    denied(router, lambda tx: beat(tx, "impostor", "sig", "ok"))


def _permissive_map():
    """A model map that allows everything, to show the database refuses on its own."""
    from dataclasses import replace

    from lotus_core.fabric.names import INTENTS, MODULES

    real = load_modules().map
    everything = frozenset(INTENTS)
    return replace(real, may_tag={s: dict.fromkeys(MODULES, everything) for s in MODULES})


def test_role_creation_races_between_databases_are_harmless(fabric_pg_dsn: str) -> None:
    """Two sessions create the same role at once (as two test databases' apply_security
    do): the second waits for the first, then finds it and carries on."""
    role = f"lotus_race_{secrets.token_hex(4)}"
    admin = psycopg.connect(fabric_pg_dsn, autocommit=True)
    first = psycopg.connect(fabric_pg_dsn)
    errors: list[BaseException] = []
    try:
        first.execute(create_role_sql(role))  # created, not yet committed

        def second() -> None:
            try:
                with psycopg.connect(fabric_pg_dsn) as conn:
                    conn.execute(create_role_sql(role))  # blocks on the first's row
                    conn.commit()
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=second)
        t.start()
        t.join(0.5)
        assert t.is_alive()  # really waiting on the first
        first.commit()
        t.join(10)
        assert errors == [] and not t.is_alive()
        first.execute(create_role_sql(role))  # and again, now that it exists
        first.commit()
    finally:
        first.close()
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def test_security_applies_concurrently_on_two_databases(fabric_pg_dsn: str) -> None:
    server = urlsplit(fabric_pg_dsn)
    other = f"lotus_test_{secrets.token_hex(6)}"
    admin = psycopg.connect(fabric_pg_dsn, autocommit=True)
    admin.execute(f'CREATE DATABASE "{other}"')
    try:
        dsns = [fabric_pg_dsn, urlunsplit(server._replace(path=f"/{other}"))]
        errors: list[BaseException] = []

        def apply(dsn: str) -> None:
            try:
                with OpsDb.open(dsn) as fabric:
                    for _ in range(3):
                        apply_security(fabric, registry=load_modules())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=apply, args=(d,)) for d in dsns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        for dsn in dsns:
            with open_opsdb(as_user(dsn, "lotus_dm"), migrate=False) as dm:
                write_strand(dm, "dm", "decision", new_id=new_id)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')
        admin.close()


def test_roles_cannot_migrate_and_refuse_a_stale_schema(secured: tuple[OpsDb, str]) -> None:
    owner, dsn = secured
    with owner.transaction() as tx:
        tx.execute("INSERT INTO schema_version (version, name, sha256) VALUES (99, 'future', 'x')")
    with pytest.raises(FabricError, match="at schema version 99, this code needs"):
        open_opsdb(as_user(dsn, "lotus_tr"), migrate=False)
    with pytest.raises(Exception, match="permission denied"):
        OpsDb.open(as_user(dsn, "lotus_tr"))  # migrating needs the owner



def test_every_role_against_every_module_table(secured: tuple[OpsDb, str], connect) -> None:
    """Each module reads and writes its own strand and priors and reads its own boxes, and
    can read none of another module's tables; the router reads only boxes."""

    for m in load_modules().modules:
        fabric = connect(f"lotus_{m}")
        kind = load_modules().modules[m].strand_kinds[0]
        sid = write_strand(fabric, m, kind, new_id=new_id)
        assert read_strand(fabric, m, sid) is not None
        with fabric.transaction() as tx:
            set_prior(tx, m, next(iter(load_modules().modules[m].priors)), "add", 0.0)
            for suffix in ("inbox", "outbox", "priors"):
                tx.query(f"SELECT * FROM {m}_{suffix}")
        for other in load_modules().modules:
            if other != m:
                for suffix in ("strand", "inbox", "outbox", "priors"):
                    denied(fabric, lambda tx, t=f"{other}_{suffix}": tx.query(f"SELECT * FROM {t}"))
    router = connect("lotus_router")
    for m in load_modules().modules:
        with router.transaction() as tx:
            tx.query(f"SELECT * FROM {m}_inbox")
            tx.query(f"SELECT * FROM {m}_outbox")
        for suffix in ("strand", "priors"):
            denied(router, lambda tx, t=f"{m}_{suffix}": tx.query(f"SELECT * FROM {t}"))


def test_the_traders_working_tables_are_its_own(secured: tuple[OpsDb, str], connect) -> None:
    """trader_* (migration 0006) are tr's private records: tr writes them, no one else reads."""
    owner, _ = secured
    tr = connect("lotus_tr")
    with tr.transaction() as tx:
        tx.execute("INSERT INTO trader_state (name, version, source_pos, snapshot)"
                   " VALUES ('paper', 1, 0, '{}')")
        tx.execute("UPDATE trader_state SET source_pos = 7 WHERE name = 'paper'")
        assert tx.scalar("SELECT source_pos FROM trader_state WHERE name = 'paper'") == 7
    for other in ("lotus_dm", "lotus_sig", "lotus_router"):
        denied(connect(other), lambda tx: tx.query("SELECT * FROM trader_state"))
    denied(tr, lambda tx: tx.execute("DELETE FROM trader_state"))
