"""The code location built from the settings at call time, and one day of the nightly chain
run out of process on the profile's executor (Celery workers in production).

`load_definitions` is what Dagster's workers reconstruct the job from (a module-level
function: every worker builds the same Definitions from the same environment), so the steps
of a run can execute in processes, or on machines, that never saw the run's own process.
"""


import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from lotus_assets.definitions import build_definitions
from lotus_core.config import Settings, load_settings
from lotus_core.config.shared import shared_values
from lotus_sensors.schedules import daily_run_config as shared_run_config

DAILY_JOB = "lotus_daily"


def load_definitions() -> dg.Definitions:
    """The code location from the current environment (LOTUS_PROFILE, LOTUS_CONFIG, ...)."""
    return build_definitions(load_settings())


def reconstructable_daily_job() -> ReconstructableJob:
    repo = ReconstructableRepository.for_module("lotus_assets.production", "load_definitions")
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
