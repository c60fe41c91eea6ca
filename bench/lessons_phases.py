"""The `lessons` step's body phase by phase, each phase's own peak RSS (issue 32, item 3):
where a first night's memory goes as the windows grow, without Dagster's run around it.

    .venv/bin/python -m bench.lessons_phases HOME [--day DAY]

HOME is a LOTUS_HOME whose lake holds a night's window and its `lesson_atoms` (e.g.
`python -m bench.learning_memory HOME --days 1 --windows-per-day W --steps lesson_atoms`).
The peak of a phase is `VmHWM` after it, reset (`/proc/self/clear_refs`) before it; the
read, the units (`learning_tasks`) and, per task, the nuisances' fit, the cell sums, the
rules' scores and each rule's detail (their highest). Prints one JSON line; docs/scale.md
(round 29) quotes it. Linux only (`/proc`).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.proc import status_mb

PHASES = ("fit_nuisances", "scope_sums", "score_rules", "rule_detail")
"""The search's phases (names in `lotus_core.learning.lessons`) whose peaks are taken."""


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _peaked(fn: Callable[..., Any], name: str, peaks: dict[str, int]) -> Callable[..., Any]:
    """`fn` with its peak RSS kept in `peaks[name]` (the highest over its calls)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        _reset_peak()
        try:
            return fn(*args, **kwargs)
        finally:
            peaks[name] = max(peaks.get(name, 0), status_mb("VmHWM"))
            _reset_peak()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--day", default=None, help="the night (default: the lake's last "
                    "lesson_atoms day)")
    args = ap.parse_args()
    import lotus_assets.definitions  # noqa: F401 - the step's imports, as a run has them
    from lotus_core.learning import lessons, night
    from lotus_core.learning.config import load_learning
    from lotus_core.signals import load_scoring
    from lotus_core.store.by_coin import CoinDay
    from lotus_core.store.lake import Lake

    lake = Lake(args.home / "lake")
    day = args.day or lake.days("lesson_atoms")[-1]
    cfg, base = load_learning(), load_scoring().context
    q = night.quantizer_of(lake.head("lesson_atoms", day, 1, ["quantizer"]))
    peaks: dict[str, int] = {"start": status_mb("VmRSS")}
    for name in PHASES:
        setattr(lessons, name, _peaked(getattr(lessons, name), name, peaks))
    days = [d for d in lake.days("signal_events") if d <= day][-cfg.window_days:]
    _reset_peak()
    tw = night.window_from_days(
        [CoinDay(lake, "signal_events", d) for d in days],
        [CoinDay(lake, "signal_eval", d) for d in days],
        [CoinDay(lake, "signal_eval_late", d) for d in lake.days("signal_eval_late")
         if d in days], cfg, base, q)
    peaks["read"], windows = status_mb("VmHWM"), len(tw.frame)
    _reset_peak()
    tasks = night.lesson_tasks(tw, pd.DataFrame(), cfg)
    del tw
    gc.collect()
    peaks["units"] = status_mb("VmHWM")
    _reset_peak()
    night.lessons_of(tasks, q, "", pd.DataFrame(), day, cfg)
    print(json.dumps({"day": day, "windows": windows, "tasks": len(tasks),
                      "peak_rss_mb": peaks}))


if __name__ == "__main__":
    main()
