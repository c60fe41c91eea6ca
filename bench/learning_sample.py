"""The bounded learning window judged against planted truth: what the lessons
find when a night learns from a uniform sample of its windows (`lotus_core.learning.sample`,
the hash of window_id) instead of all of them.

    .venv/bin/python -m bench learning_sample --seeds 40 [--workers 2] [--tuning] [--out F]
    .venv/bin/python -m bench learning_sample --seeds 40 --from-json F   # the table of a kept run

A seed is a 6-day window-level market (`lotus_core.synth.windows`, the learning tests'
planted frame: +6 bps in high OI for one detector, a decoy agreeing 80 % of the time) and
its null twin (no effect). Each is learned from every window, then from the windows a
sample of rate 0.5 and 0.25 keeps (the rate `max_windows` gives a window 2x and 4x its
size). Per rate: how often the planted rule is an active lesson, how often its interval
covers the planted +6 bps, and how often the null twin activates any lesson (each with its
95 % Wilson interval). Seeds: validity_seeds.yaml `window_sample` (evaluation by default,
sealed: nothing was tuned on it; `--tuning` runs the tuning cell). BENCHMARKS.md
"learning-sample" and docs/learning.md quote it.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

RATES = (1.0, 0.5, 0.25)
DELTA = 6.0


def trial(seed_pair: tuple[int, int]) -> list[dict]:
    """Both twins of one seed at every rate: [{rate, kind, found, covers, active}, ...]."""
    import pandas as pd

    from lotus_core.learning import pipeline
    from lotus_core.learning.config import load_learning
    from lotus_core.learning.sample import kept
    from lotus_core.signals.config import load_scoring
    from lotus_core.signals.context import parse_cond_key
    from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

    planted_seed, null_seed = seed_pair
    cfg, base = load_learning(), load_scoring().context
    out = []
    for kind, seed, spec in (
            ("planted", planted_seed, WindowSpec(days=6, delta_bps=DELTA, decoy_agreement=0.8)),
            ("null", null_seed, WindowSpec(days=6, effect="none", delta_bps=0.0,
                                           regime_effect_bps=0.0))):
        frame = window_frame(spec, seed)
        day = sorted(frame["date"].unique())[-1]
        for rate in RATES:
            sub = frame[kept(frame["window_id"].to_numpy(), rate)].reset_index(drop=True)
            tw = pipeline.training_window(sub, cfg, base)
            lessons, _ = pipeline.lessons(tw, pd.DataFrame(), day, cfg)
            active = lessons[lessons["state"] == "active"]
            named = active["rule"].map(lambda r: ("oi_pctl_bin", "hi") in parse_cond_key(r))
            mine = active[(active["detector_id"] == PLANTED).to_numpy()
                          & named.to_numpy(dtype=bool)]
            top = mine.sort_values("bqs", ascending=False).head(1)
            out.append({"seed": seed, "kind": kind, "rate": rate, "windows": len(sub),
                        "found": bool(len(top)),
                        "covers": bool(len(top) and top["ci_lo"].iloc[0] <= DELTA
                                       <= top["ci_hi"].iloc[0]),
                        "uplift": float(top["uplift_bps"].iloc[0]) if len(top) else None,
                        "active": int(len(active))})
    return out


def table(rows: list[dict]) -> str:
    from bench.pooled import wilson

    def rate_of(k: int, n: int) -> str:
        lo, hi = wilson(k, n)
        return f"{k}/{n} ({k / n:.0%}, [{lo:.0%}, {hi:.0%}])" if n else "-"

    lines = ["| sample rate | windows (mean) | planted rule active | its CI covers +6 bps "
             "(of found) | mean uplift found | null twin activates a lesson |",
             "|---|---|---|---|---|---|"]
    for rate in RATES:
        p = [r for r in rows if r["kind"] == "planted" and r["rate"] == rate]
        n = [r for r in rows if r["kind"] == "null" and r["rate"] == rate]
        found = [r for r in p if r["found"]]
        mean_up = sum(r["uplift"] for r in found) / len(found) if found else float("nan")
        lines.append(
            f"| {rate:g} | {sum(r['windows'] for r in p) / max(1, len(p)):,.0f} | "
            f"{rate_of(len(found), len(p))} | "
            f"{rate_of(sum(r['covers'] for r in found), len(found))} | {mean_up:+.2f} bps | "
            f"{rate_of(sum(r['active'] > 0 for r in n), len(n))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tuning", action="store_true", help="the tuning cell, not the sealed one")
    ap.add_argument("--out", default=None, help="keep the rows as JSON lines")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    ap.add_argument("--from-json", default=None,
                    help="the rows an earlier run kept with --out (no learning is run)")
    args = ap.parse_args()
    from lotus_core.learning.validity_seeds import load_seeds

    part = "tuning" if args.tuning else "evaluation"
    seeds = load_seeds()
    pairs = list(zip(seeds.seeds(part, "window_sample", "planted", args.seeds),
                     seeds.seeds(part, "window_sample", "null", args.seeds), strict=True))
    rows: list[dict] = []
    if args.from_json:
        with open(args.from_json) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        wanted = {s for p in pairs for s in p}
        if {r["seed"] for r in rows} != wanted:
            raise SystemExit(f"{args.from_json} does not hold exactly the {part} seeds of "
                             f"--seeds {args.seeds}")
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for k, got in enumerate(pool.map(trial, pairs), 1):
                rows += got
                print(f"seed {k}/{len(pairs)}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    body = table(rows)
    print(body)
    if not args.no_write:
        from bench.report import headline, write_section

        first, last = pairs[0], pairs[-1]
        write_section("learning-sample", (
            "## The learning window's sample against planted truth\n\n"
            f"`python -m bench learning_sample --seeds {args.seeds}` ({part} seeds "
            f"{first[0]}..{last[0]} planted, {first[1]}..{last[1]} null; "
            "validity_seeds.yaml `window_sample`). A 6-day window-level market (+6 bps in "
            "high OI for one detector, a decoy agreeing 80 %) and its null twin, learned "
            "from all windows and from the windows a hash sample of each rate keeps "
            "(`lotus_core.learning.sample`: above `max_windows` the steps learn from such a "
            "sample). 95 % Wilson intervals. Counts, not timings: the machine's load does "
            "not move them. `--out F` keeps the rows, `--from-json F` renders them "
            "(bench/results/learning_sample_eval.jsonl).\n\n" + body))
        if not args.tuning:
            rate = min(RATES)
            p = [r for r in rows if r["kind"] == "planted" and r["rate"] == rate]
            n = [r for r in rows if r["kind"] == "null" and r["rate"] == rate]
            found = [r for r in p if r["found"]]
            covers = sum(r["covers"] for r in found)
            null = sum(r["active"] > 0 for r in n)
            from bench.pooled import wilson

            spread = ", ".join(f"[{lo:.0%}, {hi:.0%}]" for lo, hi in (
                wilson(len(found), len(p)), wilson(covers, len(found)), wilson(null, len(n))))
            headline("learning_sample", f"at rate {rate:g} "
                     f"({sum(r['windows'] for r in p) / max(1, len(p)):,.0f} windows): planted "
                     f"rule active {len(found)}/{len(p)}, its CI covers +{DELTA:g} bps "
                     f"{covers}/{len(found)}; null twin {null}/{len(n)}",
                     f"Wilson 95 %: {spread}")


if __name__ == "__main__":
    main()
