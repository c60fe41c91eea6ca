"""The nightly chain with and without `feed.coin_shards`: per-stage peak RSS and CPU.

The rows come from `bench.scale` runs of one generated day, one per shard count:

    nice -n 10 .venv/bin/python -m bench scale --coins 10 --hours 0-24 --modes in_process \\
        --coin-shards 1 --out bench/results/scale_shards.json --work /work/scalework/c10
    nice -n 10 .venv/bin/python -m bench scale --coins 10 --hours 0-24 --modes in_process \\
        --coin-shards 2 --out bench/results/scale_shards.json --work /work/scalework/c10
    .venv/bin/python -m bench coin_shards --out bench/results/scale_shards.json --write

A sharded run's dm_decisions / paper_trades read the day packed from the shards
(`FeedSource.replay_day`; rows say `replay_day: packed`, rows from before it are labelled).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = ("raw_feed", "microtape_frames", "dsi_assets", "dsi_model", "dsi_by_coin", "dsi_experts",
          "detector_windows", "scoring_day", "score_signals", "curator_kpis",
          "detector_audits", "signal_eval", "lessons", "dm_decisions", "paper_trades")


def _cpu(stage: dict) -> float:
    return stage.get("cpu_s", 0.0) + stage.get("children_cpu_s", 0.0)


def _label(row: dict) -> str:
    """The shard count, and the row's `note` when it has one (e.g. an earlier version).
    A sharded row without `replay_day` ran before the replays packed the day from the shards
    (`FeedSource.replay_day`): its dm_decisions / paper_trades merged the padded day."""
    notes = [row["note"]] if row.get("note") else []
    if "replay_day" not in row:  # a row from before FeedSource.replay_day
        notes.append("replays merged the padded day" if row.get("coin_shards", 1) > 1
                     else "replay made every event at once")
    return f"{row.get('coin_shards', 1)}" + (f" ({'; '.join(notes)})" if notes else "")


def latest(rows: list[dict]) -> list[dict]:
    """The latest run of each coin count and shard count (older rows stay in the file)."""
    last: dict[tuple[int, int], dict] = {}
    for r in sorted(rows, key=lambda r: r["date"]):
        last[(r["coins"], r.get("coin_shards") or 1)] = r
    return list(last.values())


def report(rows: list[dict]) -> str:
    """Two tables: the latest run of each shard count, and the heavy stages' peak RSS / CPU
    side by side."""
    rows = sorted(latest(rows), key=lambda r: (r["coins"], r.get("coin_shards") or 1))
    out = ["| coins x hours | coin_shards | wall s | CPU s | peak RSS (stage) | "
           "peak RSS of every step but the DM / Trader ones | load avg (before/after) | date |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        stages = r["stages"]
        top = max(stages, key=lambda k: stages[k]["peak_rss_mb"])
        before_dm = max(v["peak_rss_mb"] for k, v in stages.items()
                        if k not in ("dm_decisions", "paper_trades")
                        and not k.startswith(("dm_", "paper_", "exec", "tr_")))
        out.append(f"| {r['coins']} x {r['hours']} | {_label(r)} | "
                   f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                   f"{stages[top]['peak_rss_mb'] / 1024:.2f} GB ({top}) | "
                   f"{before_dm / 1024:.2f} GB | {r['load_before']:.1f} / "
                   f"{r['load_after']:.1f} | {r['date']} |")
    head = " | ".join(_label(r) for r in rows)
    out += ["", f"| stage: peak RSS GB / CPU s, by coin_shards | {head} |",
            "|---|" + "---|" * len(rows)]
    for name in STAGES:
        cells = []
        for r in rows:
            st = r["stages"].get(name)
            cells.append("-" if st is None else
                         f"{st['peak_rss_mb'] / 1024:.2f} / {_cpu(st):.1f}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


SECTION_HEAD = """## Coin shards

`feed.coin_shards: N` makes `raw_feed` and `microtape_frames` take the day's recording N
coin groups at a time (decoded once; each group assembled, summarised or built, stored on
disk under LOTUS_HOME/feed_shards, and dropped before the next); the lake outputs are the
same bytes (tests/assets/test_coin_shards_assets.py). One generated 24-hour day through
`execute_job` in process, a fresh interpreter, home and instance per run; per-stage peak
RSS is the step's VmHWM (reset at each step start), CPU includes the parse workers. Read
memory first: rows taken beside other work differ in CPU by up to ~30 %, in wall time
entirely.

"""


def headline_figure(rows: list[dict]) -> tuple[str, str]:
    """(figure, spread) of the summary: the latest run of each shard count at
    the largest coin count, the sharded one's peak and CPU against the unsharded one's."""
    coins = max(r["coins"] for r in rows)
    latest: dict[int, dict] = {}
    for r in sorted((r for r in rows if r["coins"] == coins), key=lambda r: r["date"]):
        latest[r.get("coin_shards") or 1] = r
    if 1 not in latest or len(latest) < 2:
        return "no pair of runs with and without shards", "-"
    base, n = latest[1], max(latest)
    other = latest[n]

    def peak(r: dict) -> float:
        return max(v["peak_rss_mb"] for v in r["stages"].values()) / 1024

    extra = other["cpu_s"] / base["cpu_s"] - 1
    return (f"{coins} coins x {base['hours']}: peak {peak(other):.2f} GB with {n} shards "
            f"against {peak(base):.2f} GB with 1, for {extra:+.0%} CPU "
            f"({other['cpu_s']:.1f} vs {base['cpu_s']:.1f} s)",
            f"one run each, load {base['load_before']:.1f} / {other['load_before']:.1f} "
            "at their starts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results"
                        / "scale_shards.json")
    parser.add_argument("--write", action="store_true",
                        help="also write the tables into BENCHMARKS.md (bench:coin_shards)")
    args = parser.parse_args()
    rows = json.loads(args.out.read_text())
    text = report(rows)
    print(text)
    if args.write:
        from bench.report import headline, write_section

        write_section("coin_shards", SECTION_HEAD + text)
        headline("coin_shards", *headline_figure(rows))


if __name__ == "__main__":
    main()
