"""The nightly run: yesterday's partition of every asset, shortly after UTC midnight.

The `lotus_daily` job carries the run config the shared settings imply (`daily_run_config`):
the launchpad shows it, the schedule's runs use it and `lotus materialize` passes the same.
"""

from typing import Any

import dagster as dg

from lotus_core.config.shared import SharedValues


def daily_run_config(values: SharedValues) -> dict[str, Any]:
    """The op config every `lotus_daily` run needs from the shared settings."""
    return {"ops": {"microtape_frames": {"config": {"cadence_ms": values.cadence_ms}}}}


def daily_definitions(values: SharedValues) -> dg.Definitions:
    """The `lotus_daily` job and its nightly schedule (00:30 UTC)."""
    job = dg.define_asset_job(
        "lotus_daily",
        selection=dg.AssetSelection.all(),
        description="Every Lotus asset for one UTC day.",
        config=daily_run_config(values),
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job, hour_of_day=0, minute_of_hour=30, name="lotus_nightly")
    return dg.Definitions(jobs=[job], schedules=[schedule])
