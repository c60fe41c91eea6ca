"""`lotus daemon start|stop|status`: the long-running streaming process (lotus_daemon)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE, STALE_AFTER_SEC
from lotus_daemon.loops import DEFAULT_LOOPS


def _age(seconds: float | None) -> str:
    from lotus_cli.status import _age as age

    return age(seconds)


def _live_figures(loop: dict) -> str:
    """One line of the feed / score loop's own figures (from the daemon's heartbeat)."""
    stale = ",".join(loop.get("stale_coins") or []) or "none"
    if "msgs_per_s" in loop:
        absent = ", ".join(loop.get("channels_absent") or [])
        return (f"{loop.get('url')}: {loop['msgs_per_s']} msg/s, {loop.get('messages', 0)} "
                f"frames, {loop.get('reconnects', 0)} reconnects, stale {stale}, lag "
                f"{loop.get('lag_ms')} ms, {loop.get('dead_letters', 0)} dead letters"
                + (f"; channels not carried: {absent}" if absent else ""))
    if "priors_ver" in loop:  # version 0: no patch set loaded yet (unknown)
        ver = loop["priors_ver"]
        return (f"priors {f'v{ver}' if ver else 'unknown'}, {loop.get('rows', 0)} rows, "
                f"{loop.get('windows', 0)} windows, {loop.get('posted', 0)} posted, "
                f"stale {stale}, last step {loop.get('last_step_s')} s, kernels ready in "
                f"{loop.get('kernels_s')} s")
    return ""


def _loop_line(loop: dict) -> str:
    """name, component, state, last beat and the current error (a recovered one says so)."""
    b = loop.get("heartbeat")
    beat = f"{b['status']:<8}{_age(b['age_s']):>7} ago" if b else "no heartbeat"
    err = f"  last error: {loop['last_error']}" if loop.get("last_error") else ""
    rec = loop.get("recovered")
    if not err and rec:
        err = (f"  last error (recovered at {rec['at']}): {rec['error']}" if isinstance(rec, dict)
               else f"  last error: {rec}")
    return f"  {loop['name']:<10}{loop['component']:<10}{loop['state']:<11} {beat}{err}"


@click.group("daemon")
def daemon() -> None:
    """The Lotus daemon: hosts the streaming loops (feed, score, dm, trader, router, and
    its own heartbeat) outside Dagster runs. One per LOTUS_HOME (a pid file with a lock)."""


def _home_and_url(ctx: click.Context, home: Path | None, fabric_url: str | None):
    from lotus_cli.settings import cli_settings as _settings

    settings = _settings(ctx, home=home, fabric_url=fabric_url)
    return settings.home.resolve(), settings.fabric


@daemon.command("start")
@click.option("--foreground", is_flag=True,
              help="Run in this terminal (Ctrl-C stops it) instead of detaching.")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False),
              help="LOTUS_HOME: pid file, log and keys (default: the settings' home).")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--key-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Key directory with keys.pub.yaml (default: <LOTUS_HOME>/keys).")
@click.option("--loops", default=",".join(DEFAULT_LOOPS), show_default=True,
              help="Comma-separated loops to host besides the heartbeat: feed (websocket "
              "client + raw recording), score (live scoring + ALPHA_PROPOSED), dm "
              "(Decision-Maker on live rows: DM_DECISION), trader (paper fills on the live "
              "book: EXEC_REPORT), router (Herald routing). The default is the live path; "
              "--loops router hosts the router alone (no feed).")
@click.option("--url", "feed_url", help="Feed websocket URL (default: the settings' feed.url, "
              "Hyperliquid mainnet); e.g. ws://127.0.0.1:8765 for `lotus replay-server`.")
@click.option("--clock", type=click.Choice(["wall", "replay"]),
              help="Stamp frames with the receipt time (wall) or the replay server's "
              "recorded time (replay); default: the settings' feed.clock.")
@click.option("--batch-size", type=click.IntRange(1, 5000), default=ROUTER_BATCH_SIZE,
              show_default=True,
              help="Router batch size.")
@click.option("--no-migrate", is_flag=True, help="Connect without migrating the fabric.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds to wait for a detached daemon to report running.")
@click.option("--json", "as_json", is_flag=True, help="Print the pid file as JSON.")
@click.pass_context
def start(ctx: click.Context, foreground: bool, home: Path | None, fabric_url: str | None,
          key_dir: Path | None, loops: str, feed_url: str | None, clock: str | None,
          batch_size: int, no_migrate: bool, timeout: float, as_json: bool) -> None:
    """Start the daemon (refused while one runs; a stale pid file is taken over)."""
    from lotus_daemon.control import DaemonError, check_not_running, start_detached

    home_dir, url = _home_and_url(ctx, home, fabric_url)
    args = ["--loops", loops, "--batch-size", str(batch_size)]
    if feed_url:
        from lotus_core.live.settings import check_ws_url

        try:  # refused here, naming it: the feed loop would retry it forever
            check_ws_url(feed_url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None
        args += ["--url", feed_url]
    if clock:
        args += ["--clock", clock]
    if ctx.obj.get("config"):
        args += ["--config", str(ctx.obj["config"])]
    if key_dir:
        args += ["--key-dir", str(key_dir.resolve())]
    if no_migrate:
        args.append("--no-migrate")
    if foreground:
        from lotus_daemon.host import main

        try:
            check_not_running(home_dir)
        except DaemonError as exc:
            raise click.ClickException(str(exc)) from exc
        sys.exit(main(["--home", str(home_dir), "--fabric-url", url, *args]))
    try:  # the URL goes by environment: a password never shows in `ps`
        info = start_detached(home_dir, args, timeout_sec=timeout,
                              env={**os.environ, "LOTUS_FABRIC_URL": url})
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(info))
        return
    if info.get("stale_pid_file"):
        click.echo(f"took over a stale pid file (pid {info['stale_pid_file'].get('pid')} was "
                   "not running)", err=True)
    click.echo(f"daemon started: pid {info['pid']}, loops {', '.join(info['loops'])}; "
               f"log {info['log']}")


@daemon.command("stop")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False),
              help="LOTUS_HOME (default: the settings' home).")
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds to wait for it to finish its batch and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def stop(ctx: click.Context, home: Path | None, timeout: float, as_json: bool) -> None:
    """Stop the daemon (SIGTERM: it finishes the batch in hand) and wait until it exits."""
    from lotus_daemon.control import DaemonError
    from lotus_daemon.control import stop as stop_daemon

    home_dir, _ = _home_and_url(ctx, home, None)
    try:
        out = stop_daemon(home_dir, timeout_sec=timeout)
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(out))
    elif out["was_running"]:
        click.echo(f"daemon stopped (pid {out['pid']}, {out['seconds']:.1f} s)")
    elif out["stale_pid_file_removed"]:
        click.echo(f"daemon not running; removed a stale pid file (pid {out['pid']})")
    else:
        click.echo("daemon not running")


@daemon.command("status")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False),
              help="LOTUS_HOME (default: the settings' home).")
@click.option("--fabric-url", help="Ops DB URL (default: the settings' fabric).")
@click.option("--stale-after", type=click.FloatRange(min=1), default=STALE_AFTER_SEC,
              show_default=True,
              help="Seconds after which a heartbeat counts as stale.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_context
def status(ctx: click.Context, home: Path | None, fabric_url: str | None, stale_after: float,
           as_json: bool) -> None:
    """Is the daemon running (pid, liveness), and each loop's last heartbeat. Exit code 0
    while it runs, 3 when it does not (as init scripts do)."""
    from lotus_daemon.control import status as daemon_status

    home_dir, url = _home_and_url(ctx, home, fabric_url)
    out = daemon_status(home_dir, url, stale_after_sec=stale_after)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        if out["running"]:
            click.echo(f"daemon running: pid {out['pid']} ({'alive' if out['alive'] else 'DEAD'})"
                       f", since {out['started_at']}, health {out['health']}")
        else:
            stale = out["stale_pid_file"]
            note = f" (stale pid file: pid {stale['pid']} is not running)" if stale else ""
            past = ("; it died without its last heartbeat, loops as they were then"
                    if out["health"] == "dead" else "")
            click.echo(f"daemon stopped{note}{past}")
        if out.get("fabric_error"):
            click.echo(f"fabric unreadable: {out['fabric_error']}")
        for loop in out["loops"]:
            click.echo(_loop_line(loop))
            live = _live_figures(loop)
            if live:
                click.echo(f"    {live}")
        click.echo(f"log {out['log']}")
    sys.exit(0 if out["running"] else 3)
