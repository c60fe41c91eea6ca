"""The nightly run: yesterday's partition of every asset, shortly after UTC midnight.

It materialises the live daemon's own recording of yesterday (`<LOTUS_HOME>/feed`, where
the feed loop writes), so the day that was lived is the day that is learned from. Settings
are read when the schedule ticks, never at import.
"""

from datetime import timedelta

import dagster as dg

from lotus_core.config import load_settings
from lotus_core.live.recorder import live_feed_dir

lotus_daily_job = dg.define_asset_job(
    "lotus_daily",
    selection=dg.AssetSelection.all(),
    description="Every Lotus asset for one UTC day.",
)


def nightly_run_config(feed_dir: str, verify_manifest: bool, cadence_ms: int) -> dict:
    """The settings the CLI's `lotus materialize` passes too (same lotus.yaml, same tape)."""
    return {"resources": {"feed": {"config": {"feed_dir": feed_dir,
                                              "verify_manifest": verify_manifest}}},
            "ops": {"microtape_frames": {"config": {"cadence_ms": cadence_ms}}}}


@dg.schedule(job=lotus_daily_job, cron_schedule="30 0 * * *", execution_timezone="UTC",
             name="lotus_nightly", description="Yesterday (UTC) from the live recording "
             "directory <LOTUS_HOME>/feed.")
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
    settings = load_settings()
    feed_dir = live_feed_dir(settings.home).resolve()
    return dg.RunRequest(run_key=f"nightly:{day}", partition_key=day,
                         run_config=nightly_run_config(str(feed_dir), settings.verify_manifest,
                                                       settings.microtape.cadence_ms))
