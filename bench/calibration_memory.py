"""The DM calibration's memory against the coins, at its steady state (issue 32, item 3):
the 7 days of signal_events and signal_eval before a day, read and fitted as
`dm_calibration` does.

    .venv/bin/python -m bench.calibration_memory [--coins 3,30,100] [--before 3,30] [--base REV]

A day-1 lake has no history, so the bench.scale runs never saw this step's steady state.
A lake of 7 days x N coins is made once in .lotus/bench/calibration/cN: 8,000 windows a
coin-day (the generated pipeline makes ~7,900) of the shipped detectors, each with a
curated_sigma, and its signal_eval rows at 4 horizons (60, 300, 900, 3600 s; 95 % done)
whose return rises with the score (y = 4 x - 1 + noise, bps). Each measure runs alone in a
fresh process, no Dagster imported: "now" reads the window a row group at a time, sampled
above the calibration's `max_windows` (`read_training`); "before" runs the code of `--base`
(a git worktree; default ac3dd21) on the same lake: every day's columns read whole. Prints
and appends to bench/results/calibration_memory.jsonl: peak RSS (VmHWM), wall seconds, the
training rows, and the fitted reliabilities' mean.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.proc import before_after

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "calibration"
RESULTS = REPO / "bench" / "results" / "calibration_memory.jsonl"
DAYS = [f"2026-03-{d:02d}" for d in range(1, 8)]
PER_COIN_DAY = 8_000
HORIZONS = (60, 300, 900, 3600)


def make_lake(n: int) -> Path:
    """7 days of n coins' signal_events and signal_eval training columns (made once)."""
    import numpy as np
    import pandas as pd

    from bench.scale import COIN_NAMES
    from lotus_core.signals import load_detectors
    from lotus_core.store.lake import Lake

    ids = np.array([s.id for s in load_detectors().enabled], dtype=object)
    root = OUT / f"c{n}"
    lake = Lake(root)
    for k, day in enumerate(DAYS):
        if lake.exists("signal_eval", day):
            continue
        rng = np.random.default_rng(20_000 + k)
        start = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
        w = PER_COIN_DAY * n
        ts = np.sort(rng.integers(start, start + 86_400_000, w))
        coin = np.asarray(COIN_NAMES[:n], dtype=object)[rng.integers(0, n, w)]
        det = ids[rng.integers(0, len(ids), w)]
        x = rng.random(w)
        wid = np.array([f"{day}-{i:09d}" for i in range(w)], dtype=object)
        lake.write("signal_events", day, pd.DataFrame(
            {"window_id": wid, "ts_ms": ts, "coin": coin, "detector_id": det,
             "curated_sigma": x}))
        rows = np.repeat(np.arange(w), len(HORIZONS))
        fwd = 4.0 * x[rows] - 1.0 + rng.normal(0.0, 3.0, len(rows))
        lake.write("signal_eval", day, pd.DataFrame({
            "window_id": wid[rows], "ts_ms": ts[rows], "coin": coin[rows],
            "detector_id": det[rows], "horizon_s": np.tile(np.asarray(HORIZONS), w),
            "fwd_ret_bps": fwd, "net_ret_bps": fwd - 1.0, "hit": fwd > 0,
            "status": np.where(rng.random(len(rows)) < 0.95, "done", "pending").astype(object)}))
        print(f"  c{n}: {day} written", file=sys.stderr)
    return root


_NOW = """
import json, sys, time
from pathlib import Path
from bench.proc import status_mb
from lotus_core.config.settings import load_settings
from lotus_core.dm.calibration import fit_calibration, training_frame
from lotus_core.dm.training_window import read_training
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
lake, days = Lake(Path(sys.argv[1])), sys.argv[2].split(",")
cfg = load_settings(env={}).dm.calibration
t0 = time.perf_counter()
cd = lambda a: [CoinDay(lake, a, d) for d in days if lake.exists(a, d)]
w = read_training(cd("signal_events"), cd("signal_eval"), cd("signal_eval_late"),
                  cfg.horizons_s, cfg.max_windows)
train = training_frame(w.events, w.evals)
table = fit_calibration(train, cfg, "w")
print(json.dumps({"train_rows": len(train), "rate": round(w.rate, 5),
                  "reliability_mean": round(float(table["reliability"].mean()), 4),
                  "wall_s": round(time.perf_counter() - t0, 1), "peak_mb": status_mb("VmHWM")}))
"""

_BEFORE = """
import json, sys, time
from pathlib import Path
import pandas as pd
from bench.proc import status_mb
from lotus_core.config.settings import load_settings
from lotus_core.dm.calibration import (TRAIN_EVAL_COLUMNS, TRAIN_EVENT_COLUMNS,
                                       fit_calibration, training_frame)
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
lake, days = Lake(Path(sys.argv[1])), sys.argv[2].split(",")
cfg = load_settings(env={}).dm.calibration
t0 = time.perf_counter()
whole = lambda a, c: pd.concat([lake.read(a, d, c).assign(date=d) for d in days],
                               ignore_index=True)
train = training_frame(whole("signal_events", TRAIN_EVENT_COLUMNS),
                       whole("signal_eval", TRAIN_EVAL_COLUMNS))
table = fit_calibration(train, cfg, "w")
print(json.dumps({"train_rows": len(train), "rate": 1.0,
                  "reliability_mean": round(float(table["reliability"].mean()), 4),
                  "wall_s": round(time.perf_counter() - t0, 1), "peak_mb": status_mb("VmHWM")}))
"""


def main() -> None:
    before_after(__doc__, RESULTS, make_lake, DAYS, _NOW, _BEFORE,
                 [({}, [])])


if __name__ == "__main__":
    main()
