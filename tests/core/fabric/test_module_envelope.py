"""Envelopes: ULIDs, canonical JSON and hash, the JSON Schemas of every intent."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from lotus_core.fabric.contracts import contracts
from lotus_core.fabric.envelope import (
    ENVELOPE_KEYS,
    EnvelopeError,
    build_envelope,
    canonical_json,
    envelope_hash,
    is_expired,
    parse_ts,
    validate_envelope,
)
from lotus_core.fabric.examples import example_envelope, example_payload
from lotus_core.fabric.names import INTENTS
from lotus_core.fabric.ulid import UlidFactory, decode, encode, is_ulid, timestamp_ms

T0 = 1_737_892_800.0  # 2025-01-26T12:00:00Z


def ids(seed: int = 1, t: float = T0) -> UlidFactory:
    return UlidFactory(lambda: t, random.Random(seed).randbytes)


# --- ULIDs ------------------------------------------------------------------------------


def test_ulid_is_deterministic_time_ordered_and_monotonic() -> None:
    a, b = ids(7), ids(7)
    first = [a() for _ in range(50)]
    assert first == [b() for _ in range(50)]  # same clock + bytes: same ids
    assert all(is_ulid(u) for u in first)
    assert first == sorted(first) and len(set(first)) == 50  # same ms, still increasing
    assert timestamp_ms(first[0]) == int(T0 * 1000)
    later = ids(3, T0 + 1)()
    assert later > first[-1]
    assert encode(decode(first[3])) == first[3]
    assert encode(0) == "0" * 26 and encode((1 << 128) - 1) == "7" + "Z" * 25


def test_ulid_rejects_garbage() -> None:
    for bad in ("", "01ARZ3NDEKTSV4RRFFQ69G5FA", "I" * 26, "81ARZ3NDEKTSV4RRFFQ69G5FAV", 5):
        assert not is_ulid(bad)
    with pytest.raises(ValueError, match="not a ULID"):
        decode("not-a-ulid")


# --- canonical JSON ---------------------------------------------------------------------


def test_canonical_json_sorts_keys_drops_spaces_and_writes_integral_floats_as_ints() -> None:
    value = {"b": [1.0, 2.5, {"z": True, "a": None}], "a": "é", "c": 1e16, "d": -0.0}
    assert canonical_json(value) == '{"a":"é","b":[1,2.5,{"a":null,"z":true}],"c":10000000000000000,"d":0}'.encode()  # noqa: E501
    # The JSONB round trip turns 1e16 into 10000000000000000: the canonical form agrees.
    assert canonical_json(json.loads('{"c": 10000000000000000}')) == canonical_json({"c": 1e16})
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            canonical_json({"x": bad})
    with pytest.raises(TypeError):
        canonical_json({1: "non-string key"})


# --- building and validating ------------------------------------------------------------


def test_build_envelope_is_complete_hashed_and_deterministic() -> None:
    payload = example_payload("DM_DECISION", 3)
    env = build_envelope(sender="dm", to=["tr", "sig"], intent="DM_DECISION", payload=payload,
                         tags=["asset:BTC", "tf:5m"], new_id=ids())
    again = build_envelope(sender="dm", to=["tr", "sig"], intent="DM_DECISION", payload=payload,
                           tags=["asset:BTC", "tf:5m"], new_id=ids())
    assert env == again
    assert tuple(env) == ENVELOPE_KEYS
    assert env["ts"] == "2025-01-26T12:00:00.000Z"  # from the event_id's time
    assert env["lifecycle_id"] == env["event_id"] and env["sig"] is None
    assert env["schema_ref"] == "urn:lotus:schema:dm-decision-1.0"
    assert env["hash"] == envelope_hash(env) and env["hash"].startswith("sha256:")
    validate_envelope(env)
    # The hash ignores hash and sig, but covers everything else.
    assert envelope_hash({**env, "sig": "x", "hash": "y"}) == env["hash"]
    assert envelope_hash({**env, "ttl_sec": 601}) != env["hash"]


@pytest.mark.parametrize("intent", INTENTS)
def test_every_intent_has_a_schema_and_valid_examples(intent: str) -> None:
    schema_id = contracts().current(intent)
    assert contracts().schemas[schema_id]["x-lotus-intent"] == intent
    for i in range(20):
        assert contracts().validators[schema_id].is_valid(example_payload(intent, i))


def test_sigbus_is_its_own_schema_wrapped_by_alpha_proposed() -> None:
    sigbus = example_payload("ALPHA_PROPOSED")["sigbus"]
    v = contracts().validators["urn:lotus:schema:sigbus-1.0.0"]
    assert v.is_valid(sigbus)
    for broken in ({**sigbus, "signal": 1.01}, {**sigbus, "curated_sigma": -0.1},
                   {**sigbus, "eligibility": {"publish": True, "vetoes": []}},
                   {**sigbus, "provenance": {**sigbus["provenance"], "recipe_hash": "md5:x"}},
                   {**sigbus, "schema_ver": "sigbus-2.0.0"}, {**sigbus, "extra": 1}):
        assert not v.is_valid(broken)


@pytest.mark.parametrize(
    ("intent", "mutate", "path"),
    [
        ("ALPHA_PROPOSED", lambda p: p["sigbus"].update(signal=1.5),
         "envelope.payload.sigbus.signal"),
        ("DM_DECISION", lambda p: p.update(confidence=2), "envelope.payload.confidence"),
        ("DM_DECISION", lambda p: p.pop("targets"), "envelope.payload"),
        ("EXEC_REPORT", lambda p: p["fills"][0].update(qty=-1), "envelope.payload.fills[0].qty"),
        ("EXEC_REPORT", lambda p: p.update(status="lost"), "envelope.payload.status"),
        ("PRIOR_PATCH", lambda p: p["changes"][0].update(op="pow"),
         "envelope.payload.changes[0].op"),
        ("WATCHDOG_ALERT", lambda p: p.update(severity="meh"), "envelope.payload.severity"),
        ("LESSON_PUBLISHED", lambda p: p["rule"]["literals"].extend(["a", "b"]),
         "envelope.payload.rule.literals"),
    ],
)
def test_invalid_payload_names_the_failing_path(intent: str, mutate, path: str) -> None:
    payload = example_payload(intent, 1)
    mutate(payload)
    sender = {"ALPHA_PROPOSED": "sig", "DM_DECISION": "dm", "EXEC_REPORT": "tr",
              "PRIOR_PATCH": "dm", "WATCHDOG_ALERT": "dm",
              "LESSON_PUBLISHED": "tr"}[intent]
    env = build_envelope(sender=sender, to=["dm"], intent=intent, payload=payload, new_id=ids())
    with pytest.raises(EnvelopeError) as err:
        validate_envelope(env)
    assert err.value.reason == "invalid_payload"
    assert str(err.value).startswith(path + ":"), str(err.value)
    assert contracts().current(intent) in str(err.value)


def test_invalid_envelopes_are_refused_with_the_right_reason() -> None:
    env = example_envelope("sig", "ALPHA_PROPOSED", 1, new_id=ids())
    cases = {
        "envelope.event_id": {**env, "event_id": "nope"},
        "envelope.ts": {**env, "ts": "2025-01-26 12:00:00"},
        "envelope.from": {**env, "from": "alpha"},
        "envelope.to": {**env, "to": []},
        "envelope.intent": {**env, "intent": "HELLO"},
        "envelope.ttl_sec": {**env, "ttl_sec": 0},
        "envelope.tags[0]": {**env, "tags": ["no colon"]},
        "envelope.sig": {**env, "sig": "rsa:abc"},
        "envelope": {k: v for k, v in env.items() if k != "dedupe_key"},
    }
    for path, bad in cases.items():
        with pytest.raises(EnvelopeError) as err:
            validate_envelope(bad)
        assert err.value.reason == "invalid_envelope"
        assert str(err.value).startswith(path), (path, str(err.value))
    with pytest.raises(EnvelopeError, match="not a payload schema of ALPHA_PROPOSED") as err:
        validate_envelope({**env, "schema_ref": "urn:lotus:schema:dm-decision-1.0"})
    assert err.value.reason == "invalid_envelope"
    with pytest.raises(EnvelopeError, match="is not of type 'object'"):
        validate_envelope(["not", "an", "envelope"])


def test_changed_content_fails_the_hash_check() -> None:
    env = example_envelope("tr", "EXEC_REPORT", 2, new_id=ids())
    tampered = json.loads(json.dumps(env))
    tampered["payload"]["slippage_bps"] = 0.0
    with pytest.raises(EnvelopeError, match="envelope.hash") as err:
        validate_envelope(tampered)
    assert err.value.reason == "bad_hash"
    validate_envelope(tampered, check_hash=False)  # the schema itself is still satisfied


def test_ttl_expiry() -> None:
    env = example_envelope("sig", "ALPHA_PROPOSED", new_id=ids(), ttl_sec=60)
    born = parse_ts(env["ts"])
    assert born == datetime.fromtimestamp(T0, UTC)
    assert not is_expired(env, born + timedelta(seconds=59.999))
    assert is_expired(env, born + timedelta(seconds=60))


def test_build_refuses_unknown_sender_and_intent() -> None:
    with pytest.raises(ValueError, match="unknown module 'alpha'"):
        build_envelope(sender="alpha", to=["dm"], intent="ALPHA_PROPOSED", payload={})
    with pytest.raises(ValueError, match="unknown intent 'BUY_NOW'"):
        build_envelope(sender="sig", to=["dm"], intent="BUY_NOW", payload={})


# --- the compiled fast path agrees with jsonschema ----------------------------------------

PALETTE = [None, True, False, 0, 1, -1, 2, 0.5, -1.5, 1.0, 1e9, "", "x", "BTC", "5m", "sig",
           "ALPHA_PROPOSED", "2025-01-26T12:00:00Z", "sha256:" + "0" * 64,
           "01ARZ3NDEKTSV4RRFFQ69G5FAV", [], [1], ["a", "a"], {}, {"a": 1}]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _mutate(value, rng: random.Random):
    value = json.loads(json.dumps(value))
    path = rng.choice(list(_paths(value)))
    if not path:
        return rng.choice(PALETTE)
    parent = value
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[last]
    elif action < 0.25 and isinstance(parent, dict):
        parent["unexpected_" + str(rng.randrange(3))] = rng.choice(PALETTE)
    elif action < 0.32 and isinstance(parent, list):
        parent.append(json.loads(json.dumps(parent[last])))  # a duplicate item
    elif action < 0.45 and type(parent[last]) in (int, float):
        parent[last] = rng.choice([parent[last] + 1, -parent[last] - 0.5, parent[last] * 1e6,
                                   float(int(parent[last]))])
    elif action < 0.55 and isinstance(parent[last], str):
        parent[last] = rng.choice([parent[last] + " ", parent[last][:-1], parent[last].upper(),
                                   parent[last] * 30])
    else:
        parent[last] = rng.choice(PALETTE)
    return value


def test_fast_validation_agrees_with_jsonschema() -> None:
    rng = random.Random(5)
    c = contracts()
    agree = invalid = 0
    cases = [(c.current(i), example_payload(i, n)) for i in INTENTS for n in range(3)]
    cases += [("urn:lotus:schema:envelope-1.0", example_envelope("sig", "ALPHA_PROPOSED", n))
              for n in range(3)]
    for schema_id, base in cases:
        fast, slow = c.fast[schema_id], c.validators[schema_id]
        assert fast(base) and slow.is_valid(base)
        for _ in range(250):
            x = _mutate(base, rng)
            if rng.random() < 0.3:
                x = _mutate(x, rng)
            assert fast(x) == slow.is_valid(x), (schema_id, x)
            agree += 1
            invalid += not fast(x)
    assert agree == len(cases) * 250 and invalid > agree // 3


# --- canonical bytes: the orjson fast path writes exactly json.dumps's bytes ---------------


def _dumps(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def test_canonical_json_fast_path_writes_the_same_bytes() -> None:
    from lotus_core.fabric.envelope import _PLAIN_ORJSON, _scan, canonical_json

    chars = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF)
    doc = {"s": chars, chars[:300]: [chars[i : i + 7] for i in range(0, 4000, 7)]}
    assert _scan(doc) == _PLAIN_ORJSON and canonical_json(doc) == _dumps(doc)
    rng = random.Random(7)
    floats = []
    while len(floats) < 20_000:
        x = float(f"{rng.choice([-1, 1]) * 10 ** rng.uniform(-6, 18):.{rng.randint(1, 17)}g}")
        if not x.is_integer():
            floats.append(x)
    for x in floats:
        assert canonical_json({"x": x}) == _dumps({"x": x}), x
    # What the fast path may not write falls back to json.dumps (or _plain first).
    assert canonical_json({"big": 2**70, "f": 1.0}) == b'{"big":1180591620717411303424,"f":1}'
    assert canonical_json({"t": (1, 2)}) == b'{"t":[1,2]}'
    with pytest.raises(UnicodeEncodeError):  # as before: no UTF-8 form, invalid_envelope
        canonical_json({"lone": "\ud800"})
    for n in range(20):
        env = example_envelope("sig", "ALPHA_PROPOSED", n)
        assert canonical_json(env) == _dumps(env)
