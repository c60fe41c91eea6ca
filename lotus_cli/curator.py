"""`lotus curator serve|enroll|queue-cards|log`: the Curator API (docs/curator_api.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

_fabric_url = click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
_keys = click.option("--keys", "key_dir", type=click.Path(path_type=Path, file_okay=False),
                     help="Key directory holding curators.pub.yaml (default: LOTUS_HOME/keys).")


@click.group("curator")
def curator() -> None:
    """The Curator API: serve it, enroll curators, queue cards, read the action log."""


@curator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@_fabric_url
@_keys
@click.option("--curators", "curators_path", type=click.Path(path_type=Path, dir_okay=False),
              help="curators.yaml with the kappa bounds (default: the packaged file).")
@click.option("--pool", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Fabric connections shared by the worker threads.")
@click.option("--skew-s", default=300, show_default=True, type=click.IntRange(1, 3600),
              help="Accepted clock difference of a signed request, seconds (replay window).")
@click.option("--apply-security/--no-apply-security", default=True, show_default=True,
              help="PostgreSQL: (re)create the curator roles and policies at start (needs "
                   "the tables' owner; turn off when the API logs in as its own role).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, fabric_url: str | None,
          key_dir: Path | None, curators_path: Path | None, pool: int, skew_s: int,
          apply_security: bool, log_level: str) -> None:
    """Serve the Curator API over HTTP until interrupted."""
    from lotus_api.app import ApiConfig
    from lotus_api.pool import FabricPool
    from lotus_api.server import serve as run
    from lotus_cli.settings import cli_settings
    from lotus_core.curator_api.keys import load_curators_registry
    from lotus_core.curator_api.security import apply_curator_security
    from lotus_core.curators.config import CuratorConfigError, load_curators
    from lotus_core.fabric.signing import SigningKeyError
    from lotus_core.store.errors import FabricError

    settings = cli_settings(ctx, fabric_url=fabric_url)
    keys = key_dir or settings.home / "keys"
    try:
        council = load_curators(curators_path)
        registry = load_curators_registry(keys)
        fabric = FabricPool(settings.fabric, size=pool)
    except (CuratorConfigError, SigningKeyError, FabricError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if fabric.dialect == "postgres" and apply_security:
            apply_curator_security(fabric.owner(), council)
        if not registry:
            click.echo(f"warning: no curator is enrolled in {keys} (lotus curator enroll)",
                       err=True)
        click.echo(f"Curator API on http://{host}:{port} ({fabric.dialect} fabric "
                   f"{fabric.url}, {len(registry)} curator(s))", err=True)
        cfg = ApiConfig(pool=fabric, curators=registry, council=council,
                        lake_root=settings.lake_dir, skew_ms=skew_s * 1000)
        run(cfg, host=host, port=port, log_level=log_level)
    finally:
        fabric.close()


@curator.command("enroll")
@click.argument("curator_id")
@click.option("--role", "roles", multiple=True, required=True,
              help="A council role the curator holds (repeat for several).")
@_keys
@click.pass_context
def enroll(ctx: click.Context, curator_id: str, roles: tuple[str, ...],
           key_dir: Path | None) -> None:
    """Make CURATOR_ID a key and list it with its roles in curators.pub.yaml."""
    from lotus_cli.settings import cli_settings
    from lotus_core.curator_api.keys import enroll as do_enroll

    keys = key_dir or cli_settings(ctx).home / "keys"
    try:
        path = do_enroll(keys, curator_id, roles)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"enrolled {curator_id} as {', '.join(sorted(set(roles)))}; private key {path} "
               "(give it to the curator, keep it 0600)")


@curator.command("queue-cards")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD",
              help="The detector_cards partition to queue for sign-off.")
@_fabric_url
@click.pass_context
def queue_cards(ctx: click.Context, day: str, fabric_url: str | None) -> None:
    """Post a day's detector cards as candidates awaiting sign-off (idempotent)."""
    from lotus_cli.settings import cli_settings
    from lotus_core.curator_api.candidates import card_candidates
    from lotus_core.curator_api.store import post_candidate
    from lotus_core.store.lake import LakeError, open_lake
    from lotus_core.store.opsdb import OpsDb

    settings = cli_settings(ctx, fabric_url=fabric_url)
    try:
        cards = open_lake(settings.lake_dir).read("detector_cards", day)
    except (LakeError, OSError) as exc:
        raise click.ClickException(f"cannot read detector_cards of {day}: {exc}") from exc
    rows = card_candidates(cards.to_dict("records"), day)
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        new = sum(post_candidate(tx, **row) for row in rows)
    click.echo(f"{new} new candidate(s) of {len(rows)} card(s) from {day}")


@curator.command("log")
@click.option("--after", default=0, show_default=True, help="Show actions after this seq.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@_fabric_url
@click.pass_context
def action_log(ctx: click.Context, after: int, limit: int, as_json: bool,
               fabric_url: str | None) -> None:
    """Print the signed action log (curator_actions), oldest first."""
    from lotus_cli.settings import cli_settings
    from lotus_core.curator_api.store import read_actions
    from lotus_core.store.opsdb import OpsDb

    with OpsDb.open(cli_settings(ctx, fabric_url=fabric_url).fabric) as fabric, \
            fabric.transaction() as tx:
        rows = read_actions(tx, after_seq=after, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    for r in rows:
        value = "" if r["value"] is None else f" {r['value']:+g}"
        click.echo(f"{r['seq']:>6}  {r['recorded_at']}  {r['curator_id']}/{r['role']:<14} "
                   f"{r['action']:<11} {r['target_kind']}:{r['target_id']}{value}  "
                   f"{r['reason']}")
