"""Rows of the inboxes and outboxes: one envelope per row plus its delivery state.

An envelope maps to columns one to one (`from` -> from_module, `to` -> to_modules) and
back, exactly: the row rebuilt by `row_envelope` has the same canonical JSON, hence the
same hash and a still-valid signature. `inbox.py` and `outbox.py` hold the public verbs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lotus_core.fabric.codec import json_in, json_out, ts_in, ts_out, ts_text, utc_now
from lotus_core.fabric.envelope import parse_ts
from lotus_core.fabric.names import FAILED, PENDING, PROCESSED, Box, box_table
from lotus_core.store.connection import Tx
from lotus_core.store.dialect import sql_dialect
from lotus_core.store.url import Dialect

ENVELOPE_COLUMNS = (
    "event_id", "ts", "from_module", "to_modules", "intent", "lifecycle_id", "parent_id",
    "schema_ref", "priors_ver", "dedupe_key", "ttl_sec", "tags", "payload", "hash", "sig",
)
DELIVERY_COLUMNS = ("status", "attempts", "next_attempt_at", "last_error", "consumed_at")
ROW_COLUMNS = ("seq", *ENVELOPE_COLUMNS, *DELIVERY_COLUMNS, "created_at")


@dataclass(frozen=True)
class BoxRow:
    """One inbox or outbox row: the envelope as sent, and where its delivery stands."""

    module: str
    box: Box
    seq: int
    envelope: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    consumed_at: datetime | None
    created_at: datetime

    @property
    def event_id(self) -> str:
        return self.envelope["event_id"]

    @property
    def intent(self) -> str:
        return self.envelope["intent"]


def envelope_params(dialect: Dialect, env: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ENVELOPE_COLUMNS parameters of `env` (which must have every envelope key)."""
    try:
        return (
            env["event_id"],
            ts_in(dialect, parse_ts(env["ts"])),
            env["from"],
            json_in(list(env["to"])),
            env["intent"],
            env["lifecycle_id"],
            env["parent_id"],
            env["schema_ref"],
            env["priors_ver"],
            env["dedupe_key"],
            int(env["ttl_sec"]),
            json_in(list(env["tags"])),
            json_in(env["payload"]),
            env["hash"],
            env["sig"],
        )
    except KeyError as exc:
        raise ValueError(f"envelope has no {exc.args[0]!r} key") from None


def row_envelope(row: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope stored in `row`, keys in their schema order."""
    return {
        "event_id": row["event_id"],
        # ignore: ts_out is Optional, but ts is NOT NULL in every box table.
        "ts": ts_text(ts_out(row["ts"])),  # type: ignore[arg-type]
        "from": row["from_module"],
        "to": json_out(row["to_modules"]),
        "intent": row["intent"],
        "lifecycle_id": row["lifecycle_id"],
        "parent_id": row["parent_id"],
        "schema_ref": row["schema_ref"],
        "priors_ver": row["priors_ver"],
        "dedupe_key": row["dedupe_key"],
        "ttl_sec": int(row["ttl_sec"]),
        "tags": json_out(row["tags"]),
        "payload": json_out(row["payload"]),
        "hash": row["hash"],
        "sig": row["sig"],
    }


def to_box_row(module: str, box: Box, row: Mapping[str, Any]) -> BoxRow:
    return BoxRow(
        module=module,
        box=box,
        seq=int(row["seq"]),
        envelope=row_envelope(row),
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=ts_out(row["next_attempt_at"]),
        last_error=row["last_error"],
        consumed_at=ts_out(row["consumed_at"]),
        # ignore: ts_out is Optional, but created_at is NOT NULL in every box table.
        created_at=ts_out(row["created_at"]),  # type: ignore[arg-type]
    )


def _insert_sql(table: str, returning: bool, skip_duplicates: bool = True) -> str:
    cols = ", ".join(ENVELOPE_COLUMNS)
    marks = ", ".join("?" for _ in ENVELOPE_COLUMNS)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
    if skip_duplicates:
        sql += " ON CONFLICT (event_id) DO NOTHING"
    return sql + (" RETURNING seq" if returning else "")


def insert(tx: Tx, module: str, box: Box, env: Mapping[str, Any], *, returning: bool,
           skip_duplicates: bool = True) -> int | None:
    """Insert `env`; an event_id already in the box is skipped (or, without
    `skip_duplicates`, raises the driver's unique violation).

    With `returning`, the new seq (None when skipped); without, the row count (1 or 0).
    RETURNING and ON CONFLICT need SELECT on the box, which a module tagging another's
    inbox lacks.
    """
    params = envelope_params(tx.dialect, env)
    table = box_table(module, box)
    if returning:
        rows = tx.query(_insert_sql(table, True, skip_duplicates), params)
        return int(rows[0]["seq"]) if rows else None
    return tx.execute(_insert_sql(table, False, skip_duplicates), params)


def insert_many(tx: Tx, module: str, box: Box, envs: Iterable[Mapping[str, Any]]) -> int:
    """Batch insert (one pipelined round trip on PostgreSQL); returns how many were new."""
    rows = [envelope_params(tx.dialect, e) for e in envs]
    if not rows:
        return 0
    sql = _insert_sql(box_table(module, box), False)
    sql = sql_dialect(tx.dialect).paramstyle(sql)
    cur = tx.raw.cursor()
    try:
        cur.executemany(sql, rows)
        return max(cur.rowcount, 0)
    finally:
        cur.close()


def select(
    tx: Tx,
    module: str,
    box: Box,
    *,
    after_seq: int = 0,
    limit: int = 100,
    statuses: Sequence[str] | None = (PENDING,),
    due_at: datetime | None = None,
) -> list[BoxRow]:
    """Rows with seq > after_seq in seq order; only `statuses` (all when None); with `due_at`,
    only rows whose next_attempt_at is unset or not after it."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    where: list[str] = ["seq > ?"]
    params: list[Any] = [int(after_seq)]
    if statuses is not None:
        bad = set(statuses) - {PENDING, PROCESSED, FAILED}
        if bad:
            raise ValueError(f"unknown statuses {sorted(bad)}")
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(statuses)
    if due_at is not None:
        where.append("(next_attempt_at IS NULL OR next_attempt_at <= ?)")
        params.append(ts_in(tx.dialect, due_at))
    sql = (
        f"SELECT {', '.join(ROW_COLUMNS)} FROM {box_table(module, box)}"
        f" WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
    )
    params.append(int(limit))
    return [to_box_row(module, box, r) for r in tx.query(sql, params)]


def by_event_id(tx: Tx, module: str, box: Box, event_id: str) -> BoxRow | None:
    rows = tx.query(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM {box_table(module, box)} WHERE event_id = ?",
        (event_id,),
    )
    return to_box_row(module, box, rows[0]) if rows else None


def finish(tx: Tx, module: str, box: Box, seq: int, status: str, error: str | None,
           now: datetime | None = None) -> bool:
    """Move a pending row to `status` (processed or failed); False if it was not pending.

    The `status = 'pending'` guard makes a second, concurrent finisher a no-op that the
    caller can see (and roll its own work back on).
    """
    if status not in (PROCESSED, FAILED):
        raise ValueError(f"finish to processed or failed, not {status!r}")
    n = tx.execute(
        f"UPDATE {box_table(module, box)} SET status = ?, consumed_at = ?, last_error = ?"
        " WHERE seq = ? AND status = ?",
        (status, ts_in(tx.dialect, now or utc_now()), error, int(seq), PENDING),
    )
    return n == 1


def finish_many(tx: Tx, module: str, box: Box, seqs: Sequence[int], status: str,
                now: datetime | None = None) -> int:
    """`finish` for many pending rows in one statement; returns how many moved."""
    if status not in (PROCESSED, FAILED):
        raise ValueError(f"finish to processed or failed, not {status!r}")
    if not seqs:
        return 0
    marks = ", ".join("?" for _ in seqs)
    return tx.execute(
        f"UPDATE {box_table(module, box)} SET status = ?, consumed_at = ?, last_error = NULL"
        f" WHERE status = ? AND seq IN ({marks})",
        (status, ts_in(tx.dialect, now or utc_now()), PENDING, *(int(s) for s in seqs)),
    )


def retry_later(tx: Tx, module: str, box: Box, seq: int, error: str,
                next_attempt_at: datetime) -> bool:
    """Count a failed attempt on a pending row and schedule the next one."""
    n = tx.execute(
        f"UPDATE {box_table(module, box)} SET attempts = attempts + 1, last_error = ?,"
        " next_attempt_at = ? WHERE seq = ? AND status = ?",
        (error, ts_in(tx.dialect, next_attempt_at), int(seq), PENDING),
    )
    return n == 1
