"""A module's inbox: delivery into it (by the router), reading it and marking rows done.

Consumers follow `seq` with a cursor and mark each row in the same transaction as the
work it caused:

    with fabric.transaction() as tx:
        for row in read_inbox(tx, "sig", after_seq=cursor):
            handle(tx, row.envelope)
            mark_consumed(tx, "sig", row.seq)   # False: someone else did it; roll back

On PostgreSQL, sequence numbers are handed out at insert but become visible at commit, so
a writer that must never let a cursor skip a row inserts under `tx.lock(inbox_table(m))`
(the router does); rows stay `pending` until marked, so a status scan also finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import lotus_core.fabric.queue as queue
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.errors import RouteError
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.names import FAILED, PENDING, PROCESSED, check_module
from lotus_core.fabric.queue import BoxRow
from lotus_core.store.connection import Tx


def deliver_to_inbox(
    tx: Tx,
    target: str,
    envelope: Mapping[str, Any],
    *,
    on_duplicate: Literal["skip", "raise"] = "skip",
    models_map: ModelsMap,
) -> bool:
    """Insert `envelope` into `target`'s inbox; True if it was new.

    Refuses (RouteError) a target the envelope does not name or the map does not allow.
    Validation and signature checks are the caller's (the router's) job, done before.

    on_duplicate="skip" (the router): an event_id already there is a no-op returning
    False. It uses ON CONFLICT, which PostgreSQL lets only roles that may read the inbox
    use (the router, the owner). A module role tagging another module directly has
    INSERT-only rights and passes on_duplicate="raise": a duplicate then raises the
    driver's unique-violation error and the transaction must be rolled back.
    `models_map`: the caller's, loaded once where it starts (the router holds one).
    """
    check_module(target)
    if target not in envelope["to"]:
        raise RouteError(f"event {envelope['event_id']} is not addressed to {target}")
    if not models_map.allowed(envelope["from"], target, envelope["intent"]):
        raise RouteError(
            f"{envelope['from']} may not send {envelope['intent']} to {target} "
            "(models.map.yaml)"
        )
    if on_duplicate not in ("skip", "raise"):
        raise ValueError(f"on_duplicate must be 'skip' or 'raise', got {on_duplicate!r}")
    skip = on_duplicate == "skip"
    return queue.insert(tx, target, "inbox", envelope, returning=False, skip_duplicates=skip) == 1


def deliver_many_to_inbox(
    tx: Tx,
    target: str,
    envelopes: Iterable[Mapping[str, Any]],
    *,
    models_map: ModelsMap,
) -> int:
    """Batch `deliver_to_inbox` (on_duplicate="skip"), one pipelined round trip on
    PostgreSQL; returns how many rows were new. Every envelope is route-checked first."""
    check_module(target)
    envelopes = list(envelopes)
    for env in envelopes:
        if target not in env["to"] or not models_map.allowed(env["from"], target, env["intent"]):
            raise RouteError(
                f"event {env['event_id']} ({env['from']} {env['intent']}) may not go to {target}"
            )
    return queue.insert_many(tx, target, "inbox", envelopes)


def read_inbox(
    db: Db,
    module: str,
    after_seq: int = 0,
    limit: int = 100,
    *,
    pending_only: bool = True,
    due_at: datetime | None = None,
) -> list[BoxRow]:
    """Inbox rows with seq > after_seq, oldest first (pending ones only, by default)."""
    with in_tx(db) as tx:
        return queue.select(
            tx, check_module(module), "inbox", after_seq=after_seq, limit=limit,
            statuses=(PENDING,) if pending_only else None, due_at=due_at,
        )


def mark_consumed(tx: Tx, module: str, seq: int, *, now: datetime | None = None) -> bool:
    """pending -> processed, consumed_at = now. False if the row was not pending (already
    consumed by someone else, or failed): the caller should roll back its work."""
    return queue.finish(tx, check_module(module), "inbox", seq, PROCESSED, None, now)


def mark_failed(tx: Tx, module: str, seq: int, error: str, *, now: datetime | None = None) -> bool:
    """pending -> failed (record a dead_letter row with the reason in the same transaction)."""
    return queue.finish(tx, check_module(module), "inbox", seq, FAILED, error, now)


def retry_inbox_later(tx: Tx, module: str, seq: int, error: str, next_attempt_at: datetime) -> bool:
    """Count a failed handling attempt and schedule the next one."""
    return queue.retry_later(tx, check_module(module), "inbox", seq, error, next_attempt_at)
