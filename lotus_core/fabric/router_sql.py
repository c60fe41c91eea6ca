"""The Herald router's SQL: claim a batch, insert into the target inboxes in one set-based
statement, apply the verdicts (processed, dead, retry later) in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lotus_core.fabric.codec import json_in, ts_in
from lotus_core.fabric.names import (
    FAILED,
    PENDING,
    PROCESSED,
    inbox_table,
    outbox_table,
)
from lotus_core.fabric.queue import (
    ENVELOPE_COLUMNS,
    ROW_COLUMNS,
)
from lotus_core.fabric.router_check import Verdict
from lotus_core.fabric.router_config import RouteStats
from lotus_core.store.connection import Tx
from lotus_core.store.dialect import sql_dialect

# --- SQL --------------------------------------------------------------------------------


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


JSON_COLUMNS = ("to_modules", "tags", "payload")


def _claim_sql(module: str, dialect: str) -> str:
    d = sql_dialect(dialect)
    cols = ", ".join(d.json_as_text(f"o.{c}") if c in JSON_COLUMNS else f"o.{c}"
                     for c in ROW_COLUMNS)
    due = "o.status = ? AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?)"
    if d.row_locks:
        return (f"SELECT {cols} FROM {outbox_table(module)} o WHERE {due}"
                " ORDER BY o.seq LIMIT ? FOR UPDATE SKIP LOCKED")
    return (
        f"SELECT {cols} FROM {outbox_table(module)} o WHERE {due} AND NOT EXISTS"
        " (SELECT 1 FROM router_lease l WHERE l.module = ? AND l.seq = o.seq"
        " AND l.expires_at > ? AND l.owner <> ?) ORDER BY o.seq LIMIT ?"
    )


def _seq_filter(dialect: str, seqs: Sequence[int]) -> tuple[str, tuple[Any, ...]]:
    """`seq IN (...)`: one array parameter on PostgreSQL, one mark per seq on SQLite."""
    return sql_dialect(dialect).in_list("o.seq", seqs, _marks(len(seqs)))


def _insert_inbox(tx: Tx, module: str, target: str, seqs: Sequence[int]) -> int:
    """Copy outbox rows `seqs` of `module` into `target`'s inbox in ONE set-based statement
    (the envelope columns as stored: nothing is re-encoded or re-sent), in seq order,
    skipping any row that repeats an event_id or a dedupe_key already there (target-less
    ON CONFLICT covers both unique indexes)."""
    if not seqs:
        return 0
    cols = ", ".join(ENVELOPE_COLUMNS)
    src = ", ".join(f"o.{c}" for c in ENVELOPE_COLUMNS)
    n = 0
    for i in range(0, len(seqs), 2000):  # SQLite: stay far below its bound-parameter limit
        where, params = _seq_filter(tx.dialect, seqs[i : i + 2000])
        n += tx.execute(
            f"INSERT INTO {inbox_table(target)} ({cols}) SELECT {src} FROM"
            f" {outbox_table(module)} o WHERE {where} ORDER BY o.seq ON CONFLICT DO NOTHING",
            params,
        )
    return max(n, 0)


def _apply(tx: Tx, module: str, verdicts: Sequence[Verdict], now: datetime) -> RouteStats:
    """Write the outcome of `verdicts` (rows this router holds) in the caller's transaction;
    returns what it did (count it only once the transaction commits).

    Rows move pending -> processed/failed first (RETURNING tells which really were still
    pending); only those are delivered or dead-lettered, so a row someone else finished
    is never delivered twice or both delivered and dead-lettered.
    """
    stats = RouteStats()
    outbox = outbox_table(module)
    when = ts_in(tx.dialect, now)
    good = [v for v in verdicts if v.reason is None]
    if good:
        seqs = [v.row.seq for v in good]
        where, params = _seq_filter(tx.dialect, seqs)
        moved = {int(r["seq"]) for r in tx.query(
            f"UPDATE {outbox} AS o SET status = ?, consumed_at = ?, last_error = NULL"
            f" WHERE o.status = ? AND {where} RETURNING seq",
            (PROCESSED, when, PENDING, *params))}
        stats.routed += len(moved)
        stats.lost += len(good) - len(moved)
        by_target: dict[str, list[int]] = {}
        for v in good:
            if v.row.seq in moved:
                for t in v.targets:
                    by_target.setdefault(t, []).append(v.row.seq)
        for target in sorted(by_target):  # one order for every router: no lock cycles
            tx.lock(inbox_table(target))
        for target in sorted(by_target):
            seqs = by_target[target]
            n = _insert_inbox(tx, module, target, seqs)
            stats.delivered += n
            stats.duplicates += len(seqs) - n
    dead_rows = []
    for v in verdicts:
        if v.reason is None:
            continue
        moved_rows = tx.query(
            f"UPDATE {outbox} SET status = ?, consumed_at = ?, last_error = ?"
            " WHERE seq = ? AND status = ? RETURNING seq",
            (FAILED, when, f"{v.reason}: {v.detail}", v.row.seq, PENDING),
        )
        if not moved_rows:
            stats.lost += 1
            continue
        stats.dead[v.reason] = stats.dead.get(v.reason, 0) + 1
        env = v.row.envelope
        dead_rows.append((env["event_id"], module, env["intent"], v.reason, v.detail,
                          json_in(env)))
    if dead_rows:
        tx.executemany(
            "INSERT INTO dead_letter (event_id, module, intent, reason, detail, envelope)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, module, reason) DO NOTHING",
            dead_rows,
        )
    return stats
