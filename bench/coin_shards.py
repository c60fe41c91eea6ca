"""The nightly chain with and without `feed.coin_shards`: per-stage peak RSS and CPU.

The rows come from `bench.scale` runs of one generated day, one per shard count
(docs/scale.md, "Round 4: coin shards"):

    nice -n 10 .venv/bin/python -m bench.scale --coins 10 --hours 0-24 --modes in_process \\
        --coin-shards 1 --out bench/results/scale_shards.json --work /work/scalework/c10
    nice -n 10 .venv/bin/python -m bench.scale --coins 10 --hours 0-24 --modes in_process \\
        --coin-shards 2 --out bench/results/scale_shards.json --work /work/scalework/c10
    .venv/bin/python -m bench.coin_shards --out bench/results/scale_shards.json --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = ("raw_feed", "microtape_frames", "dsi_assets", "detector_windows", "score_signals",
          "detector_audits", "signal_eval", "lessons", "dm_decisions", "paper_trades")


def _cpu(stage: dict) -> float:
    return stage.get("cpu_s", 0.0) + stage.get("children_cpu_s", 0.0)


def report(rows: list[dict]) -> str:
    """Two tables: each run, and the heavy stages' peak RSS / CPU side by side."""
    rows = sorted(rows, key=lambda r: (r["coins"], r.get("coin_shards", 1)))
    out = ["| coins x hours | coin_shards | wall s | CPU s | peak RSS (stage) | "
           "peak RSS of the steps before dm_decisions | load avg (before/after) | date |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        stages = r["stages"]
        top = max(stages, key=lambda k: stages[k]["peak_rss_mb"])
        before_dm = max(v["peak_rss_mb"] for k, v in stages.items()
                        if k not in ("dm_decisions", "paper_trades")
                        and not k.startswith(("dm_", "paper_", "exec", "tr_")))
        out.append(f"| {r['coins']} x {r['hours']} | {r.get('coin_shards', 1)} | "
                   f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                   f"{stages[top]['peak_rss_mb'] / 1024:.2f} GB ({top}) | "
                   f"{before_dm / 1024:.2f} GB | {r['load_before']:.1f} / "
                   f"{r['load_after']:.1f} | {r['date']} |")
    head = " | ".join(f"shards={r.get('coin_shards', 1)}" for r in rows)
    out += ["", f"| stage (peak RSS GB / CPU s) | {head} |",
            "|---|" + "---|" * len(rows)]
    for name in STAGES:
        cells = []
        for r in rows:
            st = r["stages"].get(name)
            cells.append("-" if st is None else
                         f"{st['peak_rss_mb'] / 1024:.2f} / {_cpu(st):.1f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


SECTION_HEAD = """## Coin shards (issue 15: heavy per-coin stages split by coin)

`feed.coin_shards: N` makes `raw_feed` and `microtape_frames` take the day's recording N
coin groups at a time (decoded once; each group assembled, summarised or built, stored on
disk under LOTUS_HOME/feed_shards, and dropped before the next); the lake outputs are the
same bytes (tests/assets/test_coin_shards_assets.py). One generated 24-hour day through
`execute_job` in process, a fresh interpreter, home and instance per run; per-stage peak
RSS is the step's VmHWM (reset at each step start), CPU includes the parse workers. The
machine is shared (a 2-process soak test ran throughout): read CPU and memory, not wall.
Commands and analysis: docs/scale.md, "Round 4: coin shards".

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results"
                        / "scale_shards.json")
    parser.add_argument("--write", action="store_true",
                        help="also write the tables into BENCHMARKS.md (bench:coin_shards)")
    args = parser.parse_args()
    text = report(json.loads(args.out.read_text()))
    print(text)
    if args.write:
        from bench.report import write_section

        write_section("coin_shards", SECTION_HEAD + text)


if __name__ == "__main__":
    main()
