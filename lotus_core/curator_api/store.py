"""SQL on the Curator API's tables, every call inside one transaction under the actor's role.

On PostgreSQL `role_session` runs `SET LOCAL ROLE lotus_curator_<role>` first, so the row-level
security of `security.py` judges every statement as that curator (the server's own rules
are checked before; the database is the second guard). On SQLite there are no roles: the
API's rule checks are the only guard (a SQLite fabric is a single-user file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lotus_core.curator_api.rules import (
    ALARM_STATUS,
    CANDIDATE_KINDS,
    DECISION,
    Action,
    check_role,
)
from lotus_core.fabric.codec import json_in, json_out, ts_in, ts_out, utc_now
from lotus_core.fabric.ulid import new_ulid
from lotus_core.store.connection import Tx
from lotus_core.store.opsdb import OpsDb

ROLE_PREFIX = "lotus_curator_"


def db_role(role: str) -> str:
    """The PostgreSQL role a curator role's requests run under."""
    return ROLE_PREFIX + check_role(role)


@contextmanager
def role_session(fabric: OpsDb, role: str | None) -> Iterator[Tx]:
    """One transaction; on PostgreSQL under `role`'s database role (None: the connection's)."""
    with fabric.transaction() as tx:
        if role is not None and tx.dialect == "postgres":
            tx.raw.execute(f"SET LOCAL ROLE {db_role(role)}")  # type: ignore[call-overload]
        yield tx


# --- candidates --------------------------------------------------------------------------

def post_candidate(tx: Tx, *, item_id: str, kind: str, subject_id: str, proposer: str,
                   detail: dict[str, Any], summary: str | None = None) -> bool:
    """Queue an item for a curator; False when `item_id` is already queued (idempotent)."""
    if kind not in CANDIDATE_KINDS:
        raise ValueError(f"candidate kind {kind!r} is not one of {list(CANDIDATE_KINDS)}")
    n = tx.execute(
        "INSERT INTO curator_candidates (item_id, kind, subject_id, proposer, summary, detail)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING",
        (item_id, kind, subject_id, proposer, summary, json_in(detail)))
    return n == 1


def _candidate(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "detail": json_out(row["detail"]),
            "created_at": _iso(row["created_at"]), "decided_at": _iso(row["decided_at"])}


def _iso(value: Any) -> str | None:
    when = ts_out(value)
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def list_candidates(tx: Tx, *, status: str | None = "pending", kind: str | None = None,
                    limit: int = 200) -> list[dict[str, Any]]:
    """Candidates oldest first (status None: all)."""
    where, params = ["1 = 1"], []
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    rows = tx.query("SELECT id, item_id, kind, subject_id, proposer, summary, detail, status,"
                    " created_at, decided_at, decided_by FROM curator_candidates WHERE "
                    + " AND ".join(where) + " ORDER BY id LIMIT ?", [*params, int(limit)])
    return [_candidate(r) for r in rows]


def decide_candidate(tx: Tx, item_id: str, action: str, decided_by: str,
                     now: datetime | None = None) -> str:
    """Mark a pending candidate signed off or vetoed: 'ok', 'missing' or its current status
    (already decided: the first curator to decide wins, the others are told)."""
    status = DECISION[action]  # type: ignore[index]
    n = tx.execute("UPDATE curator_candidates SET status = ?, decided_at = ?, decided_by = ?"
                   " WHERE item_id = ? AND status = 'pending'",
                   (status, ts_in(tx.dialect, now or utc_now()), decided_by, item_id))
    if n == 1:
        return "ok"
    found = tx.scalar("SELECT status FROM curator_candidates WHERE item_id = ?", (item_id,))
    return "missing" if found is None else str(found)


# --- alarms (curator_queue, filled by the WATCHDOG_ALERT handler) -------------------------

def list_alarms(tx: Tx, *, status: str | None = "open", limit: int = 200
                ) -> list[dict[str, Any]]:
    where, params = ("WHERE status = ?", [status]) if status is not None else ("", [])
    rows = tx.query("SELECT id, event_id, module, from_module, severity, subject_kind,"
                    " subject_id, reason, detail, status, created_at, resolved_at"
                    f" FROM curator_queue {where} ORDER BY id LIMIT ?", [*params, int(limit)])
    return [{**r, "detail": json_out(r["detail"]), "created_at": _iso(r["created_at"]),
             "resolved_at": _iso(r["resolved_at"])} for r in rows]


def set_alarm(tx: Tx, alarm_id: int, action: str, now: datetime | None = None) -> str:
    """Acknowledge or resolve an alarm: 'ok', 'missing' or its status when already resolved
    (resolved is final; acknowledging an acknowledged alarm is fine)."""
    status = ALARM_STATUS[action]  # type: ignore[index]
    resolved_at = ts_in(tx.dialect, now or utc_now()) if status == "resolved" else None
    n = tx.execute("UPDATE curator_queue SET status = ?, resolved_at = ? WHERE id = ?"
                   " AND status <> 'resolved'", (status, resolved_at, alarm_id))
    if n == 1:
        return "ok"
    found = tx.scalar("SELECT status FROM curator_queue WHERE id = ?", (alarm_id,))
    return "missing" if found is None else str(found)


# --- the action log ------------------------------------------------------------------------

@dataclass(frozen=True)
class LoggedAction:
    """What `record_action` writes: the action and the signed request it came in."""

    curator_id: str
    role: str
    act: Action
    nonce: str
    signed_ts_ms: int
    body: dict[str, Any]
    sig: str
    key_fingerprint: str


def record_action(tx: Tx, entry: LoggedAction, action_id: str | None = None) -> tuple[str, int]:
    """Append one action; returns (action_id, seq). A repeated (curator, nonce) raises the
    backend's unique violation: the caller answers it as a replay."""
    action_id = action_id or new_ulid()
    a = entry.act
    seq = tx.scalar(
        "INSERT INTO curator_actions (action_id, curator_id, role, action, target_kind,"
        " target_id, value, reason, nonce, signed_ts_ms, body, sig, key_fingerprint)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        (action_id, entry.curator_id, entry.role, a.action, a.target_kind, a.target_id,
         None if a.value is None else float(a.value), a.reason, entry.nonce,
         entry.signed_ts_ms, json_in(entry.body), entry.sig, entry.key_fingerprint))
    return action_id, int(seq)


ACTION_COLUMNS = ("seq", "action_id", "curator_id", "role", "action", "target_kind",
                  "target_id", "value", "reason", "nonce", "signed_ts_ms", "body", "sig",
                  "key_fingerprint", "recorded_at")


def read_actions(tx: Tx, *, after_seq: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    """The log in order from `after_seq` (exclusive)."""
    rows = tx.query(f"SELECT {', '.join(ACTION_COLUMNS)} FROM curator_actions WHERE seq > ?"
                    " ORDER BY seq LIMIT ?", (int(after_seq), int(limit)))
    return [{**r, "body": json_out(r["body"]), "recorded_at": _iso(r["recorded_at"])}
            for r in rows]


def action_counts(tx: Tx) -> list[dict[str, Any]]:
    """(role, action, n) over the whole log: the API's own curator KPIs."""
    return tx.query("SELECT role, action, COUNT(*) AS n FROM curator_actions"
                    " GROUP BY role, action ORDER BY role, action")
