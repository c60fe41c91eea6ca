"""Run the asset chain through Dagster for a range of days: each day its runs in phases."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import click
import dagster as dg

from lotus_assets.day_plan import COINS_JOB, DAILY_JOB, DayRun, Phase, run_day_in_process
from lotus_cli.loop_summary import loop_figures
from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_core.feed.manifest import read_manifest, verify_file
from lotus_core.feed.recordings import foreign_lines, list_days, read_head, recording_path
from lotus_core.feed.summary import missing_channels
from lotus_core.store.lake import Lake, ObjectLake, open_lake, recover_stages, staging
from lotus_location.definitions import build_definitions
from lotus_sensors.schedules import daily_run_config


class DayRangeError(ValueError):
    """Requested days are missing from the feed directory, or a recording is corrupt."""


LOCK_FILE = "materialize.lock"


class MaterializeBusyError(click.ClickException):
    """Another `lotus materialize` holds the home's lock (exit code 1, message on stderr)."""


class MissingHistoryError(click.ClickException):
    """The first day asked for reads earlier days (its steps' look-back windows) that the
    lake does not hold; raised before any run starts (exit code 1, message on stderr)."""


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


@dataclass
class Screened:
    """What `screen_recordings` found before any run: the days asked for that are refused
    (day -> why: nothing of them is run), every day whose recording is broken (asked for
    or not: the look-back check does not ask the lake for them), and warnings to print."""

    refused: dict[str, str] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def screen_recordings(feed_dir: Path, days: list[str], verify_manifest: bool = True
                      ) -> Screened:
    """Read the head of every recording in `feed_dir` (`read_head`: the first 2,000 lines,
    never raising) and, with `verify_manifest`, check the days asked for against the
    manifest. A recording cut short, corrupt or not gzip is named with the line where it
    breaks and the days it affects: its own day is refused when asked for (the other days
    run), and the day after it starts its MicroTape cold (its warm start reads the file).
    A cut past the head is found by `raw_feed` when the day runs (it refuses the day, naming
    the file and the line). So is another day's file under a day's name (`foreign_lines`:
    settled by the head for a day's own file, read whole for another day's): it is broken
    too, so a later day re-run alone is not held to a day that can never be made."""
    out = Screened()
    have = list_days(feed_dir)
    asked = set(days)
    wrong: dict[str, str] = {}  # day -> how it differs from the manifest (days asked for)
    if verify_manifest:
        manifest = read_manifest(feed_dir)
        for day in days:
            try:
                verify_file(feed_dir, recording_path(feed_dir, day), manifest)
            except ValueError as exc:
                wrong[day] = str(exc)
    for day in have:
        path = recording_path(feed_dir, day)
        head = read_head(path)
        problem, fix, until = head.problem, "copy the whole file again", "the file is whole"
        if problem is None:
            problem = foreign_lines(path, day, head.lines)
            if problem is not None:
                fix = f"put {day}'s own recording in its place"
                until = "its own recording is in place"
        if problem is None and day not in wrong:
            continue
        after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        cold = (f"; {after} starts its MicroTape cold (its warm start reads this file)"
                if problem is not None and after in asked else "")
        if problem is not None:
            out.broken.add(day)
        if day in asked:
            why = "; ".join(w for w in (wrong.get(day), problem) if w)
            out.refused[day] = (f"{why}; {day} was not run: nothing of it was written (what "
                                f"an earlier run wrote of it is kept){cold}; {fix}, then "
                                f"materialise {day} again")
        else:
            out.warnings.append(f"{problem}: {day} cannot be materialised until {until} "
                                f"(not asked for in this run){cold}")
    return out


@dataclass(frozen=True)
class LookBack:
    """An asset the day's steps read on earlier days: `days` before their own at most
    (the longest window over it), `reader` the step with that window."""

    asset: str
    days: int
    reader: str


def look_backs(defs: dg.Definitions) -> list[LookBack]:
    """Every lake asset a step of the day's jobs reads on days before its own, from the
    windows the assets declare (`lake_window_in` / `history_in`, and the `AssetDep`s with a
    time window): the window's parent, and the asset its rows are read from (`reads=`).
    Sorted by asset name."""
    graph = defs.resolve_asset_graph()
    selected: set[dg.AssetKey] = set()
    for name in (DAILY_JOB, COINS_JOB):
        selected |= set(defs.resolve_job_def(name).asset_layer.selected_asset_keys)
    found: dict[str, LookBack] = {}
    for key in sorted(selected, key=lambda k: k.to_user_string()):
        assets_def = graph.get(key).assets_def
        read_as: dict[dg.AssetKey, set[str]] = {}
        for input_name, parent in assets_def.node_keys_by_input_name.items():
            meta = assets_def.node_def.input_def_named(input_name).metadata or {}
            if meta.get("lake_asset"):
                read_as.setdefault(parent, set()).add(str(meta["lake_asset"]))
        for parent in graph.get(key).parent_keys:
            mapping = assets_def.get_partition_mapping(parent)
            if (parent not in selected or not isinstance(mapping, dg.TimeWindowPartitionMapping)
                    or mapping.start_offset >= 0):
                continue
            for asset in sorted({parent.path[-1]} | read_as.get(parent, set())):
                have = found.get(asset)
                if have is None or -mapping.start_offset > have.days:
                    found[asset] = LookBack(asset, -mapping.start_offset, key.to_user_string())
    return sorted(found.values(), key=lambda b: b.asset)


def check_history(defs: dg.Definitions, lake: Lake | ObjectLake, feed_dir: Path,
                  days: list[str], broken: Collection[str] = ()) -> None:
    """Before anything runs: every partition the first day's look-back windows read must be
    in the lake (the days in the range are made by the run itself, in order). Only days
    with a recording count (a day with none has nothing to hold), from the partitions'
    first day on (Dagster maps no day before it: LOTUS_PARTITIONS_START), and not those
    whose recording is broken (`broken`: they cannot be made; a full run lacks them too).
    Raises `MissingHistoryError` naming each missing asset and day, and how to go on."""
    if not days:
        return
    first = days[0]
    pdef = defs.resolve_asset_graph().get(dg.AssetKey("raw_feed")).partitions_def
    start = (pdef.start.strftime("%Y-%m-%d")
             if isinstance(pdef, dg.TimeWindowPartitionsDefinition) else first)
    if first < start:
        raise MissingHistoryError(
            f"--from {first} is before the partitions' first day {start} "
            f"(LOTUS_PARTITIONS_START={os.environ.get('LOTUS_PARTITIONS_START', start)}): "
            f"start at {start} or later, or set LOTUS_PARTITIONS_START to {first} or earlier")
    backs = look_backs(defs)
    reach = max((b.days for b in backs), default=0)
    earliest = (date.fromisoformat(first) - timedelta(days=reach)).isoformat()
    recorded = [d for d in list_days(feed_dir)
                if max(earliest, start) <= d < first and d not in set(broken)]
    missing: dict[str, list[LookBack]] = {}
    read: dict[str, int] = {}  # day -> how many assets are read on it
    for day in recorded:
        back = (date.fromisoformat(first) - date.fromisoformat(day)).days
        reached = [b for b in backs if b.days >= back]
        read[day] = len(reached)
        gone = [b for b in reached if not lake.exists(b.asset, day)]
        if gone:
            missing[day] = gone
    if not missing:
        return
    raise MissingHistoryError(_missing_history(first, days[-1], missing, read))


def _missing_history(first: str, last: str, missing: dict[str, list[LookBack]],
                     read: dict[str, int]) -> str:
    ordered = sorted(missing, reverse=True)  # the nearest day first
    lines = []
    for day in ordered[:5]:
        if len(missing[day]) == read[day]:
            names = ", ".join(b.asset for b in missing[day])
            lines.append(f"  {day}: not materialised (none of the {read[day]} assets read "
                         f"on it: {names})")
        else:
            lines.append(f"  {day}: " + ", ".join(f"{b.asset} (read by {b.reader})"
                                                  for b in missing[day]))
    if len(ordered) > 5:
        lines.append(f"  ... and {len(ordered) - 5} more day(s), back to {ordered[-1]}")
    b = missing[ordered[0]][0]
    earliest = ordered[-1]
    return (
        f"cannot materialise from {first}: its steps read earlier days the lake does not "
        f"hold (e.g. {b.reader} of {first} reads {b.asset} of up to {b.days} day(s) "
        f"before), so its outputs would be computed without that history. Missing:\n"
        + "\n".join(lines) + "\n"
        f"Nothing was run or written. Materialise from {earliest} "
        f"(`lotus materialize --from {earliest} --to {last}`), or, to start the history at "
        f"{first} on purpose, set LOTUS_PARTITIONS_START={first} (days before it are then "
        "not read)")


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
        feed = lake.read("raw_feed", day, columns=["frames", "dead_letters", "coin",
                                                   "channel"])
        out["frames"] = int(feed["frames"].sum())
        out["dead_letters"] = int(feed["dead_letters"].sum())
        out["coins"] = int(feed.loc[feed["frames"] > 0, "coin"].nunique())
        out["missing_channels"] = missing_channels(feed)
    if lake.exists("microtape_frames", day):
        out["microtape_rows"] = len(lake.read("microtape_frames", day, columns=["ts_ms"]))
    if lake.exists("signal_events", day):
        events = lake.read("signal_events", day, columns=["published", "paper"])
        published, paper = events["published"].astype(bool), events["paper"].astype(bool)
        out["windows"] = len(events)
        out["published"] = int((published & ~paper).sum())  # what the curators vouch for
        out["explored"] = int((published & paper).sum())  # exploration, paper-only
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
                     log_level: str = "WARNING",
                     refused: Mapping[str, str] | None = None,
                     broken: Collection[str] = (),
                     on_start: Callable[[], None] | None = None,
                     on_run: Callable[[str, Phase, str, Any], None] | None = None
                     ) -> list[DayOutcome]:
    """Run each day's `lotus_daily` and `lotus_coins` runs in phases (lotus_assets/
    day_plan.py), so the runs show under those jobs in the UI, holding the home's lock
    (`home_lock`: a second run at once is refused). A failed day's figures are empty: what
    the lake holds for it is an earlier run's, not this one's.

    Before the first run (`on_start` is called after): what a killed run left in the lake's
    stage is put in order (`recover_stages`), and the first day's look-back windows must
    find their earlier days in the lake (`check_history`; `MissingHistoryError` otherwise,
    nothing run). A day in `refused` (day -> why, `screen_recordings`) is not run: its
    outcome is a failure with that reason. `broken`: the days whose recording is broken,
    which the look-back check does not ask the lake for.

    On a filesystem lake each day is made in a stage (`lotus_core.store.lake.staging`) and
    published when every run of the day succeeded: a failed or killed day leaves the lake's
    partitions of it as they were (an object-store lake is written in place).
    `on_run(day, phase, partition key, result)` after each run (progress)."""
    refused = dict(refused or {})
    with home_lock(settings.home):
        store = open_lake(settings.lake_dir)
        if isinstance(store, Lake):
            recover_stages(store.root)
        runnable = [d for d in days if d not in refused]
        defs = build_definitions(settings) if runnable else None
        if defs is not None:
            check_history(defs, store, settings.feed_dir, days, set(broken) | set(refused))
        if on_start:
            on_start()
        run_config = {
            **daily_run_config(shared_values(settings)),
            "loggers": {"console": {"config": {"log_level": log_level}}},
        }
        outcomes = []
        for day in days:
            if day in refused or defs is None:
                outcome = DayOutcome(day=day, success=False, run_id="",
                                     error=refused.get(day, "refused"))
            else:
                outcome = _run_day(defs, day, instance, run_config, settings.lake_dir,
                                   None if on_run is None else partial(on_run, day))
            outcomes.append(outcome)
            if on_day:
                on_day(outcome)
        return outcomes


def _run_day(defs: dg.Definitions, day: str, instance: dg.DagsterInstance,
             run_config: dict[str, Any], lake_dir: Path,
             on_run: Callable[[Phase, str, Any], None] | None = None) -> DayOutcome:
    """One day's runs; on a filesystem lake in a stage, published only when all succeeded."""
    def run(lake: Lake | ObjectLake) -> DayRun:
        return run_day_in_process(defs, day, instance=instance, run_config=run_config,
                                  tags={"lotus/launched_by": "cli"}, lake=lake,
                                  on_run=on_run)

    store = open_lake(lake_dir)
    if not isinstance(store, Lake):  # an object store: written in place
        done = run(store)
        error = None if done.success else f"{_why(done)}; {_written(done)}"
    else:
        with staging(store.root, day) as stage:
            done = run(Lake(store.root))  # this process's lakes of the root: staged
            made = stage.made()
            if done.success:
                stage.publish()
        error = None if done.success else (
            f"{_why(done)}; no partition of {day} reached the lake: the {len(made)} this "
            f"run made were discarded, and the lake keeps what an earlier run wrote of "
            f"{day}")
        store = Lake(store.root)
    return DayOutcome(day=day, success=done.success, run_id=done.run_id, error=error,
                      figures=day_figures(store, day) if done.success else {})


def _why(run: DayRun) -> str:
    return next((_failure_message(r) for r in run.results if not r.success),
                run.stopped or "run failed")


def _written(run: DayRun) -> str:
    """What of the day the failed runs wrote in place before they stopped (a phase's other
    steps run beside a failing one, and the phases before it ran whole): "nothing was
    written" only when no partition of the day was."""
    names = sorted({e.asset_key.to_user_string()
                    for e in run.get_asset_materialization_events()})
    if not names:
        return f"nothing was written for {run.day}: what an earlier run wrote of it is kept"
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (f"{len(names)} asset(s) of {run.day} were written before it stopped ({shown}): "
            f"the day now holds these from this run and the rest from any earlier run; "
            f"materialise {run.day} again once the cause is fixed")
