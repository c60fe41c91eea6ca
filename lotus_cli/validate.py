"""`lotus validate`: measure the learner against planted truth (docs/validity.md)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--scale", type=float, default=0.1, show_default=True,
              help="Seed-count multiplier of the plan (1.0: the documented run, >= 200 seeds "
                   "for calibration and false positives; see bench/validity.py).")
@click.option("--sections", default="", metavar="A,B",
              help="Subset: calibration, misspecification, power, false_positives, watchdog, book.")
@click.option("--processes", type=int, default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def validate(scale: float, sections: str, processes: int, as_json: bool) -> None:
    """Planted-truth trials through the real learning code: interval coverage, bias under
    misspecified nuisances, power, false positives and the watchdog's trade-off."""
    from lotus_core.learning.validity import print_progress, run_trials
    from lotus_core.learning.validity_report import markdown, plan, summarise

    tasks = plan(scale, [x for x in sections.split(",") if x] or None)
    if not tasks:
        raise click.ClickException(f"no trials for sections {sections!r}")
    summary = summarise(run_trials(tasks, processes, print_progress))
    if as_json:
        click.echo(json.dumps(summary, default=str, sort_keys=True, indent=1))
    else:
        click.echo(markdown(summary))
