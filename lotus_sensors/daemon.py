"""The Lotus daemon in the Dagster UI: Dagster observes and drives it, never hosts it.

- `daemon_status` (an external asset, group `live`): every tick of `daemon_health_sensor`
  (on by default, every 30 s) records an AssetObservation of what DaemonResource reads
  (the pid file and the heartbeats): health, pid, last beat, the feed's lag, last frame
  and reconnects, the priors version scoring uses, windows scored and posted, and a
  table of the loops. The asset's page shows the latest and plots the numbers. A clean
  stop reads `stopped` (its final beat says so); only `stale` / `dead` (beats stopped
  with no final beat) are warnings.
- `daemon_start` / `daemon_stop` jobs: one op each, calling DaemonResource.launch / stop,
  so a researcher starts and stops the daemon from the Launchpad; each records the
  resulting state on `daemon_status` as well. `daemon_start`'s default config runs the live
  path (feed, score, dm, trader, router), as `lotus daemon start` does; `loops: router`
  hosts the router alone.
- A pid or priors version of 0 (none running, no patch set loaded yet) is shown as
  "unknown", never as 0.

The sensor starts no run: relaunching a streaming process is opt-in
(`daemon_relaunch_sensor`, lotus_sensors/live.py).
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from lotus_assets.metadata import rounded
from lotus_resources.daemon import DaemonResource

DAEMON_WATCH_INTERVAL_SEC = 30
DAEMON_STATUS = dg.AssetKey("daemon_status")
WARN_HEALTH = ("stale", "dead")  # beats stopped without the final `stopped` beat

daemon_status = dg.AssetSpec(
    DAEMON_STATUS, group_name="live", kinds={"python"},
    description="The Lotus daemon's state, observed every 30 s by daemon_health_sensor "
    "(and by the daemon_start / daemon_stop jobs): health, loops, lag, last frame, priors "
    "version, windows and posts.")


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value).replace("|", "/")


def _frame_time(ms: Any) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def status_line(state: dict[str, Any]) -> str:
    """One line: the tick's skip message and the warning text."""
    beat = state.get("heartbeat") or {}
    if not beat:
        return f"daemon {state['health']}: no heartbeat (never started on this fabric)"
    loops = ", ".join(f"{lp['name']} {lp.get('state')}" for lp in state.get("loops", [])
                      if lp["name"] != "heartbeat") or "no loops"
    who = (f"pid {_known(state.get('pid'))}" if state.get("running")
           else f"last pid {_known(beat.get('pid'))}")
    return (f"daemon {state['health']}: {who} on {beat.get('host')}, last beat "
            f"{beat.get('status')} {float(beat.get('age_s') or 0):.0f} s ago; loops: {loops}")


def loops_table(state: dict[str, Any]) -> str:
    """The loops as a Markdown table (what `lotus daemon status` prints, one row a loop)."""
    head = ("| loop | state | last beat (s ago) | restarts | lag (ms) | last frame (UTC) "
            "| reconnects | priors | windows | posted | last error |")
    rows = [head, "|" + " --- |" * head.count(" | ") + " --- |"]
    for lp in state.get("loops", []):
        beat = lp.get("heartbeat") or {}
        age = beat.get("age_s")
        rows.append("| " + " | ".join(_cell(v) for v in (
            lp["name"], lp.get("state"), None if age is None else f"{float(age):.1f}",
            lp.get("restarts"), lp.get("lag_ms"), _frame_time(lp.get("last_frame_ms")),
            lp.get("reconnects"), lp.get("priors_ver") or None, lp.get("windows"),
            lp.get("posted"),
            lp.get("last_error"))) + " |")
    return "\n".join(rows)


UNKNOWN = "unknown"


def _known(value: Any) -> int | str:
    """A pid or a priors version; 0 or none is not one (no daemon running, no patch set
    loaded yet): "unknown", never a 0 that reads as a real pid or version 0."""
    return int(value) if value else UNKNOWN


def status_metadata(state: dict[str, Any]) -> dict[str, Any]:
    """The observation's metadata: numbers the asset page plots, and the loops table."""
    loops = {lp["name"]: lp for lp in state.get("loops", [])}
    feed, score = loops.get("feed") or {}, loops.get("score") or {}
    beat = state.get("heartbeat") or {}
    meta: dict[str, Any] = {
        "health": state["health"],
        "running": bool(state.get("running")),
        "summary": status_line(state),
        "pid": _known(state.get("pid")),
        "loops": dg.MetadataValue.md(loops_table(state)),
        "lag_ms": int(feed.get("lag_ms") or 0),
        "reconnects": int(feed.get("reconnects") or 0),
        "last_frame": _frame_time(feed.get("last_frame_ms")) or "",
        "priors_ver": _known(score.get("priors_ver")),
        "windows": int(score.get("windows") or 0),
        "posted": int(score.get("posted") or 0),
        "log": dg.MetadataValue.path(state.get("log") or ""),
    }
    if beat:
        meta["last_beat"] = str(beat.get("beat_at"))
        meta["last_beat_age_s"] = float(beat.get("age_s") or 0.0)
    return rounded(meta)


def observe(state: dict[str, Any]) -> dg.AssetObservation:
    return dg.AssetObservation(DAEMON_STATUS, metadata=status_metadata(state))


@dg.sensor(name="daemon_health_sensor", minimum_interval_seconds=DAEMON_WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Observe the Lotus daemon (the daemon_status asset) every 30 s.")
def daemon_health_sensor(context: dg.SensorEvaluationContext,
                         daemon: DaemonResource) -> dg.SensorResult:
    state = daemon.state()
    text = status_line(state)
    if state["health"] in WARN_HEALTH:
        context.log.warning(text)
    return dg.SensorResult(asset_events=[observe(state)], skip_reason=text)


LIVE_LOOPS = "feed,score,dm,trader,router"
"""The daemon_start job's default: the live path, as `lotus daemon start` runs it
(lotus_daemon.loops.DEFAULT_LOOPS; a test holds them equal)."""


class DaemonStartConfig(dg.Config):
    loops: str = Field(LIVE_LOOPS, description="Loops to run: feed,score,dm,trader,router "
                       "(the default: the live path, as `lotus daemon start`); `router` hosts "
                       "the router alone; empty: the daemon resource's own `loops`.")
    timeout_sec: float = Field(60.0, description="How long to wait for it to say running.")


class DaemonStopConfig(dg.Config):
    timeout_sec: float = Field(30.0, description="How long to wait for it to exit.")


@dg.op(description="Start the Lotus daemon detached (it outlives this run).")
def start_daemon(context: dg.OpExecutionContext, config: DaemonStartConfig,
                 daemon: DaemonResource) -> None:
    try:
        info = daemon.launch(timeout_sec=config.timeout_sec, loops=config.loops or None)
    except RuntimeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"daemon started: pid {info.get('pid')}, loops {info.get('loops')}, "
                     f"log {info.get('log')}")
    context.log_event(observe(daemon.state()))


@dg.op(description="Stop the Lotus daemon cleanly (SIGTERM, then wait for its exit).")
def stop_daemon(context: dg.OpExecutionContext, config: DaemonStopConfig,
                daemon: DaemonResource) -> None:
    try:
        info = daemon.stop(timeout_sec=config.timeout_sec)
    except RuntimeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"daemon stopped (pid {info.get('pid')})" if info.get("was_running")
                     else "no daemon was running")
    context.log_event(observe(daemon.state()))


# in process: the daemon starts on the code location's host, never on a Celery worker
@dg.job(name="daemon_start", executor_def=dg.in_process_executor,
        description="Start the Lotus daemon (`lotus daemon start`); config: loops.")
def daemon_start() -> None:
    start_daemon()


@dg.job(name="daemon_stop", executor_def=dg.in_process_executor,
        description="Stop the Lotus daemon cleanly (`lotus daemon stop`).")
def daemon_stop() -> None:
    stop_daemon()


def daemon_definitions() -> dg.Definitions:
    """Needs the "daemon" resource."""
    return dg.Definitions(assets=[daemon_status], jobs=[daemon_start, daemon_stop],
                          sensors=[daemon_health_sensor])
