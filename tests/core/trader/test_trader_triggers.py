"""Conditional plans: armed, fired (by the DM's evaluator), expired, rejected — each a
dm-trigger-eval-1.0 report; a restart keeps armed plans armed."""

from __future__ import annotations

from trader_kit import T0, book, kinds, settings, ticket

from lotus_core.fabric.contracts import first_error
from lotus_core.trader.engine import TraderEngine

SCHEMA = "urn:lotus:schema:dm-trigger-eval-1.0"
BIDS, ASKS = [(99.0, 5.0)], [(100.0, 5.0)]


def _row(ts: int, mid: float) -> dict:
    return {"coin": "BTC", "ts_ms": ts, "mid_px": mid, "bid_px": mid - 0.5, "ask_px": mid + 0.5}


def _cond(did: str, expr: str, valid_ms: int = 600_000) -> dict:
    return ticket(did, 1.0 * 99.5 / 10_000, valid_ms=valid_ms,
                  dm_trigger={"dsl_ver": "1", "expr": expr})


def test_armed_then_fired_then_executed() -> None:
    eng = TraderEngine(settings(max_slippage_bps=100.0, stop_loss_bps=300.0,
                                take_profit_bps=600.0))
    eng.on_book(book(T0, BIDS, ASKS))
    out = eng.on_decision(_cond("c1", "cross(101)"), T0)
    (armed,) = kinds(out, "trigger_eval")
    assert armed["status"] == "armed" and first_error(SCHEMA, armed, "r") is None
    out = eng.on_row(_row(T0 + 1000, 99.5)) + eng.on_row(_row(T0 + 2000, 100.5))
    assert not kinds(out, "trigger_eval")
    eng.on_book(book(T0 + 2500, [(101.0, 5.0)], [(102.0, 5.0)]))
    out = eng.on_row(_row(T0 + 3000, 101.5))
    (fired,) = kinds(out, "trigger_eval")
    assert fired["status"] == "fired" and fired["details"]["fired_px"] == 101.5
    assert first_error(SCHEMA, fired, "r") is None
    out = eng.advance(T0 + 3100)
    (rep,) = kinds(out, "exec_report")
    assert rep["status"] == "filled" and rep["fills"][0]["px"] == 102.0


def test_expired_and_rejected() -> None:
    eng = TraderEngine(settings())
    eng.on_book(book(T0, BIDS, ASKS))
    out = eng.on_decision(_cond("c2", "cross(150)", valid_ms=5000), T0)
    out += eng.on_row(_row(T0 + 1000, 99.5)) + eng.advance(T0 + 6000)
    assert [r["status"] for r in kinds(out, "trigger_eval")] == ["armed", "expired"]
    out = eng.on_decision(_cond("c3", "cross(150"), T0 + 7000)
    (rej,) = kinds(out, "trigger_eval")
    assert rej["status"] == "rejected" and "invalid_trigger" in rej["details"]["reasons"][0]
    assert first_error(SCHEMA, rej, "r") is None


def test_restart_keeps_armed_plans() -> None:
    cfg = settings(max_slippage_bps=100.0)
    eng = TraderEngine(cfg)
    eng.on_book(book(T0, BIDS, ASKS))
    eng.on_decision(_cond("c4", "cross(101)"), T0)
    again = TraderEngine.restore(cfg, eng.snapshot())
    assert list(again.armed) == ["c4:BTC"]
    again.on_row(_row(T0 + 1000, 100.0))
    out = again.on_row(_row(T0 + 2000, 101.5))
    assert [r["status"] for r in kinds(out, "trigger_eval")] == ["fired"]
