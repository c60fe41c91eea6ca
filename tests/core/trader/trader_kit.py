"""Small builders for the Trader's tests: books, tickets validated against the schema."""

from __future__ import annotations

from typing import Any

from lotus_core.fabric.contracts import first_error
from lotus_core.trader.book import Book
from lotus_core.trader.config import trader_settings
from lotus_core.trader.reports import iso

T0 = 1_767_355_200_000  # 2026-01-02T12:00:00Z


def book(ts: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
         coin: str = "BTC") -> Book:
    return Book(coin, ts, [p for p, _ in bids], [s for _, s in bids],
                [p for p, _ in asks], [s for _, s in asks])


def settings(**over: Any):  # noqa: ANN201 - TraderSettings
    base: dict[str, Any] = {
        "equity": 10_000.0,
        "venues": [{"name": "hl", "maker_fee": 0.0001, "taker_fee": 0.0005,
                    "tick_size": {"BTC": 1.0}, "lot_size": {"BTC": 0.01},
                    "latency": {"base_ms": 100}, "success_rate": 1.0}],
        "venue_preferences": ["hl"], "min_order_notional": 0.0,
    }
    base.update(over)
    return trader_settings(base)


def ticket(decision_id: str, target: float, ts: int = T0, *, coin: str = "BTC",
           valid_ms: int = 600_000, horizon: str = "1h", **extra: Any) -> dict[str, Any]:
    t: dict[str, Any] = {
        "schema_ver": "dm-decision-1.0", "decision_id": decision_id, "asof_ts": iso(ts),
        "portfolio_id": "default", "target_type": "weights", "targets": {coin: target},
        "horizon": horizon, "confidence": 0.6, "valid_until": iso(ts + valid_ms),
        "rationale": {"top_alphas": ["det:test"]},
    }
    t.update(extra)
    problem = first_error("urn:lotus:schema:dm-decision-1.0", t, "ticket")
    assert problem is None, problem
    return t


def kinds(out: list, kind: str) -> list[dict[str, Any]]:
    return [o.data for o in out if o.kind == kind]
