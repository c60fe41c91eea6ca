# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The live path end to end: replay server -> daemon feed + score loops, over real loopback.

Usage: python -m bench.live [--day 2026-01-02] [--realtime-s 120] [--write]
Phases, each in a fresh subprocess (its own peak memory, ru_maxrss):
  floor     decompress + JSON-parse the same recording (the rate no reader can beat)
  max       `lotus replay-server --speed max` (its own process) into the feed and score
            loops: messages/s end to end, steps, peak RSS of the daemon's loops
  realtime  the same at --speed 1 for `--realtime-s` seconds: tick-to-signal latency
            (receipt of the oldest unscored line -> scored / -> envelope committed)
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson

from bench.report import write_section

REPO = Path(__file__).resolve().parents[1]


def phase_floor(path: Path) -> dict:
    from lotus_core.feed.parse import open_recording

    t0 = time.perf_counter()
    n = 0
    with open_recording(path) as reader:
        for line in reader:
            orjson.loads(line)
            n += 1
    return {"seconds": time.perf_counter() - t0, "messages": n}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def phase_live(feed_dir: Path, day: str, speed: str, limit_s: float | None) -> dict:
    from lotus_core.config import load_settings
    from lotus_core.fabric.names import MODULES
    from lotus_core.fabric.signing import ensure_keys
    from lotus_daemon.loops import LoopContext
    from lotus_daemon.loops.feed import FeedLoop
    from lotus_daemon.loops.score import ScoreLoop
    from lotus_daemon.market import MarketHub

    home = REPO / ".lotus" / "bench" / f"live-{speed}"
    subprocess.run(["rm", "-rf", str(home)], check=True)
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home)}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay"})})
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", "from lotus_cli.main import cli; cli()",
                               "replay-server",
                               "--feed-dir", str(feed_dir), "--from", day, "--to", day,
                               "--speed", speed, "--port", str(port)],
                              stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert server.stderr is not None
        while "replaying" not in server.stderr.readline():  # "replaying ... on ws://..."
            if server.poll() is not None:
                raise RuntimeError("the replay server did not start")
        hub = MarketHub()
        feed = FeedLoop(settings.feed, url=f"ws://127.0.0.1:{port}", hub=hub)
        score = ScoreLoop(settings, hub)
        stop = threading.Event()
        threads = [threading.Thread(target=lp.run, args=(LoopContext(
            settings.fabric, home / "keys", home, stop, market=hub),)) for lp in (feed, score)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        done = threading.Event()

        def wait_end() -> None:
            assert server.stderr is not None
            for line in server.stderr:
                if "replay finished" in line:
                    break
            done.set()

        threading.Thread(target=wait_end, daemon=True).start()
        if done.wait(limit_s):  # the server sent all; wait until the client has read it
            seen = -1
            while feed.info()["data_frames"] != seen:
                seen = feed.info()["data_frames"]
                time.sleep(1.0)
        t_feed = time.perf_counter() - t0
        stop.set()
        for t in threads:
            t.join()
        t_all = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait()
    lat = np.array(score.latencies) if score.latencies else np.zeros((0, 2))

    def q(col: int) -> dict:
        if not len(lat):
            return {}
        return {"p50": float(np.percentile(lat[:, col], 50)) * 1e3,
                "p99": float(np.percentile(lat[:, col], 99)) * 1e3,
                "max": float(lat[:, col].max()) * 1e3}

    info = feed.info()
    return {"feed_seconds": t_feed, "total_seconds": t_all, "messages": info["messages"],
            "data_frames": info["data_frames"], "steps": score.steps,
            "windows": score.windows, "rows": score.rows, "last_step_s": score.last_step_s,
            "to_scored_ms": q(0), "to_committed_ms": q(1), "samples": len(lat)}


def _run(phase: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.live", "--phase", phase, *args],
                         capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--day", default="2026-01-02")
    ap.add_argument("--feed-dir", default=str(REPO / "fixtures"))
    ap.add_argument("--realtime-s", type=float, default=120.0)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    ap.add_argument("--phase")
    ap.add_argument("--speed", default="max")
    a = ap.parse_args()
    feed_dir = Path(a.feed_dir)
    if a.phase:
        if a.phase == "floor":
            res = phase_floor(feed_dir / f"{a.day}.jsonl.gz")
        else:
            limit = None if a.speed == "max" else a.realtime_s
            res = phase_live(feed_dir, a.day, a.speed, limit)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return
    floor = _run("floor", "--day", a.day, "--feed-dir", str(feed_dir))
    full = _run("live", "--day", a.day, "--feed-dir", str(feed_dir), "--speed", "max")
    real = _run("live", "--day", a.day, "--feed-dir", str(feed_dir), "--speed", "1",
                "--realtime-s", str(a.realtime_s))
    print(json.dumps({"floor": floor, "max": full, "realtime": real}, indent=2))
    if not a.write:
        return
    fr = floor["messages"] / floor["seconds"]
    mr = full["messages"] / full["feed_seconds"]
    s, c = real["to_scored_ms"], real["to_committed_ms"]
    body = f"""## Live path (issue 10): replay server -> feed + score loops

`python -m bench.live --write` on fixture day {a.day} (2 h, 3 coins, {floor['messages']:,} lines).
The machine was shared with five other engineers' builds and tests (2 cores, busy): treat the
absolute figures as pessimistic; the ratio to the floor is measured in the same run.

| measure | value |
| --- | --- |
| parse-only floor (gunzip + orjson of the same file) | {fr:,.0f} lines/s |
| replay server --speed max -> feed loop (recording, validation, hub) + score loop | {mr:,.0f} msgs/s ({full['feed_seconds']:.1f} s for the day; {full['messages'] / fr:.1f} s floor) |
| score steps during that replay / last step (whole day so far) | {full['steps']} / {full['last_step_s']} s |
| peak RSS of the daemon loops over the 2 h day | {full['peak_rss_mb']:.0f} MB |
| tick -> scored at 1x, first {a.realtime_s:.0f} s of the day (p50 / p99 / max) | {s.get('p50', float('nan')):.0f} / {s.get('p99', float('nan')):.0f} / {s.get('max', float('nan')):.0f} ms ({real['samples']} steps) |
| tick -> envelope committed at 1x (p50 / p99 / max) | {c.get('p50', float('nan')):.0f} / {c.get('p99', float('nan')):.0f} / {c.get('max', float('nan')):.0f} ms |

Reading: the feed loop hands lines to the scorer in batches (every flush, <= 1 s, or 2,000
lines), and each scoring step re-runs the nightly chain over the day so far (docs/live.md),
so tick-to-signal latency is bounded below by the batch interval and grows with the day; the
5 ms p99 goal is not met by this design (an incremental MicroTape/scorer would be needed, see
the report). A 24 h replay was not run in this session (the 2 h day above took the time
shown); memory grows with the day because the day's extracted lines are kept.
"""
    write_section("live", body)


if __name__ == "__main__":
    main()
