"""`lotus experiment run|list`: counterfactual replays of scored days, recorded in the
lake's experiments table (docs/experiments.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from lotus_cli.day_inputs import cli_lake
from lotus_cli.settings import cli_settings

ROW_FIELDS = ["experiment_id", "day", "label", "null_reproduced", "published_base",
              "published_alt", "added", "removed", "delta_net_bps", "delta_ci_lo", "delta_ci_hi",
              "commit", "seconds"]



def _detector_specs(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    """Each file holds one detector spec, or a detectors.yaml-shaped `detectors:` list."""
    specs: list[dict[str, Any]] = []
    for p in paths:
        try:
            body = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise click.BadParameter(f"{p}: {exc}", param_hint="--add-detector") from None
        items = body.get("detectors") if isinstance(body, dict) and "detectors" in body else [body]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise click.BadParameter(f"{p}: expected a detector spec mapping or a "
                                     "`detectors:` list of them", param_hint="--add-detector")
        specs += items
    return specs


@click.group()
def experiment() -> None:
    """Replay a stored day under an alternative and compare with what was published."""


@experiment.command("run")
@click.option("--day", required=True, metavar="YYYY-MM-DD", help="A day the chain has scored.")
@click.option("--knock-out", "knock_out", multiple=True, metavar="EXPERT",
              help="Set a DSI expert inactive (the DSI is refitted without it).")
@click.option("--gate", "gates", multiple=True, metavar="NAME=VAL",
              help="Move a curators.yaml key, e.g. tau_publish=0.7, "
              "curators.data.max_stale_ms=2000.")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VAL",
              help="Change a scoring.yaml key (u=0.4, kr.theta_min=0.3) or a detector's "
              "(detectors.<id>.params.break_bps=0.5).")
@click.option("--add-detector", "add_detector", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="YAML file with an extra detector spec (a bred candidate).")
@click.option("--detectors", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The detectors.yaml the day was scored with (default: packaged).")
@click.option("--curators", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The curators.yaml the day was scored with (default: packaged).")
@click.option("--experts", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The DSI experts.yaml (default: packaged).")
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
@click.option("--block-s", default=300, show_default=True, help="Bootstrap block, seconds.")
@click.option("--n-boot", default=2000, show_default=True, help="Bootstrap draws.")
@click.option("--no-record", is_flag=True, help="Do not append the row to the table.")
@click.option("--json", "as_json", is_flag=True, help="Print the row and metrics as JSON.")
@click.pass_context
def run(ctx: click.Context, day: str, knock_out: tuple[str, ...], gates: tuple[str, ...],
        thresholds: tuple[str, ...], add_detector: tuple[Path, ...], detectors: Path | None,
        curators: Path | None, experts: Path | None, seed: int, block_s: int, n_boot: int,
        no_record: bool, as_json: bool) -> None:
    """Replay DAY's stored inputs under the alternative; report what would have been
    published, its realised outcomes and the paired interval against what was."""
    from lotus_core.breeding.scoring import exploration_set
    from lotus_core.config.shared import shared_values
    from lotus_core.curator_api.standing import read_detector_actions
    from lotus_core.experiments import (
        AlternativeError,
        InputsError,
        alternative_of,
        base_config,
        code_commit,
        parse_assignment,
        run_experiment,
    )
    from lotus_core.learning.priors_store import active_priors_for_date
    from lotus_core.signals.spec import SpecError
    from lotus_core.store.opsdb import OpsDb

    settings = cli_settings(ctx)
    try:
        alt = alternative_of(
            knock_out=list(knock_out),
            gates=dict(parse_assignment(g, "--gate") for g in gates),
            thresholds=dict(parse_assignment(t, "--threshold") for t in thresholds),
            detectors=_detector_specs(add_detector))
        base = base_config(detectors=detectors, scoring=settings.scoring.config,
                           council=curators, registry=experts)
    except (AlternativeError, SpecError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    values = shared_values(settings)
    fabric = OpsDb.open(settings.fabric)
    try:
        priors = active_priors_for_date(fabric, day)
        actions, _ = read_detector_actions(fabric)  # as score_signals reads them
    finally:
        fabric.close()
    try:
        lake = cli_lake(settings)
        extra = exploration_set(lake, day) if values.exploration else None
        result = run_experiment(lake, day, alt, base, priors=priors, extra=extra,
                                history_days=values.history_days,
                                dsi_history_days=values.dsi_history_days,
                                commit=code_commit(), seed=seed, block_s=block_s,
                                n_boot=n_boot, save=not no_record, actions=actions)
    except (AlternativeError, InputsError) as exc:
        raise click.ClickException(str(exc)) from None
    row = result.row
    if as_json:
        click.echo(json.dumps({**{k: row[k] for k in ROW_FIELDS},
                               "metrics": json.loads(row["metrics"]),
                               "inputs": json.loads(row["inputs"])}, indent=2))
        return
    m = json.loads(row["metrics"])
    click.echo(f"{row['experiment_id']}  {day}  {row['label']}"
               f"{'' if not no_record else '  (not recorded)'}")
    click.echo(f"  replay reproduces the published set: {row['null_reproduced']}"
               f"{'' if row['null_reproduced'] else ' (' + m['null_reason'] + ')'}")
    click.echo(f"  published {row['published_base']} -> {row['published_alt']} "
               f"(+{row['added']} / -{row['removed']})")
    click.echo(f"  realised net bps {m['net_bps_base']:.1f} -> {m['net_bps_alt']:.1f}; "
               f"difference {row['delta_net_bps']:+.1f} bps, 95% block bootstrap "
               f"[{row['delta_ci_lo']:+.1f}, {row['delta_ci_hi']:+.1f}] "
               f"({m['blocks']} blocks of {block_s} s, seed {seed})")


@experiment.command("list")
@click.option("--day", metavar="YYYY-MM-DD", help="Only experiments replaying this day.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.pass_context
def list_cmd(ctx: click.Context, day: str | None, as_json: bool) -> None:
    """The recorded experiments, oldest first."""
    from lotus_core.experiments import list_experiments

    table = list_experiments(cli_lake(cli_settings(ctx)), day)
    if as_json:
        rows = table.astype(object).where(table.notna(), None).to_dict("records")
        for r in rows:
            for k in ("alternative", "configs", "inputs", "metrics"):
                r[k] = json.loads(r[k])
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if table.empty:
        click.echo("(no experiments)")
        return
    click.echo(table[ROW_FIELDS].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
