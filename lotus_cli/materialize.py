"""Run the asset chain through Dagster for a range of days: each day its runs in phases."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import dagster as dg

from lotus_assets.day_plan import DayRun, run_day_in_process
from lotus_assets.definitions import build_definitions
from lotus_cli.loop_summary import loop_figures
from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_core.feed.manifest import read_manifest, verify_file
from lotus_core.feed.recordings import list_days, recording_path
from lotus_core.store.lake import Lake
from lotus_sensors.schedules import daily_run_config


class DayRangeError(ValueError):
    """Requested days are missing from the feed directory, or a recording is corrupt."""


LOCK_FILE = "materialize.lock"


class MaterializeBusyError(click.ClickException):
    """Another `lotus materialize` holds the home's lock (exit code 1, message on stderr)."""


@contextlib.contextmanager
def home_lock(home: Path) -> Iterator[Path]:
    """Hold `<home>/materialize.lock` (fcntl.flock, non-blocking) for a whole run: two runs
    of one home would write the same partitions and fabric rows at once. The file says who
    holds it; the kernel drops the lock when its holder exits, however it exits."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            raise MaterializeBusyError(
                f"another `lotus materialize` is running on {home} ({holder}); wait for it "
                f"to finish or stop it, then run again (lock: {path})") from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


@dataclass
class DayOutcome:
    day: str
    success: bool
    run_id: str
    error: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def resolve_days(feed_dir: Path, start: str | None, end: str | None) -> list[str]:
    """Every day from start to end inclusive (default: all recordings); all must exist."""
    have = list_days(feed_dir)
    if not have:
        raise DayRangeError(f"no <YYYY-MM-DD>.jsonl.gz recordings in {feed_dir}")
    first = date.fromisoformat(start) if start else date.fromisoformat(have[0])
    last = date.fromisoformat(end) if end else date.fromisoformat(have[-1])
    if last < first:
        raise DayRangeError(f"--to {last} is before --from {first}")
    wanted = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    missing = [d for d in wanted if d not in set(have)]
    if missing:
        raise DayRangeError(
            f"no recording in {feed_dir} for {', '.join(missing)} "
            f"(expected e.g. {recording_path(feed_dir, missing[0]).name}; "
            f"present: {have[0]} .. {have[-1]}, {len(have)} days)")
    return wanted


def check_recordings(feed_dir: Path, days: list[str]) -> None:
    """Fail before any run starts if a manifest-listed recording was tampered with."""
    manifest = read_manifest(feed_dir)
    for day in days:
        try:
            verify_file(feed_dir, recording_path(feed_dir, day), manifest)
        except ValueError as exc:
            raise DayRangeError(str(exc)) from exc


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            err = event.step_failure_data.error
            cause = err.cause.message.strip() if err and err.cause else ""
            msg = err.message.strip() if err else "unknown error"
            if err and err.cls_name == "Failure" and ": " in msg:  # ours: it names the file
                msg = msg.split(": ", 1)[1]
            return f"{event.step_key}: {msg}" + (f" (cause: {cause})" if cause else "")
    return "run failed"


def day_figures(lake: Lake, day: str) -> dict[str, Any]:
    """Headline numbers of a day read back from the lake (what the summary prints)."""
    out: dict[str, Any] = {}
    if lake.exists("raw_feed", day):
        feed = lake.read("raw_feed", day, columns=["frames", "dead_letters", "coin"])
        out["frames"] = int(feed["frames"].sum())
        out["dead_letters"] = int(feed["dead_letters"].sum())
        out["coins"] = int(feed.loc[feed["frames"] > 0, "coin"].nunique())
    if lake.exists("microtape_frames", day):
        out["microtape_rows"] = len(lake.read("microtape_frames", day, columns=["ts_ms"]))
    if lake.exists("signal_events", day):
        events = lake.read("signal_events", day, columns=["published"])
        out["windows"] = len(events)
        out["published"] = int(events["published"].sum())
    if lake.exists("lessons", day):
        state = lake.read("lessons", day, columns=["state"])["state"]
        out["lessons_active"] = int((state == "active").sum())
    if lake.exists("active_priors", day):
        ver = lake.read("active_priors", day, columns=["priors_ver"])["priors_ver"]
        out["priors_ver"] = int(ver.iloc[0]) if len(ver) else 0
    out.update(loop_figures(lake, day))
    return out


def materialize_days(settings: Settings, days: list[str], instance: dg.DagsterInstance,
                     on_day: Callable[[DayOutcome], None] | None = None,
                     log_level: str = "WARNING") -> list[DayOutcome]:
    """Run each day's `lotus_daily` and `lotus_coins` runs in phases (lotus_assets/
    day_plan.py), so the runs show under those jobs in the UI, holding the home's lock
    (`home_lock`: a second run at once is refused). A failed day's figures are empty: what
    the lake holds for it is an earlier run's, not this one's."""
    with home_lock(settings.home):
        defs = build_definitions(settings)
        lake = Lake(settings.lake_dir)
        run_config = {
            **daily_run_config(shared_values(settings)),
            "loggers": {"console": {"config": {"log_level": log_level}}},
        }
        outcomes = []
        for day in days:
            run = run_day_in_process(defs, day, instance=instance, run_config=run_config,
                                     tags={"lotus/launched_by": "cli"}, lake=lake)
            ok = run.success
            outcome = DayOutcome(day=day, success=ok, run_id=run.run_id,
                                 error=None if ok else _day_failure(run),
                                 figures=day_figures(lake, day) if ok else {})
            outcomes.append(outcome)
            if on_day:
                on_day(outcome)
        return outcomes


def _day_failure(run: DayRun) -> str:
    for result in run.results:
        if not result.success:
            return _failure_message(result)
    return run.stopped or "run failed"
