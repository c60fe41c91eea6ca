"""`lotus status`: each module's health, inbox lag, dead letters and last heartbeat."""

from __future__ import annotations

import json

import click

from lotus_core.fabric.defaults import STALE_AFTER_SEC


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--stale-after", type=click.FloatRange(min=1), default=STALE_AFTER_SEC,
              show_default=True,
              help="Seconds after which a component's last heartbeat counts as stale.")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.pass_context
def status(ctx: click.Context, as_json: bool, stale_after: float, fabric_url: str | None) -> None:
    """Show the module fabric's health: per module ok/stale/unknown (by heartbeat age), inbox
    lag (pending rows, oldest pending age), outbox backlog, dead letters by reason."""
    from lotus_cli.settings import cli_settings as _settings
    from lotus_core.fabric.handlers import handler_table
    from lotus_core.fabric.manifests import ManifestError, load_modules
    from lotus_core.fabric.status import fabric_status
    from lotus_core.store.errors import FabricError
    from lotus_core.store.opsdb import OpsDb

    settings = _settings(ctx, fabric_url=fabric_url)
    try:
        handler_table(load_modules())  # a bad manifest fails here, naming file and key
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with OpsDb.open(settings.fabric) as fabric:
            report = fabric_status(fabric, stale_after_sec=stale_after)
    except FabricError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo(f"{'module':<8}{'health':<9}{'last beat':>10}{'inbox':>8}{'handled':>9}"
               f"{'oldest':>9}{'outbox':>8}{'failed':>8}  dead letters")
    for name, m in report["modules"].items():
        inbox, outbox = m.get("inbox"), m.get("outbox")
        dead = ", ".join(f"{r} {n}" for r, n in m.get("dead_letters", {}).items()) or "-"
        if inbox is None:
            click.echo(f"{name:<8}{m['health']:<9}{_age(m['last_heartbeat_age_s']):>10}")
            continue
        failed = inbox["failed"] + outbox["failed"]
        click.echo(f"{name:<8}{m['health']:<9}{_age(m['last_heartbeat_age_s']):>10}"
                   f"{inbox['pending']:>8}{inbox['pending_handled']:>9}"
                   f"{_age(inbox['oldest_pending_age_s']):>9}{outbox['pending']:>8}"
                   f"{failed:>8}  {dead}")
    click.echo(f"{report['dead_letters_total']} dead letter(s); components:")
    for name, m in report["modules"].items():
        for c in m["components"]:
            click.echo(f"  {c['component']:<24}{name:<8}{c['status']:<10}{_age(c['age_s']):>8}"
                       f"  pid {c['pid']} on {c['host']}")
