"""The Dagster code location: assets, resources, jobs and schedules built from the settings."""


import dagster as dg

from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_core.config import Settings, load_settings
from lotus_resources.fabric import FabricResource
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_sensors.schedules import lotus_daily_job, nightly_schedule

ASSETS = [raw_feed, microtape_frames]


def build_resources(settings: Settings) -> dict[str, object]:
    lake = LakeResource(root=str(settings.lake_dir.resolve()))
    return {
        "lake": lake,
        "lake_io": LakeIOManager(lake=lake),
        "fabric": FabricResource(url=settings.fabric),
        "feed": FeedSource(feed_dir=str(settings.feed_dir.resolve()),
                           verify_manifest=settings.verify_manifest),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        jobs=[lotus_daily_job],
        schedules=[nightly_schedule],
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
