"""The pure core of the Curator API: role rules, request signing, the nonce cache, curator
enrolment, the standing fold and card candidates (no server, no database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lotus_core.curator_api.auth import NonceCache, Signed, sign_request, verify_request
from lotus_core.curator_api.candidates import card_candidates
from lotus_core.curator_api.keys import (
    enroll,
    load_curators_registry,
    load_private_key,
    registry_from_keys,
)
from lotus_core.curator_api.rules import Action, Refused, allowed_actions, check_action
from lotus_core.curator_api.standing import standing
from lotus_core.curators.config import load_curators
from lotus_core.fabric.signing import SigningKeyError
from tests.kits.curator_api_kit import seeded_key

EXPECTED = {  # docs/curator_api.md's table; the council's levers plus sign-off by evidence
    "data": {"veto", "nudge"}, "leakage": {"veto", "sign_off"},
    "diversity": {"veto", "nudge"}, "regime": {"nudge"}, "compliance": {"veto"},
    "mutation": {"nudge"}, "adversarial": {"veto", "nudge", "sign_off"},
    "explainability": {"veto", "sign_off"},
}


def test_each_role_holds_its_council_levers_only() -> None:
    council = load_curators()
    for role, levers in EXPECTED.items():
        assert allowed_actions(role) == frozenset(levers | {"acknowledge", "resolve"}), role
        kappa = council.kappa(role)
        if "nudge" in levers:
            check_action(council, role, Action("nudge", "detector", "d", "r", kappa))
            check_action(council, role, Action("nudge", "detector", "d", "r", -kappa))
            with pytest.raises(Refused) as err:
                check_action(council, role, Action("nudge", "detector", "d", "r", kappa + 1e-9))
            assert err.value.status == 422
        else:
            with pytest.raises(Refused) as err:
                check_action(council, role, Action("nudge", "detector", "d", "r", 0.0))
            assert err.value.status == 403
    with pytest.raises(Refused) as err:
        check_action(council, "leakage", Action("nudge", "candidate", "c", "r", 0.0))
    assert err.value.status == 400 and "not to a candidate" in err.value.reason


def test_signature_covers_the_request_not_its_spelling() -> None:
    key = seeded_key("alice")
    registry = registry_from_keys({"alice": (["leakage"], key.public_key())})
    headers = sign_request(key, method="get", path="/candidates", curator="alice",
                           role="leakage", ts_ms=1_000_000, query=[("b", "2"), ("a", "1")],
                           body={"x": 1.0, "y": [1, 2]})
    cache = NonceCache(300_000)

    def check(**changes: object) -> Signed:
        args = {"headers": headers, "method": "GET", "path": "/candidates",
                "query": [("a", "1"), ("b", "2")], "body": {"y": [1, 2], "x": 1},
                "now_ms": 1_000_500} | changes
        return verify_request(registry, cache, **args)  # type: ignore[arg-type]

    with pytest.raises(Refused, match="bad_signature"):
        check(path="/candidates/x")
    with pytest.raises(Refused, match="bad_signature"):
        check(query=[("a", "1"), ("b", "3")])
    assert check().curator_id == "alice"  # query order and 1.0 vs 1 do not matter
    with pytest.raises(Refused, match="replayed_nonce"):
        check()


def test_the_nonce_cache_forgets_after_two_windows() -> None:
    cache = NonceCache(window_ms=1000)
    for i in range(100):
        assert cache.first_use("a", f"n{i}", now_ms=i * 100)
    assert not cache.first_use("a", "n99", now_ms=9_950)
    assert cache.first_use("b", "n99", now_ms=9_960)  # per curator
    assert cache.first_use("a", "late", now_ms=50_000)  # sweeps everything older than 48 s
    assert len(cache) == 1


def test_enrol_load_and_refuse_bad_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    path = enroll(keys, "alice", ["leakage", "explainability"])
    enroll(keys, "bob", ["regime"])
    registry = load_curators_registry(keys)
    assert registry["alice"].roles == {"leakage", "explainability"}
    key = load_private_key(path)
    assert registry["alice"].fingerprint.startswith("sha256:")
    assert key.public_key().public_bytes_raw() == registry["alice"].public_key.public_bytes_raw()
    enroll(keys, "alice", ["data"])  # re-enrolment replaces key and roles
    again = load_curators_registry(keys)
    assert again["alice"].roles == {"data"} and set(again) == {"alice", "bob"}
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="readable by others"):
        load_private_key(path)
    with pytest.raises(ValueError, match="roles must be"):
        enroll(keys, "carol", ["janitor"])
    with pytest.raises(ValueError, match="curator id"):
        enroll(keys, "Carol!", ["data"])
    (keys / "curators.pub.yaml").write_text("curators: {dave: {roles: [janitor], public_key: x}}")
    with pytest.raises(SigningKeyError, match="curators.dave"):
        load_curators_registry(keys)


def test_standing_folds_the_log_by_sequence() -> None:
    rows = [
        {"seq": 3, "target_kind": "detector", "target_id": "d1", "action": "nudge",
         "role": "regime", "value": 0.0, "curator_id": "bob", "reason": "withdrawn"},
        {"seq": 1, "target_kind": "detector", "target_id": "d1", "action": "nudge",
         "role": "regime", "value": 0.05, "curator_id": "bob", "reason": "calm"},
        {"seq": 2, "target_kind": "detector", "target_id": "d1", "action": "nudge",
         "role": "data", "value": -0.02, "curator_id": "bob", "reason": "gaps"},
        {"seq": 4, "target_kind": "detector", "target_id": "d2", "action": "veto",
         "role": "leakage", "value": None, "curator_id": "alice", "reason": "leaks"},
        {"seq": 5, "target_kind": "candidate", "target_id": "c", "action": "sign_off",
         "role": "leakage", "value": None, "curator_id": "alice", "reason": "ok"},
    ]
    out = standing(rows)
    assert set(out) == {"d1", "d2"}
    assert out["d1"]["nudges"] == {"data": -0.02}  # regime's newest nudge (0) withdrew it
    assert out["d1"]["nudge_sum"] == pytest.approx(-0.02, abs=1e-15)
    assert out["d2"]["vetoes"] == [{"role": "leakage", "curator_id": "alice",
                                    "reason": "leaks", "seq": 4}]


def test_card_candidates_are_keyed_by_recipe() -> None:
    rows = card_candidates([
        {"detector_id": "vol_burst", "recipe_hash": "sha256:aa", "card_json": '{"id": 1}',
         "card_ok": True},
        {"detector_id": "sweep", "recipe_hash": "sha256:bb", "card_json": "{}", "card_ok": False},
    ], "2025-01-26")
    assert [r["item_id"] for r in rows] == ["card:vol_burst:sha256:aa", "card:sweep:sha256:bb"]
    assert rows[0]["detail"] == {"id": 1} and rows[1]["summary"].endswith("(card incomplete)")
