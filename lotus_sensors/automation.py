"""Late horizons: a window near midnight has horizons (up to 900 s) that end on the next
day, so its `signal_eval` rows stay `pending` until the next day's MicroTape exists. The
`late_horizons_sensor` watches `microtape_frames` materialisations; when day D lands and
day D-1's `signal_eval` has pending rows whose horizon ends inside D's tape, it
requests the `late_horizons` job for partition D-1: `signal_eval` (which now reads D-1
and D) and the `loop_report` that plots it. One request per (day, materialisation):
run_key `late:<D-1>:<storage id>`.

The learning stages are not re-run for D-1 (its priors version already scored D); every
later night's `lessons` reads the filled rows from the lake. docs/automation.md.
"""

import dagster as dg

from lotus_core.time import previous_day
from lotus_resources.lake import LakeResource

late_horizons_job = dg.define_asset_job(
    "late_horizons", selection=dg.AssetSelection.assets("signal_eval", "loop_report"),
    description="Re-evaluate a day's signal_eval once the next day's MicroTape exists "
    "(fills horizons that cross midnight) and redraw its loop_report.")

BATCH = 50


def fillable_rows(lake: LakeResource, prev: str, day: str) -> int:
    """Pending rows of `prev` whose horizon ends inside `day`'s MicroTape (the ones the new
    day can fill; a recording gap stays pending and asks for nothing)."""
    store = lake.get()
    if not (store.exists("signal_eval", prev) and store.exists("microtape_frames", day)):
        return 0
    ev = store.read("signal_eval", prev, columns=["ts_ms", "horizon_s", "status"])
    ev = ev[ev["status"] == "pending"]
    if ev.empty:
        return 0
    ts = store.read("microtape_frames", day, columns=["ts_ms"])["ts_ms"]
    end = ev["ts_ms"] + ev["horizon_s"] * 1000
    return int(((end >= ts.min()) & (end <= ts.max())).sum())


@dg.sensor(job=late_horizons_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="When day D's microtape_frames lands, re-evaluate D-1's signal_eval if "
           "it has pending (midnight-crossing) horizons.")
def late_horizons_sensor(context: dg.SensorEvaluationContext, lake: LakeResource
                         ) -> dg.SensorResult:
    after = int(context.cursor) if context.cursor else None
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("microtape_frames"),
                              after_storage_id=after), limit=BATCH, ascending=True)
    requests, last = [], after
    for record in result.records:
        last = record.storage_id
        day = record.partition_key
        if not day:
            continue
        prev = previous_day(day)
        if fillable_rows(lake, prev, day) > 0:
            requests.append(dg.RunRequest(partition_key=prev,
                                          run_key=f"late:{prev}:{record.storage_id}",
                                          tags={"lotus/reason": f"next day {day} landed"}))
    return dg.SensorResult(run_requests=requests,
                           cursor=str(last) if last is not None else context.cursor)


AUTOMATION_JOBS = [late_horizons_job]
AUTOMATION_SENSORS = [late_horizons_sensor]
