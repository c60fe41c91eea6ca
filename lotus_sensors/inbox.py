"""Dagster on the module fabric's inboxes: one sensor per module inbox and the handler jobs
they start (the Herald router's job and sensor are in lotus_sensors/herald.py).

    inbox_<m>_sensor   each tick: rows new since its cursor (and late or retried ones,
                       lotus_core.fabric.watch) -> one RunRequest per row, run_key =
                       event_id (or event_id#attempt for a retry): a tick never starts the
                       same work twice; beats heartbeat "sensor:inbox_<m>".
    inbox_<m>          the job a request starts: handle_row = the manifest's handler + mark
                       consumed in ONE transaction; beats "handler:<m>".

Everything is STOPPED by default: start sensors in the UI or with `dagster sensor start`.
`inbox_definitions()` is merged into the code location's Definitions.
"""


import json

import dagster as dg

from lotus_core.fabric.handlers import handle_row, handled_intents, handler_table
from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.watch import InboxCursor, scan_inbox
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource

INBOX_SENSOR_INTERVAL_SEC = 5  # one cheap indexed query per tick
INBOX_REQUESTS_PER_TICK = 50


class InboxRowConfig(dg.Config):
    """Which inbox row a run handles (set by the sensor)."""

    seq: int
    event_id: str


def inbox_job_name(module: str) -> str:
    return f"inbox_{module}"


def inbox_op_name(module: str) -> str:
    return f"handle_{module}_inbox"


def inbox_sensor_name(module: str) -> str:
    return f"inbox_{module}_sensor"


def _build_inbox_job(module: str) -> dg.JobDefinition:
    @dg.op(name=inbox_op_name(module),
           retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
           description=f"Handle one row of {module}_inbox (its manifest handler) and mark it "
                       "consumed in the same transaction.")
    def handle(context: dg.OpExecutionContext, config: InboxRowConfig, fabric: OpsDbResource,
               fabric_keys: FabricKeysResource) -> None:
        with fabric.open() as fab:
            outcome = handle_row(fab, module, config.seq, fabric_keys.keyring(),
                                 event_id=config.event_id, models_map=fabric_keys.models_map())
            ok = outcome.status in ("consumed", "skipped")
            beat(fab, f"handler:{module}", module, "ok" if ok else "degraded",
                 {"seq": outcome.seq, "event_id": outcome.event_id, "intent": outcome.intent,
                  "outcome": outcome.status})
        summary = {"status": outcome.status, "seq": outcome.seq, "event_id": outcome.event_id,
                   "intent": outcome.intent, "attempts": outcome.attempts,
                   "summary": outcome.summary, "error": outcome.error}
        context.log.info(f"{module}_inbox seq {config.seq}: {json.dumps(summary, default=str)}")
        if not ok:
            raise dg.Failure(
                description=f"{module} handler failed on seq {config.seq} ({outcome.status}): "
                f"{outcome.error}",
                metadata={"attempts": outcome.attempts,
                          "retry_in_sec": outcome.retry_in_sec or 0.0},
                allow_retries=False,  # the row's own backoff decides; the sensor retries it
            )

    @dg.job(name=inbox_job_name(module), tags={"lotus/module": module},
            description=f"Handle one {module}_inbox row "
                        f"(started by {inbox_sensor_name(module)}).")
    def job() -> None:
        handle()

    return job


def _build_inbox_sensor(module: str, job: dg.JobDefinition) -> dg.SensorDefinition:
    op_name = inbox_op_name(module)

    @dg.sensor(name=inbox_sensor_name(module), job=job,
               minimum_interval_seconds=INBOX_SENSOR_INTERVAL_SEC,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description=f"One {inbox_job_name(module)} run per new {module}_inbox row with a "
                           "handler (cursor: last seq seen; run_key: event_id).")
    def inbox_sensor(context: dg.SensorEvaluationContext,
                     fabric: OpsDbResource) -> dg.SensorResult:
        cursor = InboxCursor.parse(context.cursor)
        with fabric.open() as fab:
            scan = scan_inbox(fab, module, cursor, intents=handled_intents(module),
                              limit=INBOX_REQUESTS_PER_TICK)
            beat(fab, f"sensor:inbox_{module}", module, "ok",
                 {"cursor": scan.cursor.seq, "requested": len(scan.requests),
                  "gaps": len(scan.cursor.gaps)})
        requests = [
            dg.RunRequest(
                run_key=r.run_key,
                run_config={"ops": {op_name: {"config": {"seq": r.seq, "event_id": r.event_id}}}},
                tags={"lotus/module": module, "lotus/intent": r.intent, "lotus/seq": str(r.seq),
                      "lotus/event_id": r.event_id, "lotus/attempt": str(r.attempts + 1)},
            )
            for r in scan.requests
        ]
        if not requests:
            return dg.SensorResult(skip_reason=f"no new {module}_inbox rows to handle",
                                   cursor=scan.cursor.dumps())
        return dg.SensorResult(run_requests=requests, cursor=scan.cursor.dumps())

    return inbox_sensor


INBOX_JOBS = {m: _build_inbox_job(m) for m in MODULES}
INBOX_SENSORS = {m: _build_inbox_sensor(m, INBOX_JOBS[m]) for m in MODULES}


def inbox_definitions() -> dg.Definitions:
    """The inbox jobs and sensors, for the code location to merge. Validates the manifests
    and their handler lines first (a bad one fails the code location naming file and key).
    Needs the "fabric" and "fabric_keys" resources."""
    handler_table(load_modules())
    return dg.Definitions(jobs=list(INBOX_JOBS.values()), sensors=list(INBOX_SENSORS.values()))
