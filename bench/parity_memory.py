"""`live_parity`'s memory outside Dagster: one day's recording replayed through the live
engine and compared with the nightly signal_events of a lake (issue 32, item 3).

    .venv/bin/python -m bench.parity_memory LAKE FEED_DIR DAY           # streamed
    .venv/bin/python -m bench.parity_memory LAKE FEED_DIR DAY --whole   # both days whole

Streamed is what the check does (`compare_streams` over `Lake.read_slices` and
`replay_steps`); --whole is the form before it (`replay_windows`, `Lake.read`,
`compare_windows`). Prints the verdict, the process's peak RSS (VmHWM) and its RSS every
20 engine batches (the engine's own growth through the day), one process per figure. With
no priors and no curator actions: a day-1 lake (the bench.scale runs' first day).
BENCHMARKS.md (round 14) quotes it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.proc import status_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake", type=Path)
    ap.add_argument("feed_dir", type=Path)
    ap.add_argument("day")
    ap.add_argument("--whole", action="store_true")
    args = ap.parse_args()
    import lotus_core.live.parity as P
    from lotus_core.config.settings import Settings
    from lotus_core.config.shared import shared_values
    from lotus_core.live.engine import night_loader
    from lotus_core.microtape import MicroTapeParams
    from lotus_core.signals.priors import NO_PRIORS
    from lotus_core.store.lake import Lake, use_system_allocator

    use_system_allocator()
    batches = P._batches
    seen: list[int] = []

    def sampled(path, size):  # noqa: ANN001, ANN202 - the engine's batches, RSS sampled
        for i, batch in enumerate(batches(path, size)):
            if i % 20 == 0:
                seen.append(status_mb("VmRSS"))
            yield batch

    P._batches = sampled
    values = shared_values(Settings())
    scoring, load = night_loader(args.lake, values)
    night = load(args.day)
    kw = dict(params=MicroTapeParams(cadence_ms=values.cadence_ms), feed_dir=args.feed_dir,
              scoring=scoring)
    recording = args.feed_dir / f"{args.day}.jsonl.gz"
    t0 = time.perf_counter()
    if args.whole:
        live = P.replay_windows(recording, args.day, night, NO_PRIORS, **kw)
        report = P.compare_windows(Lake(args.lake).read("signal_events", args.day), live)
    else:
        report = P.compare_streams(Lake(args.lake).read_slices("signal_events", args.day),
                                   P.replay_steps(recording, args.day, night, NO_PRIORS, **kw))
    print(f"{'whole' if args.whole else 'streamed'}: {report.describe()[:120]}")
    print(f"peak {status_mb('VmHWM')} MB, {time.perf_counter() - t0:.0f} s; RSS every 20 batches: "
          + " ".join(map(str, seen)))


if __name__ == "__main__":
    main()
