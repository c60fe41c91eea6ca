"""The breeding proof over many seeds: does a night of breeding find an
edge no packaged detector captures, stay quiet on its null twin, and never pass a leaky
transform?

A seed is one market with the opt-in planted edge `book_flow_absorption` (the book leans
hard one way while the takers hit into it, then the mid drifts the book's way;
lotus_core/synth/absorption.py) and its null twin (the same seed, no edge). Each is bred
on a training day (hours 6-14 UTC, one coin) with the packaged recipe and a grammar that
also offers the leaky `lead` transform (4 leaky candidates a night); every survivor is
then judged on the next day (hours 6-10), which the breeder never reads
(lotus_core/breeding/proof.py):

- captured: a survivor beats chance on the evaluation day (one-sided, alpha 0.05) with at
  least a quarter of its windows inside planted episodes;
- null beats chance: on the null twin, any survivor beats chance on the evaluation day;
- leaky: how many leaky candidates were proposed and how many survived (must be 0).

Seeds come from lotus_core/learning/validity_seeds.yaml, cell `breeding[twins]`: the
sealed evaluation seeds (`--n`) and the tuning seeds (`--tuning-n`; the harness's bars
were set there). Wilson 95 % intervals. Each arm appends a JSON line to `--out`.

Usage: nice -n 10 python -m bench breeding [--n 12] [--tuning-n 8] [--processes 2]
                                           [--out .lotus/bench/breeding.jsonl] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from bench.pooled import wilson
from bench.report import headline, write_section
from lotus_core.breeding.proof import ProofConfig, run_arm
from lotus_core.breeding.recipe import Recipe, load_recipe
from lotus_core.learning.validity_seeds import load_seeds


def _arm(args: tuple[str, int, bool, Recipe]) -> dict[str, Any]:
    partition, seed, planted, recipe = args
    t0 = time.perf_counter()
    out = run_arm(seed, planted, ProofConfig(), recipe=recipe)
    return {**out, "partition": partition, "seconds": round(time.perf_counter() - t0, 1)}


def _share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]" if n else "0/0"


def summary(rows: list[dict[str, Any]], partition: str) -> dict[str, Any]:
    p = [r for r in rows if r["partition"] == partition and r["planted"]]
    z = [r for r in rows if r["partition"] == partition and not r["planted"]]
    return {
        "seeds": sorted({r["seed"] for r in p + z}),
        "captured": _share(sum(r["captured"] for r in p), len(p)),
        "planted_any_beats": _share(sum(r["any_beats_chance"] for r in p), len(p)),
        "null_any_survivor": _share(sum(r["survivors"] > 0 for r in z), len(z)),
        "null_any_beats": _share(sum(r["any_beats_chance"] for r in z), len(z)),
        "leaky": f"{sum(r['leaky_survived'] for r in p + z)} of "
                 f"{sum(r['leaky_proposed'] for r in p + z)} survived",
        "leaky_reasons": sorted({x for r in p + z for x in r["leaky_reasons"]}),
        "survivors_per_night": f"{sum(r['survivors'] for r in p) / max(len(p), 1):.2f} planted, "
                               f"{sum(r['survivors'] for r in z) / max(len(z), 1):.2f} null",
        "seconds_per_arm": round(sum(r["seconds"] for r in p + z) / max(len(p + z), 1), 1),
    }


def table(s: dict[str, dict[str, Any]]) -> str:
    lines = ["| seeds | planted: a survivor captures the edge | planted: any survivor beats "
             "chance | null: any survivor | null: any survivor beats chance | leaky "
             "candidates |", "|---|---|---|---|---|---|"]
    for part, v in s.items():
        seeds = v["seeds"]
        lines.append(f"| {part} {seeds[0]}..{seeds[-1]} | {v['captured']} | "
                     f"{v['planted_any_beats']} | {v['null_any_survivor']} | "
                     f"{v['null_any_beats']} | {v['leaky']} ({', '.join(v['leaky_reasons'])}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=12, help="sealed evaluation seeds of the cell")
    ap.add_argument("--tuning-n", type=int, default=8, help="tuning seeds of the cell")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(".lotus/bench/breeding.jsonl"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--summarize", action="store_true",
                    help="Only summarise the arms already in --out (an interrupted run).")
    args = ap.parse_args()
    if args.summarize:
        rows = [json.loads(line) for line in args.out.read_text().splitlines() if line]
        report(rows, args, wall_s=None)
        return
    plan, recipe = load_seeds(), load_recipe()
    tasks = [(part, s, planted, recipe)
             for part, n in (("evaluation", args.n), ("tuning", args.tuning_n)) if n
             for s in plan.seeds(part, "breeding", "twins", n) for planted in (True, False)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.processes) as pool, open(args.out, "a") as sink:
        for fut in as_completed([pool.submit(_arm, t) for t in tasks]):
            r = fut.result()
            rows.append(r)
            sink.write(json.dumps(r, default=str) + "\n")
            sink.flush()
            print(f"{r['partition']} seed {r['seed']} planted={r['planted']}: survivors "
                  f"{r['survivors']}, captured {r['captured']}, beats {r['any_beats_chance']},"
                  f" leaky {r['leaky_survived']}/{r['leaky_proposed']} ({r['seconds']} s)",
                  flush=True)
    report(rows, args, wall_s=time.perf_counter() - t0)


def report(rows: list[dict[str, Any]], args: argparse.Namespace, wall_s: float | None) -> None:
    """Print the table; write it to BENCHMARKS.md unless --no-write."""
    # a seed counts only with both arms done (an interrupted run may hold one)
    done = {(r["partition"], r["seed"]) for r in rows if r["planted"]} & {
        (r["partition"], r["seed"]) for r in rows if not r["planted"]}
    rows = [r for r in rows if (r["partition"], r["seed"]) in done]
    parts = [p for p in ("evaluation", "tuning") if any(r["partition"] == p for r in rows)]
    s = {p: summary(rows, p) for p in parts}
    load = os.getloadavg()
    wall = f"Wall time {wall_s:.0f} s, " if wall_s is not None else ""
    body = (f"## Breeding: the planted edge found, the null twin quiet, the leak never "
            f"passed\n\n`nice -n 10 python -m bench breeding --n {args.n} "
            f"--tuning-n {args.tuning_n} --processes {args.processes}`"
            + (" (interrupted; summarised with `--summarize`)" if wall_s is None else "")
            + ": one night per seed "
            "and arm (8 h training day, 1 coin; 4 h evaluation day the breeder never reads); "
            "Wilson 95 % intervals.\n\n" + table(s) + "\n\n"
            "Survivors per night: " + "; ".join(f"{p} {v['survivors_per_night']}"
                                                 for p, v in s.items())
            + f". {wall}"
            f"{sum(v['seconds_per_arm'] for v in s.values()) / len(s):.0f} s per arm; "
            f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.")
    print(body)
    if not args.no_write:
        write_section("breeding", body)
        if "evaluation" in s:
            v = s["evaluation"]
            headline("breeding", f"edge captured on {v['captured']}; null twin beats chance "
                     f"{v['null_any_beats']}; leaky candidates: {v['leaky']}",
                     "Wilson 95 % intervals, evaluation seeds")


if __name__ == "__main__":
    main()
