"""The nightly run: yesterday's partition of every asset, shortly after UTC midnight.

The `lotus_daily` job carries the run config the shared settings imply (`daily_run_config`):
the launchpad shows it, the schedule's runs use it and `lotus materialize` passes the same.
The schedule reads the same recordings as the `feed` resource (settings.feed_dir), so a
day it materialised can be re-run and backfilled from the UI; only when that directory is
a frozen set (manifest.json: nothing records there) does it read the daemon's own recording
`<LOTUS_HOME>/feed`, so the day that was lived is still the day learned from
(`nightly_feed_dir`, docs/surface.md "One feed location").
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from lotus_assets.partitions import is_frozen_set
from lotus_core.config import Settings
from lotus_core.config.shared import SharedValues, shared_values
from lotus_core.feed.shard_store import shard_dir
from lotus_core.live.recorder import live_feed_dir

SCORING_OPS = ("detector_windows", "score_signals", "detector_audits", "lesson_atoms",
               "lessons", "braids", "meta_braids", "active_priors")
"""The ops whose config names a scoring.yaml (`scoring_path`): the settings' `scoring.config`
reaches them through `daily_run_config`, as it reaches the live engine (SharedValues)."""
LEARNING_OPS = ("lesson_atoms", "lessons", "braids", "meta_braids", "active_priors")
"""... and a learning.yaml (`learning_path`): the settings' `learning.config`."""


def daily_run_config(values: SharedValues) -> dict[str, Any]:
    """The op config every `lotus_daily` run needs from the shared settings: the MicroTape
    cadence, and the scoring.yaml / learning.yaml the settings name (omitted when they name
    none: the ops then read the packaged files, as the live engine does)."""
    ops: dict[str, Any] = {"microtape_frames": {"config": {"cadence_ms": values.cadence_ms}}}
    for names, key, path in ((SCORING_OPS, "scoring_path", values.scoring_path),
                             (LEARNING_OPS, "learning_path", values.learning_path)):
        if path is not None:
            for name in names:
                ops.setdefault(name, {"config": {}})["config"][key] = path
    return {"ops": ops}


def nightly_feed_dir(settings: Settings) -> Path:
    """Where the nightly run reads yesterday: the `feed` resource's directory, unless it is a
    frozen set (no new day ever lands there), then the daemon's recording directory."""
    if is_frozen_set(settings.feed_dir):
        return live_feed_dir(settings.home).resolve()
    return settings.feed_dir.resolve()


def nightly_run_config(settings: Settings) -> dict[str, Any]:
    """A nightly run's config: the shared values, reading `nightly_feed_dir`."""
    feed_dir = str(nightly_feed_dir(settings))
    return {**daily_run_config(shared_values(settings)),
            # a resource's run config replaces all of its fields: name every one
            "resources": {"feed": {"config": {
                "feed_dir": feed_dir, "verify_manifest": settings.verify_manifest,
                "coin_shards": settings.feed.coin_shards,
                "shard_dir": str(shard_dir(settings.home).resolve())}}}}


def daily_definitions(settings: Settings) -> dg.Definitions:
    """The `lotus_daily` job and its nightly schedule (00:30 UTC, yesterday's partition)."""
    job = dg.define_asset_job(
        "lotus_daily",
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("breeding"),
        description="Every Lotus asset for one UTC day (the breeder has its own job).",
        config=daily_run_config(shared_values(settings)),
    )
    run_config = nightly_run_config(settings)

    @dg.schedule(job=job, cron_schedule="30 0 * * *", execution_timezone="UTC",
                 name="lotus_nightly", description="Yesterday (UTC) from the feed directory "
                 f"{run_config['resources']['feed']['config']['feed_dir']}.")
    def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"nightly:{day}", partition_key=day, run_config=run_config)

    return dg.Definitions(jobs=[job], schedules=[nightly_schedule])
