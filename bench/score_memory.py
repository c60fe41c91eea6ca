"""`score_signals`' and `signal_eval`'s memory outside Dagster: one day scored (or
evaluated) coin by coin and its tables written to a lake, streamed as the step does it
against held whole (issue 32, item 3).

    .venv/bin/python -m bench.score_memory LAKE DAY [--out DIR]          # streamed (the step)
    .venv/bin/python -m bench.score_memory LAKE DAY --whole              # tables held whole
    .venv/bin/python -m bench.score_memory LAKE DAY --eval [--whole]     # signal_eval

Streamed: `CoinScoring.meta()` written a coin at a time, then `streamed()`: signal_events and
curator_log merged from the per-coin spill in slices (`InOrder`, row groups of SLICE_ROWS).
--whole: `day()` (the same tables laid together) written as whole frames, the step's form
before. Reads LAKE's microtape_frames and dsi_annotations of DAY and its raw_feed's
fingerprint, as the step does (no history, priors or audit: a day-1 lake, the bench.scale
runs' first day) and writes into a scratch lake beside nothing of LAKE's (--out: that
lake, e.g. LAKE itself, so that --eval reads what it wrote).
--eval: signal_eval of LAKE's signal_events and microtape_frames (`evaluate_in_order`, the
rows merged back from a per-coin spill; --whole: `evaluate_by_coin` of the events read
whole, the step's form before). Prints the rows, the process's peak RSS (VmHWM) and the
wall time, and the sha256 of each table written (the two forms write the same bytes). One
process per figure. BENCHMARKS.md (round 15) quotes it.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from bench.proc import status_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake", type=Path)
    ap.add_argument("day")
    ap.add_argument("--whole", action="store_true", help="hold the day's tables whole")
    ap.add_argument("--eval", action="store_true", help="signal_eval instead of score_signals")
    ap.add_argument("--out", type=Path, default=None, help="the lake written (default scratch)")
    args = ap.parse_args()
    if args.eval:
        _eval(args)
        return
    from lotus_core.schemas import ASSET_SCHEMAS
    from lotus_core.signals.pipeline import score_by_coin
    from lotus_core.signals.schema import SIGNAL_EVENTS_KEY
    from lotus_core.store.by_coin import ByCoin, CoinDay, InOrder
    from lotus_core.store.lake import SLICE_ROWS, Lake, use_system_allocator

    use_system_allocator()  # as every Lotus process reads the lake
    lake = Lake(args.lake)
    out = Lake(args.out or tempfile.mkdtemp(prefix="lotus-score-bench-"))
    t0 = time.perf_counter()
    hashes = sorted(set(lake.read("raw_feed", args.day, columns=["sha256"])["sha256"]))
    scoring = score_by_coin(CoinDay(lake, "microtape_frames", args.day), args.day,
                            fingerprint=hashes[0] if len(hashes) == 1 else None,
                            dsi=CoinDay(lake, "dsi_annotations", args.day))
    with scoring:
        meta = ByCoin(scoring.meta(), scoring.empty_meta())
        out.write_parts("meta_signals", args.day, meta.counted(), meta.empty,
                        validate=ASSET_SCHEMAS["meta_signals"].validate)
        if args.whole:
            day = scoring.day()
            out.write("signal_events", args.day, day.events,
                      validate=ASSET_SCHEMAS["signal_events"].validate)
            out.write("curator_log", args.day, day.curator_log,
                      validate=ASSET_SCHEMAS["curator_log"].validate)
        else:
            day = scoring.streamed()
            for name, slices, empty, key in (
                    ("signal_events", day.events(), day.empty_events, SIGNAL_EVENTS_KEY),
                    ("curator_log", day.curator_log(), day.empty_log, ())):
                table = InOrder(slices, empty, key)
                out.write_parts(name, args.day, table.counted(), table.empty,
                                validate=ASSET_SCHEMAS[name].validate, row_group=SLICE_ROWS)
        out.write("curator_kpis", args.day, day.kpis)
    wall = time.perf_counter() - t0
    digests = {name: hashlib.sha256(out.path(name, args.day).read_bytes()).hexdigest()[:12]
               for name in ("signal_events", "curator_log", "curator_kpis")}
    rows = {name: len(out.read(name, args.day, columns=["window_id"] if name != "curator_kpis"
                               else None)) for name in ("signal_events", "curator_log")}
    print(f"{'whole' if args.whole else 'streamed'}: {rows}, sha256 {digests}, "
          f"peak {status_mb()} MB, {wall:.1f} s")


def _eval(args: argparse.Namespace) -> None:
    from lotus_core.evaluation.outcomes import (
        WINDOW_COLUMNS,
        evaluate_by_coin,
        evaluate_in_order,
    )
    from lotus_core.report.tables import EvalTally
    from lotus_core.schemas import ASSET_SCHEMAS
    from lotus_core.store.by_coin import CoinDay, InOrder
    from lotus_core.store.lake import SLICE_ROWS, Lake, use_system_allocator
    from lotus_core.store.spill import CoinSpill

    use_system_allocator()
    lake = Lake(args.lake)
    out = Lake(args.out or tempfile.mkdtemp(prefix="lotus-eval-bench-"))
    validate = ASSET_SCHEMAS["signal_eval"].validate
    t0 = time.perf_counter()
    tape = CoinDay(lake, "microtape_frames", args.day)
    if args.whole:
        rows = evaluate_by_coin(lake.read("signal_events", args.day, WINDOW_COLUMNS), tape)
        out.write("signal_eval", args.day, rows, validate=validate)
    else:
        events = CoinDay(lake, "signal_events", args.day)
        tally = EvalTally()
        with CoinSpill(max(len(tape.coins()), 1)) as spill:
            windows = spill.spread("windows", events.slices(WINDOW_COLUMNS))
            empty, merged = evaluate_in_order(windows, tape, spill, each=tally.add)
            table = InOrder(merged(), empty)
            out.write_parts("signal_eval", args.day, table.counted(), table.empty,
                            validate=validate, row_group=SLICE_ROWS)
    wall = time.perf_counter() - t0
    digest = hashlib.sha256(out.path("signal_eval", args.day).read_bytes()).hexdigest()[:12]
    print(f"signal_eval {'whole' if args.whole else 'streamed'}: sha256 {digest}, "
          f"peak {status_mb()} MB, {wall:.1f} s")


if __name__ == "__main__":
    main()
