"""The DM / Trader replay's MicroTape read against the coins (issue 32, item 3): a day's tape
in (ts, coin) order, a batch at a time, as `dm_decisions` streams it into the joint replay.

    .venv/bin/python -m bench.tape_memory [--coins 3,30,100] [--before 3,30,100] [--base REV]

"now": `tape_in_order`, each coin's row group put aside and merged back; "before": the
code of --base (a git worktree; default c5154d2), `tape_batches`: DuckDB's ORDER BY over
the partition within a 256 MB memory limit. On the 24-hour lakes of `bench.eval_memory`
(a 1-second grid, the DM's ten tape columns), each figure alone in a fresh process, no
Dagster imported. Prints and appends to bench/results/tape_memory.jsonl: peak RSS (VmHWM),
wall seconds, the rows and a sha256 of every row's hash in the order read (the same rows
in the same order either way).
"""

from __future__ import annotations

from pathlib import Path

from bench.eval_memory import DAY, make_lake
from bench.proc import before_after

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "tape_memory.jsonl"

_READ = """
import hashlib, json, sys, tempfile, time
from pathlib import Path
import pandas as pd
from bench.proc import status_mb
from lotus_core.dm.replay import TAPE_COLUMNS
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake, use_system_allocator
{imports}
use_system_allocator()
lake, day = Lake(Path(sys.argv[1])), sys.argv[2]
digest, rows = hashlib.sha256(), 0
with tempfile.TemporaryDirectory(prefix="lotus-bench-tape-") as scratch:
    t0 = time.perf_counter()
    for batch in {batches}:
        rows += len(batch)
        digest.update(pd.util.hash_pandas_object(batch, index=False).to_numpy().tobytes())
    wall = time.perf_counter() - t0
print("\\n" + json.dumps({{"rows": rows, "sha256": digest.hexdigest()[:16],  # a line of its own
                         "wall_s": round(wall, 1), "peak_mb": status_mb("VmHWM")}}))
"""
_NOW = _READ.format(
    imports="from lotus_core.trader.day_sources import tape_in_order",
    batches='tape_in_order(CoinDay(lake, "microtape_frames", day), TAPE_COLUMNS, Path(scratch))')
_BEFORE = _READ.format(
    imports="from lotus_core.trader.day_sources import tape_batches",
    batches='tape_batches(lake.path("microtape_frames", day), TAPE_COLUMNS, '
            'scratch=Path(scratch))')


def main() -> None:
    before_after(__doc__, RESULTS, make_lake, [DAY], _NOW, _BEFORE, [({"step": "tape"}, [])],
                 default_base="c5154d2", default_before="3,30,100")


if __name__ == "__main__":
    main()
