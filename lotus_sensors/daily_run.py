"""One day of the chain run out of process on the profile's executor (Celery workers in
production): what the backfill job (and so the nightly schedule), `bench.scale` and the
production test call. The day is its runs in phases (lotus_assets/day_plan.py): a
`lotus_daily` run, a `lotus_coins` run per coin of the day, ...

The jobs are reconstructed by name from `lotus_location.production.load_definitions` (a
module-level function every worker can import), so this module never imports the code
location it runs, and the code location (which registers the backfill job) never imports
itself back through it.
"""

import functools
from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from lotus_assets.chain import ASSETS
from lotus_assets.day_plan import (
    DAILY_JOB,
    DayRun,
    Phase,
    coins_of_day,
    partition_tags,
    phase_config,
    phases_for,
    run_day,
)
from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_core.store.lake import open_lake
from lotus_resources.deploy import lake_root
from lotus_sensors.schedules import daily_run_config as shared_run_config

CODE_LOCATION = ("lotus_location.production", "load_definitions")


def reconstructable_job(name: str = DAILY_JOB) -> ReconstructableJob:
    repo = ReconstructableRepository.for_module(*CODE_LOCATION)
    return repo.get_reconstructable_job(name)


def daily_run_config(settings: Settings, log_level: str = "WARNING") -> dict:
    """The shared run config every run of a day carries, with a quieter console."""
    return {**shared_run_config(shared_values(settings)),
            "loggers": {"console": {"config": {"log_level": log_level}}}}


@functools.cache
def phases_of() -> list[Phase]:
    """The day's phases: those of the chain's assets (`lotus_assets.chain`, what the two
    jobs hold), found once: what reads what and which assets are by coin do not depend on
    the settings (nor on a window's size: the unsized `ASSETS` give the same phases), so
    nothing here builds the code location or reads them again."""
    return phases_for(ASSETS)


def run_day_out_of_process(settings: Settings, day: str, instance: dg.DagsterInstance,
                           log_level: str = "WARNING", tags: dict[str, str] | None = None,
                           resources: dict[str, Any] | None = None) -> DayRun:
    """One day's runs, phase by phase, each through the profile's executor (`execute_job`:
    the caller is the run worker; the steps go wherever the executor sends them).
    `resources`: run config for resources (the nightly run's feed directory)."""
    config = {**daily_run_config(settings, log_level),
              **({"resources": resources} if resources else {})}
    lake = open_lake(lake_root(settings))

    def one(phase: Phase, key: str) -> dg.JobExecutionResult:
        return dg.execute_job(
            reconstructable_job(phase.job).get_subset(asset_selection=set(phase.keys)),
            instance=instance, run_config=phase_config(config, phase),
            tags={**partition_tags(key), "lotus/launched_by": "execute_job", "lotus/day": day,
                  **(tags or {})})

    return run_day(day, phases_of(), lambda: coins_of_day(lake, day), one)
