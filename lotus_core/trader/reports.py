"""exec-report-1.0 and dm-trigger-eval-1.0 payloads, built from an execution's fills.

Slippage is signed (positive = worse for us) in bps: vs the expected price (the plan's
reference: the decision mid for market orders, the limit price for limit orders, the
barrier for exits), vs the mid when the first order arrived, and vs the mid at decision
time. Adherence is the mean of three terms in [0, 1]: the position after execution within
the decision's bounds (or at its target), slippage within the plan's cap, latency within
the plan's limit; each term is in `exec_metrics` so a low score can be explained. The cost
paid (`exec_metrics.cost_bps` = `fee_bps` + `crossing_bps`, bps of the filled notional) is
the cost model's (`lotus_core.costs.paid`), the one the DM priced the ticket with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lotus_core.costs import paid
from lotus_core.fabric.envelope import format_ts

if TYPE_CHECKING:
    from lotus_core.trader.state import Execution

BPS = 1e4
EXEC_SCHEMA = "exec-report-1.0"
TRIGGER_SCHEMA = "dm-trigger-eval-1.0"


def iso(ms: int) -> str:
    return format_ts(datetime.fromtimestamp(ms / 1000, UTC))


def _slip(side: int, px: float | None, ref: float | None) -> float | None:
    if px is None or ref is None or ref <= 0 or side == 0:
        return None
    return max(-BPS, min(BPS, side * (px - ref) / ref * BPS))


def _closeness(value: float | None, limit: float) -> float:
    if value is None or value <= limit:
        return 1.0
    return max(0.0, 1.0 - (value - limit) / limit)


def exec_metrics(ex: Execution, fills: list[dict[str, Any]], equity: float | None,
                 mark: float | None, position_after: dict[str, float]) -> dict[str, Any]:
    qty = sum(f["qty"] for f in fills)
    vwap = sum(f["px"] * f["qty"] for f in fills) / qty if qty > 0 else None
    fees = sum(f.get("fee", 0.0) for f in fills)
    first = min((f["ts_ms"] for f in fills), default=None)
    latency = None if first is None else max(first - ex.started_ms, 0)
    slip_exp = _slip(ex.side, vwap, ex.expected_px)
    slip_arr = _slip(ex.side, vwap, ex.arrival_mid)
    slip_dec = _slip(ex.side, vwap, ex.decision_px)
    cost = paid(ex.side, vwap, qty, fees, ex.arrival_mid)  # lotus_core.costs: what it paid
    w_after = None
    if equity and mark:
        w_after = position_after.get(ex.coin, 0.0) * mark / equity
    if ex.purpose == "exit" or ex.target_weight is None or w_after is None:
        bounds_term = 1.0 if ex.purpose == "exit" and qty >= ex.qty * 0.999 else (
            qty / ex.qty if ex.qty > 0 else 0.0)
    elif ex.bounds is not None:
        lo, hi = ex.bounds
        dist = max(lo - w_after, w_after - hi, 0.0)
        bounds_term = max(0.0, 1.0 - dist / max(abs(ex.target_weight), hi - lo, 1e-9))
    else:
        bounds_term = max(0.0, 1.0 - abs(w_after - ex.target_weight)
                          / max(abs(ex.target_weight), 1e-9))
    slip_term = _closeness(slip_arr, ex.max_slippage_bps)
    lat_term = _closeness(None if latency is None else float(latency), float(ex.max_latency_ms))
    return {
        "vwap": vwap, "qty": qty, "fees": fees, "latency_ms": latency,
        "slippage_bps": slip_exp, "slippage_vs_arrival_bps": slip_arr,
        "slippage_vs_decision_bps": slip_dec, "weight_after": w_after,
        # the cost paid, bps of the filled notional (None: nothing filled): fees + crossing
        # (VWAP vs the arrival mid); the DM priced the same terms (lotus_core.costs)
        "arrival_mid": ex.arrival_mid,
        "fee_bps": None if cost is None else cost.fee_bps,
        "crossing_bps": None if cost is None else cost.crossing_bps,
        "cost_bps": None if cost is None else cost.total_bps,
        "adherence": {"bounds": bounds_term, "slippage": slip_term, "latency": lat_term},
        "adherence_score": (bounds_term + slip_term + lat_term) / 3.0,
        "venue_score": ex.venue_score, "pnl_impact": ex.pnl_impact,
        "strategy": ex.strategy, "purpose": ex.purpose, "reason": ex.reason,
        "maker_share": (sum(f["qty"] for f in fills if f.get("liquidity") == "maker") / qty
                        if qty > 0 else None),
        "n_orders": len(ex.order_ids),
        # execution lessons (lotus_core/trader/learning.py) read these
        "wanted_qty": ex.qty, "started_ms": ex.started_ms, "context": dict(ex.context),
        "order": ex.order or None, "n_slices": ex.n_slices or 1,
        "tr_priors_version": ex.tr_priors_version, "tr_choice": dict(ex.tr_choice),
        # the execution rule's choice and its expected figures (lotus_core.costs)
        "execution_choice": dict(ex.choice),
    }


def exec_report(ex: Execution, fills: list[dict[str, Any]], status: str, end_ms: int,
                position_after: dict[str, float], *, equity: float | None = None,
                mark: float | None = None, issues: list[str] | None = None,
                note: str | None = None) -> dict[str, Any]:
    """An exec-report-1.0 payload; `exec_metrics` (not in the schema) rides beside it for
    the strand row and is removed by `report_payload`."""
    m = exec_metrics(ex, fills, equity, mark, position_after)
    worked, didnt = [], list(issues or [])
    if note:
        worked.append(note)
    if m["slippage_vs_arrival_bps"] is not None:
        (worked if m["adherence"]["slippage"] >= 1 else didnt).append(
            f"slippage {m['slippage_vs_arrival_bps']:.2f} bps vs arrival mid "
            f"(cap {ex.max_slippage_bps:g})")
    if status == "partial":
        didnt.append(f"filled {m['qty']:g} of {ex.qty:g}")
    if ex.purpose == "exit":
        worked.append(f"exit on {ex.reason}")
    payload: dict[str, Any] = {
        "schema_ver": EXEC_SCHEMA, "execution_id": ex.execution_id,
        "decision_id": ex.decision_id, "plan_id": ex.plan_id, "symbol": ex.coin,
        "status": status, "execution_time": iso(end_ms),
        "fills": [{"px": f["px"], "qty": f["qty"], "ts": iso(f["ts_ms"]), "fee": f["fee"]}
                  for f in fills],
        "executed_price": m["vwap"], "executed_quantity": m["qty"],
        "expected_price": ex.expected_px, "order_ids": list(ex.order_ids),
        "adherence_score": m["adherence_score"],
        "venue_score": float(ex.venue_score.get("total", 0.0)),
        "position_after": dict(position_after), "pnl_impact": ex.pnl_impact,
        "what_worked": worked, "what_didnt_work": didnt,
        "lessons_learned": [f"tr_priors:v{ex.tr_priors_version}"] + [
            f"tr_priors chose {k}={v}" for k, v in sorted(ex.tr_choice.items())],
    }
    if ex.side:
        payload["side"] = "buy" if ex.side > 0 else "sell"
    if ex.venue != "none":
        payload["venue"] = ex.venue
    if ex.signal_id:
        payload["signal_id"] = ex.signal_id
    if m["slippage_bps"] is not None:
        payload["slippage_bps"] = m["slippage_bps"]
    if m["latency_ms"] is not None:
        payload["latency_ms"] = float(m["latency_ms"])
    payload["exec_metrics"] = m
    return payload


def report_payload(report: dict[str, Any]) -> dict[str, Any]:
    """The schema's part of a report (without the `exec_metrics` companion)."""
    return {k: v for k, v in report.items() if k != "exec_metrics"}


def trigger_eval(decision_id: str, ts_ms: int, status: str,
                 details: dict[str, Any]) -> dict[str, Any]:
    """A dm-trigger-eval-1.0 payload: armed | fired | expired | rejected."""
    return {"schema_ver": TRIGGER_SCHEMA, "decision_id": decision_id, "asof_ts": iso(ts_ms),
            "status": status, "details": details}
