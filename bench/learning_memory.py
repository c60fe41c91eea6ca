"""The learning steps' memory against the window's size: a lake of window-level planted
truth (`lotus_core.learning.window_lake`) as large as a many-coin window, then each learning
step materialised alone in a fresh process (`bench.step_alone`).

    .venv/bin/python -m bench learning_memory HOME --days 1 --windows-per-day 24000
    .venv/bin/python -m bench learning_memory HOME --days 1 --windows-per-day 800000
    .venv/bin/python -m bench learning_memory HOME --days 14 --windows-per-day 800000 \
        --steps lesson_atoms,lessons --max-windows none      # every window (no sample)

The generated pipeline makes ~8,000 windows a coin-day (a 100-coin day: ~800,000), so
`--windows-per-day` is 8,000 x coins: the first two commands are a first night at 3 and at
100 coins, whose peaks should be within 10 % (above `max_windows` a night learns from a hash
sample). The lake is built once
per HOME (kept when its size matches). `--max-windows` writes a learning.yaml with that
cap and passes it to the steps (`none`: no cap); default: the packaged one. Prints one JSON
line a step: its wall seconds, peak RSS (VmHWM) in MB and the windows it learned from. The
headline is a comparison of two runs: record it with `python -m bench report --record
learning_memory --figure ... --spread ...`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import yaml

STEPS = ("lesson_atoms", "lessons", "braids", "meta_braids")


def build(home: Path, days: int, per_day: int, seed: int) -> list[str]:
    """The lake's days (built unless HOME already holds this size)."""
    from lotus_core.learning.config import load_learning
    from lotus_core.learning.window_lake import write_day
    from lotus_core.store.lake import Lake
    from lotus_core.synth.windows import WindowSpec, window_frame

    stamp = home / "window_lake.json"
    want = {"days": days, "windows_per_day": per_day, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()).get("size") == want:
        return json.loads(stamp.read_text())["days"]
    lake = Lake(home / "lake")
    horizon = load_learning().horizon_s
    spec = WindowSpec(days=1)
    out = []
    for d in range(days):
        day = (date.fromisoformat(spec.start) + timedelta(days=d)).isoformat()
        one = WindowSpec(days=1, start=day, windows_per_day=per_day // len(spec.detectors))
        n = write_day(lake, day, window_frame(one, seed + d), horizon)
        print(f"{day}: {n} windows", file=sys.stderr, flush=True)
        out.append(day)
    stamp.write_text(json.dumps({"size": want, "days": out}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--windows-per-day", type=int, default=24_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--day", default=None,
                    help="the night measured (default: the last; the first: a 1-day window)")
    ap.add_argument("--max-windows", default=None,
                    help="the learning window's cap for the steps (an int, or none)")
    args = ap.parse_args()
    home = args.home.resolve()
    days = build(home, args.days, args.windows_per_day, args.seed)
    learning: list[str] = []
    if args.max_windows is not None:
        from importlib.resources import files

        body = yaml.safe_load(files("lotus_core.learning").joinpath("learning.yaml").read_text())
        body["max_windows"] = None if args.max_windows == "none" else int(args.max_windows)
        cfg = Path(tempfile.mkdtemp(prefix="lotus-learning-mem-")) / "learning.yaml"
        cfg.write_text(yaml.safe_dump(body))
        learning = ["--learning", str(cfg)]
    feed = Path(tempfile.mkdtemp(prefix="lotus-learning-mem-feed-"))
    for step in args.steps.split(","):
        out = subprocess.run([sys.executable, "-m", "bench.step_alone", str(home), str(feed),
                              args.day or days[-1], step, *learning], capture_output=True,
                             text=True)
        last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        row = json.loads(last) if last.startswith("{") else {"error": out.stderr[-800:]}
        row.update({"days": args.days, "window_days": sum(d <= (args.day or days[-1])
                                                          for d in days),
                    "windows_per_day": args.windows_per_day,
                    "max_windows": args.max_windows or "packaged"})
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
