"""The day's jobs and the nightly run: yesterday's partition of every asset, shortly after
UTC midnight.

`lotus_daily` holds the daily assets and `lotus_coins` the day x coin ones (a run is one
partition of one partitions definition: lotus_assets/day_plan.py); a day is their runs in
phases. The nightly schedule launches `lotus_backfill` for yesterday, whose op runs that
day's phases. Both jobs carry the run config the shared settings imply (`daily_run_config`,
each its own ops' part): the launchpad shows it, the day's runs use it and `lotus
materialize` passes the same.
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

from lotus_assets.day_plan import COINS_JOB, DAILY_JOB
from lotus_assets.partitions import is_frozen_set
from lotus_core.config import Settings
from lotus_core.config.shared import SharedValues, shared_values
from lotus_core.feed.shard_store import shard_dir
from lotus_core.live.recorder import live_feed_dir

BACKFILL_JOB = "lotus_backfill"
"""The one-op job that runs days in phases (lotus_sensors/backfill.py); the nightly run."""

SCORING_OPS = ("detector_windows", "scoring_day", "score_signals", "detector_audits",
               "lesson_atoms", "lessons", "braids", "meta_braids", "active_priors")
"""The ops whose config names a scoring.yaml (`scoring_path`): the settings' `scoring.config`
reaches them through `daily_run_config`, as it reaches the live engine (SharedValues)."""
LEARNING_OPS = ("lesson_atoms", "lessons", "braids", "meta_braids", "active_priors")
"""... and a learning.yaml (`learning_path`): the settings' `learning.config`."""
DETECTOR_OPS = ("detector_windows", "scoring_day", "score_signals", "detector_audits",
                "detector_cards")
"""... and a detectors.yaml (`detectors_path`): the settings' `scoring.detectors`, the set
the live engine runs too (SharedValues)."""
CURATOR_OPS = ("detector_windows", "scoring_day", "score_signals")
"""... and a curators.yaml (`curators_path`, read by `score_signals`; the signal ops share
one config): the settings' `scoring.curators`, the council the live engine curates with
too (SharedValues)."""


def daily_run_config(values: SharedValues) -> dict[str, Any]:
    """The op config every `lotus_daily` run needs from the shared settings: the MicroTape
    cadence, and the scoring.yaml / learning.yaml / detectors.yaml / curators.yaml the
    settings name (omitted when they name none: the ops then read the packaged files, as
    the live engine does)."""
    ops: dict[str, Any] = {"microtape_frames": {"config": values.microtape_overrides()}}
    for names, key, path in ((SCORING_OPS, "scoring_path", values.scoring_path),
                             (LEARNING_OPS, "learning_path", values.learning_path),
                             (DETECTOR_OPS, "detectors_path", values.detectors_path),
                             (CURATOR_OPS, "curators_path", values.curators_path)):
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


def feed_config(settings: Settings, feed_dir: Path | str) -> dict[str, Any]:
    """The `feed` resource's run config reading `feed_dir` (a resource's run config replaces
    all of its fields: every one is named)."""
    return {"feed_dir": str(feed_dir), "verify_manifest": settings.verify_manifest,
            "coin_shards": settings.feed.coin_shards,
            "shard_dir": str(shard_dir(settings.home).resolve())}


def ops_config(run_config: dict[str, Any], ops: set[str]) -> dict[str, Any]:
    """`run_config` with the op config of `ops` only (a job refuses config for an op it
    does not hold)."""
    return {**run_config, "ops": {k: v for k, v in run_config.get("ops", {}).items()
                                  if k in ops}}


def daily_definitions(settings: Settings,
                      coin_assets: list[dg.AssetsDefinition]) -> dg.Definitions:
    """`lotus_daily` (the daily assets), `lotus_coins` (`coin_assets`, by day x coin) and the
    nightly schedule (00:30 UTC: `lotus_backfill` for yesterday, reading the nightly feed
    directory)."""
    config = daily_run_config(shared_values(settings))
    coin_ops = {a.node_def.name for a in coin_assets}
    daily = dg.define_asset_job(
        DAILY_JOB,
        selection=(dg.AssetSelection.all()
                   - dg.AssetSelection.groups("breeding", "vis", "benchmarks")
                   - dg.AssetSelection.assets(*coin_assets)),
        description="The daily Lotus assets for one UTC day (the day x coin ones run in "
        "lotus_coins; the breeder and the charts have their own jobs, the bench's season "
        "table none).",
        config={**config, "ops": {k: v for k, v in config["ops"].items()
                                  if k not in coin_ops}},
    )
    coins = dg.define_asset_job(
        COINS_JOB, selection=dg.AssetSelection.assets(*coin_assets),
        description="The day x coin Lotus assets: one run per coin of a day.",
        config=ops_config(config, coin_ops),
    )
    @dg.schedule(job_name=BACKFILL_JOB, cron_schedule="30 0 * * *", execution_timezone="UTC",
                 name="lotus_nightly", description="Yesterday (UTC) from the feed directory "
                 f"{nightly_feed_dir(settings)}: its daily and coin runs, in phases.")
    def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"nightly:{day}", partition_key=day,
                             run_config=nightly_backfill_config(settings))

    return dg.Definitions(jobs=[daily, coins], schedules=[nightly_schedule])


def nightly_backfill_config(settings: Settings) -> dict[str, Any]:
    """The nightly `lotus_backfill` run's config: its day's runs read `nightly_feed_dir`."""
    return {"ops": {"backfill_days": {"config": {
        "feed_dir": str(nightly_feed_dir(settings))}}}}
