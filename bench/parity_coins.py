"""The live engine's cost per coin as coins are added: one generated hour of N coins
replayed through the live path (`lotus_core.live.parity.replay_windows`, what the nightly
`live_parity` check runs and what the daemon's score process does), with the daemon's
10,000-line batches and with the check's batches by coin (BATCH_LINES_PER_COIN).

Usage: python -m bench parity_coins [--coins 3,10,30,100] [--repeat 3] [--write]
Input: the first hour of 2026-01-06 for the first N coins of the scale bench (seed 1),
generated once into .lotus/bench/parity_coins. Each replay runs in a fresh interpreter;
CPU seconds (process_time) of the replay alone, the median of --repeat runs (the range
beside it), and per coin-hour. Cold nightly context (no history, the untrained DSI fit):
the same work per row as with one. Results: bench/results/parity_coins.json;
`--write` puts the table in BENCHMARKS.md (bench:parity_coins) and records the headline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "parity_coins"
RESULTS = REPO / "bench" / "results" / "parity_coins.json"
DAY = "2026-01-06"

_REPLAY = """
import json, sys, time
from pathlib import Path
import pandas as pd
from lotus_core.curators.config import load_curators
from lotus_core.dsi import fit_dsi, load_registry
from lotus_core.live.engine import NightContext
from lotus_core.live.parity import replay_windows
from lotus_core.signals.config import load_scoring
from lotus_core.signals.priors import NO_PRIORS
rec, day, batch = Path(sys.argv[1]), sys.argv[2], (int(sys.argv[3]) or None)
ctx = NightContext(day, None, fit_dsi(pd.DataFrame(), registry=load_registry()), None)
scoring, council = load_scoring(), load_curators()
t0 = time.process_time()
w = replay_windows(rec, day, ctx, NO_PRIORS, batch_lines=batch, scoring=scoring, council=council)
print(json.dumps({"cpu_s": time.process_time() - t0, "windows": len(w)}))
"""


def recording(n: int) -> Path:
    """The first hour of the first `n` coins (generated once)."""
    from bench.scale import COIN_NAMES
    from lotus_core.synth import default_spec, generate_day

    path = OUT / f"c{n}" / f"{DAY}.jsonl.gz"
    if not path.exists():
        print(f"generating {n} coins x 1 h into {path.parent} ...", file=sys.stderr)
        generate_day(path.parent, date.fromisoformat(DAY), COIN_NAMES[:n], 1,
                     default_spec(), hours=(0, 1))
    return path


def replay(path: Path, batch: int) -> dict:
    """One replay in a fresh interpreter (batch 0: the check's batches by coin)."""
    out = subprocess.run([sys.executable, "-c", _REPLAY, str(path), DAY, str(batch)],
                         capture_output=True, text=True, check=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    out = ["| coins | lines a coin | the daemon's 10,000-line batches: CPU s (range) / per "
           "coin-hour | batches by coin (`live_parity`): CPU s (range) / per coin-hour |",
           "|---|---|---|---|"]
    for r in rows:
        d, c = r["daemon_10k"], r["by_coin"]
        out.append(f"| {r['coins']} | {r['lines'] // r['coins']:,} | {d['cpu_s']:.1f} "
                   f"({d['min']:.1f}-{d['max']:.1f}) / {d['per_coin_hour']:.3f} | "
                   f"{c['cpu_s']:.1f} ({c['min']:.1f}-{c['max']:.1f}) / "
                   f"{c['per_coin_hour']:.3f} |")
    return "\n".join(out)


def section(rows: list[dict], repeat: int) -> str:
    first, last = rows[0], rows[-1]
    growth = last["by_coin"]["per_coin_hour"] / first["by_coin"]["per_coin_hour"]
    fixed = last["daemon_10k"]["per_coin_hour"] / first["daemon_10k"]["per_coin_hour"]
    coins = ",".join(str(r["coins"]) for r in rows)
    return f"""## Live engine cost per coin

`python -m bench parity_coins --coins {coins} --repeat {repeat} --write`:
the first hour of {DAY} with the first N coins of bench.scale's list (the generator gives
each coin about the same traffic) through `replay_windows`, the live engine the nightly
`live_parity` check and the daemon's score process run; CPU of the replay alone in a fresh
interpreter, the median of {repeat} runs (the range beside it). Raw rows:
`bench/results/parity_coins.json`.

{table(rows)}

From {first["coins"]} to {last["coins"]} coins the cost per coin-hour grows {growth:.2f}x with the
check's batches by coin and {fixed:.2f}x with the daemon's fixed 10,000-line batches (a
batch holds fewer lines of each coin as the coins grow).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--coins", default="3,10,30,100")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true",
                    help="update BENCHMARKS.md (bench:parity_coins) and the headline record")
    a = ap.parse_args()
    rows = []
    for n in (int(c) for c in a.coins.split(",")):
        path = recording(n)
        with gzip.open(path, "rb") as f:
            lines = sum(1 for _ in f)
        row: dict = {"coins": n, "lines": lines}
        for name, batch in (("daemon_10k", 10_000), ("by_coin", 0)):
            runs = [replay(path, batch) for _ in range(a.repeat)]
            cpu = sorted(r["cpu_s"] for r in runs)
            row[name] = {"cpu_s": statistics.median(cpu), "min": cpu[0], "max": cpu[-1],
                         "per_coin_hour": statistics.median(cpu) / n,
                         "windows": runs[0]["windows"]}
            print(f"{n} coins, {name}: {row[name]['cpu_s']:.1f} s CPU "
                  f"({row[name]['per_coin_hour']:.3f} s a coin-hour)", file=sys.stderr)
        rows.append(row)
    RESULTS.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                   "load": os.getloadavg(), "rows": rows}, indent=1))
    print(table(rows))
    if a.write:
        from bench.report import headline, write_section

        write_section("parity_coins", section(rows, a.repeat))
        first, last = rows[0]["by_coin"], rows[-1]["by_coin"]
        headline("parity_coins", f"{last['per_coin_hour']:.3f} CPU s a coin-hour at "
                 f"{rows[-1]['coins']} coins against {first['per_coin_hour']:.3f} at "
                 f"{rows[0]['coins']} ({last['per_coin_hour'] / first['per_coin_hour']:.2f}x)",
                 f"{a.repeat} runs each: {last['min']:.1f}-{last['max']:.1f} s at "
                 f"{rows[-1]['coins']} coins")


if __name__ == "__main__":
    main()
