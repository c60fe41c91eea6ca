"""The fabric API on both backends: outbox, inbox, strands, dead letters, heartbeats, priors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lotus_core.fabric.dead_letter import (
    BAD_SIGNATURE,
    INVALID_PAYLOAD,
    count_dead_letters,
    read_dead_letters,
    record_dead_letter,
)
from lotus_core.fabric.envelope import EnvelopeError, build_envelope
from lotus_core.fabric.errors import DuplicateEventError, RouteError
from lotus_core.fabric.examples import example_envelope, example_payload
from lotus_core.fabric.heartbeats import beat, read_heartbeats
from lotus_core.fabric.inbox import (
    deliver_many_to_inbox,
    deliver_to_inbox,
    mark_consumed,
    mark_failed,
    read_inbox,
)
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import INTENTS
from lotus_core.fabric.outbox import (
    mark_dead,
    mark_routed,
    mark_routed_many,
    post_many_to_outbox,
    post_to_outbox,
    read_outbox,
    retry_outbox_later,
)
from lotus_core.fabric.signing import load_or_create_private_key, load_public_keys, sign, verify
from lotus_core.fabric.strands import read_strand, update_strand, write_strand
from lotus_core.fabric.ulid import UlidFactory
from lotus_core.learning.priors_store import current_priors, priors_version, set_prior
from lotus_core.store.opsdb import OpsDb

T0 = datetime(2025, 1, 26, 12, tzinfo=UTC)


def ids(seed: int = 1) -> UlidFactory:
    return UlidFactory(lambda: T0.timestamp(), random.Random(seed).randbytes)


# --- outbox -----------------------------------------------------------------------------


def test_post_to_outbox_is_idempotent_and_reads_back_exactly(
    fabric: OpsDb, tmp_path: Path
) -> None:
    key = load_or_create_private_key("sig", tmp_path)
    env = sign(example_envelope("sig", "ALPHA_PROPOSED", 5, new_id=ids()), key)
    seq = post_to_outbox(fabric, "sig", env, models_map=load_modules().map)
    assert post_to_outbox(fabric, "sig", env,  # posting twice is a no-op
                          models_map=load_modules().map) == seq
    (row,) = read_outbox(fabric, "sig")
    assert row.seq == seq and row.envelope == env  # the same JSON, hence hash and signature
    assert verify(row.envelope, load_public_keys(tmp_path))
    assert (row.status, row.attempts, row.consumed_at) == ("pending", 0, None)
    other = sign(build_envelope(sender="sig", to=["dm"], intent="ALPHA_PROPOSED",
                                payload=example_payload("ALPHA_PROPOSED", 6),
                                new_id=lambda: env["event_id"]), key)
    with pytest.raises(DuplicateEventError, match="with other content"):
        post_to_outbox(fabric, "sig", other, models_map=load_modules().map)


def test_every_intent_survives_the_database_round_trip(fabric: OpsDb, tmp_path: Path) -> None:
    """Outbox -> inbox through the database keeps every envelope byte-identical in canonical
    form, so signatures made before posting verify after delivery."""
    routes = load_modules().map.may_tag
    keys = {s: load_or_create_private_key(s, tmp_path) for s in routes}
    public = load_public_keys(tmp_path)
    n = 0
    for intent in INTENTS:
        for sender in [s for s, ts in routes.items() if any(intent in i for i in ts.values())]:
            n += 1
            env = sign(example_envelope(sender, intent, n, new_id=ids(n),
                                        tags=["asset:BTC", "tf:1m"]), keys[sender])
            post_to_outbox(fabric, sender, env, models_map=load_modules().map)
            row = read_outbox(fabric, sender, limit=1000)[-1]
            assert row.envelope == env and verify(row.envelope, public)
            with fabric.transaction() as tx:
                for target in env["to"]:
                    assert deliver_to_inbox(tx, target, row.envelope, models_map=load_modules().map)
            for target in env["to"]:
                got = [r for r in read_inbox(fabric, target, limit=1000)
                       if r.event_id == env["event_id"]]
                assert got[0].envelope == env and verify(got[0].envelope, public)
    assert n >= len(INTENTS)


def test_post_refuses_invalid_envelopes_and_forbidden_routes(fabric: OpsDb) -> None:
    env = example_envelope("sig", "ALPHA_PROPOSED", new_id=ids())
    with pytest.raises(ValueError, match="only dm's own envelopes go in dm_outbox"):
        post_to_outbox(fabric, "dm", env, models_map=load_modules().map)
    bad = {**env, "payload": {"sigbus": {}, "strand_id": "x"}}
    with pytest.raises(EnvelopeError, match="envelope.payload"):
        post_to_outbox(fabric, "sig", bad, models_map=load_modules().map)
    forbidden = example_envelope("sig", "ALPHA_PROPOSED", to=["dm", "tr"], new_id=ids(2))
    with pytest.raises(RouteError, match=r"sig may not send ALPHA_PROPOSED to \['tr'\]"):
        post_to_outbox(fabric, "sig", forbidden, models_map=load_modules().map)
    # validate=False lets fault tests put anything routable-looking in the outbox.
    assert post_to_outbox(fabric, "sig", bad, validate=False, models_map=load_modules().map) >= 1
    assert read_outbox(fabric, "sig")[0].envelope["payload"] == bad["payload"]


def test_outbox_delivery_state(fabric: OpsDb) -> None:
    new_id = ids(3)
    envs = [example_envelope("tr", "EXEC_REPORT", i, new_id=new_id) for i in range(5)]
    assert post_many_to_outbox(fabric, "tr", envs, models_map=load_modules().map) == 5
    assert post_many_to_outbox(fabric, "tr", envs[:2],  # already there
                               models_map=load_modules().map) == 0
    rows = read_outbox(fabric, "tr")
    assert [r.event_id for r in rows] == [e["event_id"] for e in envs]
    with fabric.transaction() as tx:
        assert mark_routed(tx, "tr", rows[0].seq, now=T0)
        assert not mark_routed(tx, "tr", rows[0].seq)  # only once
        assert mark_dead(tx, "tr", rows[1].seq, "bad_signature")
        retry_at = T0 + timedelta(minutes=1)
        assert retry_outbox_later(tx, "tr", rows[2].seq, "dm_inbox locked", retry_at)
    pending = read_outbox(fabric, "tr")
    assert [r.seq for r in pending] == [r.seq for r in rows[2:]]
    assert pending[0].attempts == 1 and pending[0].last_error == "dm_inbox locked"
    assert pending[0].next_attempt_at == T0 + timedelta(minutes=1)
    due_now = read_outbox(fabric, "tr", due_at=T0)
    assert [r.seq for r in due_now] == [r.seq for r in rows[3:]]  # backing off
    assert len(read_outbox(fabric, "tr", due_at=T0 + timedelta(minutes=1))) == 3
    everything = read_outbox(fabric, "tr", pending_only=False)
    assert [r.status for r in everything] == ["processed", "failed"] + ["pending"] * 3
    assert everything[0].consumed_at == T0 and everything[1].last_error == "bad_signature"
    assert [r.seq for r in read_outbox(fabric, "tr", after_seq=rows[3].seq)] == [rows[4].seq]
    assert len(read_outbox(fabric, "tr", limit=2)) == 2


# --- inbox ------------------------------------------------------------------------------


def test_inbox_delivery_is_deduplicated_and_consumed_once(fabric: OpsDb) -> None:
    new_id = ids(4)
    envs = [example_envelope("dm", "DM_DECISION", i, new_id=new_id) for i in range(3)]
    with fabric.transaction() as tx:
        for env in envs:
            assert deliver_to_inbox(tx, "tr", env, models_map=load_modules().map)
            assert not deliver_to_inbox(tx, "tr", env, models_map=load_modules().map)
    rows = read_inbox(fabric, "tr")
    assert [r.seq for r in rows] == sorted(r.seq for r in rows) and len(rows) == 3
    assert [r.intent for r in rows] == ["DM_DECISION"] * 3
    cursor = rows[0].seq
    with fabric.transaction() as tx:
        assert mark_consumed(tx, "tr", rows[0].seq)
        assert not mark_consumed(tx, "tr", rows[0].seq)
        assert mark_failed(tx, "tr", rows[1].seq, "decision already expired")
    assert [r.seq for r in read_inbox(fabric, "tr", after_seq=cursor)] == [rows[2].seq]
    done = read_inbox(fabric, "tr", pending_only=False)
    assert [r.status for r in done] == ["processed", "failed", "pending"]


def test_inbox_delivery_refuses_wrong_targets(fabric: OpsDb) -> None:
    env = example_envelope("dm", "DM_DECISION", new_id=ids(5))  # to sig and tr
    models_map = load_modules().map
    with fabric.transaction() as tx:
        with pytest.raises(RouteError, match="not addressed to dm"):
            deliver_to_inbox(tx, "dm", env, models_map=models_map)
        forged = {**env, "to": ["vis"]}
        with pytest.raises(RouteError, match="dm may not send DM_DECISION to vis"):
            deliver_to_inbox(tx, "vis", forged, models_map=models_map)
        with pytest.raises(ValueError, match="on_duplicate"):
            deliver_to_inbox(tx, "tr", env, on_duplicate="ignore",  # type: ignore[arg-type]
                             models_map=models_map)


# --- strands ----------------------------------------------------------------------------


def test_write_update_and_read_strands(fabric: OpsDb) -> None:
    sid = write_strand(
        fabric, "tr", "execution", symbol="ETH", timeframe="1m", session_bucket="us",
        fields={"decision_id": "dec-1", "exec_status": "filled", "executed_price": 3150.5,
                "executed_qty": 0.2, "fills": [{"px": 3150.5, "qty": 0.2}],
                "order_spec": {"side": "buy"}},
        now=T0, new_id=ids(6),
    )
    row = read_strand(fabric, "tr", sid)
    assert row is not None
    assert (row["module"], row["kind"], row["lifecycle_id"]) == ("tr", "execution", sid)
    assert row["fills"] == [{"px": 3150.5, "qty": 0.2}] and row["order_spec"] == {"side": "buy"}
    assert row["created_at"] == row["updated_at"] == T0 and row["latency_ms"] is None
    later = T0 + timedelta(seconds=3)
    fields = {"latency_ms": 18.0, "exec_metrics": {"venue_score": 0.8}}
    assert update_strand(fabric, "tr", sid, regime="chop", now=later, fields=fields)
    row = read_strand(fabric, "tr", sid)
    assert row["updated_at"] == later and row["created_at"] == T0 and row["regime"] == "chop"
    assert row["latency_ms"] == 18.0 and row["exec_metrics"] == {"venue_score": 0.8}
    assert not update_strand(fabric, "tr", "01NOSUCHSTRAND000000000000", regime="x")
    assert read_strand(fabric, "tr", "nope") is None
    sig = write_strand(fabric, "sig", "signal", fields={"published": True}, new_id=ids(7))
    assert read_strand(fabric, "sig", sig)["published"] is True


@pytest.mark.parametrize(
    ("module", "kind", "fields", "message"),
    [
        ("sig", "signal", {"signal": 1.5}, r"sig_strand.signal: 1.5 is outside \[-1, 1\]"),
        ("sig", "signal", {"published": 1}, "sig_strand.published must be bool"),
        ("sig", "signal", {"colour": "red"}, r"sig_strand has no own columns \['colour'\]"),
        ("sig", "dream", {}, "kind 'dream' is not in the manifest's kinds"),
        ("dm", "decision", {"target_type": "vibes"}, "dm_strand.target_type: 'vibes' is not"),
        ("dm", "decision", {"targets": [1]}, "dm_strand.targets must be a JSON object"),
        ("dm", "decision", {"valid_until": datetime(2025, 1, 1)}, "timezone-aware datetime"),
        ("tr", "execution", {"executed_qty": -1.0}, "tr_strand.executed_qty: -1.0 is outside"),
    ],
)
def test_strand_values_are_checked_against_the_manifest(
    fabric_sqlite: OpsDb, module: str, kind: str, fields: dict, message: str
) -> None:
    # Checked in Python before any SQL (the DDL's own CHECKs are tested on both backends
    # in test_module_manifests.py), so one backend is enough here.
    with pytest.raises(ValueError, match=message):
        write_strand(fabric_sqlite, module, kind, fields=fields)
    with fabric_sqlite.transaction() as tx:
        assert tx.scalar(f"SELECT COUNT(*) FROM {module}_strand") == 0


# --- dead letters, heartbeats, priors ----------------------------------------------------


def test_dead_letters_are_recorded_once_per_reason(fabric: OpsDb) -> None:
    env = example_envelope("sig", "ALPHA_PROPOSED", new_id=ids(8))
    assert record_dead_letter(fabric, module="sig", reason=BAD_SIGNATURE, envelope=env,
                              detail="unsigned")
    assert not record_dead_letter(fabric, module="sig", reason=BAD_SIGNATURE, envelope=env)
    assert record_dead_letter(fabric, module="sig", reason=INVALID_PAYLOAD, envelope=env)
    assert record_dead_letter(fabric, module="tr", reason="poison", envelope="{not json")
    assert record_dead_letter(fabric, module="tr", reason="poison", envelope="{still not")
    rows = read_dead_letters(fabric, module="sig")
    assert [r["reason"] for r in rows] == [BAD_SIGNATURE, INVALID_PAYLOAD]
    assert rows[0]["event_id"] == env["event_id"] and rows[0]["intent"] == "ALPHA_PROPOSED"
    assert rows[0]["envelope"] == env and rows[0]["detail"] == "unsigned"
    (raw, _) = read_dead_letters(fabric, module="tr")
    assert raw["envelope"] == {"raw": "{not json"} and raw["event_id"] is None
    assert count_dead_letters(fabric) == {("sig", BAD_SIGNATURE): 1, ("sig", INVALID_PAYLOAD): 1,
                                          ("tr", "poison"): 2}
    with pytest.raises(ValueError, match="snake_case"):
        record_dead_letter(fabric, module="sig", reason="Bad Thing!", envelope=env)


def test_heartbeats_upsert_one_row_per_component(fabric: OpsDb) -> None:
    beat(fabric, "herald", "router", "starting", now=T0)
    beat(fabric, "herald", "router", "ok", {"lag_s": 0.4}, now=T0 + timedelta(seconds=5))
    beat(fabric, "sensor:sig_inbox", "sig", now=T0, pid=42, host="box")
    hb = {h.component: h for h in read_heartbeats(fabric)}
    assert sorted(hb) == ["herald", "sensor:sig_inbox"]
    assert hb["herald"].status == "ok" and hb["herald"].detail == {"lag_s": 0.4}
    assert hb["herald"].beat_at == T0 + timedelta(seconds=5)
    assert (hb["sensor:sig_inbox"].pid, hb["sensor:sig_inbox"].host) == (42, "box")
    assert hb["sensor:sig_inbox"].age_s(T0 + timedelta(seconds=30)) == 30.0
    with pytest.raises(ValueError, match="status must be one of"):
        beat(fabric, "herald", "router", "sleepy")
    with pytest.raises(ValueError, match="module must be one of"):
        beat(fabric, "herald", "alpha")


def test_priors_changes_are_versioned_and_clamped_to_caps(fabric: OpsDb) -> None:
    start = current_priors(fabric, "sig")
    assert start["kr.theta_min"].value == 0.05 and start["kr.theta_min"].version == 0
    assert priors_version(fabric, "sig") == "sig:v0"
    with fabric.transaction() as tx:
        small = set_prior(tx, "sig", "kr.theta_min", "add", 0.02, source_event_id="E1")
        big = set_prior(tx, "sig", "kr.theta_min", "set", 0.40)  # max_step 0.05
        floor = set_prior(tx, "sig", "curator.kappa", "mul", 3.0)  # max 0.15
    assert (small.before, small.after, small.clamped, small.version) == (0.05, 0.07, False, 1)
    assert big.after == pytest.approx(0.12) and big.clamped and big.version == 2
    assert floor.after == 0.15 and floor.clamped
    now = current_priors(fabric, "sig")
    assert now["kr.theta_min"].value == pytest.approx(0.12) and now["kr.theta_min"].version == 2
    assert now["kr.theta_min"].min_value == 0.0 and now["kr.theta_min"].max_value == 0.5
    assert priors_version(fabric, "sig") == "sig:v3"
    with fabric.transaction() as tx:
        assert tx.scalar("SELECT source_event_id FROM sig_priors WHERE version = 1"
                         " AND key = 'kr.theta_min'") == "E1"
        with pytest.raises(KeyError, match="no priors knob 'kr.nope'"):
            set_prior(tx, "sig", "kr.nope", "set", 1.0)
    # However many patches push, the value never leaves its caps.
    with fabric.transaction() as tx:
        for _ in range(30):
            last = set_prior(tx, "sig", "kr.theta_min", "add", 1.0)
    assert last.after == 0.5


def test_batch_delivery_and_routing(fabric: OpsDb) -> None:
    new_id = ids(9)
    envs = [example_envelope("tr", "EXEC_REPORT", i, new_id=new_id) for i in range(40)]
    post_many_to_outbox(fabric, "tr", envs, models_map=load_modules().map)
    rows = read_outbox(fabric, "tr", limit=100)
    models_map = load_modules().map
    with fabric.transaction() as tx:
        assert deliver_many_to_inbox(tx, "dm", [r.envelope for r in rows[:25]],
                                     models_map=models_map) == 25
        assert deliver_many_to_inbox(tx, "dm", [r.envelope for r in rows],
                                     models_map=models_map) == 15  # 25 known
        assert deliver_many_to_inbox(tx, "dm", [], models_map=models_map) == 0
        assert mark_routed_many(tx, "tr", [r.seq for r in rows[:30]], now=T0) == 30
        assert mark_routed_many(tx, "tr", [r.seq for r in rows[:31]]) == 1  # 30 already done
        with pytest.raises(RouteError, match="may not go to vis"):
            deliver_many_to_inbox(tx, "vis", [rows[0].envelope], models_map=models_map)
    assert len(read_inbox(fabric, "dm", limit=100)) == 40
    assert [r.seq for r in read_outbox(fabric, "tr", limit=100)] == [r.seq for r in rows[31:]]
