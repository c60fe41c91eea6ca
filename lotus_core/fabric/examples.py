"""One valid payload per intent, varied by an index: for tests, docs, benchmarks and the
router's fault test (which needs thousands of distinct, valid envelopes).

    payload = example_payload("EXEC_REPORT", i=7)
    env = example_envelope("tr", "EXEC_REPORT", i=7, new_id=ids)   # routed per the map
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lotus_core.coin_list import default_coins
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.ulid import encode, new_ulid

_SYMBOLS = default_coins()  # the coin list (lotus_core/coin_list.py)
_HEX = "0123456789abcdef"


def _sha(i: int, salt: str) -> str:
    digits = (_HEX[(i * 7 + ord(c) + k) % 16] for k, c in enumerate(salt * 64))
    return "sha256:" + "".join(digits)[:64]


def _ulid(i: int) -> str:
    return encode((1_700_000_000_000 + i) << 80 | i)


def example_payload(intent: str, i: int = 0) -> dict[str, Any]:
    """A payload of `intent` valid against its current schema; different for each `i`."""
    sym = _SYMBOLS[i % len(_SYMBOLS)]
    frac = (i % 97) / 100  # in [0, 0.96]
    if intent == "ALPHA_PROPOSED":
        return {
            "strand_id": _ulid(i),
            "sigbus": {
                "schema_ver": "sigbus-1.0.0", "asof_ts": "2025-01-26T12:00:00.000Z",
                "detector_id": f"breakout_v{i % 5}", "symbol": sym, "horizon": "5m",
                "signal": round(2 * frac - 0.96, 4), "det_sigma": frac,
                "curated_sigma": min(1.0, frac + 0.02),
                "eligibility": {"publish": True, "vetoes": [],
                                "gates": {"kr_hbar": 0.62, "det_kairos": 0.58}},
                "provenance": {"window": "2025-01-01..2025-01-25",
                               "recipe_hash": _sha(i, "recipe"),
                               "data_fingerprint": _sha(i, "data")},
                "card_ref": f"detector_cards/breakout_v{i % 5}.md",
            },
        }
    if intent == "ALPHA_WITHDRAWN":
        return {"withdrawn_event_id": _ulid(i), "detector_id": f"breakout_v{i % 5}",
                "symbol": sym, "horizon": "5m", "asof_ts": "2025-01-26T12:05:00Z",
                "reason": "invalidated"}
    if intent == "DM_DECISION":
        return {
            "schema_ver": "dm-decision-1.0", "decision_id": f"dec-{i}",
            "asof_ts": "2025-01-26T12:00:01Z", "portfolio_id": "default",
            "target_type": "weights", "targets": {sym: round(frac / 4, 4)},
            "bounds": {sym: {"min": 0.0, "max": 0.25}}, "horizon": "5m",
            "confidence": frac, "valid_until": "2025-01-26T12:05:00Z",
            "rationale": {"top_alphas": [f"det:breakout_v{i % 5}"]},
            "multipliers": {"timing": 1.0, "entrainment": 1.1, "asymmetry": 1.2},
        }
    if intent == "EXEC_REPORT":
        return {
            "schema_ver": "exec-report-1.0", "execution_id": f"exe-{i}", "decision_id": f"dec-{i}",
            "symbol": sym, "side": "buy", "status": "filled", "venue": "paper",
            "fills": [{"px": 100.0 + i, "qty": 0.5, "ts": "2025-01-26T12:00:02.250Z"}],
            "executed_price": 100.0 + i, "executed_quantity": 0.5,
            "execution_time": "2025-01-26T12:00:02.250Z", "slippage_bps": round(frac * 5, 3),
            "latency_ms": 12.5, "adherence_score": 0.9, "pnl_impact": -0.01,
        }
    if intent == "PRIOR_PATCH":
        return {"patch_id": f"patch-{i}",
                "changes": [{"key": "kr.theta_min", "op": "add", "value": 0.01}],
                "ttl_days": 30, "created_by": f"braid-{i}", "reason": "lesson uplift"}
    if intent == "PRIOR_PATCH_APPLIED":
        return {"patch_id": f"patch-{i}", "patch_event_id": _ulid(i),
                "applied": [{"key": "kr.theta_min", "before": 0.05, "after": 0.06,
                             "clamped": False, "version": 1}],
                "rejected": [], "priors_ver": f"sig:v{i + 1}"}
    if intent == "LESSON_PUBLISHED":
        return {"lesson_id": f"lesson-{i}", "scope": "sig", "detector_id": f"breakout_v{i % 5}",
                "rule": {"literals": ["mx_confirm", "depth_z<-0.5"]},
                "uplift": {"estimate": 0.012, "ci_low": 0.004, "ci_high": 0.02, "n": 1200 + i},
                "state": "active", "ttl_days": 30}
    if intent == "CHART_ALPHA":
        return {"strand_id": _ulid(i), "kind": "analysis", "coin": sym,
                "ts_ms": 1_737_892_800_000 + i * 1000, "confidence": frac,
                "pattern_flags": {"trend_up" if i % 2 == 0 else "trend_down": frac}}
    if intent == "WATCHDOG_ALERT":
        return {"alert_id": f"alert-{i}", "severity": "warning",
                "subject": {"kind": "patch", "id": f"patch-{i}"}, "reason": "lost_oos_lift",
                "detail": "out-of-sample uplift p05 fell below 0", "metrics": {"p05": -0.002},
                "action": "reverted"}
    raise ValueError(f"no example for intent {intent!r}")


def example_envelope(
    sender: str,
    intent: str,
    i: int = 0,
    *,
    to: list[str] | None = None,
    new_id: Callable[[], str] = new_ulid,
    **kwargs: Any,
) -> dict[str, Any]:
    """An unsigned envelope of `intent` from `sender` to every target the map allows."""
    targets = to if to is not None else list(load_modules().map.targets(sender, intent))
    return build_envelope(sender=sender, to=targets, intent=intent,
                          payload=example_payload(intent, i), new_id=new_id, **kwargs)
