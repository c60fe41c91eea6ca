"""The scoring history's memory against the coins, at its steady state (issue 32, item 3):
the `history_days` (7) days of detector_windows before a day, as `score_signals` (sq_*:
`history_quality`) and `detector_audits` (the same, each detector's own, and the
rolling-origin gap's past hits) read them.

    .venv/bin/python -m bench.history_memory [--coins 3,30,100] [--before 3,30] [--base REV]

A day-1 lake has no history, so the bench.scale runs never saw these reads' steady state.
A lake of 7 days x N coins of detector_windows' history columns is made once in
.lotus/bench/history/cN: 8,000 windows a coin-day (the generated pipeline makes ~7,900),
the shipped detectors and recipes (one window in 50 of an older recipe), random times,
directions and returns, 90 % with an outcome, written a row group per coin as
`detector_windows` is now. Each read runs alone in a fresh process, no Dagster imported:
"now" folds the window a coin-day at a time, coin by coin (`QualityFold`), and for the
audits reads it again day by day (`PastHits`); "before" runs
the code of `--base` (a git worktree; default ac3dd21, the commit before the fold) on the
same lake: every day read whole and concatenated. Prints and appends to
bench/results/history_memory.jsonl: peak RSS (VmHWM), wall seconds, the rows read.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.proc import before_after

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "history"
RESULTS = REPO / "bench" / "results" / "history_memory.jsonl"
DAYS = [f"2026-03-{d:02d}" for d in range(1, 8)]
PER_COIN_DAY = 8_000


def make_lake(n: int) -> Path:
    """7 days of n coins' detector_windows history columns (made once)."""
    import numpy as np
    import pandas as pd

    from bench.scale import COIN_NAMES
    from lotus_core.signals import load_detectors
    from lotus_core.signals.quality import HISTORY_COLUMNS
    from lotus_core.store.lake import Lake

    specs = load_detectors().enabled
    ids = np.array([s.id for s in specs], dtype=object)
    recipes = np.array([s.recipe_hash for s in specs], dtype=object)
    horizons = np.array([s.horizon_s for s in specs], dtype=np.int64)
    root = OUT / f"c{n}"
    lake = Lake(root)
    for k, day in enumerate(DAYS):
        if lake.exists("detector_windows", day):
            continue
        start = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)

        def parts(k: int = k, start: int = start):  # noqa: ANN202 - a coin-day at a time
            for c, coin in enumerate(sorted(COIN_NAMES[:n])):
                rng = np.random.default_rng(10_000 * k + c)
                m = PER_COIN_DAY
                spec = rng.integers(0, len(specs), m)
                signed = rng.normal(0.0, 5.0, m)
                ok = rng.random(m) < 0.9
                ts = np.sort(rng.integers(start, start + 86_400_000, m))
                order = np.lexsort((ids[spec].astype(str), ts))
                yield pd.DataFrame({
                    "ts_ms": ts[order], "coin": coin, "detector_id": ids[spec][order],
                    "recipe_hash": np.where(rng.random(m) < 0.02, "0" * 64,
                                            recipes[spec])[order],
                    "direction": rng.choice(np.array([-1, 1], dtype=np.int8), m)[order],
                    "horizon_s": horizons[spec][order], "outcome_ok": ok[order],
                    "hit": np.where(ok, (signed > 0).astype(float), np.nan)[order],
                    "net_ret_bps": (signed - 1.5)[order], "signed_ret_bps": signed[order],
                })[HISTORY_COLUMNS]

        lake.write_parts("detector_windows", day, parts(), empty=next(parts()).iloc[:0])
        print(f"  c{n}: {day} written", file=sys.stderr)
    return root


_NOW = """
import json, sys, time
from pathlib import Path
import numpy as np
from bench.proc import status_mb
from lotus_core.audits.edge import hits_gap
from lotus_core.audits.run import PastHits
from lotus_core.signals import load_detectors, load_scoring
from lotus_core.signals.quality import HISTORY_COLUMNS, QualityFold
from lotus_core.store.by_coin import CoinDay, CoinDays
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
lake, step, days = Lake(Path(sys.argv[1])), sys.argv[2], sys.argv[3].split(",")
specs, cfg = load_detectors().enabled, load_scoring().sq
t0 = time.perf_counter()
parts = CoinDays(tuple(CoinDay(lake, "detector_windows", d) for d in days)).parts(HISTORY_COLUMNS)
fold, past, rows = QualityFold(specs, cfg.corr_grid_s), PastHits(specs), 0
for part in parts:  # coin by coin
    rows += len(part)
    fold.add(part)
if step == "audits":  # and day by day, as detector_audits reads it
    for part in parts.by_day():
        past.add(part)
hq = fold.quality(cfg)
if step == "audits":
    one = [fold.quality(cfg, only=[s.id]) for s in specs]
    gaps = [hits_gap(past.in_time_order(s.recipe_hash, np.zeros(0, np.int64), np.zeros(0)))
            for s in specs]  # one detector's hits at a time, as audit_by_coin
print(json.dumps({"rows_read": rows, "windows_used": hq.notes["history_windows"],
                  "rho_mean": round(float(hq.rho.mean()), 9),
                  "wall_s": round(time.perf_counter() - t0, 1), "peak_mb": status_mb("VmHWM")}))
"""

_BEFORE = """
import json, sys, time
from pathlib import Path
import pandas as pd
from bench.proc import status_mb
from lotus_core.signals import load_detectors, load_scoring
from lotus_core.signals.quality import HISTORY_COLUMNS, history_quality
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
lake, step, days = Lake(Path(sys.argv[1])), sys.argv[2], sys.argv[3].split(",")
specs, cfg = load_detectors().enabled, load_scoring().sq
t0 = time.perf_counter()
h = pd.concat([lake.read("detector_windows", d, HISTORY_COLUMNS).assign(date=d) for d in days],
              ignore_index=True)
hq = history_quality(h, specs, cfg)
if step == "audits":
    one = [history_quality(h, [s], cfg) for s in specs]
    past = [h[h["recipe_hash"] == s.recipe_hash] for s in specs]
print(json.dumps({"rows_read": len(h), "windows_used": hq.notes["history_windows"],
                  "rho_mean": round(float(hq.rho.mean()), 9),
                  "wall_s": round(time.perf_counter() - t0, 1), "peak_mb": status_mb("VmHWM")}))
"""


def main() -> None:
    before_after(__doc__, RESULTS, make_lake, DAYS, _NOW, _BEFORE,
                 [({"step": s}, [s]) for s in ("score", "audits")])


if __name__ == "__main__":
    main()
