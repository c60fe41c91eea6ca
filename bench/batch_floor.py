"""The nightly (vectorised, batch) definitions of the stages the live score process runs,
timed on bench.live's 24 h 3-coin day beside the parse-only floor, in one process.

Usage: python -m bench batch_floor [--repeat 3] [--no-record]

Why: the live day at max speed has a goal of at most 5x the parse-only floor (bench.live).
The score process runs the same stages row by row (one definition per stage, docs/live.md);
their batch forms over the whole day, with numpy over every coin's columns at once, are the
cheapest way this code base has to compute them. Their CPU, as a multiple of the floor
measured in the same run, is what any live path built from these stages starts from, before
the replay server, the websocket, the recording and the hand-offs between processes.

Stages, each CPU seconds of this process (`time.process_time`), extraction inline (no
worker process, so nothing is missed):
  floor      decompress + JSON-parse every line (bench.live's floor)
  parse      parse_recording: the line rules and the day's tables
  microtape  build_microtape (cold start, as the live day's first day)
  dsi        fit_dsi (no earlier day: the fallback) + annotate
  detect     detect_day (the windows and their outcomes)
  score      score_day (scores, council, publication; evaluate=False, as live)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.live import DAY, ensure_days, phase_floor
from bench.report import headline


def run_once() -> dict[str, float]:
    from lotus_core.curators.config import load_curators
    from lotus_core.dsi import annotate, fit_dsi, load_registry
    from lotus_core.feed.parse import parse_recording
    from lotus_core.microtape import build_microtape
    from lotus_core.signals.config import load_scoring
    from lotus_core.signals.pipeline import detect_day, score_day

    path = ensure_days() / f"{DAY.isoformat()}.jsonl.gz"
    registry, scoring, council = load_registry(), load_scoring(), load_curators()
    out = {"floor": phase_floor(path)["cpu_s"]}
    t = time.process_time()

    def lap(name: str) -> None:
        nonlocal t
        now = time.process_time()
        out[name] = now - t
        t = now

    parsed = parse_recording(path, workers=1)
    lap("parse")
    tape = build_microtape(parsed)
    lap("microtape")
    dsi = annotate(tape, fit_dsi(None, registry=registry)).annotations
    lap("dsi")
    detect_day(tape, scoring=scoring)
    lap("detect")
    day = score_day(tape, DAY.isoformat(), fingerprint=parsed.sha256, dsi=dsi, evaluate=False,
                    scoring=scoring, council=council)
    lap("score")
    out["windows"] = float(len(day.events))
    out["stages"] = sum(out[k] for k in ("parse", "microtape", "dsi", "detect", "score"))
    out["ratio"] = out["stages"] / out["floor"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-record", action="store_true",
                    help="print only: no headline record (bench/results/headline.jsonl)")
    a = ap.parse_args()
    runs = [run_once() for _ in range(a.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(json.dumps({"median": med, "runs": runs}, indent=1))
    if not a.no_record:
        parse_x = statistics.median(r["parse"] / r["floor"] for r in runs)
        headline("batch_floor", f"the stages together {med['stages']:.1f} CPU s = "
                 f"{med['ratio']:.1f}x the floor ({med['floor']:.2f} s), of which "
                 f"parse_recording {med['parse']:.1f} s = {parse_x:.2f}x; median of {a.repeat}",
                 "runs " + " / ".join(f"{r['ratio']:.2f}" for r in sorted(
                     runs, key=lambda r: r["ratio"])) + "x")


if __name__ == "__main__":
    main()
