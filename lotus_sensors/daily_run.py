"""One day of `lotus_daily` run out of process on the profile's executor (Celery workers in
production): what the backfill job, `bench.scale` and the production test call.

The job is reconstructed by name from `lotus_assets.production.load_definitions` (a
module-level function every worker can import), so this module never imports the code
location it runs, and the code location (which registers the backfill job) never imports
itself back through it.
"""

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from lotus_core.config import Settings
from lotus_core.config.shared import shared_values
from lotus_sensors.schedules import daily_run_config as shared_run_config

DAILY_JOB = "lotus_daily"
CODE_LOCATION = ("lotus_assets.production", "load_definitions")


def reconstructable_daily_job() -> ReconstructableJob:
    repo = ReconstructableRepository.for_module(*CODE_LOCATION)
    return repo.get_reconstructable_job(DAILY_JOB)


def daily_run_config(settings: Settings, log_level: str = "WARNING") -> dict:
    """The shared run config every `lotus_daily` run carries, with a quieter console."""
    return {**shared_run_config(shared_values(settings)),
            "loggers": {"console": {"config": {"log_level": log_level}}}}


def run_day_out_of_process(settings: Settings, day: str, instance: dg.DagsterInstance,
                           log_level: str = "WARNING",
                           tags: dict[str, str] | None = None) -> dg.JobExecutionResult:
    """One partition of `lotus_daily` through the profile's executor (`execute_job`: the
    caller is the run worker; the steps go wherever the executor sends them)."""
    return dg.execute_job(
        reconstructable_daily_job(), instance=instance,
        run_config=daily_run_config(settings, log_level),
        tags={"dagster/partition": day, "lotus/launched_by": "execute_job", **(tags or {})})
