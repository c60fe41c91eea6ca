"""Envelopes: the one message shape between modules (seed 003, "Event contract").

    env = build_envelope(sender="sig", to=["dm"], intent="ALPHA_PROPOSED", payload=p)
    env = sign(env, private_key)          # lotus_core.fabric.signing
    validate_envelope(env)                # raises EnvelopeError naming the failing path

Hashing needs one byte form per envelope: `canonical_json` sorts keys, drops whitespace and
writes integral floats as integers (1.0 -> 1). The last rule is what makes the hash survive
a PostgreSQL JSONB round trip, which keeps numbers as decimals (1e16 comes back as
10000000000000000). `hash` is "sha256:" + hex of the canonical envelope without `hash`
and `sig`; the signature covers the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from lotus_core.fabric.contracts import ENVELOPE_ID, contracts, first_error
from lotus_core.fabric.names import check_intent, check_module
from lotus_core.fabric.ulid import new_ulid, timestamp_ms

ENVELOPE_KEYS = (
    "event_id", "ts", "from", "to", "intent", "lifecycle_id", "parent_id", "schema_ref",
    "priors_ver", "dedupe_key", "ttl_sec", "tags", "payload", "hash", "sig",
)
UNSIGNED_KEYS = ("hash", "sig")
DEFAULT_TTL_SEC = 600


class EnvelopeError(ValueError):
    """An envelope the fabric refuses. `reason` is the dead-letter reason code:

    invalid_envelope (the envelope itself), invalid_payload (its payload against
    schema_ref), bad_hash (the content no longer matches its hash: tampered or corrupt).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _plain(value: Any) -> Any:
    # One value space for hashing: dicts, lists, str, int, non-integral float, bool, None.
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"JSON object keys must be strings, got {k!r}")
            out[k] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not JSON ({value!r})")


# Floats whose repr json.dumps and orjson write alike (both shortest round-trip digits;
# outside this range their exponent notations differ: 1e-05 vs 1e-5).
_SAFE_FLOAT_MIN, _SAFE_FLOAT_MAX = 1e-4, 1e16
_NEEDS_PLAIN, _PLAIN, _PLAIN_ORJSON = 0, 1, 2


def _scan(value: Any) -> int:
    """How `value` can be written canonically, found with one loop (no rebuild):
    _NEEDS_PLAIN (an integral or non-finite float, a non-str key, a tuple...: `_plain`
    first), _PLAIN (json.dumps as is) or _PLAIN_ORJSON (orjson writes the same bytes)."""
    out = _PLAIN_ORJSON
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        x = pop()
        t = type(x)
        if t is str or t is int or t is bool or x is None:
            continue
        if t is dict:
            for k, v in x.items():
                if type(k) is not str:
                    return _NEEDS_PLAIN
                push(v)
        elif t is list:
            extend(x)
        elif t is float:
            if x.is_integer() or not math.isfinite(x):
                return _NEEDS_PLAIN
            if not _SAFE_FLOAT_MIN <= abs(x) < _SAFE_FLOAT_MAX:
                out = _PLAIN
        else:
            return _NEEDS_PLAIN
    return out


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON of `value`: sorted keys, no spaces, integral floats as ints.

    The bytes are json.dumps's; orjson writes them ~5x faster when `_scan` proves it writes
    the same (tests/core/fabric/test_module_envelope.py compares the two on every code point and on
    random floats); it refuses ints beyond 64 bits and lone surrogates: json.dumps then."""
    kind = _scan(value)
    if kind == _PLAIN_ORJSON:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError too
            pass
    return json.dumps(
        value if kind != _NEEDS_PLAIN else _plain(value),
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    ).encode("utf-8")


def signing_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed and signed: the canonical envelope without hash and sig."""
    return canonical_json({k: v for k, v in envelope.items() if k not in UNSIGNED_KEYS})


def envelope_hash(envelope: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(signing_bytes(envelope)).hexdigest()


def format_ts(when: datetime) -> str:
    """The envelope's timestamp form: UTC, milliseconds, 'Z' (2025-09-05T12:34:56.789Z)."""
    if when.tzinfo is None:
        raise ValueError("envelope timestamps must be timezone-aware")
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def build_envelope(
    *,
    sender: str,
    to: Iterable[str],
    intent: str,
    payload: Mapping[str, Any],
    lifecycle_id: str | None = None,
    parent_id: str | None = None,
    schema_ref: str | None = None,
    priors_ver: str | None = None,
    dedupe_key: str | None = None,
    ttl_sec: int = DEFAULT_TTL_SEC,
    tags: Iterable[str] = (),
    now: datetime | None = None,
    new_id: Callable[[], str] = new_ulid,
) -> dict[str, Any]:
    """A complete, hashed, unsigned envelope (sig None); validate or sign it next.

    `lifecycle_id` defaults to the new event_id (the event starts a thread); `ts` defaults to
    the time inside the event_id, so a deterministic `new_id` gives a deterministic envelope.
    `schema_ref` defaults to the newest payload schema of `intent`.
    """
    check_module(sender)
    check_intent(intent)
    event_id = new_id()
    ts = format_ts(now) if now is not None else format_ts(
        datetime.fromtimestamp(timestamp_ms(event_id) / 1000, UTC)
    )
    envelope: dict[str, Any] = {
        "event_id": event_id,
        "ts": ts,
        "from": sender,
        "to": list(to),
        "intent": intent,
        "lifecycle_id": lifecycle_id or event_id,
        "parent_id": parent_id,
        "schema_ref": schema_ref or contracts().current(intent),
        "priors_ver": priors_ver,
        "dedupe_key": dedupe_key,
        "ttl_sec": int(ttl_sec),
        "tags": list(tags),
        "payload": _plain(payload),
        "hash": "",
        "sig": None,
    }
    envelope["hash"] = envelope_hash(envelope)
    return envelope


def validate_envelope(envelope: Any, *, check_hash: bool = True) -> None:
    """Raise EnvelopeError unless `envelope` and its payload match their schemas (and hash).

    The message names the failing path, e.g. "envelope.payload.sigbus.signal: 1.5 is
    greater than the maximum of 1 (schema urn:lotus:schema:sigbus-1.0.0)".
    """
    problem = first_error(ENVELOPE_ID, envelope, "envelope")
    if problem is not None:
        raise EnvelopeError("invalid_envelope", problem)
    known = contracts().by_intent[envelope["intent"]]
    if envelope["schema_ref"] not in known:
        raise EnvelopeError(
            "invalid_envelope",
            f"envelope.schema_ref: {envelope['schema_ref']!r} is not a payload schema of "
            f"{envelope['intent']} (known: {list(known)})",
        )
    problem = first_error(envelope["schema_ref"], envelope["payload"], "envelope.payload")
    if problem is not None:
        raise EnvelopeError("invalid_payload", problem)
    if check_hash:
        try:
            expected = envelope_hash(envelope)
        except (TypeError, ValueError) as exc:
            raise EnvelopeError("invalid_envelope", f"envelope: not hashable JSON: {exc}") from exc
        if envelope["hash"] != expected:
            raise EnvelopeError(
                "bad_hash",
                f"envelope.hash: {envelope['hash']} does not match the content ({expected})",
            )


def expires_at(envelope: Mapping[str, Any]) -> datetime:
    return parse_ts(envelope["ts"]) + timedelta(seconds=int(envelope["ttl_sec"]))


def is_expired(envelope: Mapping[str, Any], now: datetime) -> bool:
    """True once `now` is past ts + ttl_sec (the router dead-letters it as `expired`)."""
    return now >= expires_at(envelope)
