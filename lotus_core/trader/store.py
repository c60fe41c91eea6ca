"""The Trader's records in the fabric (migration 0006): orders, fills, positions, the
engine snapshot, tr_strand rows and EXEC_REPORT envelopes, all written by `persist` in
the caller's transaction. Because the snapshot and the fills it produced commit together,
a restart from the last snapshot never applies a fill twice (and `fill_id` is the primary
key, so a second insert of one would fail loudly instead of doubling a position).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lotus_core.fabric.codec import json_out
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.signing import sign
from lotus_core.fabric.strands import write_strand
from lotus_core.store.connection import Tx
from lotus_core.trader.engine import Out
from lotus_core.trader.reports import TRIGGER_SCHEMA, report_payload

STATE_NAME = "tr"
EXEC_TARGETS = ["dm", "sig"]
TRIGGER_TARGETS = ["dm"]


def _j(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


LOG_FREE = {"sqlite": "json_remove(snapshot, '$.seen', '$.lifecycles')"}
"""The snapshot without its two logs of decisions taken (most of its text by a day's end),
cut by the database itself (SQLite keeps each number's text as written)."""


def load_state(tx: Tx, name: str = STATE_NAME, *,
               positions_only: bool = False) -> tuple[dict[str, Any], int] | None:
    """(snapshot, source position) of the last commit, or None on a fresh fabric. With
    `positions_only` (a reader of what the Trader holds: the DM, at every alpha) the
    snapshot may lack `seen` and `lifecycles`, the logs of the decisions taken."""
    col = LOG_FREE.get(tx.dialect, "snapshot") if positions_only else "snapshot"
    rows = tx.query(f"SELECT {col} AS snapshot, source_pos FROM trader_state WHERE name = ?",
                    (name,))
    if not rows:
        return None
    # json_out (orjson, the same values): the DM reads it at every alpha
    return json_out(rows[0]["snapshot"]), int(rows[0]["source_pos"])


def save_state(tx: Tx, snapshot: Mapping[str, Any] | str, source_pos: int,
               name: str = STATE_NAME) -> None:
    """Upsert the snapshot (a mapping, or its JSON text from `StateText`)."""
    text = snapshot if isinstance(snapshot, str) else _j(snapshot)
    tx.execute(
        "INSERT INTO trader_state (name, version, source_pos, snapshot) VALUES (?, 1, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET version = trader_state.version + 1,"
        " source_pos = excluded.source_pos, snapshot = excluded.snapshot",
        (name, int(source_pos), text))


class StateText:
    """The JSON text of successive snapshots for `save_state`, for a loop that commits one
    at every step. Two fields grow by an entry a decision and are most of the text by a
    day's end: `seen` (the engine's) and the loop's `lifecycles`. Each is given as the
    live insertion-ordered dict and its text is extended by the new entries while the
    dict only grew (a C-speed prefix test); the rest, a few hundred bytes, is encoded
    every time. `seen` is stored as [id, valid_until] pairs in insertion order (restore
    reads them in any order; `snapshot()` sorts)."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[list[tuple[str, Any]], str]] = {}

    def _grown(self, key: str, entries: Mapping[str, Any], pairs: bool) -> str:
        items = list(entries.items())
        held = self._memo.get(key)
        if held is not None and items[:len(held[0])] == held[0]:
            new = items[len(held[0]):]
            if not new:
                return held[1]
            more = _j([list(p) for p in new] if pairs else dict(new))[1:-1]
            text = held[1][:-1] + ("," if held[0] else "") + more + held[1][-1]
        else:
            text = _j([list(p) for p in items] if pairs else dict(items))
        self._memo[key] = (items, text)
        return text

    def text(self, rest: Mapping[str, Any], seen: Mapping[str, int],
             lifecycles: Mapping[str, str]) -> str:
        """The snapshot `rest` (without "seen" and "lifecycles") with both added."""
        head = _j(rest)
        return ('{"lifecycles":' + self._grown("lifecycles", lifecycles, False)
                + ',"seen":' + self._grown("seen", seen, True)
                + ("," + head[1:] if rest else "}"))


def _order(tx: Tx, o: Mapping[str, Any]) -> None:
    tx.execute(
        "INSERT INTO trader_orders (order_id, execution_id, coin, venue, side, qty, kind, tif,"
        " limit_px, status, filled_qty, created_ms, arrive_ms, reason, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE"
        " SET limit_px = excluded.limit_px, status = excluded.status,"
        " filled_qty = excluded.filled_qty, reason = excluded.reason, data = excluded.data",
        (o["order_id"], o["execution_id"], o["coin"], o["venue"], o["side"], o["qty"],
         o["kind"], o["tif"], o["limit_px"], o["status"], o["filled_qty"], o["created_ms"],
         o["arrive_ms"], o["reason"], _j(o)))


def _fill(tx: Tx, f: Mapping[str, Any]) -> None:
    tx.execute(
        "INSERT INTO trader_fills (fill_id, order_id, execution_id, coin, venue, side, px, qty,"
        " fee, ts_ms, liquidity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (f["fill_id"], f["order_id"], f["execution_id"], f["coin"], f["venue"], f["side"],
         f["px"], f["qty"], f["fee"], f["ts_ms"], f["liquidity"]))


def _position(tx: Tx, p: Mapping[str, Any]) -> None:
    tx.execute(
        "INSERT INTO trader_positions (coin, qty, avg_px, realised, fees, funding, sl_px, tp_px,"
        " time_limit_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (coin) DO UPDATE"
        " SET qty = excluded.qty, avg_px = excluded.avg_px, realised = excluded.realised,"
        " fees = excluded.fees, funding = excluded.funding, sl_px = excluded.sl_px,"
        " tp_px = excluded.tp_px, time_limit_at = excluded.time_limit_at, data = excluded.data",
        (p["coin"], p["qty"], p["avg_px"], p["realised"], p["fees"], p["funding"], p["sl_px"],
         p["tp_px"], p["time_limit_at"], _j(p)))


def _strand(tx: Tx, report: Mapping[str, Any], lifecycle_id: str | None) -> None:
    m = report["exec_metrics"]
    failed = report["status"] == "failed"
    fields = {
        "decision_id": report["decision_id"], "execution_id": report["execution_id"],
        "venue": report.get("venue"), "exec_status": report["status"],
        "executed_price": report["executed_price"],
        "executed_qty": report["executed_quantity"] or None,
        "slippage_bps": report.get("slippage_bps"), "latency_ms": report.get("latency_ms"),
        "order_spec": {"side": report.get("side"), "strategy": m["strategy"],
                       "purpose": m["purpose"], "reason": m["reason"],
                       "order_ids": report["order_ids"]},
        "fills": report["fills"] or None,
        "exec_metrics": json.loads(_j(m)),
    }
    write_strand(tx, "tr", "rejection" if failed else "execution", symbol=report["symbol"],
                 lifecycle_id=lifecycle_id or report["decision_id"], fields=fields)


def _envelope(out: Out, key: Ed25519PrivateKey, lifecycle_id: str | None) -> dict[str, Any]:
    """The signed EXEC_REPORT of one output (priors_ver: the tr priors version it used)."""
    data = out.data
    if out.kind == "trigger_eval":
        payload, targets = dict(data), TRIGGER_TARGETS
        schema = f"urn:lotus:schema:{TRIGGER_SCHEMA}"
        dedupe = f"trigger:{data['decision_id']}:{data['status']}"
    else:
        payload, targets = report_payload(data), EXEC_TARGETS
        schema = "urn:lotus:schema:exec-report-1.0"
        dedupe = f"exec:{data['execution_id']}"
    symbol = payload.get("symbol") or payload.get("details", {}).get("symbol") or "na"
    ver = (data.get("exec_metrics") or {}).get("tr_priors_version")
    env = build_envelope(sender="tr", to=targets, intent="EXEC_REPORT", payload=payload,
                         lifecycle_id=lifecycle_id, schema_ref=schema, dedupe_key=dedupe,
                         tags=[f"symbol:{symbol}"],
                         priors_ver=None if ver is None else f"tr:v{int(ver)}")
    return sign(env, key)


def persist(tx: Tx, outs: Sequence[Out], key: Ed25519PrivateKey | None,
            lifecycles: Mapping[str, str], *, models_map: ModelsMap) -> dict[str, int]:
    """Write every output of one engine step; returns counts by kind. `models_map`: the
    entry point's (`load_modules().map`), the routes the EXEC_REPORTs are checked against."""
    counts: dict[str, int] = {}
    for o in outs:
        counts[o.kind] = counts.get(o.kind, 0) + 1
        if o.kind == "order":
            _order(tx, o.data)
        elif o.kind == "fill":
            _fill(tx, o.data)
        elif o.kind == "position":
            _position(tx, o.data)
        else:
            life = lifecycles.get(str(o.data.get("decision_id")))
            if o.kind == "exec_report":
                _strand(tx, o.data, life)
            if key is not None:
                post_to_outbox(tx, "tr", _envelope(o, key, life), models_map=models_map)
    return counts


def read_fills(tx: Tx) -> list[dict[str, Any]]:
    return tx.query("SELECT * FROM trader_fills ORDER BY ts_ms, fill_id")


def read_positions(tx: Tx) -> list[dict[str, Any]]:
    return tx.query("SELECT * FROM trader_positions ORDER BY coin")
