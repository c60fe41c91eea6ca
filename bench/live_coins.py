# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The live daemon with many coins: the feed and score loops fed by the
replay server with 3, 10 and 30 coins of the same generated hour.

Usage: python -m bench live_coins [--coins 3,10,30] [--realtime-s 120] [--write]
Input: one generated hour (2026-01-06 06:00-07:00, seed 1, the default market) per coin
count, coins from bench.scale's list (BTC, ETH, SOL, DOGE, ...), generated into
.lotus/bench/feed/h1-c<N>-s1 on first use. Per coin count, each in a fresh subprocess:
  max       `lotus replay-server --speed max` over the hour into the feed loop and the score
            process (bench.live.phase_live, the 3-coin day's harness): wall time until the
            last frame was read and until the loops stopped with every window stored,
            messages/s, CPU per process, peak RSS of both daemon processes
  realtime  the same hour at --speed 1 for `--realtime-s` seconds: tick -> scored latency
            (receipt of the oldest unscored line -> its windows scored), the score
            process's CPU per second of market time
The per-coin cost is the least-squares slope of CPU over coins (max-speed runs), and the
share of one core the score process needs at 1x says how many coins one score process can
take before coins must be sharded across score processes.
Timings on a shared machine are inflated by others' work: the load average is recorded
beside them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np

from bench.report import headline, write_section
from bench.scale import COIN_NAMES

REPO = Path(__file__).resolve().parents[1]
DAY = date(2026, 1, 6)
HOURS = (6, 7)


def feed_for(n: int) -> Path:
    """The generated hour for the first `n` coins (generated once, seeded)."""
    from lotus_core.synth import default_spec, generate_day

    feed = REPO / ".lotus" / "bench" / "feed" / f"h1-c{n}-s1"
    if not (feed / f"{DAY.isoformat()}.jsonl.gz").exists():
        print(f"generating {DAY} {HOURS[0]:02d}-{HOURS[1]:02d} h, {n} coins into {feed} ...",
              file=sys.stderr)
        generate_day(feed, DAY, COIN_NAMES[:n], 1, default_spec(), hours=HOURS)
    return feed


def _phase(n: int, speed: str, realtime_s: float) -> dict:
    from bench.live import phase_live

    feed = feed_for(n)
    res = phase_live(feed, DAY.isoformat(), DAY.isoformat(), speed,
                     None if speed == "max" else realtime_s, coins=COIN_NAMES[:n],
                     home_tag=f"-c{n}")
    import resource
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res.pop("rss", None)
    res.pop("score_rss", None)
    return res


def _run(n: int, speed: str, realtime_s: float) -> dict:
    feed_for(n)  # generated before the timed subprocess starts
    out = subprocess.run([sys.executable, "-m", "bench.live_coins", "--phase", speed,
                          "--coins", str(n), "--realtime-s", str(realtime_s)],
                         capture_output=True, text=True, cwd=REPO, check=False)
    if out.returncode:
        raise RuntimeError(f"{n} coins at {speed}: {out.stderr[-3000:]}")
    return json.loads(next(x for x in reversed(out.stdout.splitlines()) if x.startswith("{")))


def _cpu(r: dict) -> tuple[float, float, float]:
    """(daemon loops' process, score process, replay server) CPU seconds."""
    return (float(r["cpu_s"]), float(r["loop_cpu_s"].get("score_process", 0.0)),
            float(r.get("server_cpu_s", 0.0)))


def report(rows: dict[int, dict], realtime_s: float) -> str:
    ns = sorted(rows)
    lines = []
    for n in ns:
        m, rt = rows[n]["max"], rows[n]["realtime"]
        loops, score, server = _cpu(m)
        s = rt.get("to_scored_ms") or {}
        rt_score = float(rt["loop_cpu_s"].get("score_process", float("nan")))
        share = rt_score / realtime_s
        lines.append(
            f"| {n} | {m['data_frames']:,} | {m['feed_seconds']:.1f} / {m['total_seconds']:.1f} s | "
            f"{m['messages'] / m['feed_seconds']:,.0f} | {loops:.1f} / {score:.1f} / {server:.1f} s | "
            f"{m['windows']:,} | {m['peak_rss_mb']:.0f} / {m['score_peak_mb']:.0f} MB | "
            f"{s.get('p50', float('nan')):.1f} / {s.get('p99', float('nan')):.1f} / {s.get('max', float('nan')):.0f} ms "
            f"({rt['samples']} steps) | {100 * share:.1f} % | "
            f"{m['load_start'][0]:.1f} / {rt['load_start'][0]:.1f} |")
    x = np.array(ns, dtype=float)
    fit = {}
    for k, name in enumerate(("loops", "score", "server")):
        y = np.array([_cpu(rows[n]["max"])[k] for n in ns])
        slope, icpt = np.polyfit(x, y, 1) if len(ns) > 1 else (y[0] / x[0], 0.0)
        fit[name] = (float(slope), float(icpt))
    rt_share = {n: float(rows[n]["realtime"]["loop_cpu_s"].get("score_process", 0.0)) / realtime_s
                for n in ns}
    per_coin_rt = float(np.polyfit(x, [rt_share[n] for n in ns], 1)[0]) if len(ns) > 1 else (
        rt_share[ns[0]] / ns[0])
    coins_per_process = 0.5 / per_coin_rt if per_coin_rt > 0 else float("inf")
    biggest = ns[-1]
    p99 = (rows[biggest]["realtime"].get("to_scored_ms") or {}).get("p99", float("nan"))
    rate = float(np.mean([rows[n]["max"]["data_frames"] / (3600.0 * n) for n in ns]))
    hops = rows[biggest]["realtime"].get("hops_ms") or {}
    worst = max(hops.items(), key=lambda kv: kv[1]["p99"]) if hops else None
    verdict = (f"One score process keeps up at {biggest} coins (it needs "
               f"{100 * rt_share[biggest]:.1f} % of a core at 1x), so coins are not sharded "
               "across score processes"
               if rt_share[biggest] < 0.5 else
               f"At {biggest} coins one score process needs {100 * rt_share[biggest]:.0f} % of "
               "a core at 1x: coins must be sharded across score processes")
    if worst is not None:
        verdict += (f"; the p99's largest hop is {worst[0]} ({worst[1]['p99']:.1f} ms at p99, "
                    "bench.live's hops).")
    else:
        verdict += "."
    return f"""## The live daemon with many coins

`python -m bench live_coins --coins {",".join(map(str, ns))} --realtime-s {realtime_s:.0f} --write`:
the same generated hour (2026-01-06 06-07 UTC, seed 1, the default market) with the first 3,
10 and 30 coins of bench.scale's list, served by `lotus replay-server` to the daemon's feed
loop and its score process (the 3-coin day's harness, `bench.live.phase_live`), once at max
speed and once at 1x for the first {realtime_s:.0f} s; the load average at each run's start is
in the last column.

| coins | data frames | max speed: last frame read / all stored | msgs/s | CPU: loops / score process / server | windows | peak RSS: loops / score process | 1x tick -> scored p50 / p99 / max | score process at 1x, share of one core | load (max / 1x) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(lines)}

Per coin (least squares over the max-speed runs, CPU seconds per coin-hour of this market):
loops' process {fit["loops"][0]:.2f} s (+{fit["loops"][1]:.2f} s fixed), score process
{fit["score"][0]:.2f} s (+{fit["score"][1]:.2f}), replay server {fit["server"][0]:.2f} s
(+{fit["server"][1]:.2f}). At 1x the score process needs {100 * per_coin_rt:.2f} % of one core per
coin, so one score process keeps up with about {coins_per_process:,.0f} coins of this market
at half a core; at {biggest} coins the 1x tick -> scored p99 is {p99:.1f} ms (the 3-coin goal
is < 5 ms, docs/live.md). {verdict} The message rates are the generator's ({rate:.1f} data
frames per second per coin here: books, bbo, trades, context), so a coin list with busier
books scales the per-coin figures by its frame rate.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--coins", default="3,10,30")
    ap.add_argument("--realtime-s", type=float, default=120.0)
    ap.add_argument("--phase", choices=["max", "1"])
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    a = ap.parse_args()
    if a.phase:
        # flushed now: a native library may print leak reports to fd 1 at exit
        print(json.dumps(_phase(int(a.coins), a.phase, a.realtime_s)), flush=True)
        return
    rows: dict[int, dict] = {}
    for n in (int(c) for c in a.coins.split(",")):
        if not 1 <= n <= len(COIN_NAMES):
            raise SystemExit(f"--coins: each between 1 and {len(COIN_NAMES)}, got {n}")
        print(f"{n} coins: max speed ...", file=sys.stderr)
        rows[n] = {"max": _run(n, "max", a.realtime_s)}
        print(f"{n} coins: 1x for {a.realtime_s:.0f} s ...", file=sys.stderr)
        rows[n]["realtime"] = _run(n, "1", a.realtime_s)
    out = REPO / ".lotus" / "bench" / "live_coins.json"
    out.write_text(json.dumps({str(n): r for n, r in rows.items()}, indent=1))
    text = report(rows, a.realtime_s)
    print(text)
    if a.write:
        write_section("live_coins", text)
        ns = sorted(rows)
        share = {n: float(rows[n]["realtime"]["loop_cpu_s"].get("score_process", 0.0))
                 / a.realtime_s for n in ns}
        p99 = {n: (rows[n]["realtime"].get("to_scored_ms") or {}).get("p99", float("nan"))
               for n in ns}
        headline("live_coins", f"{ns[-1]} coins: the score process needs "
                 f"{100 * share[ns[-1]]:.1f} % of a core at 1x; tick -> scored p99 "
                 f"{p99[ns[-1]]:.1f} ms ({ns[0]} coins: {p99[ns[0]]:.1f} ms)",
                 "one run per coin count (no spread measured)")


if __name__ == "__main__":
    main()
