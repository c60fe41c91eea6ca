"""The Curator API's test kit: a real uvicorn server on a loopback port over a real fabric
(SQLite here; the PostgreSQL test builds its own), enrolled curators with seeded ed25519
keys, and real httpx clients that sign every request."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lotus_api.app import ApiConfig
from lotus_api.client import CuratorClient
from lotus_api.pool import FabricPool
from lotus_core.curator_api.auth import DEFAULT_SKEW_MS, NonceCache, sign_request, verify_request
from lotus_core.curator_api.keys import Curator, registry_from_keys
from lotus_core.curator_api.rules import Action, check_action
from lotus_core.curator_api.store import LoggedAction, post_candidate, record_action
from lotus_core.curators import load_curators
from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb

# curator -> roles held. alice signs off evidence, bob holds data (veto, kappa 0.05) and
# regime (nudge only, kappa 0.08), carol is the explainability curator, mallory is enrolled
# with diversity only.
ROLES = {"alice": ("leakage", "adversarial"), "bob": ("data", "regime"),
         "carol": ("explainability",), "mallory": ("diversity",)}


def seeded_key(name: str, seed: int = 33) -> Ed25519PrivateKey:
    """A deterministic key per curator name (tests only)."""
    rng = random.Random(f"{seed}:{name}")
    return Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))


def make_registry(names: dict[str, tuple[str, ...]]) -> dict[str, Curator]:
    return registry_from_keys({n: (r, seeded_key(n).public_key()) for n, r in names.items()})


def queue_alarm(tx: Tx, event_id: str, reason: str = "lost_oos_lift") -> int:
    """A curator_queue row as the WATCHDOG_ALERT handler writes it."""
    tx.execute("INSERT INTO curator_queue (event_id, module, from_module, severity, subject_kind,"
               " subject_id, reason, detail) VALUES (?, 'sig', 'sig', 'warning', 'patch', 'p1',"
               " ?, '{}')", (event_id, reason))
    return int(tx.scalar("SELECT id FROM curator_queue WHERE event_id = ?", (event_id,)))


def queue_cards(tx: Tx, n: int, prefix: str = "det") -> list[str]:
    ids = []
    for i in range(n):
        item = f"card:{prefix}_{i}:sha256:{i:04d}"
        assert post_candidate(tx, item_id=item, kind="detector_card", subject_id=f"{prefix}_{i}",
                              proposer="detector_cards:2025-01-26",
                              detail={"card": "detector-card-1", "leakage_ok": True})
        ids.append(item)
    return ids


@dataclass
class Api:
    url: str
    cfg: ApiConfig
    pool: FabricPool

    def client(self, curator: str, role: str, *, key: Ed25519PrivateKey | None = None,
               clock: Callable[[], int] | None = None) -> CuratorClient:
        return CuratorClient(self.url, curator, role, key or seeded_key(curator), clock=clock)

    def owner_tx(self) -> Any:
        return self.pool.session(None)

    def log(self) -> list[dict[str, Any]]:
        with self.pool.session(None) as tx:
            return tx.query("SELECT seq, action_id, curator_id, role, action, target_kind,"
                            " target_id, value, nonce FROM curator_actions ORDER BY seq")




def log_detector_action(fabric: OpsDb, curator: str, role: str, action: str, detector: str,
                        ts_ms: int, value: float | None = None,
                        roles: dict[str, tuple[str, ...]] | None = None) -> None:
    """One standing detector action through the API's own pieces, without a server: signed
    with the curator's seeded key at `ts_ms`, verified, checked against curators.yaml and
    appended to curator_actions (as `lotus_api.app` does)."""
    path = f"/detectors/{detector}/{action}"
    body: dict[str, Any] = {"reason": f"test {action}"}
    if value is not None:
        body["value"] = value
    headers = sign_request(seeded_key(curator), method="POST", path=path, curator=curator,
                           role=role, ts_ms=ts_ms, body=body)
    who = verify_request(make_registry(roles or ROLES), NonceCache(DEFAULT_SKEW_MS),
                         headers=headers, method="POST", path=path, query=(), body=body,
                         now_ms=ts_ms)
    act = Action(action, "detector", detector, body["reason"], value)  # type: ignore[arg-type]
    check_action(load_curators(), role, act)
    with fabric.transaction() as tx:
        record_action(tx, LoggedAction(who.curator_id, who.role, act, who.nonce, who.ts_ms,
                                       who.message, who.sig, who.curator.fingerprint))
