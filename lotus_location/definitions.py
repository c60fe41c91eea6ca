"""The Dagster code location. `defs` is loaded lazily (Dagster's `@definitions`): importing
this module reads no settings; loading the code location calls `build_definitions` with
the settings of that moment, which merges one `Definitions` per area:

    assets + checks   (lake windows sized from the settings: lotus_assets.chain.sized_assets)
    lotus_daily job + nightly schedule                  (lotus_sensors/schedules.py)
    live_feed observations + daemon relaunch sensor     (lotus_sensors/live.py)
    inbox jobs + sensors                                (lotus_sensors/inbox.py)
    herald_route job + herald_watch_sensor              (lotus_sensors/herald.py)
    daemon_status + daemon_health_sensor, daemon_start / daemon_stop jobs (lotus_sensors/daemon.py)
    bus_status + bus_health_sensor, bus_start / bus_stop jobs, `bus` (lotus_bus/sensor.py)
    curator_actions observations + curator_actions_sensor (lotus_sensors/curator_actions.py)
    candidates + detector_lineage, lotus_breeding job + schedule (lotus_assets/breeding.py)
    vis_strands + vis_eval (lotus_assets/vis.py), vis_lessons + vis_priors
    (lotus_assets/vis_learning.py), vis_inbox job + sensor (lotus_sensors)
    compute_governance, in the lotus_breeding job (group breeding; lotus_assets/governance.py)
    economics_season, the bench's season table: in no job (group benchmarks; lotus_assets/season.py)
    resources, each built once                          (build_resources)

`settings` is itself a resource (lotus_resources.settings): assets and ops below take the
object built here, none calls `load_settings` (tests/core/test_settings_entry_points.py).
"""


from lotus_core.live.gc_policy import collecting_less

# The imports below leave ~230,000 objects that the cyclic collector tracks, next to none of
# them garbage. At CPython's default pace it walks the young ones hundreds of times and all
# of them a few times: ~0.6 s of CPU in every process that loads the code location (run
# workers, step processes, code servers, daemons). Collections restart at the default pace
# when the imports are done.
with collecting_less(100_000):
    import dagster as dg

    from lotus_assets.audits import AUDIT_CHECKS
    from lotus_assets.breeding import breeding_definitions
    from lotus_assets.chain import ASSETS, sized_assets  # noqa: F401 - ASSETS re-exported (unsized)
    from lotus_assets.checks import SURFACE_CHECKS
    from lotus_assets.credit import credit_definitions
    from lotus_assets.day_plan import by_coin
    from lotus_assets.governance import GOVERNANCE_ASSETS
    from lotus_assets.partitions import size_windows
    from lotus_assets.season import SEASON_ASSETS
    from lotus_assets.vis import VIS_ASSETS, VIS_JOB
    from lotus_assets.vis_learning import VIS_LEARNING_ASSETS
    from lotus_bus.sensor import bus_definitions
    from lotus_core.config import Settings, load_settings
    from lotus_core.config.shared import shared_values
    from lotus_core.feed.shard_store import shard_dir
    from lotus_resources.daemon import DaemonResource
    from lotus_resources.deploy import lake_root, with_deploy
    from lotus_resources.feed import FeedSource
    from lotus_resources.lake import LakeIOManager, LakeResource
    from lotus_resources.opsdb import OpsDbResource
    from lotus_resources.router import FabricKeysResource, HeraldRouterResource, default_key_dir
    from lotus_resources.settings import SettingsResource
    from lotus_sensors.backfill import backfill_definitions
    from lotus_sensors.curator_actions import CURATOR_ASSETS, CURATOR_SENSORS
    from lotus_sensors.daemon import daemon_definitions
    from lotus_sensors.herald import herald_definitions
    from lotus_sensors.inbox import inbox_definitions
    from lotus_sensors.live import LIVE_ASSETS, LIVE_SENSORS
    from lotus_sensors.schedules import daily_definitions
    from lotus_sensors.vis_inbox import VIS_INBOX_JOBS, VIS_INBOX_SENSORS


def build_resources(settings: Settings) -> dict[str, object]:
    lake = LakeResource(root=lake_root(settings))
    key_dir = default_key_dir(settings.home)
    return {
        "settings": SettingsResource.of(settings),  # what dm/trader assets and ops read
        "lake": lake,
        "lake_io": LakeIOManager(lake=lake),
        "fabric": OpsDbResource(url=settings.fabric),
        "feed": FeedSource(feed_dir=str(settings.feed_dir.resolve()),
                           verify_manifest=settings.verify_manifest,
                           coin_shards=settings.feed.coin_shards,
                           shard_dir=str(shard_dir(settings.home))),
        "fabric_keys": FabricKeysResource(key_dir=key_dir),
        "herald": HeraldRouterResource(fabric_url=settings.fabric, key_dir=key_dir),
        "daemon": DaemonResource(home=str(settings.home.resolve()),
                                 fabric_url=settings.fabric, key_dir=key_dir),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """The whole code location for `settings` (see the module docstring)."""
    # the chart tables the chain reads but does not make (`VIS_TABLES`) are the vis assets here
    made = {a.key for a in VIS_ASSETS}
    assets = [a for a in sized_assets(shared_values(settings))
              if a.is_executable or a.key not in made]
    return with_deploy(dg.Definitions.merge(  # the profile's executor and sensors
        dg.Definitions(assets=assets, asset_checks=[*AUDIT_CHECKS, *SURFACE_CHECKS]),
        daily_definitions(settings, [a for a in assets if by_coin(a)]),
        backfill_definitions(),
        inbox_definitions(),
        herald_definitions(),
        daemon_definitions(),
        credit_definitions(),
        breeding_definitions(),  # its own job and schedule, outside lotus_daily
        dg.Definitions(assets=GOVERNANCE_ASSETS),  # group breeding: in lotus_breeding
        dg.Definitions(assets=SEASON_ASSETS),  # the bench's season table, in no job
        bus_definitions(settings),
        dg.Definitions(assets=LIVE_ASSETS, sensors=LIVE_SENSORS),
        dg.Definitions(assets=CURATOR_ASSETS, sensors=CURATOR_SENSORS),  # Curator API log
        # the charts' daily tables; the chart drop folder's job and sensor
        dg.Definitions(assets=[*VIS_ASSETS, *size_windows(VIS_LEARNING_ASSETS,
                                                          shared_values(settings))],
                       jobs=[VIS_JOB, *VIS_INBOX_JOBS],
                       sensors=VIS_INBOX_SENSORS),
        dg.Definitions(resources=build_resources(settings)),
    ), settings)


@dg.definitions
def defs() -> dg.Definitions:
    """What `dg dev` / `dagster dev -w workspace.yaml` load: the current settings' location
    (an entry point: the one place this code location reads the settings)."""
    return build_definitions(load_settings())
