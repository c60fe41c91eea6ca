"""`signal_eval`'s memory against the coins (issue 32, item 3): the step's body on a 24-hour
day of N coins, with the merge of its per-coin rows back into the day's order as this
checkout has it against an earlier commit's.

    .venv/bin/python -m bench.eval_memory [--coins 3,30,100] [--before 3,30,100] [--base REV]

A lake of one 24-hour day is made once in .lotus/bench/eval/cN: the MicroTape columns
outcomes and the DM read (a 1-second grid, a random walk a coin, a row group per coin, as
`microtape_frames` is written; `bench.tape_memory` reads the same lake) and 8,000 windows
a coin (the generated 100-coin day had ~8,000) with signal_events' window columns, in its
(ts_ms, coin, detector_id) order.
Each figure runs alone in a fresh process, no Dagster imported: the windows regrouped by
coin, evaluated coin by coin into a spill, merged back into the day's order and written
to a scratch lake (`evaluate_in_order`, `InOrder`), as the daily step did until it ran a
coin at a time (docs/scale.md round 22). "before" runs the
same lines with the code of --base (a git worktree; default c5154d2, whose merge held the
whole table's order). Prints and appends to bench/results/eval_memory.jsonl: peak RSS
(VmHWM), wall seconds, the rows written and the sha256 of the partition (the same bytes
before and after).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.proc import before_after

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "eval"
RESULTS = REPO / "bench" / "results" / "eval_memory.jsonl"
DAY = "2026-03-02"
WINDOWS_A_COIN = 8_000
GRID_MS = 1_000


def make_lake(n: int) -> Path:
    """One 24-hour day of n coins' tape and windows (made once)."""
    import numpy as np
    import pandas as pd

    from bench.scale import COIN_NAMES
    from lotus_core.signals import load_detectors
    from lotus_core.store.lake import Lake

    root = OUT / f"c{n}"
    lake = Lake(root)
    coins = sorted(COIN_NAMES[:n])
    start = int(pd.Timestamp(DAY, tz="UTC").value // 1_000_000)
    grid = start + GRID_MS * np.arange(86_400_000 // GRID_MS, dtype=np.int64)
    if not lake.exists("microtape_frames", DAY):
        def tape():  # noqa: ANN202 - a coin at a time
            for c, coin in enumerate(coins):
                rng = np.random.default_rng(c)
                steps = rng.normal(0.0, 2e-4, len(grid))
                gap = np.zeros(len(grid), dtype=bool)
                gap[rng.integers(0, len(grid), 3)] = True
                mid = 100.0 * np.exp(np.cumsum(steps))
                spread = rng.uniform(0.5, 3.0, len(grid))
                yield pd.DataFrame({"coin": coin, "ts_ms": grid, "mid_px": mid,
                                    "spread_bps": spread,
                                    "depth_5_bid": rng.uniform(1e4, 1e6, len(grid)),
                                    "depth_5_ask": rng.uniform(1e4, 1e6, len(grid)),
                                    "depth_slope": rng.uniform(0.0, 5.0, len(grid)),
                                    "stale_ms": rng.integers(0, 2_000, len(grid)),
                                    "bid_px": mid * (1 - spread / 2e4),
                                    "ask_px": mid * (1 + spread / 2e4), "gap": gap})

        lake.write_parts("microtape_frames", DAY, tape(), empty=next(tape()).iloc[:0])
        print(f"  c{n}: tape written", file=sys.stderr)
    if not lake.exists("signal_events", DAY):
        ids = np.array([s.id for s in load_detectors().enabled], dtype=object)
        rng = np.random.default_rng(n)
        m = WINDOWS_A_COIN * n
        frame = pd.DataFrame({
            "ts_ms": rng.choice(grid, m), "coin": np.repeat(np.array(coins, dtype=object),
                                                            WINDOWS_A_COIN),
            "detector_id": rng.choice(ids, m),
            "direction": rng.choice(np.array([-1, 1], dtype=np.int8), m),
            "published": rng.random(m) < 0.15, "propensity": rng.uniform(0.05, 0.95, m)})
        frame = frame.drop_duplicates(["ts_ms", "coin", "detector_id"])
        frame = frame.sort_values(["ts_ms", "coin", "detector_id"], kind="stable")
        frame.insert(0, "window_id", [f"0{k:025d}" for k in range(len(frame))])  # ULID-shaped
        lake.write("signal_events", DAY, frame.reset_index(drop=True))
        print(f"  c{n}: {len(frame):,} windows written", file=sys.stderr)
    return root


_BODY = """
import hashlib, json, sys, tempfile, time
from pathlib import Path
from bench.proc import status_mb
from lotus_core.evaluation.outcomes import WINDOW_COLUMNS, evaluate_in_order
from lotus_core.report.tables import EvalTally
from lotus_core.schemas import ASSET_SCHEMAS
from lotus_core.store.by_coin import CoinDay, InOrder
from lotus_core.store.lake import SLICE_ROWS, Lake, use_system_allocator
from lotus_core.store.spill import CoinSpill
use_system_allocator()
lake, day = Lake(Path(sys.argv[1])), sys.argv[2]
with tempfile.TemporaryDirectory(prefix="lotus-bench-eval-") as scratch:
    out = Lake(Path(scratch))
    t0 = time.perf_counter()
    tape, events = CoinDay(lake, "microtape_frames", day), CoinDay(lake, "signal_events", day)
    with CoinSpill(max(len(tape.coins()), 1)) as spill:
        windows = spill.spread("windows", events.slices(WINDOW_COLUMNS))
        empty, merged = evaluate_in_order(windows, tape, spill, each=EvalTally().add)
        table = InOrder(merged(), empty)
        out.write_parts("signal_eval", day, table.counted(), table.empty,
                        validate=ASSET_SCHEMAS["signal_eval"].validate, row_group=SLICE_ROWS)
    wall, peak = time.perf_counter() - t0, status_mb("VmHWM")
    digest = hashlib.sha256()
    with open(out.path("signal_eval", day), "rb") as f:  # a MB at a time: not the peak's
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
print(json.dumps({"rows": table.rows, "sha256": digest.hexdigest()[:16],
                  "wall_s": round(wall, 1), "peak_mb": peak}))
"""


def main() -> None:
    before_after(__doc__, RESULTS, make_lake, [DAY], _BODY, _BODY,
                 [({"step": "signal_eval"}, [])], default_base="c5154d2",
                 default_before="3,30,100")


if __name__ == "__main__":
    main()
