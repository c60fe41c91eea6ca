"""`lotus bus`: serve the Signal Bus, manage its subscribers, follow it; docs/bus.md."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from lotus_cli.settings import cli_settings


@click.group("bus")
def bus() -> None:
    """The Signal Bus: published sigbus-1.0.0 frames over a websocket, each with its seq;
    a subscriber resumes with the last seq it received (docs/bus.md)."""


def _key_dir(ctx: click.Context, key_dir: Path | None) -> Path:
    return key_dir or cli_settings(ctx).home / "keys"


@bus.command("serve")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False),
              help="LOTUS_HOME: where the pid file (bus/bus.pid) and keys live.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8766, show_default=True, type=int, help="0 picks a free port.")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--key-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where bus_subscribers.json lives (default: <LOTUS_HOME>/keys).")
@click.option("--poll", "poll_s", type=click.FloatRange(0.001, 10), default=0.02,
              show_default=True, help="Seconds between looks for new signals when idle.")
@click.option("--queue-max", type=click.IntRange(1, 1_000_000), default=1000,
              show_default=True, help="Frames queued per subscriber before it is dropped "
              "(close 4408; it resumes with its last seq).")
@click.option("--sndbuf", type=click.IntRange(min=1024), default=None,
              help="SO_SNDBUF of each subscriber socket in bytes (default: the kernel's).")
@click.option("--heartbeat", "heartbeat_s", type=click.FloatRange(0.05, 300), default=5.0,
              show_default=True, help="Seconds between heartbeats (what `lotus bus status` "
              "and the Dagster sensor read).")
@click.option("--seconds", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds (default: until SIGTERM/Ctrl-C).")
@click.option("--no-migrate", is_flag=True, help="Connect without migrating the fabric.")
@click.pass_context
def serve(ctx: click.Context, home: Path | None, host: str, port: int, fabric_url: str | None,
          key_dir: Path | None, poll_s: float, queue_max: int, sndbuf: int | None,
          heartbeat_s: float, seconds: float | None, no_migrate: bool) -> None:
    """Serve the Signal Bus until SIGTERM/Ctrl-C (a heartbeat `bus` in the fabric)."""
    import asyncio

    from lotus_bus.server import BusConfig, BusServer
    from lotus_bus.status import pid_path, read_pid

    settings = cli_settings(ctx, fabric_url=fabric_url, home=home)
    cfg = BusConfig(fabric_url=settings.fabric, key_dir=key_dir or settings.home / "keys",
                    host=host, port=port, poll_s=poll_s, queue_max=queue_max,
                    sndbuf=sndbuf, heartbeat_s=heartbeat_s, migrate=not no_migrate)
    server = BusServer(cfg)
    ready = threading.Event()
    pid_file = pid_path(settings.home)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop())

    def announce() -> None:
        ready.wait()
        url = f"ws://{host}:{server.port}"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(json.dumps({"pid": os.getpid(), "url": url, "port": server.port,
                                        "fabric": settings.fabric}))
        click.echo(f"Signal Bus on {url} (head seq {server.cursor}, subscribers in "
                   f"{server.book.path})", err=True)
        if seconds is not None:
            threading.Timer(seconds, server.stop).start()

    threading.Thread(target=announce, daemon=True).start()
    try:
        asyncio.run(server.run(ready))
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None
    finally:
        info = read_pid(settings.home)
        if info and info.get("pid") == os.getpid():
            pid_file.unlink(missing_ok=True)
    s = server.stats
    click.echo(f"Signal Bus stopped: {s.connections} connections, {s.sent} frames sent, "
               f"{s.lagged} lagged, {s.refused} refused, last seq {s.last_seq}", err=True)


@bus.command("add-subscriber")
@click.argument("name")
@click.option("--rotate", is_flag=True, help="Replace an existing subscriber's token.")
@click.option("--key-dir", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def add_subscriber(ctx: click.Context, name: str, rotate: bool, key_dir: Path | None) -> None:
    """Create (or --rotate) a subscriber and print its token once."""
    from lotus_core.bus.auth import SubscriberBook

    try:
        click.echo(SubscriberBook(_key_dir(ctx, key_dir)).add(name, rotate=rotate))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@bus.command("revoke-subscriber")
@click.argument("name")
@click.option("--key-dir", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def revoke_subscriber(ctx: click.Context, name: str, key_dir: Path | None) -> None:
    """Refuse NAME's token from its next connection on."""
    from lotus_core.bus.auth import SubscriberBook

    if not SubscriberBook(_key_dir(ctx, key_dir)).revoke(name):
        raise click.ClickException(f"no subscriber {name!r}")
    click.echo(f"revoked {name}")


@bus.command("subscribers")
@click.option("--key-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def subscribers(ctx: click.Context, key_dir: Path | None, as_json: bool) -> None:
    """List subscribers (never their tokens)."""
    from lotus_core.bus.auth import SubscriberBook

    subs = SubscriberBook(_key_dir(ctx, key_dir)).subscribers()
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in subs], indent=2))
        return
    for s in subs:
        click.echo(f"{s.name}\tcreated {s.created_at}"
                   + (f"\trevoked {s.revoked_at}" if s.revoked_at else ""))


@bus.command("status")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, fabric_url: str | None, as_json: bool) -> None:
    """The bus's last heartbeat: subscribers, last seq, frames sent, lagged, refused."""
    from lotus_bus.status import bus_state

    settings = cli_settings(ctx, fabric_url=fabric_url)
    state = bus_state(settings.home, settings.fabric)
    if as_json:
        click.echo(json.dumps(state, indent=2, default=str))
        return
    click.echo(state["summary"])


@bus.command("tail")
@click.option("--url", default="ws://127.0.0.1:8766", show_default=True)
@click.option("--token", envvar="LOTUS_BUS_TOKEN", required=True,
              help="The subscriber's token (or $LOTUS_BUS_TOKEN).")
@click.option("--since", type=click.IntRange(min=0), default=None,
              help="Last seq already received (default: from now on).")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Stop after this many frames.")
def tail(url: str, token: str, since: int | None, count: int | None) -> None:
    """Print signal frames as JSON lines, resuming from the last seq after every drop."""
    import asyncio

    from lotus_bus.client import BusRefused, follow

    async def main() -> None:
        stop = asyncio.Event()
        seen = [0]

        def show(frame: dict[str, Any]) -> None:
            sys.stdout.write(json.dumps(frame, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            seen[0] += 1
            if count is not None and seen[0] >= count:
                stop.set()

        await follow(url, token, show, since=since, stop=stop)

    try:
        asyncio.run(main())
    except BusRefused as exc:
        raise click.ClickException(f"the bus refused: {exc}") from None
    except KeyboardInterrupt:
        pass
