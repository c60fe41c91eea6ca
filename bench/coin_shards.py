"""The nightly chain with and without `feed.coin_shards`: per-stage peak RSS and CPU.

The rows come from `bench.scale` runs of one generated day, one per shard count
(docs/scale.md, "Round 4: coin shards"):

    nice -n 10 .venv/bin/python -m bench.scale --coins 10 --hours 0-24 --modes in_process \\
        --coin-shards 1 --out bench/results/scale_shards.json --work /work/scalework/c10
    nice -n 10 .venv/bin/python -m bench.scale --coins 10 --hours 0-24 --modes in_process \\
        --coin-shards 2 --out bench/results/scale_shards.json --work /work/scalework/c10
    .venv/bin/python -m bench.coin_shards --out bench/results/scale_shards.json --write

Since `FeedSource.replay_day`, a sharded run's dm_decisions / paper_trades read the day
packed from the shards (rows say `replay_day: packed`; older sharded rows are labelled).
The replay's day alone, padded vs packed (one fresh interpreter per variant):

    nice -n 19 .venv/bin/python -m bench.replay_memory RECORDING --shards 2 --work DIR
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
    if "replay_day" not in row:  # before FeedSource.replay_day (an earlier session's machine)
        notes.append("replays merged the padded day" if row.get("coin_shards", 1) > 1
                     else "replay made every event at once")
    return f"{row.get('coin_shards', 1)}" + (f" ({'; '.join(notes)})" if notes else "")


def report(rows: list[dict]) -> str:
    """Two tables: each run, and the heavy stages' peak RSS / CPU side by side."""
    rows = sorted(rows, key=lambda r: (r["coins"], r.get("coin_shards", 1), r["date"]))
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


SECTION_HEAD = """## Coin shards (issue 15: heavy per-coin stages split by coin)

`feed.coin_shards: N` makes `raw_feed` and `microtape_frames` take the day's recording N
coin groups at a time (decoded once; each group assembled, summarised or built, stored on
disk under LOTUS_HOME/feed_shards, and dropped before the next); the lake outputs are the
same bytes (tests/assets/test_coin_shards_assets.py). One generated 24-hour day through
`execute_job` in process, a fresh interpreter, home and instance per run; per-stage peak
RSS is the step's VmHWM (reset at each step start), CPU includes the parse workers. The
machine is shared (a 2-process soak test ran throughout): read memory first, CPU to
~15 % (the last run got ~20 % of a core: 1,529 s of wall for 333 CPU s, and stages that
sharding does not touch read 10-50 % higher in it), wall not at all.
The two rows of 21:09 and 21:19 UTC (the packed replay, `FeedSource.replay_day`) ran on
another session's machine, both beside the soak at load ~3-4: compare them with each other;
CPU is not comparable with the earlier rows (stages the change did not touch read ~30 %
lower there too).
Commands and analysis: docs/scale.md, "Round 4: coin shards".

"""


def _rss(tag: str) -> str:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                  .splitlines())
    return (f"| {tag} | {int(status['VmRSS'].split()[0]) / 1024:,.0f} MB | "
            f"{int(status['VmHWM'].split()[0]) / 1024:,.0f} MB |")


def probe(path: Path, n: int) -> str:
    """RSS at each phase of `parse_shards` (the same steps, spelled out), in this process
    with the stack imported: where a sharded parse's memory goes."""
    from functools import partial

    import lotus_assets.definitions  # noqa: F401 - the stack a step runs with
    from lotus_core.feed import assemble as A
    from lotus_core.feed import parse as P
    from lotus_core.feed.shards import ShardMap, split_chunk
    from lotus_core.heap import release_free_heap

    out = ["| phase | RSS | peak so far |", "|---|---|---|", _rss("stack imported")]
    chunks, hashes = P._extract_all(path, 2, [])
    data = sum(v.nbytes for c in chunks for t in c.tables.values() for v in t.values())
    release_free_heap()
    out.append(_rss(f"decoded ({len(chunks)} chunks, {data / 2**20:,.0f} MB of columns)"))
    shards = ShardMap((c for chunk in chunks for c in chunk.coins), n)
    parts: list[list] = [[] for _ in range(n)]
    chunks.reverse()
    while chunks:
        for i, part in enumerate(split_chunk(chunks.pop(), shards)):
            parts[i].append(part)
        if len(chunks) % 16 == 0:
            release_free_heap()
    out.append(_rss(f"split in {n} groups"))
    for i in range(n):
        feed = A._assemble(path, path.name[:10], "", parts[i], hashes,
                           owns=partial(shards.owns, i))
        parts[i] = []
        out.append(_rss(f"group {i} assembled ({len(feed.coins)} coins, "
                        f"{feed.books.bid_px.nbytes * 4 / 2**20:,.0f} MB of book matrices)"))
        del feed
        release_free_heap()
        out.append(_rss(f"group {i} dropped"))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", nargs=2, metavar=("RECORDING", "N"),
                        help="print RSS at each phase of a sharded parse of RECORDING")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results"
                        / "scale_shards.json")
    parser.add_argument("--write", action="store_true",
                        help="also write the tables into BENCHMARKS.md (bench:coin_shards)")
    args = parser.parse_args()
    if args.probe:
        print(probe(Path(args.probe[0]), int(args.probe[1])))
        return
    text = report(json.loads(args.out.read_text()))
    print(text)
    if args.write:
        from bench.report import write_section

        write_section("coin_shards", SECTION_HEAD + text)


if __name__ == "__main__":
    main()
