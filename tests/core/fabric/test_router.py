"""The Herald router on both backends: delivery, every dead-letter reason, de-duplication,
retries with backoff and poison, two routers at once, leases, heartbeats, the CLI and
(PostgreSQL) the lotus_router role."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.inbox import deliver_to_inbox, read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import Routing, load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import post_many_to_outbox, post_to_outbox, read_outbox
from lotus_core.fabric.router import RouterConfig, pending_due, route_once, run_router
from lotus_core.fabric.security import apply_security
from lotus_core.fabric.signing import ensure_keys, sign, verify
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import sqlite_url
from lotus_resources.router import HeraldRouterResource
from tests.kits.fabric_faults import fault_plan

NOW = datetime.now(UTC)


@pytest.fixture
def keys(tmp_path: Path) -> Keyring:
    ensure_keys(MODULES, tmp_path / "keys")
    return Keyring(tmp_path / "keys")


def signed(keys: Keyring, sender: str, intent: str, i: int = 0, **kw) -> dict:
    kw.setdefault("ttl_sec", 3600)
    return sign(example_envelope(sender, intent, i, **kw), keys.private_key(sender))


def box(fabric: OpsDb, sql: str, params: tuple = ()) -> list[dict]:
    with fabric.transaction() as tx:
        return tx.query(sql, params)


def statuses(fabric: OpsDb, module: str) -> dict[str, str]:
    return {r["event_id"]: r["status"]
            for r in box(fabric, f"SELECT event_id, status FROM {module}_outbox")}


# --- delivery ---------------------------------------------------------------------------


def test_routes_every_intent_to_every_target_and_signatures_survive(
    fabric: OpsDb, keys: Keyring
) -> None:
    reg = load_modules()
    sent = []
    for sender in MODULES:
        intents = sorted({i for ts in reg.map.may_tag.get(sender, {}).values() for i in ts})
        for k, intent in enumerate(intents):
            env = signed(keys, sender, intent, k)
            post_to_outbox(fabric, sender, env, models_map=load_modules().map)
            sent.append(env)
    stats = route_once(fabric, keys)
    assert stats.read == stats.routed == len(sent) and stats.dead == {}
    expected = sum(len(e["to"]) for e in sent)
    assert stats.delivered == expected and stats.duplicates == 0
    delivered = {}
    for m in MODULES:
        for row in read_inbox(fabric, m, limit=1000):
            assert verify(row.envelope, keys.public_keys()), row.event_id
            delivered.setdefault(row.event_id, []).append(m)
    for env in sent:
        assert sorted(delivered[env["event_id"]]) == sorted(env["to"])
        assert statuses(fabric, env["from"])[env["event_id"]] == "processed"
    ledger = box(fabric, "SELECT COUNT(*) AS n FROM lotus_ledger WHERE ref_table LIKE '%_inbox'")
    assert ledger[0]["n"] == expected  # the inbox triggers mirrored every delivery
    assert route_once(fabric, keys).read == 0


def test_every_fault_is_dead_lettered_with_its_reason(fabric: OpsDb, keys: Keyring) -> None:
    good = signed(keys, "sig", "ALPHA_PROPOSED", 1)
    old = NOW - timedelta(hours=1)
    expired = sign(example_envelope("sig", "ALPHA_PROPOSED", 2, ttl_sec=60, now=old),
                   keys.private_key("sig"))
    bad_payload = example_envelope("sig", "ALPHA_PROPOSED", 3)
    bad_payload["payload"]["sigbus"]["signal"] = 1.5
    bad_payload = sign(bad_payload, keys.private_key("sig"))
    tampered = signed(keys, "sig", "ALPHA_PROPOSED", 4)
    tampered["sig"] = tampered["sig"][:20] + ("A" if tampered["sig"][20] != "A" else "B") + \
        tampered["sig"][21:]
    other_key = sign(example_envelope("sig", "ALPHA_PROPOSED", 5), keys.private_key("dm"))
    unsigned = example_envelope("sig", "ALPHA_PROPOSED", 6)
    bad_hash = signed(keys, "sig", "ALPHA_PROPOSED", 7)
    bad_hash["payload"]["sigbus"]["signal"] = 0.5 if bad_hash["payload"]["sigbus"]["signal"] != 0.5 else 0.4  # noqa: E501
    forbidden = signed(keys, "sig", "ALPHA_PROPOSED", 8, to=["dm", "tr"])
    wrong_ref = example_envelope("sig", "ALPHA_PROPOSED", 9)
    wrong_ref["schema_ref"] = "urn:lotus:schema:dm-decision-1.0"
    wrong_ref = sign(wrong_ref, keys.private_key("sig"))
    cases = {
        good["event_id"]: None, expired["event_id"]: dl.EXPIRED,
        bad_payload["event_id"]: dl.INVALID_PAYLOAD, tampered["event_id"]: dl.BAD_SIGNATURE,
        other_key["event_id"]: dl.BAD_SIGNATURE, unsigned["event_id"]: dl.BAD_SIGNATURE,
        bad_hash["event_id"]: dl.BAD_HASH, forbidden["event_id"]: dl.FORBIDDEN_ROUTE,
        wrong_ref["event_id"]: dl.INVALID_ENVELOPE,
    }
    envs = [good, expired, bad_payload, tampered, other_key, unsigned, bad_hash, forbidden,
            wrong_ref]
    assert post_many_to_outbox(fabric, "sig", envs, validate=False,
                               models_map=load_modules().map) == len(envs)
    stats = route_once(fabric, keys)
    assert stats.routed == 1 and stats.dead_total == len(envs) - 1
    dead = {r["event_id"]: r for r in dl.read_dead_letters(fabric)}
    for event_id, reason in cases.items():
        if reason is None:
            assert event_id not in dead
            continue
        assert dead[event_id]["reason"] == reason and dead[event_id]["module"] == "sig"
        assert dead[event_id]["detail"].startswith("envelope."), dead[event_id]["detail"]
        assert dead[event_id]["envelope"]["event_id"] == event_id
    assert "sigbus.signal: 1.5 is greater than the maximum of 1" in \
        dead[bad_payload["event_id"]]["detail"]
    assert [r.event_id for r in read_inbox(fabric, "dm")] == [good["event_id"]]
    st = statuses(fabric, "sig")
    assert sorted(st.values()) == ["failed"] * (len(envs) - 1) + ["processed"]
    failed = box(fabric, "SELECT last_error FROM sig_outbox WHERE status = 'failed'")
    assert all(r["last_error"].split(":")[0] in dl.REASONS for r in failed)


def test_dedupe_key_and_event_id_deliver_once(fabric: OpsDb, keys: Keyring) -> None:
    first = signed(keys, "tr", "EXEC_REPORT", 1, dedupe_key="exec-1")
    retry = signed(keys, "tr", "EXEC_REPORT", 1, dedupe_key="exec-1")  # new event_id
    assert first["event_id"] != retry["event_id"]
    other = signed(keys, "tr", "EXEC_REPORT", 2)
    with fabric.transaction() as tx:  # a previous router delivered `other` to sig, then died
        assert deliver_to_inbox(tx, "sig", other, models_map=load_modules().map)
    post_many_to_outbox(fabric, "tr", [first, retry, other], models_map=load_modules().map)
    stats = route_once(fabric, keys)
    assert stats.routed == 3 and stats.dead == {}
    # first -> sig, dm; retry -> skipped in both (same dedupe_key); other -> dm new, sig dup
    assert stats.delivered == 3 and stats.duplicates == 3
    for m in ("sig", "dm"):
        ids = sorted(r.event_id for r in read_inbox(fabric, m))
        assert ids == sorted([first["event_id"], other["event_id"]])


# --- retries, backoff, poison -----------------------------------------------------------


def _fail_inserts_of(fabric: OpsDb, event_id: str) -> None:
    """A real database fault: a trigger that refuses one event into dm_inbox."""
    with fabric.transaction() as tx:
        if fabric.dialect == "sqlite":
            tx.execute(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON dm_inbox FOR EACH ROW"
                f" WHEN NEW.event_id = '{event_id}' BEGIN SELECT RAISE(ABORT, 'dm is full'); END"
            )
        else:
            tx.execute(
                "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'dm is full'; END IF;"
                " RETURN NEW; END $$"
            )
            tx.execute("CREATE TRIGGER refuse_one BEFORE INSERT ON dm_inbox"
                       " FOR EACH ROW EXECUTE FUNCTION refuse_one()")


def test_a_failing_row_backs_off_then_becomes_poison(fabric: OpsDb, keys: Keyring) -> None:
    envs = [signed(keys, "sig", "ALPHA_PROPOSED", i) for i in range(5)]
    bad = envs[2]["event_id"]
    _fail_inserts_of(fabric, bad)
    post_many_to_outbox(fabric, "sig", envs, models_map=load_modules().map)
    clock = [NOW]
    cfg = RouterConfig(routing=Routing("at-least-once", max_attempts=3, backoff_base_sec=10,
                                       backoff_max_sec=60))

    def once() -> object:
        return route_once(fabric, keys, config=cfg, clock=lambda: clock[0])

    s = once()  # the batch fails on `bad`; row by row the other 4 go through
    assert (s.routed, s.retried, s.dead) == (4, 1, {})
    row = read_outbox(fabric, "sig")[0]
    assert row.event_id == bad and row.attempts == 1 and "dm is full" in row.last_error
    assert row.next_attempt_at == clock[0].replace(microsecond=clock[0].microsecond // 1000
                                                   * 1000) + timedelta(seconds=10)
    assert once().read == 0  # backing off
    assert pending_due(fabric, now=clock[0]) == 0
    clock[0] += timedelta(seconds=10)
    s = once()
    assert s.retried == 1 and read_outbox(fabric, "sig")[0].attempts == 2
    clock[0] += timedelta(seconds=19)
    assert once().read == 0  # the second delay is 20 s
    clock[0] += timedelta(seconds=1)
    s = once()
    assert s.dead == {dl.POISON: 1} and read_outbox(fabric, "sig") == []
    (dead,) = dl.read_dead_letters(fabric, reason=dl.POISON)
    assert dead["event_id"] == bad and "gave up after 3 attempts" in dead["detail"]
    assert len(read_inbox(fabric, "dm")) == 4


# --- two routers at once ----------------------------------------------------------------


def test_two_routers_at_once_deliver_each_envelope_once(fabric: OpsDb, keys: Keyring) -> None:
    n = 1500
    envs = [signed(keys, "sig", "ALPHA_PROPOSED", i) for i in range(n)]
    post_many_to_outbox(fabric, "sig", envs, models_map=load_modules().map)
    target = fabric._url.target  # type: ignore[attr-defined]  # the unmasked URL or path
    url = target if fabric.dialect == "postgres" else sqlite_url(target)
    totals = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        try:
            with open_opsdb(url, migrate=False) as f:
                start.wait(timeout=10)
                cfg = RouterConfig(name=name, batch_size=100, idle_sleep_sec=0.02)
                totals.append(run_router(f, keys, until_idle=True, max_seconds=40, config=cfg))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"herald-{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(t.routed for t in totals) == n and sum(t.delivered for t in totals) == n
    assert all(t.routed > 0 for t in totals), [t.as_dict() for t in totals]
    rows = box(fabric, "SELECT event_id, COUNT(*) AS n FROM dm_inbox GROUP BY event_id")
    assert len(rows) == n and {r["n"] for r in rows} == {1}
    beats = {b.component: b for b in read_heartbeats(fabric)}
    assert beats["herald-0"].status == beats["herald-1"].status == "stopped"


def test_sqlite_leases_keep_a_claimed_row_until_they_expire(
    fabric_sqlite: OpsDb, keys: Keyring
) -> None:
    envs = [signed(keys, "sig", "ALPHA_PROPOSED", i) for i in range(4)]
    post_many_to_outbox(fabric_sqlite, "sig", envs, models_map=load_modules().map)
    seqs = [r.seq for r in read_outbox(fabric_sqlite, "sig")]
    until = (NOW + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with fabric_sqlite.transaction() as tx:  # a router that died holding two rows
        for s in seqs[:2]:
            tx.execute("INSERT INTO router_lease VALUES ('sig', ?, 'dead-router', ?)", (s, until))
    s = route_once(fabric_sqlite, keys, clock=lambda: NOW)
    assert s.routed == 2
    assert pending_due(fabric_sqlite, now=NOW) == 2  # still due: the loop keeps waiting
    assert route_once(fabric_sqlite, keys, clock=lambda: NOW + timedelta(seconds=29)).read == 0
    s = route_once(fabric_sqlite, keys, clock=lambda: NOW + timedelta(seconds=31))
    assert s.routed == 2 and s.lost == 0
    assert box(fabric_sqlite, "SELECT COUNT(*) AS n FROM router_lease")[0]["n"] == 0


def test_a_router_that_lost_its_lease_delivers_nothing(
    fabric_sqlite: OpsDb, keys: Keyring
) -> None:
    post_to_outbox(fabric_sqlite, "sig", signed(keys, "sig", "ALPHA_PROPOSED", 1),
                   models_map=load_modules().map)

    class SlowKeys(Keyring):
        """While the router checks its batch (outside the write lock, when it reads the
        keys), its lease expires and another router claims the row."""

        def public_keys(self, *, reload: bool = False) -> dict:
            with fabric_sqlite.transaction() as tx:
                tx.execute("UPDATE router_lease SET owner = 'fast-router'")
            return keys.public_keys()

    s = route_once(fabric_sqlite, SlowKeys(keys.key_dir), config=RouterConfig(owner="slow"))
    assert s.read == 1 and s.lost == 1 and s.routed == 0
    assert read_inbox(fabric_sqlite, "dm") == [] and len(read_outbox(fabric_sqlite, "sig")) == 1


# --- the loop, heartbeats, CLI ----------------------------------------------------------


def test_run_router_stops_on_request_and_beats(fabric: OpsDb, keys: Keyring) -> None:
    post_many_to_outbox(fabric, "dm", [signed(keys, "dm", "DM_DECISION", i) for i in range(30)],
                        models_map=load_modules().map)
    total = run_router(fabric, keys, max_batches=2, config=RouterConfig(batch_size=10))
    assert total.batches == 2 and total.routed == 20
    (hb,) = [b for b in read_heartbeats(fabric) if b.component == "herald"]
    assert hb.module == "router" and hb.status == "stopped" and hb.detail["routed"] == 20
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    total = run_router(fabric, keys, stop=stop, config=RouterConfig(idle_sleep_sec=0.01))
    assert total.routed == 10 and pending_due(fabric) == 0


def test_run_router_refuses_to_start_without_public_keys(fabric: OpsDb, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no public keys"):
        run_router(fabric, Keyring(tmp_path / "empty"), max_batches=1)


def test_router_cli_drains_and_prints_totals(
    fabric_sqlite_url: str, keys: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lotus_cli.main import cli

    with OpsDb.open(fabric_sqlite_url) as f:
        post_many_to_outbox(f, "tr", [signed(keys, "tr", "EXEC_REPORT", i) for i in range(25)],
                            models_map=load_modules().map)
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    args = ["router", "run", "--until-idle", "--json", "--batch-size", "10", "--seconds", "30",
            "--key-dir", str(keys.key_dir), "--fabric-url", fabric_sqlite_url]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    totals = json.loads(out.output.strip().splitlines()[-1])
    assert totals["routed"] == 25 and totals["delivered"] == 50 and totals["batches"] == 3
    help_text = CliRunner().invoke(cli, ["router", "run", "--help"]).output
    assert "--seconds" in help_text and "--batches" in help_text and "--until-idle" in help_text


# --- PostgreSQL: the router's own role --------------------------------------------------


@pytest.mark.postgres
def test_router_runs_as_the_lotus_router_role(fabric_pg_dsn: str, keys: Keyring) -> None:
    with OpsDb.open(fabric_pg_dsn) as owner:
        apply_security(owner, registry=load_modules())
        plan = fault_plan(300, seed=3, keys=keys, now=datetime.now(UTC))
        for module, envs in plan.batches():
            post_many_to_outbox(owner, module, envs, validate=False, models_map=load_modules().map)
        parts = urlsplit(fabric_pg_dsn)
        as_router = urlunsplit(parts._replace(
            netloc=f"lotus_router@{parts.hostname}:{parts.port or 5432}"))
        with open_opsdb(as_router, migrate=False) as router:
            total = run_router(router, keys, until_idle=True, max_seconds=30)
        assert total.routed + total.dead_total == plan.rows
        dead = {r["event_id"]: r["reason"] for r in dl.read_dead_letters(owner, limit=10_000)}
        assert dead == {e: why for e, (_, why) in plan.expected_dead.items()}
        assert {b.component for b in read_heartbeats(owner)} == {"herald"}



def test_router_process_stops_cleanly_on_sigterm(
    fabric_sqlite_url: str, keys: Keyring, tmp_path: Path
) -> None:
    handle = HeraldRouterResource(fabric_url=fabric_sqlite_url, key_dir=str(keys.key_dir))
    with OpsDb.open(fabric_sqlite_url):
        pass
    env = {**os.environ, "LOTUS_HOME": str(tmp_path)}
    proc = subprocess.Popen(handle.command(), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while handle.health() != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handle.health() == "ok" and handle.heartbeat()["pid"] == proc.pid
        with OpsDb.open(fabric_sqlite_url) as f:  # it routes what arrives while it runs
            post_to_outbox(f, "sig", signed(keys, "sig", "ALPHA_PROPOSED", 1),
                           models_map=load_modules().map)
            while not read_inbox(f, "dm") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(read_inbox(f, "dm")) == 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "routed 1 envelope(s)" in out.decode()
    beat = handle.heartbeat()
    assert beat["status"] == "stopped" and handle.health() == "stale"
    assert handle.stop() is True  # already gone
    assert sys.executable in handle.command()


def test_router_resource_launches_and_stops_its_process(
    fabric_sqlite_url: str, keys: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = HeraldRouterResource(fabric_url=fabric_sqlite_url, key_dir=str(keys.key_dir),
                                  name="herald-launched")
    with OpsDb.open(fabric_sqlite_url):
        pass
    monkeypatch.setenv("LOTUS_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    pid = handle.launch(seconds=60, log_path=str(tmp_path / "router.log"))
    try:
        deadline = time.monotonic() + 20
        while handle.health() != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handle.heartbeat()["pid"] == pid and handle.health() == "ok"
        assert handle.stop(timeout_sec=15) is True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert handle.heartbeat()["status"] == "stopped"
