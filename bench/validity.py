"""Is the learner right? Planted truth over many seeds: interval calibration, bias
under misspecified nuisances, power, false positives and the watchdog's trade-off.

Usage: nice -n 10 python -m bench validity [--scale 1.0] [--processes 2]
                                           [--sections calibration,power,...] [--no-write]
                                           [--final [--seeds N]]
The plan is `lotus_core.learning.validity_report.plan` (the same one `lotus validate` runs);
`--scale 1.0` is the documented run (>= 200 seeds for calibration and false positives). Seeds
come from lotus_core/learning/validity_seeds.yaml: its tuning cells by default, its sealed
evaluation cells with `--final` (`--seeds N`: at most N per cell).
Writes a section of BENCHMARKS.md (`validity`; `--final`: `validity_sealed`, stamped with
the commit, code hash and settings hash; `--sections harder` or `shared` alone: its own
`validity_harder` / `validity_harder_sealed`, `validity_shared` / `validity_shared_sealed`)
and the plots docs/validity_power.svg and docs/validity_watchdog.svg (tuning runs only).
docs/validity.md is the reference page that quotes these figures with their commands.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.report import headline, machine, read_text, write_section
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.learning.config import load_learning
from lotus_core.learning.validity import clopper_pearson, print_progress, run_trials
from lotus_core.learning.validity_report import (
    POWER_DAYS,
    POWER_EFFECTS,
    WATCH_EFFECTS,
    WATCH_RULES,
    markdown,
    plan,
    sealed_header,
    sealed_stamp,
    smallest_powered,
    summarise,
)
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.learning.validity_stamp import VALIDITY_CODE, stamp
from lotus_core.signals.config import load_scoring

DOCS = Path(__file__).resolve().parent.parent / "docs"
# a section run alone that writes a block of its own (tuned; `_sealed`: --final), so it does
# not replace the other sections' tables
OWN_BLOCKS = {"harder": ("validity_harder", "Learning validity: harder markets"),
              "shared": ("validity_shared",
                         "Learning validity: an effect shared by every detector")}
COLOURS = ("#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6c4f9c", "#555555")


def _svg_lines(title: str, xlabel: str, ylabel: str, xs: list[float],
               series: dict[str, list[float]], ymax: float = 1.0) -> str:
    """A small line chart as SVG text (no plotting dependency)."""
    w, h, left, bottom, top, right = 560, 320, 60, 45, 30, 150
    pw, ph = w - left - right, h - top - bottom
    x0, x1 = min(xs), max(xs)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0 or 1) * pw

    def py(y: float) -> float:
        return top + ph - y / ymax * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{w / 2 - 60}" y="18" font-size="13">{title}</text>',
             f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" '
             'stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>',
             f'<text x="{left + pw / 2 - 30}" y="{h - 8}">{xlabel}</text>',
             f'<text x="12" y="{top + ph / 2}" transform="rotate(-90 12 {top + ph / 2})">'
             f'{ylabel}</text>']
    for i in range(6):
        y = ymax * i / 5
        parts.append(f'<text x="{left - 35}" y="{py(y) + 4}">{y:.1f}</text>')
        parts.append(f'<line x1="{left}" y1="{py(y)}" x2="{left + pw}" y2="{py(y)}" '
                     'stroke="#ddd"/>')
    for x in xs:
        parts.append(f'<text x="{px(x) - 4}" y="{top + ph + 15}">{x:g}</text>')
    for j, (name, ys) in enumerate(series.items()):
        c = COLOURS[j % len(COLOURS)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>'
                  for x, y in zip(xs, ys, strict=True)]
        parts.append(f'<text x="{left + pw + 10}" y="{top + 15 + 16 * j}" fill="{c}">'
                     f'{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _plots(s: dict) -> None:
    if "power" in s:
        series = {f"{days} days": [s["power"][f"{d}:{days}"][0] / s["power"][f"{d}:{days}"][1]
                                   for d in POWER_EFFECTS] for days in POWER_DAYS}
        (DOCS / "validity_power.svg").write_text(_svg_lines(
            "Activation rate vs planted effect", "planted effect (bps)", "power",
            list(POWER_EFFECTS), series))
    if "watchdog" in s:
        w = s["watchdog"]["persist"]
        series = {}
        for rule, h in WATCH_RULES:
            name = rule if rule == "first_fail" else f"cusum h={h:g}"
            series[name] = [w[f"{name}|{e}"][0] / w[f"{name}|{e}"][1] for e in WATCH_EFFECTS]
        (DOCS / "validity_watchdog.svg").write_text(_svg_lines(
            "Persisting effects wrongly sunset in 10 days", "true effect (bps)",
            "share sunset", list(WATCH_EFFECTS), series))


def _rate(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} = {100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]" if n else "-"


def _headline(s: dict, seeds: str, command: str) -> None:
    """The summary's figure of a sealed run (the one to quote): DR's coverage, the power at
    8 bps x 5 days, the false activations (whichever of them the run measured)."""
    parts = []
    if "calibration" in s:
        parts.append(f"DR's 90 % CI covers the truth {_rate(*s['calibration']['dr'])}")
    if "8.0:5" in s.get("power", {}):
        parts.append(f"8 bps found {_rate(*s['power']['8.0:5'])} at 5 days")
    if "false_positives_total" in s:
        parts.append(f"false activations {_rate(*s['false_positives_total'])}")
    if parts:
        headline("validity", "; ".join(parts), f"95 % Clopper-Pearson intervals, {seeds}",
                 command=command)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="seed-count multiplier")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--sections", default="", help="comma-separated subset of the plan")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--json", type=Path, help="also dump every trial's result here")
    ap.add_argument("--from-json", type=Path, nargs="+",
                    help="summarise a dumped run (--json; gzipped too) instead of running; "
                    "--wall-min gives its wall time")
    ap.add_argument("--wall-min", type=float, default=float("nan"))
    ap.add_argument("--final", action="store_true",
                    help="the sealed evaluation seeds; tables stamped (commit, code, settings)")
    ap.add_argument("--seeds", type=int, default=None, help="at most N seeds per table cell")
    args = ap.parse_args(argv)
    if args.final and args.from_json:
        ap.error("--final runs the sealed seeds itself: a dumped run carries no stamp")
    settings = load_settings()
    sv = shared_values(settings)
    cfg, base = load_learning(sv.learning_path), load_scoring(sv.scoring_path).context
    if cfg.window_days != sv.window_days:
        cfg = cfg.model_copy(update={"window_days": sv.window_days})
    before = stamp(VALIDITY_CODE) if args.final else None
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tasks = plan(args.scale, [x for x in args.sections.split(",") if x] or None,
                 partition="evaluation" if args.final else "tuning", cap=args.seeds,
                 seeds=load_seeds(), cfg=cfg, base=base)
    t0 = time.perf_counter()
    if args.from_json:
        results = [r for p in args.from_json for r in json.loads(read_text(p))]
        for r in results:  # JSON turned the series' tuples into lists
            if "series" in r:
                r["series"] = [tuple(x) for x in r["series"]]
        tasks = results
        wall = args.wall_min * 60
    else:
        results = run_trials(tasks, args.processes, print_progress)
        wall = time.perf_counter() - t0
    cpu = sum(r["seconds"] for r in results)
    s = summarise(results)
    tables = markdown(s)
    seeds = len({(r["label"], r["seed"]) for r in results})
    header = (f"_{len(tasks)} trials ({seeds} seeded runs) in {wall / 60:.1f} min wall, "
              f"{cpu / 60:.1f} min summed over trials, {args.processes} processes at nice 10 on a "
              f"shared, busy machine ({machine()}); tuning seeds (validity_seeds.yaml). "
              "Command: `nice -n 10 python -m bench validity "
              f"--scale {args.scale:g}" + (f" --seeds {args.seeds}" if args.seeds else "")
              + (f" --sections {args.sections}" if args.sections else "") + "`._")
    if before is not None:
        cmd = (f"nice -n 10 python -m bench validity --final --scale {args.scale:g}"
               + (f" --seeds {args.seeds}" if args.seeds else "")
               + (f" --sections {args.sections}" if args.sections else ""))
        st = sealed_stamp(before, settings.model_dump(mode="json"), cfg, base, tasks,
                          results, scale=args.scale, cap=args.seeds,
                          sections=args.sections or "all", started=started, wall_s=wall,
                          command=cmd)
        header = sealed_header(st) + f" _({args.processes} processes; {machine()}.)_"
    print(header + "\n\n" + tables)
    if args.json:
        args.json.write_text(json.dumps(results, default=str))
    wanted = [x for x in args.sections.split(",") if x]
    own = OWN_BLOCKS.get(wanted[0]) if len(wanted) == 1 else None
    if own is not None and not args.no_write:
        block, title = (own[0] + "_sealed", own[1] + ", sealed seeds") if before is not None \
            else own
        write_section(block, f"## {title}\n\n{header}\n\n{tables}")
        return s
    if before is not None and not args.no_write:
        write_section("validity_sealed", "## Learning validity on sealed seeds\n\n"
                      + header + "\n\n" + tables)
        _headline(s, "sealed seeds", cmd.removeprefix("nice -n 10 "))
        return s
    if not args.no_write:
        _plots(s)
        body = ("## Learning validity\n\n`nice -n 10 python -m bench validity "
                f"--scale {args.scale:g}`: {len(tasks)} trials, {wall / 60:.1f} min wall "
                f"({args.processes} processes, shared busy machine). Reading and plots: "
                "docs/validity.md.\n\n" + tables
                + f"\nSmallest effect with >= 90 % power at 5 days x 3 coins: "
                f"{smallest_powered(s)}.\n")
        write_section("validity", body)
    return s


if __name__ == "__main__":
    main()
