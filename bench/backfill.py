# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""A long backfill through `dg launch --job lotus_backfill`: is the time
per day flat across it, once the learning window is full?

Usage: nice -n 10 python -m bench backfill [--days 30] [--coins 10] [--hours 12-13]
                                           [--work DIR] [--write]
Generates `--days` consecutive days of `--coins` coins (the `--hours` of each day; seeded,
`lotus fixtures generate`, the scale bench's coins), then launches the whole range as one
`dg launch --job lotus_backfill --partition-range A...B` subprocess against a fresh
DAGSTER_HOME (the repository's dagster.yaml) and LOTUS_HOME: the path a researcher's shell
backfill takes, each day's runs in order (docs/surface.md). Then reads every
day's run from the instance: wall (run start to end) and each step's duration. The CPU of
the whole launch (the subprocess and its children) is measured around it.

Flat means: the least-squares slope of a day's wall over the days after the longest history
window (lessons' 14 days) is ~0, against the slope over the days before it. Results:
bench/results/backfill.json; `--write` puts the table in BENCHMARKS.md (bench:backfill).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import headline, machine, wrap, write_section
from bench.scale import BENCH_DAY, _hours, bench_days, generate

REPO = Path(__file__).resolve().parents[1]
WINDOW = 14  # the longest history any stage reads (lessons, lesson_atoms): flat after it
LEARNING = ("lessons", "lesson_atoms", "braids", "meta_braids", "active_priors")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def launch(feed: Path, work: Path, days: list[str]) -> dict[str, Any]:
    """The range through `dg launch`, in a fresh home; wall and CPU of the whole launch."""
    home = work / "dagster"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    lotus_home = work / "home"
    if lotus_home.exists():
        shutil.rmtree(lotus_home)
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOTUS_HOME": str(lotus_home),
           "LOTUS_FEED_DIR": str(feed), "LOTUS_PARTITIONS_START": days[0]}
    env.pop("LOTUS_CONFIG", None)
    dg_bin = Path(sys.executable).parent / "dg"
    cpu0, t0, load0 = _children_cpu(), time.perf_counter(), os.getloadavg()
    proc = subprocess.run([str(dg_bin), "launch", "--job", "lotus_backfill",
                           "--partition-range", f"{days[0]}...{days[-1]}"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"dg launch failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return {"wall_s": time.perf_counter() - t0, "cpu_s": _children_cpu() - cpu0,
            "load_start": load0, "load_end": os.getloadavg(), "home": str(home)}


def per_day(home: Path) -> list[dict[str, Any]]:
    """Every day's runs of the instance (its lotus_daily runs and a lotus_coins run per
    coin, tagged `lotus/day`), in day order: wall (first start to last end) and step
    durations (a day x coin step's summed over its coins)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [r for job in ("lotus_daily", "lotus_coins")
                for r in instance.get_runs(dg.RunsFilter(job_name=job))]
        records = {r.dagster_run.run_id: r for r in instance.get_run_records(
            dg.RunsFilter(run_ids=[r.run_id for r in runs]))}
        days: dict[str, list] = {}
        for run in runs:
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise SystemExit(f"run {run.run_id} ({run.tags.get('dagster/partition')}) "
                                 f"ended {run.status.value}")
            days.setdefault(run.tags["lotus/day"], []).append(run)
        out = []
        for day, day_runs in days.items():
            steps: dict[str, float] = {}
            for run in day_runs:
                for st in instance.get_run_step_stats(run.run_id):
                    steps[st.step_key] = (steps.get(st.step_key, 0.0)
                                          + (st.end_time or 0) - (st.start_time or 0))
            recs = [records[r.run_id] for r in day_runs]
            out.append({"day": day,
                        "wall_s": max(r.end_time or 0 for r in recs)
                        - min(r.start_time or 0 for r in recs),
                        "runs": len(day_runs),
                        "steps_s": sum(steps.values()),
                        "learning_s": sum(v for k, v in steps.items()
                                          if k.split(".")[0] in LEARNING),
                        "steps": steps})
    return sorted(out, key=lambda r: r["day"])


def slope(rows: list[dict[str, Any]], key: str) -> float:
    """Least-squares seconds per day of `key` over `rows` (nan for fewer than 3)."""
    if len(rows) < 3:
        return float("nan")
    x = np.arange(len(rows), dtype=float)
    return float(np.polyfit(x, [r[key] for r in rows], 1)[0])


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.median([r[key] for r in rows])) if rows else float("nan")


def _blocks(rows: list[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
    """(first day number, days) in blocks: day 1 (the cold start), then five-day blocks
    (2-5, 6-10, ...) that never straddle the end of the history window."""
    out: list[tuple[int, list[dict[str, Any]]]] = [(1, rows[:1])]
    last_key = None
    for i, r in enumerate(rows[1:], start=2):
        key = (i > WINDOW + 1, (i - 1) // 5)
        if key != last_key:
            out.append((i, []))
            last_key = key
        out[-1][1].append(r)
    return out


def section(res: dict[str, Any]) -> str:
    """The section of BENCHMARKS.md: the launch, the days in blocks, the slopes before and
    after the history window, and a reading. `report` adds the table of every day."""
    rows, n = res["days"], len(res["days"])
    early, late = rows[1:WINDOW + 1], rows[WINDOW + 1:]
    lo, le = res["launch"]["load_start"], res["launch"]["load_end"]
    runs = {r.get("runs", 1) for r in rows}
    per_day = ("one `lotus_daily` run per day" if runs == {1} else
               "each day's runs (lotus_daily, a lotus_coins run per coin)")
    method = wrap(
        f"`python -m bench backfill --days {n} --coins {res['coins']} --hours {res['hours']} "
        f"--write`: {n} generated days (from {BENCH_DAY}) of {res['coins']} coins, the hours "
        f"{res['hours']} UTC of each, launched as one `dg launch --job lotus_backfill "
        f"--partition-range {rows[0]['day']}...{rows[-1]['day']}` in a fresh home: {per_day}, in "
        "order, on the embedded default's in-process executor. The whole launch: "
        f"{res['launch']['wall_s'] / 60:.1f} min wall, {res['launch']['cpu_s'] / 60:.1f} min CPU "
        f"(the launch process and its children); load average {lo[0]:.1f} at the start, "
        f"{le[0]:.1f} at the end. Every day's run and steps: bench/results/backfill.json.")
    blocks = []
    for first, days in _blocks(rows):
        last = first + len(days) - 1
        state = ("none (cold start)" if first == 1 else "windows filling" if last <= WINDOW + 1
                 else "every window full")
        walls = [r["wall_s"] for r in days]
        span = f"{_median(days, 'wall_s'):.1f}" + (
            f" ({min(walls):.1f}-{max(walls):.1f})" if len(days) > 1 else "")
        blocks.append(f"| {first if last == first else f'{first}-{last}'} | {state} | {span} | "
                      f"{_median(days, 'steps_s'):.1f} | {_median(days, 'learning_s'):.1f} |")
    grow, after = slope(early, "wall_s"), slope(late, "wall_s")
    learn = slope(early, "learning_s")
    flat = abs(after) <= abs(grow) / 10
    hours = _hours(res["hours"])
    reading = wrap(
        f"Reading: days are {hours} hour{'s' if hours != 1 else ''} of {res['coins']} coins, so "
        "this shows the growth "
        "with history, which does not depend on the day's length: a day's cost rises by "
        f"{grow:+.2f} s a day while the {WINDOW}-day windows fill (the learning steps carry "
        f"{learn:+.2f} s of it) and "
        + (f"is flat once they are full ({after:+.2f} s a day)." if flat else
           f"still moves once they are full ({after:+.2f} s a day)."))
    return f"""## A {n}-day backfill through `dg launch`

{method}

| days | history windows | run wall s, median (range) | sum of steps s, median | learning steps s, median |
| --- | --- | ---: | ---: | ---: |
{chr(10).join(blocks)}

| measure | days 2-{WINDOW + 1} (windows filling) | days {WINDOW + 2}-{n} (every window full) |
| --- | ---: | ---: |
| a day's run, median | {_median(early, 'wall_s'):.1f} s | {_median(late, 'wall_s'):.1f} s |
| slope of a day's wall | {grow:+.2f} s per day | {after:+.2f} s per day |
| slope of the learning steps ({', '.join(LEARNING)}) | {learn:+.2f} s per day | {slope(late, 'learning_s'):+.2f} s per day |

{reading}"""


def report(res: dict[str, Any]) -> str:
    """The section and the table of every day (printed by a run)."""
    table = "\n".join(
        f"| {i + 1} | {r['day']} | {r['wall_s']:.1f} | {r['steps_s']:.1f} | {r['learning_s']:.1f} |"
        for i, r in enumerate(res["days"]))
    return (section(res) + "\n\n| day | date | run wall s | sum of steps s | learning steps s |\n"
            "| --- | --- | ---: | ---: | ---: |\n" + table)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--coins", type=int, default=10)
    ap.add_argument("--hours", default="12-13", help="the hours of each day (as `lotus "
                    "fixtures generate --hours`)")
    ap.add_argument("--work", type=Path, default=None, help="where the generated days and "
                    "the homes go (kept; the days are reused)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "backfill.json")
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    a = ap.parse_args(argv)
    if a.days < WINDOW + 4:
        ap.error(f"--days: at least {WINDOW + 4}, so that days after the {WINDOW}-day window "
                 "can show a slope")
    work = a.work or Path(tempfile.mkdtemp(prefix="lotus-backfill-"))
    feed = work / f"feed_{a.coins}c_{a.hours}_{a.days}d"
    print(f"generating {a.days} days x {a.coins} coins ({a.hours}) into {feed} ...",
          file=sys.stderr, flush=True)
    generate(feed, a.coins, a.hours, a.days)
    days = bench_days(a.days)
    print(f"dg launch --job lotus_backfill {days[0]}...{days[-1]} ...", file=sys.stderr,
          flush=True)
    launched = launch(feed, work, days)
    res = {"coins": a.coins, "hours": a.hours, "launch": launched,
           "days": per_day(Path(launched["home"])), "machine": machine(),
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    a.out.write_text(json.dumps(res, indent=1))
    print(report(res))
    if a.write:
        write_section("backfill", section(res))
        rows = res["days"]
        early, late = rows[1:WINDOW + 1], rows[WINDOW + 1:]
        walls = [r["wall_s"] for r in late]
        headline("backfill", f"slope {slope(late, 'wall_s'):+.2f} s a day over days "
                 f"{WINDOW + 2}-{len(rows)} (a day {float(np.median(walls)):.1f} s), against "
                 f"{slope(early, 'wall_s'):+.2f} s a day over days 2-{WINDOW + 1}",
                 f"one run of {len(rows)} days (days {WINDOW + 2}-{len(rows)}: "
                 f"{min(walls):.1f}-{max(walls):.1f} s)")
    return res


if __name__ == "__main__":
    main()
