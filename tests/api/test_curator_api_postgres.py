"""On PostgreSQL the Curator API runs each request under the curator role's database role,
so row-level security stands behind the app's own checks: proven here by the server (a
request the app lets through, because it was started with a looser kappa than the
policies were built from, is refused by the database) and by each role's session directly
(what the role may not do raises InsufficientPrivilege)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege

from lotus_api.app import ApiConfig
from lotus_api.pool import FabricPool
from lotus_api.server import serving_in_thread
from lotus_core.curator_api.security import apply_curator_security, curator_roles
from lotus_core.curator_api.store import role_session
from lotus_core.curators.config import CouncilConfig, load_curators
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.security import apply_security
from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb
from tests.kits.curator_api_kit import ROLES, Api, make_registry, queue_alarm, queue_cards

pytestmark = pytest.mark.postgres

INSERT = ("INSERT INTO curator_actions (action_id, curator_id, role, action, target_kind,"
          " target_id, value, reason, nonce, signed_ts_ms, body, sig, key_fingerprint)"
          " VALUES (?, 'bob', ?, ?, ?, 'det_0', ?, 'sql', ?, 1, '{}', 'ed25519:x', 'sha256:x')")


def _denied(fabric: OpsDb, role: str, work: Callable[[Tx], object]) -> str:
    with pytest.raises(InsufficientPrivilege) as err, role_session(fabric, role) as tx:
        work(tx)
    return str(err.value)


def _allowed(fabric: OpsDb, role: str, work: Callable[[Tx], object]) -> object:
    class Rollback(Exception):
        pass

    out: list[object] = []
    with pytest.raises(Rollback), role_session(fabric, role) as tx:
        out.append(work(tx))
        raise Rollback
    return out[0]


def test_row_level_security_behind_the_api(fabric_pg_dsn: str, council: CouncilConfig,
                                           tmp_path: Path) -> None:
    with OpsDb.open(fabric_pg_dsn) as owner:
        # the module fabric first: it must leave the curator rules be
        apply_security(owner, registry=load_modules())
        n = apply_curator_security(owner, council)
        assert apply_curator_security(owner, council) == n
        apply_security(owner, registry=load_modules())
        with owner.transaction() as tx:
            policies = {f"{r['tablename']}.{r['policyname']}" for r in tx.query(
                "SELECT tablename, policyname FROM pg_policies WHERE policyname LIKE 'curator%'")}
            cards = queue_cards(tx, 2)
            alarm = queue_alarm(tx, "01JALARM000000000000000009")
        assert {"curator_actions.curator_read", "curator_actions.curator_regime_act",
                "curator_candidates.curator_data_decide", "curator_queue.curator_alarm"} <= policies
        assert "curator_candidates.curator_regime_decide" not in policies  # regime cannot decide

        # What each role may not do, straight at the database.
        nudge = ("n1", "regime", "nudge", "detector", 0.05)
        assert _allowed(owner, "regime", lambda tx: tx.execute(INSERT, (*nudge, "nonce-a")))
        assert "row-level security" in _denied(
            owner, "regime", lambda tx: tx.execute(INSERT, ("v1", "regime", "veto", "detector",
                                                            None, "nonce-b")))
        _denied(owner, "regime", lambda tx: tx.execute(  # claims another role
            INSERT, ("v2", "leakage", "veto", "detector", None, "nonce-c")))
        _denied(owner, "data", lambda tx: tx.execute(  # data's kappa is 0.05
            INSERT, ("n2", "data", "nudge", "detector", 0.06, "nonce-d")))
        assert _allowed(owner, "data", lambda tx: tx.execute(
            INSERT, ("n3", "data", "nudge", "detector", -0.05, "nonce-e"))) == 1
        _denied(owner, "regime", lambda tx: tx.execute(
            "UPDATE curator_candidates SET status = 'vetoed'"))
        _denied(owner, "data", lambda tx: tx.execute(  # data may veto, not sign off
            "UPDATE curator_candidates SET status = 'signed_off' WHERE item_id = ?", (cards[0],)))
        assert _allowed(owner, "data", lambda tx: tx.execute(
            "UPDATE curator_candidates SET status = 'vetoed' WHERE item_id = ?", (cards[0],))) == 1
        _denied(owner, "leakage", lambda tx: tx.query("SELECT * FROM sig_strand"))
        _denied(owner, "leakage", lambda tx: tx.execute("DELETE FROM curator_actions"))
        _denied(owner, "leakage", lambda tx: tx.execute("UPDATE curator_actions SET reason = 'x'"))
        _denied(owner, "leakage", lambda tx: tx.execute(
            "INSERT INTO curator_candidates (item_id, kind, subject_id, proposer, detail)"
            " VALUES ('x', 'lesson', 'l', 'me', '{}')"))

    # Through the server: the app was started believing regime's kappa is 0.12; the
    # policies were built from curators.yaml (0.08), so the database refuses 0.10.
    body = council.model_dump()
    body["curators"]["regime"]["kappa"] = 0.12
    loose = load_curators(body)
    pool = FabricPool(fabric_pg_dsn, size=2)
    cfg = ApiConfig(pool=pool, curators=make_registry(ROLES), council=loose,
                    lake_root=tmp_path / "lake")
    try:
        with serving_in_thread(cfg) as url:
            api = Api(url, cfg, pool)
            alice, bob = api.client("alice", "leakage"), api.client("bob", "regime")
            assert len(alice.get("/candidates").json()["candidates"]) == 2
            r = alice.post(f"/candidates/{cards[1]}/sign-off", {"reason": "clean"})
            assert r.status_code == 201, r.text
            assert bob.post("/detectors/det_1/nudge",
                            {"value": 0.08, "reason": "calm"}).status_code == 201
            r = bob.post("/detectors/det_1/nudge", {"value": 0.10, "reason": "calmer"})
            assert r.status_code == 403 and r.json()["error"] == "refused_by_database", r.text
            assert bob.post(f"/alarms/{alarm}/acknowledge",
                            {"reason": "seen"}).status_code == 201
            r = bob.post(f"/candidates/{cards[0]}/veto", {"reason": "no"})
            assert r.status_code == 403 and r.json()["error"] == "role_forbidden"
            log = api.log()
    finally:
        pool.close()
    assert [(r["curator_id"], r["role"], r["action"]) for r in log] == [
        ("alice", "leakage", "sign_off"), ("bob", "regime", "nudge"),
        ("bob", "regime", "acknowledge")]
    with psycopg.connect(fabric_pg_dsn, autocommit=True) as conn:  # append-only, owner too
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM curator_actions")
        roles = {r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'lotus\\_curator\\_%'")}
    assert set(curator_roles()) <= roles
