"""How often the chart lessons (lotus_core/vis/lessons.py) name a planted kind of chart, and
how often a null market's nights activate anything (docs/vision.md, "Lessons and priors").

A market: 4 weekdays x 60 source charts at random times, each with a random direction,
pattern flags (trend, breakout or both; the confirming higher_highs / lower_lows 2 times
in 5), confidence U(0.6, 0.99), timeframe 5m / 1h / 1d and coin; its signed 300 s return
N(0, 6) bps, plus 8 bps where the planted rule holds: `pattern` on breakout-only charts,
`context` on short charts in the US session (13:00-24:00 UTC), `null` nowhere (the twin:
the same draws). The nights learn in order; "found" is an active lesson on exactly the
planted literals with its interval above 0, "weighed" that the last night's priors weigh
every planted chart above every other. Seeds: validity_seeds.yaml's `vis_lessons` section
(tuning by default; `--evaluation` for the sealed cells, never tuned on).

    python -m bench vis_lessons --n 40 --evaluation
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from lotus_core.intervals import rate_text
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.vis.lessons import (
    VisPriors,
    chart_units,
    compile_vis,
    load_vis_learning,
    vis_braids,
    vis_lessons,
)
from lotus_core.vis.source import sources

T0 = int(pd.Timestamp("2026-01-05", tz="UTC").value // 10**6)  # a Monday
DAY_MS = 86_400_000
Planted = Callable[[dict[str, object]], bool]

def market(seed: int, planted: Planted | None, delta_bps: float = 8.0, days: int = 4,
           per_day: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(vis_strands, vis_eval) of `days` weekdays of source charts at random times: random
    direction, pattern flags, confidence and timeframe; each chart's signed 300 s return is
    N(0, 6) bps, plus `delta_bps` where `planted(chart)` holds (None: the null twin, which
    shares every draw)."""
    rng = np.random.default_rng(seed)
    strands, evals = [], []
    for d in range(days):
        for i, t in enumerate(np.sort(rng.integers(0, DAY_MS, per_day)) + T0 + d * DAY_MS):
            up = bool(rng.random() < 0.5)
            kind = str(rng.choice(["trend", "breakout", "both"]))
            own = ("trend_up", "breakout_up", "higher_highs") if up else \
                ("trend_down", "breakout_down", "lower_lows")
            flags = {**({own[0]: 0.9} if kind in ("trend", "both") else {}),
                     **({own[1]: 0.8} if kind in ("breakout", "both") else {}),
                     **({own[2]: 0.7} if rng.random() < 0.4 else {})}
            chart = {"strand_id": f"S{d:02d}{i:04d}", "kind": "analysis",
                     "coin": str(rng.choice(["BTC", "ETH"])), "ts_ms": int(t),
                     "timeframe": str(rng.choice(["5m", "1h", "1d"])),
                     "confidence": float(rng.uniform(0.6, 0.99)),
                     "pattern_flags": json.dumps(flags, sort_keys=True)}
            y = float(rng.normal(0.0, 6.0))
            if planted is not None and planted({**chart, "dir": 1 if up else -1, "kind": kind}):
                y += delta_bps
            strands.append(chart)
            evals.append({"strand_id": chart["strand_id"], "horizon_s": 300,
                          "fwd_ret_bps": (1 if up else -1) * y, "status": "done"})
    return pd.DataFrame(strands), pd.DataFrame(evals)


def kind_of(chart: dict[str, object]) -> str:
    held = set(json.loads(str(chart["pattern_flags"])))
    trend = bool(held & {"trend_up", "trend_down"})
    breakout = bool(held & {"breakout_up", "breakout_down"})
    return "both" if trend and breakout else "trend" if trend else "breakout"


def us_short(chart: dict[str, object]) -> bool:
    """A short chart in the MicroTape's US session (weekdays from 13:00 UTC)."""
    return chart["dir"] == -1 and (int(str(chart["ts_ms"])) % DAY_MS) // 3_600_000 >= 13


CELLS: dict[str, tuple[Planted | None, set[tuple[str, str]]]] = {
    "pattern": (lambda c: c["kind"] == "breakout", {("pattern", "breakout")}),
    "context": (us_short, {("dir", "short"), ("session", "us")}),
    "null": (None, set()),
}


def nights(strands: pd.DataFrame, evals: pd.DataFrame) -> tuple[pd.DataFrame, VisPriors]:
    """Every night's lessons over the charts up to it, then the last night's priors."""
    cfg, lcfg = load_vis_learning()
    units = chart_units(strands, evals, cfg)
    lessons = pd.DataFrame()
    q = None
    for day in sorted(set(units["date"])):
        lessons, q = vis_lessons(units[units["date"] <= day], lessons, day, cfg, lcfg)
    assert q is not None
    compiled = compile_vis(vis_braids(lessons, cfg, lcfg), q, cfg, None)
    return lessons, VisPriors.from_rows(1, compiled.rows, cfg)


def planted_truth(strands: pd.DataFrame, planted: Planted) -> np.ndarray:
    """Per source chart (`sources` order): whether the planted rule holds."""
    return np.array([planted({**c, "dir": int(c["direction"]), "kind": kind_of(c)})
                     for c in sources(strands).to_dict("records")], dtype=bool)


def judged(cell: str, seed: int) -> dict[str, object]:
    """One market of `cell`: the active rules, whether the planted one is among them with
    its interval above 0, and whether the priors weigh the planted charts above the rest."""
    planted, literals = CELLS[cell]
    strands, evals = market(seed, planted)
    lessons, priors = nights(strands, evals)
    act = lessons[lessons["state"] == "active"]
    named = [r for r in act.itertuples()
             if {tuple(p.split("=", 1)) for p in str(r.rule).split("&")} == literals]
    w = priors.weights(sources(strands))
    if planted is None:
        weighed = bool(np.allclose(w, 1.0))
    else:
        truth = planted_truth(strands, planted)
        weighed = bool(w[truth].min() > 1.0 and w[truth].min() > w[~truth].max())
    return {"cell": cell, "seed": seed, "active": sorted(act["rule"]),
            "found": bool(named) and all(float(r.ci_lo) > 0 for r in named),
            "uplift_bps": [round(float(r.uplift_bps), 2) for r in named], "weighed": weighed}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10, help="seeds per cell")
    ap.add_argument("--evaluation", action="store_true", help="the sealed cells")
    ap.add_argument("--cells", default=",".join(CELLS), help="pattern,context,null")
    args = ap.parse_args(argv)
    part = "evaluation" if args.evaluation else "tuning"
    seeds = load_seeds()
    for cell in args.cells.split(","):
        rows = [judged(cell, s) for s in seeds.seeds(part, "vis_lessons", cell, args.n)]
        for r in rows:
            print(json.dumps(r), flush=True)
        n = len(rows)
        if CELLS[cell][0] is not None:
            print(f"{part} {cell}: found {rate_text(sum(bool(r['found']) for r in rows), n)}; "
                  f"weighed above the rest {rate_text(sum(bool(r['weighed']) for r in rows), n)}",
                  flush=True)
        else:
            print(f"{part} {cell}: markets activating anything "
                  f"{rate_text(sum(bool(r['active']) for r in rows), n)}", flush=True)


if __name__ == "__main__":
    main()
