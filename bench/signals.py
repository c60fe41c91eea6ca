# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The signal layer on one generated day: MicroTape -> DSI -> detectors -> scoring -> curators
-> signal_events (+ curator_log, curator_kpis, meta_signals, Signal Bus payloads).

Usage: python -m bench signals [--hours 24] [--coins BTC,ETH,SOL] [--seed 1]
The recording is generated deterministically into .lotus/bench/ (reused when present).
Phase 1 (its own process) parses the day and builds the MicroTape; phase 2 (a fresh process,
so its peak memory is its own) loads that MicroTape and runs the signal layer twice: with no
history (the documented priors) and with 7 days of history (the day's own detector windows
relabelled as the 7 previous days, for the cost of a full history).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.microtape import ensure_recording
from bench.report import headline, write_section

WORK = Path(".lotus/bench/signals")


def phase_microtape(path: Path, out: Path) -> dict:
    from lotus_core.feed.parse import parse_recording
    from lotus_core.microtape import build_microtape

    t0 = time.perf_counter()
    feed = parse_recording(path)
    t1 = time.perf_counter()
    frames = build_microtape(feed)
    t2 = time.perf_counter()
    frames.to_parquet(out)
    return {"parse_seconds": t1 - t0, "build_seconds": t2 - t1, "frames": len(frames),
            "sha256": feed.sha256}


def _dsi(frames):
    """DSI annotations when lotus_core.dsi exists (fitted on no history: its priors)."""
    if importlib.util.find_spec("lotus_core.dsi") is None:
        return None, 0.0
    from lotus_core.dsi import annotate, fit_dsi, load_registry

    t0 = time.perf_counter()
    ann = annotate(frames, fit_dsi(None, registry=load_registry())).annotations
    return ann, time.perf_counter() - t0


def phase_signals(frames_path: Path, sha256: str) -> dict:
    import pandas as pd

    from lotus_core.curators.config import load_curators
    from lotus_core.signals.config import load_scoring
    from lotus_core.signals.pipeline import detect_day, score_day
    from lotus_core.signals.schema import SIGNAL_SCHEMAS

    day = "2026-01-06"
    frames = pd.read_parquet(frames_path)
    dsi, dsi_seconds = _dsi(frames)
    scoring, council = load_scoring(), load_curators()
    t0 = time.perf_counter()
    windows = detect_day(frames, scoring=scoring)
    t1 = time.perf_counter()
    cold = score_day(frames, day, fingerprint=sha256, dsi=dsi,
                     scoring=scoring, council=council)
    t2 = time.perf_counter()
    for name, df in (("signal_events", cold.events), ("curator_log", cold.curator_log),
                     ("curator_kpis", cold.kpis), ("meta_signals", cold.meta)):
        SIGNAL_SCHEMAS[name].validate(df)
    t3 = time.perf_counter()
    dates = pd.date_range(end=pd.Timestamp(day) - pd.Timedelta(days=1), periods=7)
    history = pd.concat([windows.assign(date=d.strftime("%Y-%m-%d")) for d in dates],
                        ignore_index=True)
    t4 = time.perf_counter()
    warm = score_day(frames, day, fingerprint=sha256, dsi=dsi, history=history,
                     scoring=scoring, council=council)
    t5 = time.perf_counter()
    ev = warm.events
    return {
        "frames": len(frames), "windows": len(ev), "dsi": dsi is not None,
        "dsi_seconds": dsi_seconds, "detector_windows_seconds": t1 - t0,
        "cold_seconds": t2 - t1, "validate_seconds": t3 - t2, "warm_seconds": t5 - t4,
        "history_windows": len(history),
        "published_live": int((ev["published"] & ~ev["paper"]).sum()),
        "published_paper": int(ev["paper"].sum()), "vetoed": int(ev["vetoed"].sum()),
        "log_rows": len(warm.curator_log), "bus_rows": len(warm.bus),
        "timings": {k: round(v, 3) for k, v in warm.timings.items()},
    }


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.signals", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--coins", default="BTC,ETH,SOL")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--phase", choices=["microtape", "signals"], help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--sha256", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        if args.phase == "microtape":
            result = phase_microtape(args.file, args.frames)
        else:
            result = phase_signals(args.frames, args.sha256)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    coins = args.coins.split(",")
    path = ensure_recording(args.hours, coins, args.seed)
    WORK.mkdir(parents=True, exist_ok=True)
    frames_path = WORK / f"{path.parent.name}.microtape.parquet"
    tape = _run(["--phase", "microtape", "--file", str(path), "--frames", str(frames_path)])
    sig = _run(["--phase", "signals", "--frames", str(frames_path), "--sha256", tape["sha256"]])
    layer = sig["dsi_seconds"] + sig["detector_windows_seconds"] + sig["warm_seconds"]
    rate = sig["windows"] / sig["warm_seconds"]
    dsi_row = (f"{sig['dsi_seconds']:.2f} s" if sig["dsi"]
               else "skipped (no `lotus_core.dsi` module)")
    t = sig["timings"]
    body = f"""## Signal layer

Input: a generated {args.hours}-hour, {len(coins)}-coin day ({', '.join(coins)}; seed {args.seed}):
{sig['frames']:,} MicroTape frames. Phase 1 parses the recording and builds the MicroTape;
phase 2, a fresh process, runs the signal layer on that MicroTape: DSI (`annotate` with
`fit_dsi(None)`, its priors), `detect_day` (the `detector_windows` asset: windows and their
outcomes), then `score_day` (detectors, sq_*, kr_*, DSI entry, priors, meta-signals, the
eight curators, publication, schema validation of signal_events and meta_signals, sigbus
payloads validated one by one). `score_day` runs twice: with no history (priors) and with
7 days of history ({sig['history_windows']:,} windows: the day's own windows relabelled).

| step | time |
| --- | ---: |
| MicroTape: parse + validate the recording | {tape['parse_seconds']:.2f} s |
| MicroTape: build features | {tape['build_seconds']:.2f} s |
| DSI annotations | {dsi_row} |
| `detect_day` (detector_windows) | {sig['detector_windows_seconds']:.2f} s |
| `score_day`, no history | {sig['cold_seconds']:.2f} s |
| `score_day`, 7 days of history | {sig['warm_seconds']:.2f} s |
| of which detectors / meta-signals / scores / curators + publication / assembly + validation + sigbus | {t['detectors']:.2f} / {t['meta']:.2f} / {t['scores']:.2f} / {t['council']:.2f} / {t['assemble']:.2f} s |
| **signal layer (DSI + detector_windows + score_day with history)** | **{layer:.2f} s** |

| measure | value |
| --- | ---: |
| windows scored | {sig['windows']:,} ({rate:,.0f} windows/s in `score_day` with history) |
| published live / paper / vetoed | {sig['published_live']:,} / {sig['published_paper']:,} / {sig['vetoed']:,} |
| curator_log rows / sigbus payloads | {sig['log_rows']:,} / {sig['bus_rows']:,} |
| peak memory (RSS), MicroTape phase | {tape['peak_rss_mb']:,.0f} MB |
| peak memory (RSS), signal phase (MicroTape loaded + DSI + signals) | {sig['peak_rss_mb']:,.0f} MB |

Goal: the whole signal layer for the day in < 60 s on this machine: **{layer:.1f} s**.
"""
    write_section("signals", body)
    headline("signals", f"{layer:.2f} s for the day (DSI, detector_windows, score_day with 7 "
             "days of history)", "one run (no spread measured)")
    print(body)


if __name__ == "__main__":
    main()
