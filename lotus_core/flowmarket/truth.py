"""The truth sidecar of a flow-market day: what was planted, where its context held.

Same file name and writer as `lotus_core.synth` (`<day>.truth.json`, sorted keys), with
this generator's own content: the definitions in words and parameters, each coin's hourly
funding with the history its flags read, the runs of both contexts (interaction and decoy)
at the fast-snapshot instants, and every trigger with the interval its move spans.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from lotus_core.flowmarket.funding import FUNDING_UNIT, FundingHours
from lotus_core.flowmarket.planted import Effect, runs
from lotus_core.flowmarket.spec import FlowSpec

FLOW_TRUTH_VERSION = 1
GENERATOR = "lotus_core.flowmarket"
INTERACTION = "funding_high_x_book_lean"
DECOY = "funding_above_mean_x_book_lean"


def definitions(spec: FlowSpec) -> dict[str, Any]:
    """The planted effect and the decoy, in words and parameters."""
    i, d = spec.interaction, spec.decoy
    lean = (f"the summed sizes of the top {i.lean_levels} levels of a fast l2Book snapshot "
            f"lean one way: (B - A) > {i.lean_threshold} (B + A) is up, (A - B) > "
            f"{i.lean_threshold} (B + A) is down")
    return {
        INTERACTION: {
            "kind": "interaction",
            "context": (f"the hour's funding is above the {i.funding_percentile}th percentile "
                        f"(numpy linear) of the previous {i.lookback_hours} hourly values, "
                        f"and {lean}"),
            "effect": (f"at a snapshot where the context holds and no move is running, the mid "
                       f"drifts linearly by {i.delta_bps} bps (of the mid there) in the lean's "
                       f"direction over the next {i.horizon_min} minutes and keeps that level"),
            "evaluated_at": "every fast l2Book snapshot",
            "params": i.model_dump(mode="json"),
            "planted": spec.planted,
        },
        DECOY: {
            "kind": "decoy",
            "context": (f"the hour's funding is above the mean of the previous "
                        f"{d.mean_hours} hourly values, and {lean}"),
            "effect": "none",
            "tracks": INTERACTION,
            "evaluated_at": "every fast l2Book snapshot",
            "params": d.model_dump(mode="json"),
        },
    }


def funding_truth(f: FundingHours) -> dict[str, Any]:
    return {
        "unit": FUNDING_UNIT,
        "history_start_ms": f.history_start_ms,
        "history": f.history.tolist(),
        "hours": [{"start_ms": int(t), "funding": int(v), "threshold": float(th),
                   "high": bool(h), "trailing_mean": float(m), "above_mean": bool(a)}
                  for t, v, th, h, m, a in zip(f.hour_start_ms.tolist(), f.funding.tolist(),
                                               f.threshold.tolist(), f.high.tolist(),
                                               f.trailing_mean.tolist(), f.above_mean.tolist(),
                                               strict=True)],
    }


def coin_truth(*, params: dict[str, Any], funding: FundingHours, times: np.ndarray,
               context: np.ndarray, decoy: np.ndarray, effects: list[Effect],
               end_ms: int) -> dict[str, Any]:
    held = decoy != 0
    agree = float((context[held] == decoy[held]).mean()) if held.any() else None
    return {
        "params": params,
        "funding": funding_truth(funding),
        "snapshots": {"count": len(times),
                      "share_interaction": round(float((context != 0).mean()), 6)
                      if len(times) else None,
                      "share_decoy": round(float(held.mean()), 6) if len(times) else None},
        "contexts": {INTERACTION: runs(times, context, end_ms),
                     DECOY: runs(times, decoy, end_ms)},
        "decoys": {DECOY: {"tracks": INTERACTION,
                           "agreement_realised": None if agree is None else round(agree, 6)}},
        "effects": [{"name": INTERACTION, **e.to_dict()} for e in effects],
    }


def build_truth(*, day: date, seed: int, spec: FlowSpec, coins: list[str],
                hours: tuple[int, int], start_ms: int, end_ms: int, feed_path: Path,
                lines: int, per_coin: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "truth_schema_version": FLOW_TRUTH_VERSION,
        "generator": GENERATOR,
        "day": day.isoformat(),
        "seed": seed,
        "coins": list(coins),
        "hours": [hours[0], hours[1]],
        "window": {"start_ms": start_ms, "end_ms": end_ms},
        "spec": spec.to_dict(),
        "definitions": definitions(spec),
        "feed": {
            "file": feed_path.name,
            "sha256": hashlib.sha256(feed_path.read_bytes()).hexdigest(),
            "bytes": feed_path.stat().st_size,
            "lines": lines,
        },
        "per_coin": per_coin,
    }
