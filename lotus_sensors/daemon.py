"""daemon_health_sensor: Dagster observes the Lotus daemon, never hosts it.

Each tick reads the daemon's heartbeat through DaemonResource and says what it saw in the
tick's skip message (visible in the UI's sensor history); a daemon that stopped beating is
logged as a warning. It starts no run: relaunching a streaming process is the operator's
call (`lotus daemon start`, or DaemonResource.launch from a job), and when only routing is
missing, herald_watch_sensor already drains the outboxes in a run.
"""

import dagster as dg

from lotus_resources.daemon import DaemonResource

DAEMON_WATCH_INTERVAL_SEC = 30


@dg.sensor(name="daemon_health_sensor", minimum_interval_seconds=DAEMON_WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Observe the Lotus daemon's health (its heartbeat).")
def daemon_health_sensor(context: dg.SensorEvaluationContext,
                         daemon: DaemonResource) -> dg.SkipReason:
    state = daemon.health()
    beat = daemon.heartbeat()
    if beat is None:
        return dg.SkipReason("daemon: no heartbeat ever (not started on this fabric)")
    loops = (beat["detail"] or {}).get("loops", {})
    summary = ", ".join(f"{n} {v.get('state')}" for n, v in sorted(loops.items())) or "no loops"
    text = (f"daemon {state}: pid {beat['pid']} on {beat['host']}, last beat "
            f"{beat['status']} {beat['age_s']:.0f} s ago; loops: {summary}")
    if state != "ok":
        context.log.warning(text)
    return dg.SkipReason(text)


def daemon_definitions() -> dg.Definitions:
    """Needs the "daemon" resource."""
    return dg.Definitions(sensors=[daemon_health_sensor])
