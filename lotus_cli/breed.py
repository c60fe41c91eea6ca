"""`lotus breed run|list|lineage`: breed detectors on a day of a feed directory, list a
night's candidates, show the lineage of the bred detectors (docs/breeding.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lotus_cli.day_inputs import cli_lake, day_tape
from lotus_cli.settings import cli_settings

SHOWN = ["detector_id", "origin", "survived", "windows", "oos_lift", "oos_p", "reason"]



@click.group()
def breed() -> None:
    """Propose detectors from the grammar and judge them on the training window."""


@breed.command("run")
@click.option("--day", required=True, metavar="YYYY-MM-DD", help="The night to breed on.")
@click.option("--feed-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Recordings directory (default: the settings' feed_dir).")
@click.option("--seed", default=20260105, show_default=True, help="The proposer's seed.")
@click.option("--recipe", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Another breeding recipe (default: lotus_core/breeding/recipe.yaml).")
@click.option("--parent-nights", default=7, show_default=True,
              help="Earlier nights whose survivors are parents.")
@click.option("--post/--no-post", default=False, show_default=True,
              help="Queue survivors for the curators (bred_detector items in the fabric).")
@click.option("--json", "as_json", is_flag=True, help="Print the candidates as JSON.")
@click.pass_context
def run(ctx: click.Context, day: str, feed_dir: Path | None, seed: int, recipe: Path | None,
        parent_nights: int, post: bool, as_json: bool) -> None:
    """Breed on DAY's tape: write `candidates` and `bred_specs` to the lake."""
    import pandas as pd

    from lotus_core.breeding import (
        Grammar,
        RecipeProposer,
        breed_night,
        candidate_items,
        load_recipe,
        parents_from,
    )
    from lotus_core.breeding.schema import CANDIDATES_SCHEMA
    from lotus_core.breeding.store import write_specs
    from lotus_core.signals import load_detectors

    settings = cli_settings(ctx)
    frames = day_tape(settings, day, feed_dir)
    lake = cli_lake(settings)
    earlier = [d for d in lake.days("candidates") if d < day][-parent_nights:]
    history = (pd.concat([lake.read("candidates", d) for d in earlier], ignore_index=True)
               if earlier else pd.DataFrame(columns=list(CANDIDATES_SCHEMA.columns)))
    vetted = load_detectors().enabled
    with click.progressbar(length=1, label=f"breeding on {day}") as bar:
        result = breed_night(frames, day, proposer=RecipeProposer(load_recipe(recipe)),
                             grammar=Grammar(vetted=tuple(s.id for s in vetted)),
                             vetted=vetted, parents=parents_from(history), seed=seed)
        bar.update(1)
    lake.write("candidates", day, result.candidates, validate=CANDIDATES_SCHEMA.validate)
    write_specs(lake, day, result.survivor_specs())
    posted = 0
    if post and result.survivors:
        from lotus_core.curator_api.store import post_candidate
        from lotus_core.store.opsdb import OpsDb

        with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
            posted = sum(post_candidate(tx, **row) for row in candidate_items(result, day))
    _show(result.candidates, as_json, survivors_only=False)
    if not as_json:
        click.echo(f"{len(result.candidates)} candidate(s), {len(result.survivors)} "
                   f"survivor(s) (status exploration), {posted} posted to the curators")


def _show(c: Any, as_json: bool, survivors_only: bool) -> None:
    if survivors_only:
        c = c[c["survived"]]
    if as_json:
        click.echo(json.dumps(c.to_dict("records"), default=str))
        return
    if len(c) == 0:
        click.echo("(no candidates)")
        return
    click.echo(c.sort_values(["survived", "oos_p"], ascending=[False, True])[SHOWN]
               .to_string(index=False, float_format=lambda x: f"{x:.4g}"))


@breed.command("list")
@click.option("--day", required=True, metavar="YYYY-MM-DD")
@click.option("--survivors", is_flag=True, help="Only the survivors.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_candidates(ctx: click.Context, day: str, survivors: bool, as_json: bool) -> None:
    """A night's candidates: survivors first, losers with their reason."""
    from lotus_core.store.lake import LakeError

    try:
        c = cli_lake(cli_settings(ctx)).read("candidates", day)
    except (LakeError, OSError) as exc:
        raise click.ClickException(f"no candidates for {day}: {exc}") from exc
    _show(c, as_json, survivors)


@breed.command("lineage")
@click.option("--detector", default=None, help="Only this bred detector's ancestry.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lineage(ctx: click.Context, detector: str | None, as_json: bool) -> None:
    """Every child -> parent edge of the bred detectors, night by night."""
    lake = cli_lake(cli_settings(ctx))
    edges = []
    for d in lake.days("candidates"):
        c = lake.read("candidates", d)
        edges += [{"date": d, "child_id": det, "parent_id": p, "origin": o,
                   "survived": bool(s)}
                  for det, ps, o, s in zip(c["detector_id"], c["parents"], c["origin"],
                                           c["survived"], strict=True) for p in json.loads(ps)]
    if detector is not None:  # the ancestry: parents of parents
        keep, todo = [], [detector]
        seen = set()
        while todo:
            cur = todo.pop()
            if cur in seen:
                continue
            seen.add(cur)
            mine = [e for e in edges if e["child_id"] == cur]
            keep += mine
            todo += [e["parent_id"] for e in mine]
        edges = keep
    if as_json:
        click.echo(json.dumps(edges))
        return
    for e in edges:
        click.echo(f"{e['date']}  {e['child_id']} <- {e['parent_id']}  ({e['origin']}"
                   f"{', survived' if e['survived'] else ''})")
    if not edges:
        click.echo("(no lineage yet: bred detectors with parents appear after a night with "
                   "survivors)")
