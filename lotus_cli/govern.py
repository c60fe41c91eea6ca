"""`lotus govern run|show`: breed a night under the compute governor (Thompson sampling
over the breeding arms, the re-audits, and the replays and expert re-fits of the newest
scored day in the lake, with a diversity quota and a budget), and show
a night's pulls, spend per arm and the governor's state (docs/governance.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lotus_cli.day_inputs import cli_lake, day_tape
from lotus_cli.settings import cli_settings

SHOWN = ["seq", "arm", "quota", "sample", "item", "reward", "cost", "spent", "note"]


@click.group()
def govern() -> None:
    """Spend a night's compute budget across breeding, re-audit, replay and re-fit arms."""


@govern.command("run")
@click.option("--day", required=True, metavar="YYYY-MM-DD", help="The night to breed on.")
@click.option("--feed-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Recordings directory (default: the settings' feed_dir).")
@click.option("--seed", default=20260105, show_default=True, help="Proposer and governor seed.")
@click.option("--mode", type=click.Choice(["cpu", "units"]), default="cpu", show_default=True,
              help="Budget in CPU seconds (process time) or deterministic cost units "
                   "(rows/10k x harness gates: a byte-identical night).")
@click.option("--budget", default=120.0, show_default=True, help="The night's budget.")
@click.option("--quota", default=2, show_default=True,
              help="Least-tried arms pulled once each before Thompson sampling.")
@click.option("--recipe", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Another breeding recipe (default: lotus_core/breeding/recipe.yaml).")
@click.option("--parent-nights", default=7, show_default=True,
              help="Earlier nights whose survivors are parents and re-audited.")
@click.option("--replays", default=4, show_default=True,
              help="Counterfactual replays of the newest scored day <= DAY (0: none).")
@click.option("--refits", default=6, show_default=True,
              help="DSI expert re-fits on the newest scored day <= DAY (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the pulls as JSON.")
@click.pass_context
def run(ctx: click.Context, day: str, feed_dir: Path | None, seed: int, mode: str,
        budget: float, quota: int, recipe: Path | None, parent_nights: int, replays: int,
        refits: int, as_json: bool) -> None:
    """Breed DAY under the governor: write `compute_governance` and `governance_state`."""
    from lotus_core.breeding import load_recipe
    from lotus_core.governance import BudgetConfig, GovernorConfig, by_arm
    from lotus_core.governance.nightly import govern_day
    from lotus_core.governance.replay_arms import scoring_from
    from lotus_core.signals import load_detectors
    from lotus_core.store.opsdb import OpsDb

    settings = cli_settings(ctx)
    frames = day_tape(settings, day, feed_dir)
    gov = GovernorConfig(budget=BudgetConfig(mode=mode, limit=budget),  # type: ignore[arg-type]
                         quota=quota)
    fabric = OpsDb.open(settings.fabric)
    try:
        scoring = scoring_from(settings, fabric)
        g = govern_day(cli_lake(settings), frames, day, recipe=load_recipe(recipe),
                       vetted=load_detectors().enabled, gov=gov, seed=seed,
                       parent_nights=parent_nights, scoring=scoring, replays=replays,
                       refits=refits)
    finally:
        fabric.close()
    if as_json:
        click.echo(json.dumps(g.night.pulls.to_dict("records"), default=str))
        return
    _show(g.night.pulls, by_arm(g.night.pulls))
    kinds = g.night.pulls["kind"]
    click.echo(f"spent {g.night.spent:.4g} of {budget:g} ({mode}); bought "
               f"{len(g.result.candidates)} of {g.proposed} candidates, "
               f"{len(g.result.survivors)} survivor(s), {len(g.reaudits)} re-audit(s), "
               f"{int((kinds == 'replay').sum())} replay(s), "
               f"{int((kinds == 'refit').sum())} re-fit(s)")


def _show(pulls: Any, arms: Any) -> None:
    if len(pulls) == 0:
        click.echo("(no pulls)")
        return
    fmt = {"float_format": lambda x: f"{x:.4g}", "index": False}
    click.echo(pulls[SHOWN].to_string(**fmt))
    click.echo("")
    click.echo(arms.to_string(**fmt))


@govern.command("show")
@click.option("--day", required=True, metavar="YYYY-MM-DD")
@click.option("--state", "show_state", is_flag=True, help="The governor's state per arm.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, day: str, show_state: bool, as_json: bool) -> None:
    """A night's pulls and spend per arm (or, with --state, the posterior per arm)."""
    from lotus_core.governance import by_arm
    from lotus_core.governance.nightly import PULLS, STATE
    from lotus_core.store.lake import LakeError

    try:
        df = cli_lake(cli_settings(ctx)).read(STATE if show_state else PULLS, day)
    except (LakeError, OSError) as exc:
        raise click.ClickException(f"no governance night for {day}: {exc}") from exc
    if as_json:
        click.echo(json.dumps(df.to_dict("records"), default=str))
    elif show_state:
        click.echo(df.drop(columns="date").to_string(index=False,
                                                     float_format=lambda x: f"{x:.4g}"))
    else:
        _show(df, by_arm(df))
