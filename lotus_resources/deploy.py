"""The deployment profile on the Dagster side: the executor that runs a run's steps, the
lake's root, and the sensors a profile switches on. `with_deploy(defs, settings)` applies all
three to the code location's Definitions.

    in_process    embedded default: every step in the run's own process (no per-step start-up:
                  the old default started one process per step, ~1.5 s each, ~28 s a run)
    multiprocess  one child per step, `deploy.max_concurrent` at a time; forkserver preloads
                  the stack once, spawn (Dagster's own default) imports it in every step
    celery        dagster-celery: each step a Celery task on `deploy.celery.queue`
"""


import dagster as dg
from dagster._core.definitions.sensor_definition import SensorDefinition

from lotus_core.config import Settings

PRELOAD_MODULES = ["lotus_location.definitions"]


def lake_root(settings: Settings) -> str:
    """`deploy.lake_url` if set (a shared path or an object-store URL), else <home>/lake."""
    return settings.deploy.lake_url or str(settings.lake_dir.resolve())


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    deploy = settings.deploy
    if deploy.executor == "in_process":
        return dg.in_process_executor
    if deploy.executor == "multiprocess":
        start = ({"forkserver": {"preload_modules": PRELOAD_MODULES}}
                 if deploy.start_method == "forkserver" else {"spawn": {}})
        return dg.multiprocess_executor.configured(
            {"max_concurrent": deploy.max_concurrent, "start_method": start},
            name=f"multiprocess_{deploy.start_method}")
    from dagster_celery import celery_executor  # only the production profile needs it

    return celery_executor.configured({
        "broker": deploy.celery.broker,
        "backend": deploy.celery.backend,
        "config_source": {"task_default_queue": deploy.celery.queue},
    }, name="celery")


def switched_on(sensor: dg.SensorDefinition) -> dg.SensorDefinition:
    """A copy of `sensor` whose default status is RUNNING (the code default stays STOPPED)."""
    if sensor.default_status == dg.DefaultSensorStatus.RUNNING:
        return sensor
    return SensorDefinition.dagster_internal_init(
        name=sensor.name, evaluation_fn=sensor._raw_fn,  # noqa: SLF001 - as with_attributes
        minimum_interval_seconds=sensor.minimum_interval_seconds,
        description=sensor.description, job_name=None, jobs=sensor.jobs if sensor.has_jobs
        else None, job=None, default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=sensor.asset_selection,
        required_resource_keys=sensor._raw_required_resource_keys,  # noqa: SLF001
        tags=sensor.tags, metadata=sensor.metadata, target=None, owners=sensor.owners)


def with_deploy(defs: dg.Definitions, settings: Settings) -> dg.Definitions:
    """`defs` with the profile's executor and its sensors switched on."""
    on = set(settings.deploy.sensors_on)  # names absent from `defs` are ignored
    sensors = [switched_on(s) if s.name in on else s for s in (defs.sensors or [])]
    base = dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
        schedules=defs.schedules, sensors=sensors, resources=defs.resources,
        loggers=defs.loggers, metadata=defs.metadata)
    return dg.Definitions.merge(base, dg.Definitions(executor=executor_for(settings)))
