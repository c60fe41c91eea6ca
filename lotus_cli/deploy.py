"""`lotus deploy up|show`: bring the selected profile (LOTUS_PROFILE) up, or show it."""

from __future__ import annotations

import json

import click

from lotus_core.config import ConfigError, Settings, load_settings
from lotus_core.deploy import ProfileError, profile_dir


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings((ctx.find_root().obj or {}).get("config"))
    except (ConfigError, ProfileError) as exc:
        raise click.ClickException(str(exc)) from exc


def _summary(settings: Settings) -> dict[str, object]:
    from lotus_core.store.url import mask_dsn
    from lotus_resources.deploy import lake_root

    deploy = settings.deploy
    out: dict[str, object] = {
        "profile": str(profile_dir() or "embedded"), "executor": deploy.executor,
        "lake": lake_root(settings), "fabric": mask_dsn(settings.fabric),
        "sensors_on": list(deploy.sensors_on)}
    if deploy.executor == "celery":
        out["celery"] = {"broker": mask_dsn(deploy.celery.broker), "queue": deploy.celery.queue}
    return out


@click.group()
def deploy() -> None:
    """The deployment profile: LOTUS_PROFILE=production selects deploy/production/."""


@deploy.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """What the selected profile runs on (executor, lake, fabric, sensors)."""
    body = _summary(_settings(ctx))
    click.echo(json.dumps(body, indent=2) if as_json else
               "\n".join(f"{k}: {v}" for k, v in body.items()))


@deploy.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def up(ctx: click.Context, as_json: bool) -> None:
    """Migrate the fabric (PostgreSQL: module roles + row-level security) and create the
    Dagster instance's storage in DAGSTER_HOME (seeded from the profile's dagster.yaml)."""
    from lotus_cli.instance import get_instance
    from lotus_core.deploy.up import prepare_opsdb
    from lotus_core.fabric.manifests import load_modules

    settings = _settings(ctx)
    if settings.deploy.executor == "celery" and not settings.fabric.startswith("postgres"):
        raise click.ClickException(
            "the distributed profile needs the fabric on PostgreSQL (workers on other machines "
            f"cannot share {settings.fabric}); set LOTUS_FABRIC_URL=postgresql://...")
    body = _summary(settings)
    body["fabric_up"] = prepare_opsdb(settings.fabric, registry=load_modules()).as_dict()
    instance = get_instance(settings)
    try:
        body["dagster"] = {"home": instance.root_directory,
                           "run_storage": type(instance.run_storage).__name__,
                           "run_coordinator": type(instance.run_coordinator).__name__}
    finally:
        instance.dispose()
    click.echo(json.dumps(body, indent=2, default=str) if as_json else
               "\n".join(f"{k}: {v}" for k, v in body.items()))
