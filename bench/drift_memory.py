"""The drift checks' memory against the coins, at their steady state (issue 32, item 3):
today's partition and the 7 days before it, as `microtape_feature_drift` (MicroTape),
`signal_drift` (signal_events) and `published_hit_rate_vs_expectation` (signal_eval) read
them.

    .venv/bin/python -m bench.drift_memory [--coins 3,30,100] [--before 3,30]

A day-1 lake has no history, so the bench.scale runs never saw this check's steady state.
Here a lake of 8 days x N coins x 24 h is made once in .lotus/bench/drift_memory/cN (only
the columns the checks read, random values): MicroTape at the 1-second cadence (each
coin-day a row group, as `microtape_frames` is written), 8,200 windows a coin-day
(the generated pipeline makes ~7,900) in signal_events' (ts_ms, coin) order, and 4
signal_eval rows a window. Then, each in a fresh process, each check's reads and measure
as they are now (`health.tape_sample`, `events_drift`, `hit_tallies`: a row group or
slice at a time into samples, counts and sums) and, for the counts in `--before`, as they
were before round 18 (every day read whole, the history concatenated; the hit-rate check
then also had today's whole signal_eval loaded by the IO manager, every column: here only
its 4). Prints and appends to bench/results/drift_memory.jsonl: peak RSS (VmHWM), wall
seconds, the rows read, the figure the check judges.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.proc import fresh_json, measured_row

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "drift_memory"
RESULTS = REPO / "bench" / "results" / "drift_memory.jsonl"
DAYS = [f"2026-03-{d:02d}" for d in range(1, 9)]  # the last one is "today"


def make_lake(n: int) -> Path:
    """8 days of n coins' MicroTape columns (made once)."""
    import numpy as np
    import pandas as pd

    from bench.scale import COIN_NAMES
    from lotus_core.report.health import PSI_FEATURES, PSI_INFO
    from lotus_core.store.lake import Lake

    root = OUT / f"c{n}"
    lake = Lake(root)
    for k, day in enumerate(DAYS):
        start = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
        if not lake.exists("signal_eval", day):
            _windows(lake, day, start, n, k)
        if lake.exists("microtape_frames", day):
            continue
        ts = start + np.arange(86_400, dtype=np.int64) * 1_000

        def parts(k: int = k, ts: np.ndarray = ts):  # noqa: ANN202 - a coin-day at a time
            for c, coin in enumerate(COIN_NAMES[:n]):
                rng = np.random.default_rng(1_000 * k + c)
                cols = {f: rng.lognormal(0, 0.4, len(ts)) for f in (*PSI_FEATURES, *PSI_INFO)}
                yield pd.DataFrame({"coin": coin, "ts_ms": ts, **cols})

        empty = next(parts()).iloc[:0]
        lake.write_parts("microtape_frames", day, parts(), empty=empty)
        print(f"  c{n}: {day} written", file=sys.stderr)
    return root


DETECTORS = [f"det_{i:02d}_v1" for i in range(20)]


def _windows(lake, day: str, start: int, n: int, k: int) -> None:  # noqa: ANN001
    """The day's signal_events and signal_eval columns the checks read."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bench.scale import COIN_NAMES

    rng = np.random.default_rng(7_000 + k)
    w = 8_200 * n
    ts = np.sort(rng.integers(start, start + 86_400_000, w))
    coin = np.asarray(COIN_NAMES[:n], dtype=object)[rng.integers(0, n, w)]
    order = np.lexsort((coin.astype(str), ts))
    ids = np.array([f"{day}-{i:09d}" for i in range(w)], dtype=object)
    lake.write("signal_events", day, pd.DataFrame({
        "window_id": ids, "ts_ms": ts[order], "coin": coin[order],
        "detector_id": np.asarray(DETECTORS, dtype=object)[rng.integers(0, 20, w)],
        "det_sigma": rng.beta(2, 5, w)}))
    rows = np.repeat(np.arange(w), 4)
    lake.write("signal_eval", day, pd.DataFrame({
        "window_id": pa.array(ids).take(pa.array(rows)).to_pandas(),
        "status": np.where(rng.random(len(rows)) < 0.9, "done", "pending").astype(object),
        "published": np.repeat(rng.random(w) < 0.05, 4),
        "hit": rng.random(len(rows)) < 0.52}))


_MEASURE = """
import json, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
from bench.proc import status_mb
from lotus_core.report import health as H
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
lake, check, how, days = Lake(Path(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4].split(",")
today, before = days[-1], days[:-1]
def whole(asset, cols):
    return (lake.read(asset, today, columns=cols), pd.concat(
        [lake.read(asset, d, columns=cols).assign(date=d) for d in before], ignore_index=True))
t0 = time.perf_counter()
if check == "feature":
    cols = ["ts_ms", *H.PSI_FEATURES, *H.PSI_INFO]
    if how == "now":
        t, _ = H.tape_sample(lake, [today], cols)
        h, _ = H.tape_sample(lake, before, cols, hours=np.array(sorted(t.seen_hours)))
        read, figure = t.rows + h.rows, H.feature_psi(h.frame(), t.frame(), ("spread_bps",))
    else:
        t, h = whole("microtape_frames", cols)
        read, figure = len(t) + len(h), H.feature_psi(H.same_hours(h, t), t, ("spread_bps",))
    figure = figure["spread_bps"]
elif check == "events":
    if how == "now":
        ev = H.events_drift(lake, today, before)
        read = ev.history_rows + ev.today_sigma.rows
        figure = H.psi(ev.like.frame()["det_sigma"].to_numpy(),
                       ev.today_sigma.frame()["det_sigma"].to_numpy())
        drift = H.firing_drift(ev.today, pd.DataFrame({"coin": [], "ts_ms": []}), ev.history,
                               pd.DataFrame({"coin": [], "ts_ms": []}))
    else:
        t, h = whole("signal_events", H.EVENT_DRIFT_COLUMNS)
        read = len(t) + len(h)
        like = H.same_hours(h, t)
        figure = H.psi(like["det_sigma"].to_numpy(), t["det_sigma"].to_numpy())
        drift = H.firing_drift(t, pd.DataFrame({"coin": [], "ts_ms": []}), h,
                               pd.DataFrame({"coin": [], "ts_ms": []}))
else:
    if how == "now":
        t, h = H.hit_tallies(lake, today, before)
        read, figure = t.rows + h.rows, H.hit_rate_shortfall(t, h.rate)[2]
    else:
        t, h = whole("signal_eval", H.HIT_COLUMNS)
        read = len(t) + len(h)
        done = h[(h["status"] == "done") & h["published"].astype(bool)]
        figure = H.hit_rate_shortfall(t, float(done["hit"].astype(float).mean()))[2]
print(json.dumps({"rows_read": int(read), "figure": round(float(figure), 6),
                  "wall_s": round(time.perf_counter() - t0, 1), "peak_mb": status_mb("VmHWM")}))
"""

CHECKS = {"feature": "microtape_feature_drift (PSI of spread_bps)",
          "events": "signal_drift (PSI of det_sigma)",
          "hits": "published_hit_rate_vs_expectation (z; rows read: done published rows)"}


def measure(root: Path, check: str, how: str) -> dict:
    return fresh_json(_MEASURE, str(root), check, how, ",".join(DAYS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coins", default="3,30,100")
    ap.add_argument("--before", default="3,30",
                    help="coin counts also measured the old way (100 coins: ~9 GB)")
    a = ap.parse_args()
    before = {int(c) for c in a.before.split(",") if c}
    for n in (int(c) for c in a.coins.split(",")):
        root = make_lake(n)
        for check, how in [(c, h) for c in CHECKS
                           for h in (("now", "before") if n in before else ("now",))]:
            measured_row(RESULTS, {"coins": n, "days": len(DAYS), "check": check, "how": how},
                         lambda r=root, c=check, h=how: measure(r, c, h))


if __name__ == "__main__":
    main()
