"""The live feed in the Dagster UI, and an optional relaunch of a dead daemon.

`live_feed` is an observable source asset: the daemon's websocket feed, whose recording is
the next night's input (`raw_feed` depends on it, so the lineage shows the edge).
`live_feed_sensor` records an AssetObservation of it every tick from the daemon's heartbeat
(messages/s, lag, reconnects, stale coins, last frame time, the priors version scoring
uses), so the asset's page plots them. `daemon_relaunch_sensor` (off by default; turn it
on in production) starts the daemon through DaemonResource when its pid file says it is
not running.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from lotus_assets.metadata import rounded
from lotus_resources.daemon import DaemonResource

LIVE_WATCH_INTERVAL_SEC = 30


@dg.observable_source_asset(name="live_feed", group_name="live",
                            description="The daemon's websocket feed (observed by "
                            "live_feed_sensor from the daemon's heartbeat); its recording "
                            "<LOTUS_HOME>/feed is raw_feed's input the next night.")
def live_feed(daemon: DaemonResource) -> dg.ObserveResult:
    return dg.ObserveResult(metadata=feed_metadata(daemon.heartbeat()))


def feed_metadata(beat: dict[str, Any] | None) -> dict[str, Any]:
    """The feed and score loops' figures from a daemon heartbeat (empty values if none; a
    priors version of 0, no patch set loaded yet, is "unknown")."""
    loops = ((beat or {}).get("detail") or {}).get("loops") or {}
    feed, score = loops.get("feed") or {}, loops.get("score") or {}
    last = feed.get("last_frame_ms")
    return rounded({
        "running": bool(beat) and beat.get("status") in ("ok", "starting"),
        "url": feed.get("url") or "",
        "msgs_per_s": float(feed.get("msgs_per_s") or 0.0),
        "lag_ms": int(feed.get("lag_ms") or 0),
        "reconnects": int(feed.get("reconnects") or 0),
        "stale_coins": ",".join(feed.get("stale_coins") or []),
        "last_frame": (datetime.fromtimestamp(last / 1000, tz=UTC).isoformat()
                       if last else ""),
        "dead_letters": int(feed.get("dead_letters") or 0),
        "priors_ver": int(score["priors_ver"]) if score.get("priors_ver") else "unknown",
        "windows": int(score.get("windows") or 0),
        "posted": int(score.get("posted") or 0),
    })


@dg.sensor(name="live_feed_sensor", minimum_interval_seconds=LIVE_WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Observe the live feed (live_feed asset) from the daemon's heartbeat.")
def live_feed_sensor(context: dg.SensorEvaluationContext,
                     daemon: DaemonResource) -> dg.SensorResult:
    meta = feed_metadata(daemon.heartbeat())
    return dg.SensorResult(asset_events=[dg.AssetObservation(dg.AssetKey("live_feed"),
                                                             metadata=meta)])


@dg.sensor(name="daemon_relaunch_sensor", minimum_interval_seconds=LIVE_WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Relaunch the Lotus daemon when it is not running (off by default).")
def daemon_relaunch_sensor(context: dg.SensorEvaluationContext,
                           daemon: DaemonResource) -> dg.SkipReason:
    status = daemon.status()
    if status.get("running"):
        return dg.SkipReason(f"daemon running (pid {status.get('pid')})")
    info = daemon.launch()
    context.log.warning("daemon was not running; relaunched: pid %s, loops %s",
                        info.get("pid"), info.get("loops"))
    return dg.SkipReason(f"relaunched the daemon: pid {info.get('pid')}")


LIVE_ASSETS = [live_feed]
LIVE_SENSORS = [live_feed_sensor, daemon_relaunch_sensor]
