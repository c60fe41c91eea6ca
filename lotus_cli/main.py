"""`lotus`: run the chain, make and check fixtures, inspect what a run left behind."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import warnings
from pathlib import Path

import click

from lotus_cli.settings import cli_settings
from lotus_core.config.shared import shared_values

warnings.filterwarnings("ignore", category=UserWarning, module=r"dagster\..*")
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")


_settings = cli_settings  # the old name (subcommands import lotus_cli.settings.cli_settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False),
              help="Settings file (default: $LOTUS_CONFIG or ./lotus.yaml when present).")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Lotus: a learning signal engine for crypto market microstructure.

    Settings come from the packaged defaults, then lotus.yaml, then LOTUS_HOME /
    LOTUS_FEED_DIR / LOTUS_FABRIC_URL, then flags. Runs go through Dagster; the UI
    (`make dev`) shows the same runs, lineage and partitions.
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@cli.command()
@click.option("--feed-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Directory of <YYYY-MM-DD>.jsonl.gz recordings (default: settings' feed_dir).")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default: first recording).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day, inclusive (default: last).")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False),
              help="LOTUS_HOME: where the lake and the fabric live (default .lotus).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-day results as JSON.")
@click.option("--verbose", is_flag=True, help="Show Dagster's run logs (DEBUG) on stderr.")
@click.pass_context
def materialize(ctx: click.Context, feed_dir: Path | None, start: str | None, end: str | None,
                home: Path | None, as_json: bool, verbose: bool) -> None:
    """Materialise every asset for each day in a range: each day its `lotus_daily` runs and
    a `lotus_coins` run per coin (the day x coin stages), in phases, day by day.

    The days' look-back windows read the earlier days from the lake as they are, so a day
    re-run alone gives what the full run gave; if an earlier day they read is not in the
    lake, nothing runs and the error names it. A recording cut short or corrupt is named
    with its line, and only its day is refused. Each day is made apart and published when
    every step of it succeeded: a day that fails or is killed leaves the lake's partitions
    of it as they were."""
    settings = _settings(ctx, feed_dir=feed_dir, home=home)
    _partitions_follow(settings.feed_dir)  # before the definitions load
    from lotus_cli.instance import get_instance
    from lotus_cli.materialize import (
        DayRangeError,
        materialize_days,
        resolve_days,
        screen_recordings,
    )

    try:
        days = resolve_days(settings.feed_dir, start, end)
        screened = screen_recordings(settings.feed_dir, days, settings.verify_manifest)
    except (DayRangeError, NotADirectoryError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    err = sys.stderr
    for msg in screened.warnings:
        click.echo(f"warning: {msg}", err=True)
    for day, why in screened.refused.items():
        click.echo(f"refused {day}: {why}", err=True)
    _warn_unrecorded(settings)
    instance = get_instance(settings)
    from lotus_cli.progress import Progress

    with contextlib.ExitStack() as stack:
        progress = Progress(len(days), err, stack)

        def begin() -> None:  # after the look-back check: nothing printed if it refuses
            click.echo(f"materialising {len(days)} day(s) from {settings.feed_dir} into "
                       f"{settings.home} (Dagster instance {instance.root_directory})",
                       err=True)
            progress.start()

        outcomes = materialize_days(settings, days, instance, on_day=progress.day,
                                    log_level="DEBUG" if verbose else "WARNING",
                                    refused=screened.refused, broken=screened.broken,
                                    on_start=begin, on_run=progress.run)
    if as_json:
        click.echo(json.dumps([o.__dict__ for o in outcomes], indent=2))
    else:
        _print_summary(outcomes)
    if not all(o.success for o in outcomes):
        sys.exit(1)


def _warn_unrecorded(settings) -> None:  # noqa: ANN001 - a Settings
    """A configured coin no recording names: the chain would hold it all day (a stale
    universe snapshot cannot catch a coin the venue delisted; the recordings can)."""
    from lotus_core.config.coins import unrecorded

    for msg in unrecorded(settings.feed_dir, {"feed.coins": settings.feed.coins,
                                              "dm.coins": settings.dm.coins}):
        click.echo(f"warning: {msg}", err=True)


def _partitions_follow(feed_dir: Path | None) -> None:
    """Before the definitions load: the partitions start at the feed directory's first
    recording (unless LOTUS_PARTITIONS_START is set), whatever `--from` asks for, so the
    look-back windows of the first day asked for map onto the earlier days (a definition
    starting at `--from` would give them none: that day would be made without its
    history)."""
    import os

    from lotus_core.feed.recordings import list_days

    if feed_dir is None or os.environ.get("LOTUS_PARTITIONS_START"):
        return
    days = list_days(feed_dir) if Path(feed_dir).is_dir() else []
    if days:
        os.environ["LOTUS_PARTITIONS_START"] = days[0]


def _print_summary(outcomes: list) -> None:
    from lotus_cli.loop_summary import print_summary

    print_summary(outcomes)


@cli.command("dead-letters")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Only this day (default: all).")
@click.option("--limit", default=50, show_default=True, help="Rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.pass_context
def dead_letters(ctx: click.Context, day: str | None, limit: int, as_json: bool) -> None:
    """Show refused feed lines and why (the fabric's feed_dead_letter)."""
    from lotus_core.store.opsdb import OpsDb

    settings = _settings(ctx)
    fabric = OpsDb.open(settings.fabric)
    try:
        rows = fabric.dead_letters(day)[:limit]
        total = fabric.count_dead_letters(day)
    finally:
        fabric.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        click.echo(f"{r['day']} line {r['line_no']:>7} {r['reason']:<20} {r['channel'] or '-':<15}"
                   f" {r['detail']}")
    click.echo(f"{total} dead letter(s){' on ' + day if day else ''}")


@cli.command("config")
@click.option("--explain", is_flag=True,
              help="One line per setting: its value and where it came from: default (the "
                   "typed settings models), profile, lotus.yaml, environment or flag.")
@click.pass_context
def show_config(ctx: click.Context, explain: bool) -> None:
    """Print the effective settings (after lotus.yaml, LOTUS_* variables) as JSON.

    Every section validated, dm: and trader: included with their defaults filled in; an
    unknown or badly typed key stops here (exit 1) naming it."""
    settings = _settings(ctx)
    if explain:
        from lotus_core.config.settings import explain_settings

        rows = explain_settings(ctx.find_root().obj.get("config"))
        width = max(len(k) for k, _, _ in rows)
        for key, value, source in rows:
            click.echo(f"{key:<{width}}  {json.dumps(value):<24}  {source}")
        return
    body = json.loads(settings.model_dump_json())
    body["lake_dir"] = str(settings.lake_dir)
    body["fabric"] = settings.fabric
    body["shared"] = dataclasses.asdict(shared_values(settings))  # what every consumer sees
    click.echo(json.dumps(body, indent=2))


from lotus_cli.fixtures import fixtures  # noqa: E402  (subcommand group in its own module)

cli.add_command(fixtures)
from lotus_cli.lessons import braids, lessons  # noqa: E402
from lotus_cli.priors import priors  # noqa: E402
from lotus_cli.router import router  # noqa: E402
from lotus_cli.status import status  # noqa: E402

cli.add_command(priors)
cli.add_command(lessons)
cli.add_command(braids)
cli.add_command(router)
cli.add_command(status)
from lotus_cli.daemon import daemon  # noqa: E402

cli.add_command(daemon)
from lotus_cli.validate import validate  # noqa: E402

cli.add_command(validate)

from lotus_cli.replay import replay_server  # noqa: E402

cli.add_command(replay_server)

from lotus_cli.deploy import deploy  # noqa: E402

cli.add_command(deploy)
from lotus_cli.experiment import experiment  # noqa: E402

cli.add_command(experiment)

from lotus_cli.bus import bus  # noqa: E402

cli.add_command(bus)

from lotus_cli.curator import curator  # noqa: E402

cli.add_command(curator)
from lotus_cli.breed import breed  # noqa: E402

cli.add_command(breed)
from lotus_cli.govern import govern  # noqa: E402

cli.add_command(govern)
from lotus_cli.vis import vis  # noqa: E402

cli.add_command(vis)
