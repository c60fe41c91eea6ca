"""The Signal Bus in the Dagster UI: observed and driven, never hosted (as the daemon is).

- `bus_status` (an external asset, group `live`): each tick of `bus_health_sensor` (on by
  default, every 30 s) records an AssetObservation of the bus's state: health, url, the
  number of subscribers, the last seq published, frames sent, subscribers dropped for
  lagging, refused connections. The asset page plots the numbers.
- `bus_start` / `bus_stop` jobs: BusResource.launch / stop from the Launchpad.
"""


from typing import Any

import dagster as dg

from lotus_bus.resource import BusResource
from lotus_core.config import Settings

BUS_WATCH_INTERVAL_SEC = 30
BUS_STATUS = dg.AssetKey("bus_status")

bus_status = dg.AssetSpec(
    BUS_STATUS, group_name="live", kinds={"python"},
    description="The Signal Bus (`lotus bus serve`), observed every 30 s by bus_health_sensor: "
    "health, subscribers, last seq, frames sent, lagged and refused subscribers.")


def status_metadata(state: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "health": state["health"], "running": bool(state["running"]),
        "summary": state["summary"], "url": state.get("url") or "",
        "subscribers": int(state["subscribers"]), "last_seq": int(state["last_seq"]),
        "frames_sent": int(state["sent"]), "lagged": int(state["lagged"]),
        "refused": int(state["refused"]), "rejected_rows": int(state["rejected"]),
        "subscriber_names": ", ".join(state.get("subscriber_names") or []) or "-",
    }
    beat = state.get("heartbeat")
    if beat:
        meta["last_beat"] = str(beat["beat_at"])
        meta["last_beat_age_s"] = float(beat["age_s"])
    return meta


def observe(state: dict[str, Any]) -> dg.AssetObservation:
    return dg.AssetObservation(BUS_STATUS, metadata=status_metadata(state))


@dg.sensor(name="bus_health_sensor", minimum_interval_seconds=BUS_WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Observe the Signal Bus (the bus_status asset) every 30 s.")
def bus_health_sensor(context: dg.SensorEvaluationContext, bus: BusResource) -> dg.SensorResult:
    state = bus.state()
    if state["health"] == "stale" and state["running"]:
        context.log.warning(state["summary"])
    return dg.SensorResult(asset_events=[observe(state)], skip_reason=state["summary"])


@dg.op(description="Start the Signal Bus detached (it outlives this run).")
def start_bus(context: dg.OpExecutionContext, bus: BusResource) -> None:
    try:
        info = bus.launch()
    except RuntimeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"Signal Bus on {info.get('url')} (pid {info.get('pid')}), log {info['log']}")
    context.log_event(observe(bus.state()))


@dg.op(description="Stop the Signal Bus (SIGTERM, then wait for its exit).")
def stop_bus(context: dg.OpExecutionContext, bus: BusResource) -> None:
    try:
        info = bus.stop()
    except RuntimeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"Signal Bus stopped (pid {info['pid']})" if info["was_running"]
                     else "no Signal Bus was running")
    context.log_event(observe(bus.state()))


@dg.job(name="bus_start", executor_def=dg.in_process_executor,
        description="Start the Signal Bus (`lotus bus serve`).")
def bus_start() -> None:
    start_bus()


@dg.job(name="bus_stop", executor_def=dg.in_process_executor,
        description="Stop the Signal Bus.")
def bus_stop() -> None:
    stop_bus()


def bus_definitions(settings: Settings) -> dg.Definitions:
    """The bus's asset, sensor, jobs and its `bus` resource for `settings`."""
    home = settings.home.resolve()
    resource = BusResource(home=str(home), fabric_url=settings.fabric,
                           key_dir=str(home / "keys"))
    return dg.Definitions(assets=[bus_status], jobs=[bus_start, bus_stop],
                          sensors=[bus_health_sensor], resources={"bus": resource})
