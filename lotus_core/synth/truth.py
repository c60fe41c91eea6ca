"""The planted ground truth of one synthetic day, as a deterministic JSON sidecar.

Everything a test or an evaluation needs to score detectors and lessons against what was
planted: regimes, context segments, pattern occurrences and every trigger of every
effect (treated or not). Times are venue epoch milliseconds; only what falls inside the
rendered window is listed.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from lotus_core.synth.latent import CoinLatent
from lotus_core.synth.segments import runs
from lotus_core.synth.spec import SynthSpec
from lotus_core.synth.vocab import REGIMES
from lotus_core.venues.hyperliquid.numfmt import fixed_to_str

TRUTH_SCHEMA_VERSION = 1
GENERATOR = "lotus_core.synth"


def _segments(values: np.ndarray, lat: CoinLatent, first_s: int, last_s: int,
              label: Any) -> list[dict[str, Any]]:
    return [{"start_ms": lat.day_start_ms + seg.start_s * 1000,
             "end_ms": lat.day_start_ms + seg.end_s * 1000,
             label[0]: label[1](seg.value)}
            for seg in runs(values, first_s, last_s)]


def coin_truth(lat: CoinLatent, spec: SynthSpec, start_ms: int, end_ms: int) -> dict[str, Any]:
    """Truth of one coin restricted to the window [start_ms, end_ms)."""
    first_s = (start_ms - lat.day_start_ms) // 1000
    last_s = (end_ms - lat.day_start_ms) // 1000
    contexts = {name: _segments(values, lat, first_s, last_s, ("value", bool))
                for name, values in sorted(lat.contexts.items())}
    decoys = {}
    for d in spec.decoys:
        agree = lat.contexts[d.name][first_s:last_s] == lat.contexts[d.tracks][first_s:last_s]
        decoys[d.name] = {"tracks": d.tracks, "agreement_target": d.agreement,
                          "agreement_realised": round(float(agree.mean()), 6)}
    return {
        "params": {
            "open_px": round(lat.open_px, 6),
            "close_px": round(lat.close_px, 6),
            "prev_day_px": round(lat.prev_day_px, 6),
            "tick": fixed_to_str(1, lat.tick_decimals),
            "tick_decimals": lat.tick_decimals,
            "sz_decimals": lat.profile.sz_decimals,
            "vol_1s_bps": lat.profile.vol_1s_bps,
        },
        "regimes": _segments(lat.regimes.codes, lat, first_s, last_s,
                             ("regime", lambda v: REGIMES[v])),
        "contexts": contexts,
        "decoys": decoys,
        "patterns": [o.to_dict() for o in lat.occurrences if start_ms <= o.start_ms < end_ms],
        "effects": [e.to_dict() for e in lat.effects if start_ms <= e.t_ms < end_ms],
    }


def build_truth(*, day: date, seed: int, spec: SynthSpec, coins: list[str],
                hours: tuple[int, int], latents: list[CoinLatent], start_ms: int, end_ms: int,
                feed_path: Path, lines: int) -> dict[str, Any]:
    """The whole truth document of one day."""
    return {
        "truth_schema_version": TRUTH_SCHEMA_VERSION,
        "generator": GENERATOR,
        "day": day.isoformat(),
        "seed": seed,
        "coins": list(coins),
        "hours": [hours[0], hours[1]],
        "window": {"start_ms": start_ms, "end_ms": end_ms},
        "spec": spec.to_dict(),
        "feed": {
            "file": feed_path.name,
            "sha256": hashlib.sha256(feed_path.read_bytes()).hexdigest(),
            "bytes": feed_path.stat().st_size,
            "lines": lines,
        },
        "per_coin": {lat.coin: coin_truth(lat, spec, start_ms, end_ms) for lat in latents},
    }


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Sorted keys, 2-space indent, trailing newline; written atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(truth, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)
