"""The nightly run: yesterday's partition of every asset, shortly after UTC midnight."""

import dagster as dg

lotus_daily_job = dg.define_asset_job(
    "lotus_daily",
    selection=dg.AssetSelection.all(),
    description="Every Lotus asset for one UTC day.",
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    lotus_daily_job, hour_of_day=0, minute_of_hour=30, name="lotus_nightly")
