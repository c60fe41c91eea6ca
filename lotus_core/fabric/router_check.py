"""Checking one outbox row, pure (no database): the verdict the router acts on (see router.py
for the order of the checks and the dead-letter reasons)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.envelope import (
    EnvelopeError,
    expires_at,
    format_ts,
    signing_bytes,
    validate_envelope,
)
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.queue import (
    BoxRow,
)
from lotus_core.fabric.signing import SIG_PREFIX

Clock = Callable[[], datetime]
Keys = Keyring | Mapping[str, Ed25519PublicKey]


@dataclass(frozen=True)
class Verdict:
    """The router's decision on one outbox row: deliver to `targets`, or dead-letter."""

    row: BoxRow
    targets: tuple[str, ...] = ()
    reason: str | None = None
    detail: str | None = None


# --- checking one envelope (pure) ------------------------------------------------------


def _signature_problem(env: Mapping[str, Any], body: bytes,
                       public_keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    sig = env.get("sig")
    if not isinstance(sig, str) or not sig.startswith(SIG_PREFIX):
        return "envelope.sig: not signed (expected 'ed25519:<base64>')"
    key = public_keys.get(env["from"])
    if key is None:
        return f"envelope.sig: no public key for sender {env['from']!r} in keys.pub.yaml"
    try:
        raw = base64.b64decode(sig[len(SIG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "envelope.sig: not base64"
    try:
        key.verify(raw, body)
    except InvalidSignature:
        return f"envelope.sig: does not verify with {env['from']}'s public key"
    return None


def check_envelope(
    module: str,
    env: Mapping[str, Any],
    public_keys: Mapping[str, Ed25519PublicKey],
    models_map: ModelsMap,
    now: datetime,
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(reason, detail, targets) for an envelope found in `module`'s outbox; reason None
    means deliver to `targets`. Never raises on bad input."""
    try:
        validate_envelope(env, check_hash=False)
    except EnvelopeError as exc:
        return exc.reason, str(exc), ()
    try:
        body = signing_bytes(env)  # hashed once, verified once: the same bytes
    except (TypeError, ValueError) as exc:
        return dl.INVALID_ENVELOPE, f"envelope: not hashable JSON: {exc}", ()
    expected = "sha256:" + hashlib.sha256(body).hexdigest()
    if env["hash"] != expected:
        return (dl.BAD_HASH, f"envelope.hash: {env['hash']} does not match the content "
                f"({expected})", ())
    problem = _signature_problem(env, body, public_keys)
    if problem is not None:
        return dl.BAD_SIGNATURE, problem, ()
    sender = env["from"]
    if sender != module:
        return dl.FORBIDDEN_ROUTE, f"envelope.from: {sender!r} found in {module}_outbox", ()
    targets = tuple(dict.fromkeys(env["to"]))
    denied = [t for t in targets if not models_map.allowed(sender, t, env["intent"])]
    if denied:
        return (dl.FORBIDDEN_ROUTE, f"envelope.to: {sender} may not send {env['intent']} to "
                f"{denied} (models.map.yaml)", ())
    end = expires_at(env)
    if now >= end:
        return (dl.EXPIRED, f"envelope.ttl_sec: expired at {format_ts(end)} (ts + ttl_sec), "
                f"routed at {format_ts(now)}", ())
    return None, None, targets


def check_rows(module: str, rows: Sequence[BoxRow], keys: Keyring, models_map: ModelsMap,
               now: datetime) -> list[Verdict]:
    """Verdicts for a batch. A sender without a known key makes the key file be re-read
    once (a module's key may have been published after the router started)."""
    public = keys.public_keys()
    if any(r.envelope.get("from") not in public for r in rows):
        public = keys.public_keys(reload=True)
    out = []
    for row in rows:
        reason, detail, targets = check_envelope(module, row.envelope, public, models_map, now)
        out.append(Verdict(row, targets, reason, detail))
    return out
