"""The frames the bus sends, as compact JSON text, and the close codes it closes with.

    {"type": "welcome", "subscriber": "acme", "since": 41, "head": 57}
    {"type": "signal", "seq": 42, "event_id": "01J...", "ts": "2026-...Z", "strand_id": "01J...",
     "sigbus": {... a sigbus-1.0.0 document ...}}
    {"type": "pong"}
    {"type": "refused", "code": "bad_token", "reason": "..."}   then a close with CLOSE_*

A signal frame is built only from a document that validates against sigbus-1.0.0: a row
that does not is a `Rejected` naming the failing path (it goes to dead_letter, never out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lotus_core.fabric.queue import BoxRow
from lotus_core.signals.bus import SigbusError, validate_sigbus

INTENT = "ALPHA_PROPOSED"  # what the bus streams: sig's published signals
MODULE = "sig"             # whose outbox holds them
DEAD_REASON = "bus_invalid_frame"  # dead_letter.reason of a row the bus would not send

# Application close codes (RFC 6455 leaves 4000-4999 to applications); the close reason
# and the refusal frame before it say what was wrong.
CLOSE_BAD_REQUEST = 4400   # since / hello malformed
CLOSE_UNAUTHORIZED = 4401  # token missing, malformed, unknown, revoked or wrong
CLOSE_LAGGED = 4408        # the subscriber's queue filled: reconnect with the last seq it read
CLOSE_SINCE_AHEAD = 4409   # since is beyond the bus head: another fabric, or a reset one
CLOSE_SHUTDOWN = 1001      # the server is going away (standard "going away")

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Mapping[str, Any]) -> str:
    return _JSON.encode(obj)


@dataclass(frozen=True)
class Frame:
    """A signal frame ready to send: its seq and its JSON text."""

    seq: int
    text: str


@dataclass(frozen=True)
class Rejected:
    """A row the bus will not send, and why (`detail` names the failing path)."""

    seq: int
    event_id: str
    detail: str


def signal_frame(row: BoxRow) -> Frame | Rejected:
    """The frame of one ALPHA_PROPOSED sig_outbox row, or why it cannot be sent."""
    env = row.envelope
    payload = env.get("payload")
    doc = payload.get("sigbus") if isinstance(payload, Mapping) else None
    if not isinstance(doc, dict):
        return Rejected(row.seq, row.event_id, "payload.sigbus: missing or not an object")
    try:
        validate_sigbus(doc)
    except SigbusError as exc:
        return Rejected(row.seq, row.event_id, str(exc))
    assert isinstance(payload, Mapping)
    text = dumps({"type": "signal", "seq": row.seq, "event_id": row.event_id, "ts": env["ts"],
                  "strand_id": payload.get("strand_id"), "sigbus": doc})
    return Frame(row.seq, text)


def welcome(subscriber: str, since: int, head: int) -> str:
    return dumps({"type": "welcome", "subscriber": subscriber, "since": since, "head": head})


def pong() -> str:
    return dumps({"type": "pong"})


def refused(code: str, reason: str) -> str:
    return dumps({"type": "refused", "code": code, "reason": reason})


def close_reason(text: str) -> str:
    """A close reason fits in 123 UTF-8 bytes (RFC 6455 5.5); the refusal frame has it all."""
    data = text.encode()
    return text if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."
