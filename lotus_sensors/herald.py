"""The Herald router inside Dagster: the `herald_route` job (op `route_outboxes`) drains
every outbox in a run, and `herald_watch_sensor` starts it when outbox rows wait and no
router process (`lotus router run` or the daemon's router loop) has beaten recently.

STOPPED by default. `herald_definitions()` is merged into the code location's Definitions;
it needs the "fabric", "fabric_keys" and "herald" resources.
"""


import json
import time

import dagster as dg

from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE
from lotus_core.fabric.router import RouterConfig, pending_due, run_router
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource, HeraldRouterResource

HERALD_WATCH_INTERVAL_SEC = 30


class HeraldRouteConfig(dg.Config):
    batch_size: int = ROUTER_BATCH_SIZE
    max_seconds: float = 300.0


@dg.op(description="Route envelopes from every outbox until none is due (or max_seconds).")
def route_outboxes(context: dg.OpExecutionContext, config: HeraldRouteConfig,
                 fabric: OpsDbResource, fabric_keys: FabricKeysResource) -> None:
    cfg = RouterConfig(name="herald-job", batch_size=config.batch_size)
    with fabric.open() as fab:
        stats = run_router(fab, fabric_keys.keyring(), until_idle=True,
                           max_seconds=config.max_seconds, config=cfg)
        left = pending_due(fab)
    context.log.info(f"herald_route: {json.dumps(stats.as_dict())}; still due: {left}")
    if left:
        context.log.warning(f"{left} outbox row(s) still due after {config.max_seconds} s")


@dg.job(name="herald_route", description="The Herald router as a run: drain every outbox.")
def herald_route_job() -> None:
    route_outboxes()


@dg.sensor(name="herald_watch_sensor", job=herald_route_job,
           minimum_interval_seconds=HERALD_WATCH_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Start herald_route when outbox rows wait and no router "
                       "process beats.")
def herald_watch_sensor(context: dg.SensorEvaluationContext, fabric: OpsDbResource,
                        herald: HeraldRouterResource) -> dg.SensorResult:
    with fabric.open() as fab:
        due = pending_due(fab)
    if not due:
        return dg.SensorResult(skip_reason="outboxes are empty")
    state = herald.health()
    if state == "ok":
        return dg.SensorResult(skip_reason=f"{due} due; router {herald.name!r} is alive")
    active = context.instance.get_runs(
        filters=dg.RunsFilter(job_name="herald_route", statuses=[
            dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED]), limit=1)
    if active:
        return dg.SensorResult(skip_reason=f"{due} due; herald_route {active[0].run_id} running")
    key = f"herald:{int(time.time() // HERALD_WATCH_INTERVAL_SEC)}"
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key, tags={"lotus/due": str(due)})])


def herald_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[herald_route_job], sensors=[herald_watch_sensor])
