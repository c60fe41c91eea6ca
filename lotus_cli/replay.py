"""`lotus replay-server`: serve a directory of recordings over a websocket on loopback."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise click.BadParameter(f"--speed must be a number > 0 or 'max', got {value!r}") from None
    if speed <= 0:
        raise click.BadParameter(f"--speed must be > 0, got {value}")
    return speed


@click.command("replay-server")
@click.option("--feed-dir", required=True, type=click.Path(path_type=Path, file_okay=False,
                                                           exists=True),
              help="Directory of <YYYY-MM-DD>.jsonl.gz recordings.")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default: first).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day, inclusive (default: last).")
@click.option("--speed", default="1", show_default=True,
              help="1 = real time, N = N times faster, max = as fast as clients read.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option("--drop-every", type=float, help="Fault: drop every connection every S replay "
              "seconds (close code 1006).")
@click.option("--stall", metavar="[TYPE:]COIN@START+DURATION",
              help="Fault: stall a subscription (or every channel of a coin) from START for "
              "DURATION replay seconds, e.g. BTC@60+30 or l2Book:ETH@10+5.")
@click.option("--garbage", type=click.FloatRange(0, 1), default=0.0,
              help="Fault: fraction of frames followed by a garbage frame.")
@click.option("--refuse", type=float, default=0.0,
              help="Fault: refuse new connections (HTTP 503) for S seconds after start and "
              "after each drop.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the garbage.")
def replay_server(feed_dir: Path, start: str | None, end: str | None, speed: str, host: str,
                  port: int, drop_every: float | None, stall: str | None, garbage: float,
                  refuse: float, seed: int) -> None:
    """Serve recordings in the venue's wire format (greeting, acks, errors, ping/pong); the
    replay clock starts at the first subscription. Ctrl-C stops it."""
    import asyncio

    from lotus_replay.server import Faults, ReplayConfig, ReplayServer

    stall_coin, stall_at, stall_for = None, 0.0, 0.0
    if stall:
        try:
            stall_coin, _, span = stall.partition("@")
            at, _, dur = span.partition("+")
            stall_at, stall_for = float(at), float(dur)
        except ValueError:
            raise click.BadParameter(f"--stall must be [TYPE:]COIN@START+DURATION, got {stall!r}"
                                     ) from None
    faults = Faults(drop_every_s=drop_every, stall=stall_coin, stall_at_s=stall_at,
                    stall_for_s=stall_for, garbage=garbage, refuse_for_s=refuse, seed=seed)
    try:
        server = ReplayServer(ReplayConfig(feed_dir, start, end, _speed(speed), host, port,
                                           faults))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    ready = threading.Event()

    def announce() -> None:
        ready.wait()
        click.echo(f"replaying {', '.join(server.days)} on ws://{host}:{server.port} "
                   f"at speed {speed}", err=True)
        server.done.wait()
        s = server.stats
        click.echo(f"replay finished: {s.frames_read} frames read, {s.frames_sent} sent, "
                   f"{s.drops} drops", err=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        asyncio.run(server.run(ready))
    except KeyboardInterrupt:
        sys.exit(0)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None
