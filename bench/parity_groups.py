"""`live_parity`'s memory against the coins: the check's comparison run alone, in a fresh
process per figure, on generated days of 3 to 100 coins (issue 32, item 3).

    .venv/bin/python -m bench.parity_groups [--coins 3,30,100] [--hours 24] [--whole]

Per coin count N: the first `--hours` hours of 2026-01-06 for the first N coins of
bench.scale's list (seed 1), generated once into .lotus/bench/parity_groups/cN_hH; its
windows, made once by the group replay in a fresh process (row "replay_only": the group
replay's peak without the comparison) and written to a lake as that day's signal_events
(the nightly side's size and schema: the nightly chain itself is not run here, and the
two sides are equal by construction); then `compare_by_group` against them, what the
check runs (the recording cut by coin group, `GROUP_COINS` coins a group, every group after
the first in its own forked process), with `--inline` every group in the one process (the
check of round 18), and with `--whole` the one-engine replay the check ran before round 18
(`compare_streams` over `replay_steps`). Cold nightly context (no history, the untrained DSI
fit), no priors.
Prints and appends to bench/results/parity_groups.jsonl: peak RSS (VmHWM), wall and CPU
seconds, windows compared, the load average before the run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from bench.proc import fresh_json, measured_row

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".lotus" / "bench" / "parity_groups"
RESULTS = REPO / "bench" / "results" / "parity_groups.jsonl"
DAY = "2026-01-06"


def recording(n: int, hours: int) -> Path:
    """The first `hours` hours of `n` coins (generated once)."""
    from bench.scale import COIN_NAMES
    from lotus_core.synth import default_spec, generate_day

    path = OUT / f"c{n}_h{hours}" / "feed" / f"{DAY}.jsonl.gz"
    if not path.exists():
        print(f"generating {n} coins x {hours} h into {path.parent} ...", file=sys.stderr)
        generate_day(path.parent, date.fromisoformat(DAY), COIN_NAMES[:n], 1, default_spec(),
                     hours=(0, hours))
    return path


def _context():  # noqa: ANN202 - the cold nightly inputs
    import pandas as pd

    from lotus_core.dsi import fit_dsi, load_registry
    from lotus_core.live.engine import NightContext

    return NightContext(DAY, None, fit_dsi(pd.DataFrame(), load_registry()), None)


def make_nightly(path: Path, lake_root: Path) -> tuple[int, int]:
    """The day's windows (the group replay's) as the lake's signal_events, in the table's
    (ts_ms, coin) order; returns their count and the process's peak RSS (MB) before the
    table was written (the replay's own)."""
    import tempfile

    import pandas as pd

    from bench.proc import status_mb
    from lotus_core.live.by_group import split_by_group
    from lotus_core.live.frames import events_frame
    from lotus_core.live.parity import replay_steps
    from lotus_core.signals.priors import NO_PRIORS
    from lotus_core.store.lake import SLICE_ROWS, Lake
    from lotus_core.store.spill import CoinSpill

    ctx = _context()
    with tempfile.TemporaryDirectory(prefix="lotus-bench-") as tmp:
        groups = split_by_group(path, DAY, Path(tmp) / "groups")
        # one coin's batches a slice's share: the merge reads a batch of each coin a slice
        spill = CoinSpill(max(1, sum(map(len, groups.groups))), Path(tmp))
        for i, coins in enumerate(groups.groups):
            steps = list(replay_steps(groups.recording(i), DAY, ctx, NO_PRIORS))
            frame = pd.concat(steps, ignore_index=True) if steps else events_frame([])
            for coin in coins:
                part = frame[frame["coin"] == coin].sort_values("ts_ms", kind="stable",
                                                                 ignore_index=True)
                spill.put("w", coin, part)
            print(f"  nightly: group {i + 1} of {len(groups.groups)}", file=sys.stderr)
        replay_peak = status_mb("VmHWM")
        with spill:
            Lake(lake_root).write_parts("signal_events", DAY, spill.merged("w"),
                                        empty=events_frame([]), row_group=SLICE_ROWS)
    return Lake(lake_root).rows("signal_events", DAY), replay_peak


_NIGHTLY = """
import json, sys, time
from pathlib import Path
from bench.proc import status_mb
from bench.parity_groups import make_nightly
from lotus_core.store.lake import use_system_allocator
use_system_allocator()
t0, c0 = time.perf_counter(), time.process_time()
n, replay_peak = make_nightly(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"live": n, "wall_s": round(time.perf_counter() - t0, 1),
                  "cpu_s": round(time.process_time() - c0, 1), "peak_mb": replay_peak,
                  "peak_with_write_mb": status_mb("VmHWM")}))
"""
"""`make_nightly` in a fresh process: the group replay without the comparison (`peak_mb` the
replay's, before the windows are written; `peak_with_write_mb` after)."""

_MEASURE = """
import json, resource, sys, time
from pathlib import Path
from bench.proc import status_mb
from bench.parity_groups import _context
import lotus_core.live.parity as P
from lotus_core.signals.priors import NO_PRIORS
from lotus_core.store.lake import Lake, use_system_allocator
use_system_allocator()
rec, lake, how, day = Path(sys.argv[1]), Lake(Path(sys.argv[2])), sys.argv[3], sys.argv[4]
ctx = _context()
t0, c0 = time.perf_counter(), time.process_time()
nightly = lake.read_row_groups("signal_events", day)
if how in ("groups", "groups_inline"):  # after round 19 / round 18's (one process)
    r = P.compare_by_group(nightly, rec, day, ctx, NO_PRIORS,
                           workers=P.GROUP_WORKERS if how == "groups" else 1)
else:
    r = P.compare_streams(nightly, P.replay_steps(rec, day, ctx, NO_PRIORS))
print(json.dumps({"ok": r.ok, "compared": r.compared, "live": r.live_windows,
                  "wall_s": round(time.perf_counter() - t0, 1),
                  "cpu_s": round(time.process_time() - c0, 1), "peak_mb": status_mb("VmHWM"),
                  "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                  // 1024}))
"""
"""`peak_mb`: this process's; `children_peak_mb`: the largest forked group's (its pages
shared with this process at the fork included)."""


def measure(path: Path, lake_root: Path, how: str) -> dict:
    return fresh_json(_MEASURE, str(path), str(lake_root), how, DAY)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coins", default="3,30,100")
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--whole", action="store_true", help="also the one-engine replay")
    ap.add_argument("--inline", action="store_true",
                    help="also every group in this process (round 18's check)")
    a = ap.parse_args()
    for n in (int(c) for c in a.coins.split(",")):
        path = recording(n, a.hours)
        lake_root = path.parent.parent / "lake"
        from lotus_core.store.lake import Lake

        if not Lake(lake_root).exists("signal_events", DAY):
            measured_row(RESULTS, {"coins": n, "hours": a.hours, "how": "replay_only"},
                         lambda p=path, r=lake_root: fresh_json(_NIGHTLY, str(p), str(r)))
        hows = ("groups", *(("groups_inline",) if a.inline else ()),
                *(("whole",) if a.whole else ()))
        for how in hows:
            measured_row(RESULTS, {"coins": n, "hours": a.hours, "how": how},
                         lambda p=path, r=lake_root, h=how: measure(p, r, h))


if __name__ == "__main__":
    main()
