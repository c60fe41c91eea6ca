"""Compute governance against uniform allocation at equal compute: how
many nights until breeding under a per-night budget finds the planted edge?

A seed is one multi-day market with the opt-in planted edge `book_flow_absorption`
(1 coin, hours 6-9 UTC a day; generated once, cached under `--cache`). Both policies breed
night after night on the same days under the same budget in deterministic cost units
(rows/10k x harness gates; `units` mode, so a run is byte-identical), splitting the same
seeded proposal: Thompson sampling on evidence per cost unit with a diversity quota, or
uniform (equal spend per arm). Night i's survivors are judged on day i+1, which the breeder
has not read; found = a survivor captures the edge there (lotus_core/governance/race.py).
Nights to find is capped at `--nights` (not found: nights + 1).

Reported per partition, paired over seeds: mean of (uniform - governed) nights with a
seeded percentile-bootstrap 95 % interval, the sign test (governed faster / slower / tied,
two-sided exact binomial p), and the share found by night N per policy (Wilson 95 %).

Seeds: lotus_core/learning/validity_seeds.yaml, cell `governance[planted]` (tuning 66000+,
where the budget, the quota and the prior were chosen; sealed evaluation 166000+).

Usage: nice -n 10 python -m bench governance [--n 80] [--tuning-n 20] [--nights 10]
           [--eval-skip 0] [--tuning-skip 0]
           [--budget 15] [--quota 1] [--prior-mu 0.1] [--prior-beta 0.05] [--significance 0.05]
           [--out .lotus/bench/governance.jsonl] [--no-write] [--summarize]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.pooled import wilson
from bench.report import headline, write_section
from lotus_core.breeding.recipe import load_recipe
from lotus_core.governance.race import RaceConfig, market, race
from lotus_core.learning.validity_seeds import load_seeds

POLICIES = ("thompson", "uniform")


def sign_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial (sign test) p of wins vs losses, ties dropped."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired(rows: list[dict[str, Any]], partition: str, nights: int) -> dict[str, Any]:
    by = {(r["seed"], r["policy"]): r for r in rows if r["partition"] == partition}
    seeds = sorted({s for s, _ in by if all((s, p) in by for p in POLICIES)})
    g = np.array([by[(s, "thompson")]["nights_to_find"] for s in seeds], dtype=float)
    u = np.array([by[(s, "uniform")]["nights_to_find"] for s in seeds], dtype=float)
    d = u - g
    rng = np.random.default_rng(20261124)
    boots = (d[rng.integers(0, len(d), size=(4000, len(d)))].mean(axis=1)
             if len(d) else np.array([np.nan]))
    wins, losses = int((d > 0).sum()), int((d < 0).sum())

    def share(x: np.ndarray) -> str:
        k, n = int((x <= nights).sum()), len(x)
        lo, hi = wilson(k, n)
        return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]" if n else "0/0"

    spend = {p: [n["spent"] for s in seeds for n in by[(s, p)]["nights"]] for p in POLICIES}
    return {
        "seeds": seeds, "n": len(seeds),
        "mean_governed": float(g.mean()) if len(g) else math.nan,
        "mean_uniform": float(u.mean()) if len(u) else math.nan,
        "median_governed": float(np.median(g)) if len(g) else math.nan,
        "median_uniform": float(np.median(u)) if len(u) else math.nan,
        "diff": float(d.mean()) if len(d) else math.nan,
        "diff_ci": (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))),
        "wins": wins, "losses": losses, "ties": int((d == 0).sum()), "sign_p": sign_p(wins, losses),
        "found_governed": share(g), "found_uniform": share(u),
        "spend_per_night": {p: round(float(np.mean(v)), 2) if v else math.nan
                            for p, v in spend.items()},
    }


def table(s: dict[str, dict[str, Any]], nights: int) -> str:
    lines = [f"| seeds | n | nights to find, governed (mean / median) | uniform (mean / median) "
             f"| uniform - governed, mean [95 % bootstrap] | governed faster / slower / tied "
             f"(sign test p) | found by night {nights}: governed | uniform |",
             "|---|---|---|---|---|---|---|---|"]
    for part, v in s.items():
        lo, hi = v["diff_ci"]
        lines.append(
            f"| {part} {v['seeds'][0]}..{v['seeds'][-1]} | {v['n']} | "
            f"{v['mean_governed']:.2f} / {v['median_governed']:g} | "
            f"{v['mean_uniform']:.2f} / {v['median_uniform']:g} | "
            f"{v['diff']:+.2f} [{lo:+.2f}, {hi:+.2f}] | {v['wins']} / {v['losses']} / "
            f"{v['ties']} (p {v['sign_p']:.2g}) | {v['found_governed']} | {v['found_uniform']} |")
    return "\n".join(lines)


def config(args: argparse.Namespace) -> RaceConfig:
    return RaceConfig(nights=args.nights, budget=args.budget, quota=args.quota,
                      prior_mu=args.prior_mu, prior_beta=args.prior_beta,
                      significance=args.significance)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--n", type=int, default=80, help="sealed evaluation seeds of the cell")
    ap.add_argument("--tuning-n", type=int, default=20, help="tuning seeds of the cell")
    ap.add_argument("--eval-skip", type=int, default=0,
                    help="skip the cell's first K evaluation seeds (a fresh sealed sample "
                    "after a spent one; validity_seeds.yaml says which are spent)")
    ap.add_argument("--tuning-skip", type=int, default=0,
                    help="skip the cell's first K tuning seeds")
    ap.add_argument("--nights", type=int, default=10, help="the cap on nights")
    ap.add_argument("--budget", type=float, default=15.0, help="cost units per night")
    ap.add_argument("--quota", type=int, default=1, help="least-tried arms pulled each night")
    ap.add_argument("--prior-mu", type=float, default=0.1)
    ap.add_argument("--prior-beta", type=float, default=0.05)
    ap.add_argument("--significance", type=float, default=0.05,
                    help="a candidate's evidence counts as reward at oos p <= this")
    ap.add_argument("--cache", type=Path, default=Path(".lotus/bench/governance/markets"))
    ap.add_argument("--out", type=Path, default=Path(".lotus/bench/governance.jsonl"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--summarize", action="store_true",
                    help="Only summarise the races already in --out.")
    args = ap.parse_args()
    cfg = config(args)
    if args.summarize:
        done = [json.loads(line) for line in args.out.read_text().splitlines() if line]
        report([r for r in done if r["config"] == cfg.model_dump(mode="json")], args, None)
        return
    plan, recipe = load_seeds(), load_recipe()
    tasks = [(part, s) for part, n, k in (("tuning", args.tuning_n, args.tuning_skip),
                                          ("evaluation", args.n, args.eval_skip)) if n
             for s in plan.seeds(part, "governance", "planted", k + n)[k:]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with open(args.out, "a") as sink:
        for part, seed in tasks:  # one process: the machine is shared
            days = market(seed, cfg, args.cache)
            for policy in POLICIES:
                t1 = time.perf_counter()
                r = {**race(seed, policy, cfg, days, recipe=recipe), "partition": part,
                     "config": cfg.model_dump(mode="json"),
                     "seconds": round(time.perf_counter() - t1, 2)}
                rows.append(r)
                sink.write(json.dumps(r, default=str) + "\n")
                sink.flush()
            a, b = rows[-2], rows[-1]
            print(f"{part} seed {seed}: governed {a['nights_to_find']}, uniform "
                  f"{b['nights_to_find']}", flush=True)
    report(rows, args, time.perf_counter() - t0)


def report(rows: list[dict[str, Any]], args: argparse.Namespace, wall_s: float | None) -> None:
    parts = [p for p in ("evaluation", "tuning") if any(r["partition"] == p for r in rows)]
    s = {p: paired(rows, p, args.nights) for p in parts}
    load = os.getloadavg()
    spend = "; ".join(f"{p}: governed {v['spend_per_night']['thompson']}, uniform "
                      f"{v['spend_per_night']['uniform']}" for p, v in s.items())
    body = (f"## Compute governance: governed vs uniform breeding at equal compute"
            f"\n\n`nice -n 10 python -m bench governance --n {args.n} "
            f"--tuning-n {args.tuning_n} "
            + (f"--eval-skip {args.eval_skip} " if args.eval_skip else "")
            + (f"--tuning-skip {args.tuning_skip} " if args.tuning_skip else "")
            + f"--nights {args.nights} --budget {args.budget:g} "
            f"--quota {args.quota} --prior-mu {args.prior_mu:g} --prior-beta "
            f"{args.prior_beta:g} --significance {args.significance:g}`: a seed is one "
            f"planted market (1 coin, 3 h a day); "
            f"both policies breed night after night under "
            f"{args.budget:g} cost units a night (rows/10k x harness gates, deterministic), "
            f"night i's survivors judged on day i+1; nights to find capped at {args.nights} "
            f"(not found counts {args.nights + 1}). Paired over seeds.\n\n"
            + table(s, args.nights) + "\n\n"
            f"Mean spend a night (cost units; a night may overshoot by one pull): {spend}. "
            + (f"Wall time {wall_s:.0f} s; " if wall_s is not None else "")
            + f"`nproc` {os.cpu_count()}, load average at the end {load[0]:.1f} / "
            f"{load[1]:.1f} / {load[2]:.1f}.")
    print(body)
    if not args.no_write:
        write_section("governance", body)
        if "evaluation" in s:
            v = s["evaluation"]
            lo, hi = v["diff_ci"]
            headline("governance", f"uniform takes {v['diff']:+.2f} nights more [{lo:+.2f}, "
                     f"{hi:+.2f}]; governed faster on {v['wins']}, slower on {v['losses']} "
                     f"seeds (sign test p {v['sign_p']:.2g})",
                     f"95 % bootstrap interval over {v['n']} sealed seeds")


if __name__ == "__main__":
    main()
