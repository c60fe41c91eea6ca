"""The Curator API over loopback: a real uvicorn server, real httpx clients, a real SQLite
fabric. Lists, sign-off, vetoes, nudges, alarms and KPIs; every accepted action is in the
append-only log with a signature that verifies; every refusal (wrong role, beyond kappa,
unsigned, bad signature, replay, stale) leaves the log and the queue untouched."""

from __future__ import annotations

import base64

import pandas as pd
import pytest

from lotus_core.curator_api.auth import H_SIG
from lotus_core.fabric.envelope import canonical_json
from lotus_core.store.lake import open_lake
from tests.kits.curator_api_kit import Api, queue_alarm, queue_cards, seeded_key


def test_list_sign_off_veto_nudge_and_alarms(api: Api) -> None:
    with api.owner_tx() as tx:
        cards = queue_cards(tx, 3)
        alarm = queue_alarm(tx, "01JALARM000000000000000001")
    alice, bob = api.client("alice", "leakage"), api.client("bob", "regime")
    assert api.client("carol", "explainability").http.get("/health").json()["ok"] is True

    listed = alice.get("/candidates").json()
    assert [c["item_id"] for c in listed["candidates"]] == cards
    assert listed["candidates"][0]["detail"]["leakage_ok"] is True
    assert bob.get("/alarms").json()["alarms"][0]["reason"] == "lost_oos_lift"

    r = alice.post(f"/candidates/{cards[0]}/sign-off", {"reason": "audits clean"})
    assert r.status_code == 201, r.text
    r = api.client("bob", "data").post(f"/candidates/{cards[1]}/veto", {"reason": "stale feed"})
    assert r.status_code == 201, r.text
    r = bob.post("/detectors/det_2/nudge", {"value": 0.08, "reason": "calm regime"})  # = kappa
    assert r.status_code == 201 and r.json()["value"] == 0.08
    r = bob.post("/detectors/det_2/nudge", {"value": -0.03, "reason": "second thoughts"})
    assert r.status_code == 201
    r = alice.post(f"/alarms/{alarm}/acknowledge", {"reason": "looking"})
    assert r.status_code == 201
    r = alice.post(f"/alarms/{alarm}/resolve", {"reason": "patch rolled back"})
    assert r.status_code == 201

    pending = alice.get("/candidates").json()["candidates"]
    assert [c["item_id"] for c in pending] == [cards[2]]
    every = {c["item_id"]: c for c in alice.get("/candidates", {"status": "all"}).json()[
        "candidates"]}
    assert every[cards[0]]["status"] == "signed_off"
    assert every[cards[0]]["decided_by"] == "alice/leakage"
    assert every[cards[1]]["status"] == "vetoed"
    assert bob.get("/alarms").json()["n"] == 0
    assert bob.get("/alarms", {"status": "resolved"}).json()["alarms"][0]["id"] == alarm

    # The newest nudge of a role stands (within tolerance: one float through JSON and SQL).
    standing = bob.get("/standing").json()["detectors"]["det_2"]
    assert standing["nudges"] == {"regime": pytest.approx(-0.03, abs=1e-12)}
    assert standing["nudge_sum"] == pytest.approx(-0.03, abs=1e-12)

    actions = alice.get("/actions").json()["actions"]
    assert [a["action"] for a in actions] == ["sign_off", "veto", "nudge", "nudge",
                                              "acknowledge", "resolve"]
    assert [a["seq"] for a in actions] == list(range(1, 7))
    # Each row carries the signed body and its signature: it verifies with the curator's key.
    for a in actions:
        key = seeded_key(a["curator_id"]).public_key()
        key.verify(base64.b64decode(a["sig"].removeprefix("ed25519:")), canonical_json(a["body"]))
        assert a["body"]["curator"] == a["curator_id"] and a["body"]["role"] == a["role"]
        assert a["body"]["nonce"] == a["nonce"] and a["body"]["method"] == "POST"


def test_kpis_read_the_lake_and_the_log(api: Api) -> None:
    assert api.cfg.lake_root is not None
    lake = open_lake(api.cfg.lake_root)
    lake.write("curator_kpis", "2025-01-26", pd.DataFrame({
        "kpi": ["windows", "false_promotion_rate"], "scope": ["council", "council"],
        "value": [1200.0, float("nan")], "n": [1200, 0]}))
    bob = api.client("bob", "regime")
    assert bob.post("/detectors/det_0/nudge", {"value": 0.01, "reason": "x"}).status_code == 201
    body = bob.get("/kpis").json()
    assert body["date"] == "2025-01-26"
    assert body["council"][0] == {"kpi": "windows", "scope": "council", "value": 1200.0, "n": 1200}
    assert body["council"][1]["value"] is None  # NaN: no window to judge
    assert body["actions"] == [{"role": "regime", "action": "nudge", "n": 1}]
    r = bob.get("/kpis", {"date": "2025-01-27"})
    assert r.status_code == 404 and r.json()["error"] == "no_kpis"


def _refused(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and body["reason"], body
    return body["reason"]


def test_refused_actions_change_nothing(api: Api) -> None:
    with api.owner_tx() as tx:
        cards = queue_cards(tx, 2)
    path = f"/candidates/{cards[0]}/sign-off"
    bob_regime, bob_data = api.client("bob", "regime"), api.client("bob", "data")

    # Wrong role: regime has no veto, data cannot sign off, explainability cannot nudge.
    _refused(bob_regime.post(f"/candidates/{cards[0]}/veto", {"reason": "no"}), 403,
             "role_forbidden")
    reason = _refused(bob_data.post(path, {"reason": "ok"}), 403, "role_forbidden")
    assert "data curator may not sign_off" in reason
    _refused(api.client("carol", "explainability").post(
        "/detectors/det_0/nudge", {"value": 0.01, "reason": "x"}), 403, "role_forbidden")
    # A role the curator does not hold, even with a valid signature.
    _refused(api.client("mallory", "leakage").post(path, {"reason": "ok"}), 403, "role_not_held")

    # Beyond kappa: regime is bounded by 0.08, data by 0.05 (curators.yaml).
    reason = _refused(bob_regime.post("/detectors/det_0/nudge",
                                      {"value": 0.0801, "reason": "x"}), 422, "beyond_kappa")
    assert "[-0.08, +0.08]" in reason
    _refused(bob_data.post("/detectors/det_0/nudge", {"value": -0.06, "reason": "x"}), 422,
             "beyond_kappa")

    # Unsigned, and signed but wrong: a tampered body, another curator's key, a bad header.
    r = api.client("alice", "leakage").http.post(path, json={"reason": "ok"})
    assert "missing header" in _refused(r, 401, "unsigned")
    alice = api.client("alice", "leakage")
    headers = alice.headers("POST", path, body={"reason": "ok"})
    r = alice.http.post(path, json={"reason": "ok, and more"}, headers=headers)
    _refused(r, 401, "bad_signature")
    forged = api.client("alice", "leakage", key=seeded_key("mallory"))
    _refused(forged.post(path, {"reason": "ok"}), 401, "bad_signature")
    r = alice.http.post(path, json={"reason": "ok"}, headers={**headers, H_SIG: "ed25519:AAAA"})
    _refused(r, 401, "bad_signature")
    _refused(api.client("eve", "leakage").post(path, {"reason": "ok"}), 401, "unknown_curator")
    stale = api.client("alice", "leakage", clock=lambda: api.cfg.clock() - 301_000)
    _refused(stale.post(path, {"reason": "ok"}), 401, "stale_timestamp")

    # Malformed: a nudge without a value, a value on a sign-off, no reason, unknown item.
    _refused(bob_regime.post("/detectors/det_0/nudge", {"reason": "x"}), 400, "bad_value")
    _refused(alice.post(path, {"reason": "ok", "value": 0.01}), 400, "bad_value")
    _refused(alice.post(path, {}), 400, "bad_reason")
    _refused(alice.post("/candidates/card:nope:0/sign-off", {"reason": "ok"}), 404,
             "no_such_candidate")
    _refused(alice.get("/candidates", {"status": "maybe"}), 400, "bad_query")
    _refused(alice.post(path, {"reason": "x" * 70_000}), 413, "body_too_large")

    assert api.log() == []
    with api.owner_tx() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM curator_candidates WHERE status = 'pending'") == 2

    # A replayed request: the same signed bytes sent twice land once.
    headers = alice.headers("POST", path, body={"reason": "ok"})
    first = alice.http.post(path, content=canonical_json({"reason": "ok"}), headers=headers)
    assert first.status_code == 201, first.text
    again = alice.http.post(path, content=canonical_json({"reason": "ok"}), headers=headers)
    _refused(again, 401, "replayed_nonce")
    # The first decision wins; a second curator is told, not silently overruled.
    _refused(api.client("carol", "explainability").post(path, {"reason": "late"}), 409,
             "already_decided")
    assert [(r["curator_id"], r["action"]) for r in api.log()] == [("alice", "sign_off")]


def test_a_replay_after_a_restart_is_refused_by_the_log(api: Api, council) -> None:
    """A new server has an empty nonce cache; the log's unique (curator, nonce) still refuses
    a request it already accepted."""
    from lotus_api.app import ApiConfig
    from lotus_api.server import serving_in_thread

    bob = api.client("bob", "regime")
    body = {"value": 0.02, "reason": "calm"}
    headers = bob.headers("POST", "/detectors/det_0/nudge", body=body)
    assert bob.http.post("/detectors/det_0/nudge", content=canonical_json(body),
                         headers=headers).status_code == 201
    fresh = ApiConfig(pool=api.pool, curators=api.cfg.curators, council=council)
    with serving_in_thread(fresh) as url:
        again = api.client("bob", "regime")
        again.http.base_url = url
        r = again.http.post("/detectors/det_0/nudge", content=canonical_json(body),
                            headers=headers)
        _refused(r, 401, "replayed_nonce")
    assert len(api.log()) == 1
