"""`lotus validate`: measure the learner against planted truth (docs/validity.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from lotus_cli.settings import cli_settings


@click.command()
@click.option("--scale", type=float, default=0.1, show_default=True,
              help="Seed-count multiplier of the plan (1.0: the documented run, >= 200 seeds "
                   "for calibration and false positives; see bench/validity.py).")
@click.option("--sections", default="", metavar="A,B",
              help="Subset: calibration, misspecification, power, false_positives, watchdog, book, "
                   "harder, shared.")
@click.option("--processes", type=int, default=2, show_default=True)
@click.option("--final", is_flag=True,
              help="Run the sealed evaluation seeds (lotus_core/learning/validity_seeds.yaml) "
                   "instead of the tuning seeds, and write the tables stamped with the commit, "
                   "the judged code's hash and the settings' hash to --out.")
@click.option("--seeds", "cap", type=click.IntRange(min=1), default=None,
              help="At most N seeds per table cell (speed).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --final: the Markdown file written (default validity_final.md); the "
                   "summary and stamp go beside it as .json.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def validate(ctx: click.Context, scale: float, sections: str, processes: int, final: bool,
             cap: int | None, out: Path | None, as_json: bool) -> None:
    """Planted-truth trials through the real learning code: interval coverage, bias under
    misspecified nuisances, power, false positives and the watchdog's trade-off. Tuning
    seeds by default; --final runs the sealed evaluation seeds."""
    from lotus_core.config.shared import shared_values
    from lotus_core.learning.config import load_learning
    from lotus_core.learning.validity import print_progress, run_trials
    from lotus_core.learning.validity_report import (
        SECTIONS,
        markdown,
        plan,
        sealed_header,
        sealed_stamp,
        summarise,
    )
    from lotus_core.learning.validity_seeds import SeedsError, load_seeds
    from lotus_core.learning.validity_stamp import VALIDITY_CODE, stamp
    from lotus_core.signals.config import load_scoring

    if out is not None and not final:
        raise click.UsageError("--out is for --final (the sealed, stamped run)")
    settings = cli_settings(ctx)
    sv = shared_values(settings)
    cfg = load_learning(sv.learning_path)
    if cfg.window_days != sv.window_days:
        cfg = cfg.model_copy(update={"window_days": sv.window_days})
    base = load_scoring(sv.scoring_path).context
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    code0 = stamp(VALIDITY_CODE) if final else None
    unknown = sorted({x for x in sections.split(",") if x} - set(SECTIONS))
    if unknown:
        raise click.BadParameter(f"unknown section(s) {', '.join(unknown)}; the plan has "
                                 f"{', '.join(SECTIONS)}", param_hint="--sections")
    try:
        tasks = plan(scale, [x for x in sections.split(",") if x] or None,
                     partition="evaluation" if final else "tuning", cap=cap,
                     seeds=load_seeds(), cfg=cfg, base=base)
    except SeedsError as exc:
        raise click.ClickException(str(exc)) from exc
    if not tasks:
        raise click.ClickException(f"no trials for sections {sections!r}")
    t0 = time.perf_counter()
    results = run_trials(tasks, processes, print_progress)
    summary = summarise(results)
    tables = markdown(summary)
    if not final:
        click.echo(json.dumps(summary, default=str, sort_keys=True, indent=1) if as_json
                   else tables)
        return
    assert code0 is not None
    st = sealed_stamp(code0, settings.model_dump(mode="json"), cfg, base, tasks, results,
                      scale=scale, cap=cap, sections=sections or "all", started=started,
                      wall_s=time.perf_counter() - t0)
    path = out or Path("validity_final.md")
    text = sealed_header(st) + "\n\n" + tables
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps({"stamp": st, "summary": summary},
                                                    default=str, sort_keys=True, indent=1))
    click.echo(json.dumps({"stamp": st, "summary": summary}, default=str, sort_keys=True,
                          indent=1) if as_json else text)
    click.echo(f"wrote {path} and {path.with_suffix('.json')}", err=True)

