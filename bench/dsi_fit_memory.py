"""The DSI fit's memory against the coins, at its steady state (issue 32, item 3): the
`dsi_history_days` (3) days of MicroTape before a day, read and fitted as `dsi_assets` and
the daemon's night context do.

    .venv/bin/python -m bench.dsi_fit_memory [--coins 3,30,100] [--before 3,30]

A day-1 lake has no history, so the bench.scale runs never saw the fit's steady state.
Here 3 generated 24-hour days of 3 coins (seed 11; BTC, ETH, SOL of the synthetic market)
are parsed and built into MicroTape once (the columns the registry's experts read), and an
N-coin lake of those 3 days is laid out from them in .lotus/bench/dsi_fit/cN: coin k's
coin-day is source coin k mod 3's of the same day, renamed (a coin-day a row group, as
`microtape_frames` is written). Then, each in a fresh process, the history is read and
the model fitted as now (`lotus_core.dsi.history.read_history`: whole coin-days up to the
registry's `history_rows`) and, for the counts in `--before`, as before this bound (every
day read whole). Prints and appends to bench/results/dsi_fit_memory.jsonl: peak RSS
(VmHWM), wall seconds, the coin-days and rows read, and the fitted reliabilities.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from bench.proc import fresh_json, measured_row

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "dsi_fit"
RESULTS = REPO / "bench" / "results" / "dsi_fit_memory.jsonl"
SOURCE_COINS = ["BTC", "ETH", "SOL"]
DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]  # the history of 2026-03-05
SEED = 11


def source_tapes() -> Path:
    """The 3 generated days' MicroTape of the source coins (made once)."""
    from lotus_core.dsi import load_registry, tape_columns
    from lotus_core.feed.parse import parse_recording
    from lotus_core.microtape import build_microtape
    from lotus_core.store.lake import Lake
    from lotus_core.synth import default_spec, generate_days

    root = OUT / "source"
    lake = Lake(root / "lake")
    if all(lake.exists("microtape_frames", d) for d in DAYS):
        return root
    feed = root / "feed"
    paths = generate_days(feed, date.fromisoformat(DAYS[0]), len(DAYS), SOURCE_COINS, SEED,
                          default_spec(), workers=2)
    columns = tape_columns(load_registry())
    for day, path in zip(DAYS, paths[::2], strict=True):
        tape = build_microtape(parse_recording(path))[columns]
        lake.write("microtape_frames", day, tape)
        print(f"  source {day}: {len(tape):,} rows", file=sys.stderr)
    return root


def make_lake(n: int) -> Path:
    """The 3 days of n coins, coin k a renamed copy of source coin k mod 3."""
    from bench.scale import COIN_NAMES
    from lotus_core.store.lake import Lake

    source = Lake(source_tapes() / "lake")
    root = OUT / f"c{n}"
    lake = Lake(root)
    for day in DAYS:
        if lake.exists("microtape_frames", day):
            continue
        coins = [source.read_coin("microtape_frames", day, c) for c in SOURCE_COINS]

        def parts(coins=coins):  # noqa: ANN001, ANN202 - a coin-day at a time
            for k, name in enumerate(COIN_NAMES[:n]):
                yield coins[k % len(coins)].assign(coin=name)

        lake.write_parts("microtape_frames", day, parts(), empty=coins[0].iloc[:0])
        print(f"  c{n}: {day} written", file=sys.stderr)
    return root


_MEASURE = """
import json, sys, time
from pathlib import Path
import pandas as pd
from bench.proc import status_mb
from lotus_core.dsi import fit_dsi, load_registry, tape_columns
from lotus_core.dsi.history import read_history
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
lake, how, days = Lake(Path(sys.argv[1])), sys.argv[2], sys.argv[3].split(",")
registry = load_registry()
columns = tape_columns(registry)
t0 = time.perf_counter()
if how == "now":
    h = read_history([CoinDay(lake, "microtape_frames", d) for d in days], columns,
                     registry.history_rows)
    frames, coin_days, rows = h, h.coin_days, h.rows
else:
    frames = pd.concat([lake.read("microtape_frames", d, columns).assign(date=d) for d in days],
                       ignore_index=True)
    coin_days, rows = sum(len(lake.coins("microtape_frames", d)) for d in days), len(frames)
    registry = registry.model_copy(update={"history_rows": None})
read_mb = status_mb("VmHWM")
model = fit_dsi(frames, registry)
print(json.dumps({"coin_days": coin_days, "rows_read": int(rows), "read_peak_mb": read_mb,
                  "reliability": {s.id: round(s.posterior.mean, 4) for s in model.experts},
                  "base_rate": round(model.base_rate, 4),
                  "wall_s": round(time.perf_counter() - t0, 1), "peak_mb": status_mb("VmHWM")}))
"""


def measure(root: Path, how: str) -> dict:
    return fresh_json(_MEASURE, str(root), how, ",".join(DAYS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coins", default="3,30,100")
    ap.add_argument("--before", default="3,30",
                    help="coin counts also measured the old way (every coin-day read)")
    a = ap.parse_args()
    before = {int(c) for c in a.before.split(",") if c}
    for n in (int(c) for c in a.coins.split(",")):
        root = make_lake(n)
        for how in ("now", "before") if n in before else ("now",):
            measured_row(RESULTS, {"coins": n, "days": len(DAYS), "how": how},
                         lambda r=root, h=how: measure(r, h))


if __name__ == "__main__":
    main()
