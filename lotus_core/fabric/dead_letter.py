"""`dead_letter`: envelopes the fabric gave up on, each with a machine reason and a detail.

Recording is idempotent per (event_id, module, reason), so a router that dies after
recording and before committing its outbox update can record again after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lotus_core.fabric.codec import json_in, json_out, ts_out
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.names import INTENTS, check_module

# The reasons the fabric itself uses; handlers may add their own snake_case codes.
EXPIRED = "expired"  # ts + ttl_sec passed before delivery
INVALID_ENVELOPE = "invalid_envelope"  # the envelope breaks envelope-1.0
INVALID_PAYLOAD = "invalid_payload"  # the payload breaks its schema_ref
BAD_HASH = "bad_hash"  # content does not match hash
BAD_SIGNATURE = "bad_signature"  # unsigned, unknown sender key, or a wrong signature
FORBIDDEN_ROUTE = "forbidden_route"  # models.map.yaml does not allow from -> to for intent
POISON = "poison"  # failed max_attempts times
HANDLER_ERROR = "handler_error"  # the receiving module's handler refused it
REASONS = (EXPIRED, INVALID_ENVELOPE, INVALID_PAYLOAD, BAD_HASH, BAD_SIGNATURE,
           FORBIDDEN_ROUTE, POISON, HANDLER_ERROR)

COLUMNS = ("id", "event_id", "module", "intent", "reason", "detail", "envelope", "created_at")


def record_dead_letter(
    db: Db,
    *,
    module: str,
    reason: str,
    envelope: Mapping[str, Any] | str,
    detail: str | None = None,
    event_id: str | None = None,
    intent: str | None = None,
) -> bool:
    """Record that `envelope` died in `module`'s box for `reason`; False if already recorded.

    `envelope` is the envelope dict as it was (or raw text, stored as {"raw": text});
    event_id and intent default to the envelope's own when they are readable.
    """
    check_module(module)
    if not isinstance(reason, str) or not reason or not reason.replace("_", "").isalnum():
        raise ValueError(f"reason must be a snake_case code, got {reason!r}")
    body: dict[str, Any] = dict(envelope) if isinstance(envelope, Mapping) else {"raw": envelope}
    if event_id is None and isinstance(body.get("event_id"), str):
        event_id = body["event_id"]
    if intent is None and body.get("intent") in INTENTS:
        intent = body["intent"]
    if intent is not None and intent not in INTENTS:
        intent = None  # an unknown intent is kept in the envelope JSON, not in the column
    with in_tx(db) as tx:
        n = tx.execute(
            "INSERT INTO dead_letter (event_id, module, intent, reason, detail, envelope)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, module, reason) DO NOTHING",
            (event_id, module, intent, reason, detail, json_in(body)),
        )
    return n == 1


def read_dead_letters(
    db: Db, *, module: str | None = None, reason: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Dead letters, oldest first, optionally of one module and/or reason."""
    where: list[str] = []
    params: list[Any] = []
    if module is not None:
        where.append("module = ?")
        params.append(check_module(module))
    if reason is not None:
        where.append("reason = ?")
        params.append(reason)
    sql = f"SELECT {', '.join(COLUMNS)} FROM dead_letter"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id LIMIT ?"
    with in_tx(db) as tx:
        rows = tx.query(sql, [*params, int(limit)])
    for row in rows:
        row["envelope"] = json_out(row["envelope"])
        row["created_at"] = ts_out(row["created_at"])
    return rows


def count_dead_letters(db: Db) -> dict[tuple[str, str], int]:
    """(module, reason) -> count, for status displays."""
    with in_tx(db) as tx:
        rows = tx.query(
            "SELECT module, reason, COUNT(*) AS n FROM dead_letter GROUP BY module, reason"
        )
    return {(r["module"], r["reason"]): int(r["n"]) for r in rows}

