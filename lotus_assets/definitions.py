"""The Dagster code location: assets, resources, jobs and schedules built from the settings."""


import dagster as dg

from lotus_assets.audits import AUDIT_ASSETS, AUDIT_CHECKS
from lotus_assets.dsi import dsi_assets
from lotus_assets.evaluation import EVAL_ASSETS
from lotus_assets.feed import raw_feed
from lotus_assets.learning import LEARNING_ASSETS
from lotus_assets.microtape import microtape_frames
from lotus_assets.signals import SIGNAL_ASSETS
from lotus_core.config import Settings, load_settings
from lotus_resources.deploy import lake_root, with_deploy
from lotus_resources.fabric import FabricResource
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeIOManager, LakeResource
from lotus_resources.router import FabricKeysResource, default_key_dir
from lotus_sensors.inbox import fabric_definitions
from lotus_sensors.schedules import lotus_daily_job, nightly_schedule

ASSETS = [raw_feed, microtape_frames, dsi_assets, *SIGNAL_ASSETS, *AUDIT_ASSETS, *EVAL_ASSETS,
          *LEARNING_ASSETS]


def build_resources(settings: Settings) -> dict[str, object]:
    lake = LakeResource(root=lake_root(settings))
    return {
        "lake": lake,
        "lake_io": LakeIOManager(lake=lake),
        "fabric": FabricResource(url=settings.fabric),
        "feed": FeedSource(feed_dir=str(settings.feed_dir.resolve()),
                           verify_manifest=settings.verify_manifest),
        "fabric_keys": FabricKeysResource(key_dir=default_key_dir(settings.home)),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """Assets and the nightly schedule, plus the module fabric's inbox sensors and jobs."""
    fabric = fabric_definitions(settings)
    return with_deploy(dg.Definitions(  # the profile's executor and sensors (docs/production.md)
        assets=ASSETS,
        asset_checks=AUDIT_CHECKS,
        jobs=[lotus_daily_job, *fabric["jobs"]],
        schedules=[nightly_schedule],
        sensors=fabric["sensors"],
        resources={**build_resources(settings), **fabric["resources"]},
    ), settings)


defs = build_definitions(load_settings())
