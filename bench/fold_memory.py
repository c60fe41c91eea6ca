"""A check's memory when it folds a table in slices, against reading it whole: the
`signal_events` schema and publication check of one day (issue 32, item 3).

    .venv/bin/python -m bench.fold_memory LAKE DAY            # folded (Lake.read_slices)
    .venv/bin/python -m bench.fold_memory LAKE DAY --whole    # read whole, validated whole
    .venv/bin/python -m bench.fold_memory LAKE DAY --rewrite  # first rewrite the partition
                                                              # as `Lake.write` writes it now

Prints the rows, the check's verdict and publication rate, the process's peak RSS (VmHWM)
and the wall time. One process per figure (the peak is the process's). `--rewrite` reads the
partition and writes it back through `Lake.write`, so a lake written before the row groups
were bounded is measured as a new one would be. BENCHMARKS.md (round 14) quotes it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.proc import status_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake", type=Path)
    ap.add_argument("day")
    ap.add_argument("--whole", action="store_true", help="read and validate the day whole")
    ap.add_argument("--rewrite", action="store_true",
                    help="rewrite the partition through Lake.write first (then exit)")
    args = ap.parse_args()
    from lotus_core.report import health as H
    from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA
    from lotus_core.store.lake import Lake, use_system_allocator

    use_system_allocator()  # as every Lotus process reads the lake
    lake = Lake(args.lake)
    if args.rewrite:
        lake.write("signal_events", args.day, lake.read("signal_events", args.day))
        print(f"rewrote {lake.path('signal_events', args.day)}")
        return
    t0 = time.perf_counter()
    if args.whole:
        events = lake.read("signal_events", args.day)
        try:
            SIGNAL_EVENTS_SCHEMA.validate(events, lazy=True)
            problem = None
        except Exception as exc:  # noqa: BLE001 - reported, as the check reports it
            problem = str(exc)[:200]
        rows, rate = len(events), H.publication_rate(events)
    else:
        check = H.EventsCheck()
        for part in lake.read_slices("signal_events", args.day):
            check.add(part)
        rows, rate, problem = check.rows, check.publication_rate(), check.problem
    print(f"{'whole' if args.whole else 'folded'}: {rows} rows, problem {problem}, "
          f"publication rate {rate:.6f}, peak {status_mb()} MB, "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
