"""The action log as a few numbers and a table, for the Dagster UI (and anyone else).

Pure over a transaction: the sensor that observes `curator_actions` only wraps this in
Dagster metadata, so what the UI shows is tested without Dagster.
"""

from __future__ import annotations

from typing import Any

from lotus_core.store.connection import Tx

LAST_N = 20


def log_summary(tx: Tx, last_n: int = LAST_N) -> dict[str, Any]:
    """{total, last_seq, by_action: {action: n}, by_role: {role: n}, pending_candidates,
    open_alarms, table: markdown of the newest `last_n` actions (newest first)}."""
    total = int(tx.scalar("SELECT COUNT(*) FROM curator_actions") or 0)
    last_seq = int(tx.scalar("SELECT COALESCE(MAX(seq), 0) FROM curator_actions") or 0)
    by_action = {r["action"]: int(r["n"]) for r in tx.query(
        "SELECT action, COUNT(*) AS n FROM curator_actions GROUP BY action ORDER BY action")}
    by_role = {r["role"]: int(r["n"]) for r in tx.query(
        "SELECT role, COUNT(*) AS n FROM curator_actions GROUP BY role ORDER BY role")}
    pending = int(tx.scalar(
        "SELECT COUNT(*) FROM curator_candidates WHERE status = 'pending'") or 0)
    open_alarms = int(tx.scalar("SELECT COUNT(*) FROM curator_queue WHERE status = 'open'") or 0)
    rows = tx.query("SELECT seq, curator_id, role, action, target_kind, target_id, value, reason"
                    " FROM curator_actions ORDER BY seq DESC LIMIT ?", (int(last_n),))
    lines = ["| seq | curator | role | action | target | value | reason |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        value = "" if r["value"] is None else f"{float(r['value']):+.4g}"
        reason = str(r["reason"]).replace("|", "/").replace("\n", " ")[:80]
        lines.append(f"| {r['seq']} | {r['curator_id']} | {r['role']} | {r['action']} | "
                     f"{r['target_kind']}:{r['target_id']} | {value} | {reason} |")
    return {"total": total, "last_seq": last_seq, "by_action": by_action, "by_role": by_role,
            "pending_candidates": pending, "open_alarms": open_alarms,
            "table": "\n".join(lines) if rows else "no curator action yet"}
