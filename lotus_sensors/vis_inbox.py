"""Dagster on the chart drop folder <LOTUS_HOME>/vis/inbox/ (lotus_core.vis.inbox), in
the shape of the fabric inbox sensors (lotus_sensors/inbox.py):

    vis_inbox_sensor   each tick: the settled image files in the folder -> one RunRequest
                       per file, run_key = <name>:<sha256> (the same bytes under the same
                       name are never taken twice; new bytes under an old name are).
    vis_inbox          the job a request starts: take the file (intake.accept_chart, as
                       `lotus vis submit` and `POST /charts`) and move it to done/, or to
                       refused/ beside a <file>.reason.txt; retried on an error that is
                       not the file's (no OCR engine, the fabric down), the file left in
                       place meanwhile.

STOPPED by default, like the fabric inbox sensors: start it in the UI or with `dagster
sensor start vis_inbox_sensor`. Needs the "fabric" and "settings" resources.
"""

import json

import dagster as dg

from lotus_core.vis.inbox import take, waiting
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

VIS_INBOX_INTERVAL_SEC = 15
VIS_INBOX_REQUESTS_PER_TICK = 20


class VisInboxFileConfig(dg.Config):
    """Which inbox file a run takes, and the sha256 hex its bytes had (set by the sensor)."""

    name: str
    sha256: str


@dg.op(retry_policy=dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL),
       description="Record (or refuse) one chart file of <LOTUS_HOME>/vis/inbox and move it "
                   "to done/ or refused/.")
def take_vis_inbox_file(context: dg.OpExecutionContext, config: VisInboxFileConfig,
                        fabric: OpsDbResource, settings: SettingsResource) -> None:
    with fabric.open() as fab:
        taken = take(fab, settings.get().home, config.name, config.sha256)
    context.log.info(f"vis inbox {config.name}: " + json.dumps(
        {"status": taken.status, "strand_id": taken.strand_id, "reason": taken.reason,
         "moved_to": str(taken.moved_to) if taken.moved_to else None}))
    context.add_output_metadata({"status": taken.status, "strand_id": taken.strand_id or "",
                                 "reason": taken.reason or ""})


@dg.job(name="vis_inbox", tags={"lotus/module": "vis"},
        description="Take one chart file dropped in <LOTUS_HOME>/vis/inbox "
                    "(started by vis_inbox_sensor).")
def vis_inbox() -> None:
    take_vis_inbox_file()


@dg.sensor(name="vis_inbox_sensor", job=vis_inbox, minimum_interval_seconds=VIS_INBOX_INTERVAL_SEC,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="One vis_inbox run per chart file settled in <LOTUS_HOME>/vis/inbox "
                       "(run_key: name and sha256).")
def vis_inbox_sensor(context: dg.SensorEvaluationContext,
                     settings: SettingsResource) -> dg.SensorResult:
    files = waiting(settings.get().home, limit=VIS_INBOX_REQUESTS_PER_TICK)
    if not files:
        return dg.SensorResult(skip_reason="no chart file waiting in the vis inbox")
    return dg.SensorResult(run_requests=[
        dg.RunRequest(run_key=f"{f.name}:{f.sha256}",
                      run_config={"ops": {"take_vis_inbox_file": {
                          "config": {"name": f.name, "sha256": f.sha256}}}},
                      tags={"lotus/module": "vis", "lotus/file": f.name[:63]})
        for f in files])


VIS_INBOX_JOBS = [vis_inbox]
VIS_INBOX_SENSORS = [vis_inbox_sensor]
