"""`lotus router`: run the Herald router as a long-running process."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import click

from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE, ROUTER_NAME
from lotus_core.fabric.manifests import ManifestError
from lotus_core.fabric.router import RouterConfig, RouteStats, default_owner, run_router
from lotus_core.fabric.signing import SigningKeyError
from lotus_core.store.errors import FabricError


@click.group("router")
def router() -> None:
    """The Herald router: moves signed envelopes from every outbox into the inboxes they
    name (validated, verified, TTL-checked, de-duplicated; bad ones to dead_letter)."""


@router.command("run")
@click.option("--seconds", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds (default: run until SIGTERM/Ctrl-C).")
@click.option("--batches", type=click.IntRange(min=0), default=None,
              help="Stop after routing this many batches.")
@click.option("--until-idle", is_flag=True,
              help="Stop once no outbox row is due (drain and exit).")
@click.option("--batch-size", type=click.IntRange(1, 5000), default=ROUTER_BATCH_SIZE,
              show_default=True,
              help="Outbox rows claimed per batch.")
@click.option("--lease-sec", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="SQLite: how long a claimed row is this router's (a killed router's rows "
                   "are free again after it).")
@click.option("--name", default=ROUTER_NAME, show_default=True,
              help="Heartbeat component name (`lotus status` shows it).")
@click.option("--key-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Key directory with keys.pub.yaml (default: <LOTUS_HOME>/keys).")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--no-migrate", is_flag=True,
              help="Connect without migrating (as the lotus_router role; the owner migrates).")
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON at the end.")
@click.option("--verbose", is_flag=True, help="Print each pass that moved rows to stderr.")
@click.pass_context
def run(ctx: click.Context, seconds: float | None, batches: int | None, until_idle: bool,
        batch_size: int, lease_sec: float, name: str, key_dir: Path | None,
        fabric_url: str | None, no_migrate: bool, as_json: bool,
        verbose: bool) -> None:
    """Route envelopes pass after pass; a heartbeat each pass; SIGTERM stops it cleanly.

    A crash or kill at any point loses nothing: each batch commits its deliveries, dead
    letters and outbox updates together, and delivery skips what an inbox already holds.
    """
    from lotus_cli.settings import cli_settings as _settings
    from lotus_core.fabric.connect import open_opsdb
    from lotus_core.fabric.keyring import Keyring

    settings = _settings(ctx, fabric_url=fabric_url)
    keys = Keyring(key_dir or settings.home / "keys")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cfg = RouterConfig(batch_size=batch_size, lease_sec=lease_sec, name=name,
                       owner=default_owner(name))

    def progress(s: RouteStats) -> None:
        if verbose and s.read:
            click.echo(f"routed {s.routed} delivered {s.delivered} dead {s.dead_total} "
                       f"dup {s.duplicates} in {s.seconds:.3f} s", err=True)

    try:
        fabric = open_opsdb(settings.fabric, migrate=not no_migrate)
    except FabricError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        total = run_router(fabric, keys, max_batches=batches, stop=stop.is_set,
                           until_idle=until_idle, max_seconds=seconds, config=cfg,
                           on_pass=progress)
    except (ManifestError, SigningKeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        fabric.close()
    if as_json:
        click.echo(json.dumps(total.as_dict()))
    else:
        dead = ", ".join(f"{r} {n}" for r, n in sorted(total.dead.items())) or "none"
        click.echo(f"routed {total.routed:,} envelope(s) in {total.batches} batch(es): "
                   f"{total.delivered:,} inbox row(s) new, {total.duplicates:,} duplicate(s) "
                   f"skipped, dead letters: {dead}; {total.retried} retried")
    sys.stdout.flush()
