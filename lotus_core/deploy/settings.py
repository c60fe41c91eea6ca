"""The `deploy:` section of lotus.yaml: which executor runs the nightly chain's steps, where
the lake lives, and the Celery broker the distributed executor uses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lotus_core.strict import StrictModel

Executor = Literal["in_process", "multiprocess", "celery"]




class CelerySettings(StrictModel):
    """dagster-celery: every step is a task on `queue`; workers must consume that queue
    (`celery -A dagster_celery.app worker -Q lotus`)."""

    broker: str = "pyamqp://guest:guest@127.0.0.1:5672//"
    backend: str = "rpc://"
    queue: str = Field(default="lotus", pattern=r"^[A-Za-z0-9_.\-]+$")


class DeploySettings(StrictModel):
    """How the nightly chain runs (docs/production.md, docs/scale.md).

    `executor`: in_process (embedded default: one process, no per-step start-up),
    multiprocess (one child per step, `max_concurrent` at a time; `start_method` forkserver
    preloads the stack once, spawn is Dagster's own default and imports it per step) or celery
    (steps spread over the workers of `celery.queue`; LOTUS_PROFILE=production). `lake_url`:
    null keeps the lake under `<home>/lake`; otherwise a path every worker reaches or an
    object-store URL (s3://bucket/prefix, gs://..., file:///mnt/shared/lake, memory://lake).
    `sensors_on`: sensors whose default status becomes RUNNING (names the code location lacks
    are ignored, so a profile may name a sensor another component adds, e.g.
    daemon_relaunch_sensor)."""

    executor: Executor = "in_process"
    max_concurrent: int = Field(default=2, ge=1, le=256)
    start_method: Literal["forkserver", "spawn"] = "forkserver"
    lake_url: str | None = None
    sensors_on: list[str] = Field(default_factory=list)
    celery: CelerySettings = CelerySettings()

    @field_validator("lake_url")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("lake_url must be null or a non-empty path or URL")
        return v
