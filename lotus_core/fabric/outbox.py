"""Writing envelopes to a module's outbox, and the router's view of outboxes.

A module speaks only by `post_to_outbox`; the Herald router reads pending rows with
`read_outbox` and records the outcome with `mark_routed`, `mark_dead` or `retry_later`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import lotus_core.fabric.queue as queue
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.envelope import validate_envelope
from lotus_core.fabric.errors import DuplicateEventError
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.names import FAILED, PENDING, PROCESSED, check_module
from lotus_core.fabric.queue import BoxRow
from lotus_core.fabric.routes import check_routes
from lotus_core.store.connection import Tx


def _check(module: str, envelope: Mapping[str, Any], validate: bool,
           models_map: ModelsMap) -> None:
    check_module(module)
    if validate:
        validate_envelope(envelope)
        check_routes(envelope, models_map)
    if envelope.get("from") != module:
        raise ValueError(
            f"envelope {envelope.get('event_id')} is from {envelope.get('from')!r}; "
            f"only {module}'s own envelopes go in {module}_outbox"
        )


def post_to_outbox(
    db: Db,
    module: str,
    envelope: Mapping[str, Any],
    *,
    models_map: ModelsMap,
    validate: bool = True,
) -> int:
    """Write `envelope` to `module`'s outbox; returns its seq. Idempotent per event_id.

    By default the envelope must pass `validate_envelope` (schema, payload, hash) and its
    routes must be allowed by `models_map` (the caller's entry point loaded it:
    `load_modules().map`). `validate=False` skips both, for fault injection and relays:
    the router checks everything again before delivering.
    Posting an event_id again returns the first seq; with different content it raises
    DuplicateEventError.
    """
    _check(module, envelope, validate, models_map)
    with in_tx(db) as tx:
        seq = queue.insert(tx, module, "outbox", envelope, returning=True)
        if seq is not None:
            return seq
        existing = queue.by_event_id(tx, module, "outbox", envelope["event_id"])
        if existing is None or existing.envelope["hash"] != envelope["hash"]:
            raise DuplicateEventError(
                f"{module}_outbox already holds event {envelope['event_id']} with other content"
            )
        return existing.seq


def post_many_to_outbox(
    db: Db,
    module: str,
    envelopes: Iterable[Mapping[str, Any]],
    *,
    models_map: ModelsMap,
    validate: bool = True,
) -> int:
    """Batch `post_to_outbox` in one transaction; returns how many rows were new."""
    envelopes = list(envelopes)
    for env in envelopes:
        _check(module, env, validate, models_map)
    with in_tx(db) as tx:
        return queue.insert_many(tx, module, "outbox", envelopes)


def read_outbox(
    db: Db,
    module: str,
    after_seq: int = 0,
    limit: int = 100,
    *,
    pending_only: bool = True,
    due_at: datetime | None = None,
) -> list[BoxRow]:
    """Outbox rows after `after_seq` in seq order (pending ones only, by default).

    With `due_at`, rows whose next_attempt_at is later are left out (backoff).
    """
    with in_tx(db) as tx:
        return queue.select(
            tx, check_module(module), "outbox", after_seq=after_seq, limit=limit,
            statuses=(PENDING,) if pending_only else None, due_at=due_at,
        )


def mark_routed(tx: Tx, module: str, seq: int, *, now: datetime | None = None) -> bool:
    """The envelope reached every target inbox: pending -> processed."""
    return queue.finish(tx, check_module(module), "outbox", seq, PROCESSED, None, now)


def mark_routed_many(
    tx: Tx, module: str, seqs: Iterable[int], *, now: datetime | None = None
) -> int:
    """`mark_routed` for a batch in one statement; returns how many were pending."""
    return queue.finish_many(tx, check_module(module), "outbox", list(seqs), PROCESSED, now)


def mark_dead(tx: Tx, module: str, seq: int, error: str, *, now: datetime | None = None) -> bool:
    """Given up (record the dead_letter row in the same transaction): pending -> failed."""
    return queue.finish(tx, check_module(module), "outbox", seq, FAILED, error, now)


def retry_outbox_later(
    tx: Tx, module: str, seq: int, error: str, next_attempt_at: datetime
) -> bool:
    """Count a failed delivery attempt and schedule the next (exponential backoff)."""
    return queue.retry_later(tx, check_module(module), "outbox", seq, error, next_attempt_at)
