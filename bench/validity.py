"""Is the learner right? Planted truth over many seeds: interval calibration, bias
under misspecified nuisances, power, false positives and the watchdog's trade-off.

Usage: nice -n 10 python -m bench validity [--scale 1.0] [--processes 2]
                                           [--sections calibration,power,...] [--no-write]
                                           [--final [--seeds N]]
       python -m bench validity --render
The plan is `lotus_core.learning.validity_report.plan` (the same one `lotus validate` runs);
`--scale 1.0` is the documented run (>= 200 seeds for calibration and false positives). Seeds
come from lotus_core/learning/validity_seeds.yaml: its tuning cells by default, its sealed
evaluation cells with `--final` (`--seeds N`: at most N per cell).
A run keeps each measurement's table in bench/results/learning_validity.json (by measurement
and by seeds, tuning or sealed; a sealed one stamped with the commit, code hash and settings
hash), replacing the same measurement's earlier table of the same seeds, and renders
BENCHMARKS.md's "Learning validity": one section a measurement, its sealed table with the
tuning figure as one column beside it. `bench.seasons` keeps its figures there too ("Evidence
across nights"). `--render` rewrites the sections from the kept tables without a run. Tuning
runs also draw docs/validity_power.svg and docs/validity_watchdog.svg.
docs/validity.md is the reference page that quotes these figures with their commands.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import (
    BENCHMARKS_MD,
    REPO,
    headline,
    machine,
    read_text,
    replace_block,
    short_machine,
)
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.intervals import rate_text
from lotus_core.learning.config import load_learning
from lotus_core.learning.validity import clopper_pearson, print_progress, run_trials
from lotus_core.learning.validity_report import (
    BIG,
    BOOK_SPEC,
    CAL_SPEC,
    HARDER,
    HARDER_BASE,
    HARDER_SEEDS,
    POWER_DAYS,
    POWER_EFFECTS,
    POWER_SEEDS,
    SHARED_SEEDS,
    WATCH_EFFECTS,
    WATCH_HORIZON,
    WATCH_RULES,
    WATCH_START,
    WATCH_VANISH,
    markdown,
    plan,
    sealed_header,
    sealed_stamp,
    summarise,
)
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.learning.validity_stamp import VALIDITY_CODE, stamp
from lotus_core.signals.config import load_scoring

DOCS = REPO / "docs"
STORE = REPO / "bench" / "results" / "learning_validity.json"
"""Each measurement's latest table by seeds (`tuning`, `sealed`), with the run that made it:
what BENCHMARKS.md's "Learning validity" sections are rendered from."""


# measurement -> (its ### title, as validity_report.markdown writes it; the tuning column's
# header; the columns of the tuning table it takes, the first one not "-" in a row)
SECTIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "calibration": ("Interval calibration", "tuning seeds: covers the truth",
                    ("covers the truth (95 % Clopper-Pearson)",)),
    "misspecification": ("Bias under misspecified nuisances", "tuning seeds: DR bias",
                         ("DR bias",)),
    "power": ("Power", "tuning seeds: 5 days", ("5 days",)),
    "false_positives": ("False positives", "tuning seeds: nights activating a false rule",
                        ("nights activating a false rule",)),
    "book": ("Book/tape: an effect on a new feature",
             "tuning seeds: found by name (0 bps: false nights)",
             ("found by name", "null: nights activating a false rule")),
    "watchdog": ("Watchdog", "tuning seeds: wrongly sunset, 5.0 bps",
                 ("wrongly sunset, 5.0 bps",)),
    "harder": ("Harder markets", "tuning seeds: found by name", ("found by name",)),
    "shared": ("An effect shared by every detector",
               "tuning seeds: found (pooled) (0 bps: false nights)",
               ("found (pooled)", "null: nights activating a false rule")),
}
ACROSS = "across_nights"
ACROSS_TITLE = "Evidence across nights: intervals after selection, null seasons"
ACROSS_KEYS = ("activated", "raw_covers", "sel_covers", "estimates", "power_season",
               "power_today", "power_later", "null_seasons", "null_nights", "today_seasons",
               "today_nights")  # bench.seasons.rows_of's keys, in its order
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
    return rate_text(k, n, clopper_pearson)


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


def main(argv: list[str] | None = None) -> dict[str, Any]:
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
    ap.add_argument("--render", action="store_true",
                    help="rewrite BENCHMARKS.md's learning-validity sections from the kept "
                    "tables (bench/results/learning_validity.json), running nothing")
    args = ap.parse_args(argv)
    if args.render:
        render()
        return {}
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
    if args.no_write:
        return s
    sections = f" --sections {args.sections}" if args.sections else ""
    cap = f" --seeds {args.seeds}" if args.seeds else ""
    if before is not None:
        run: dict[str, Any] = {
            "seeds": "sealed", "command": cmd.removeprefix("nice -n 10 "),
            "trials": st["trials"], "commit": st["commit"], "dirty": st["dirty"],
            "code_hash": st["code_hash"], "settings_hash": st["settings_hash"],
            "learning_hash": st["learning_hash"]}
        if st.get("changed_during_run"):
            run["changed_during_run"] = st["changed_during_run"]
    else:
        _plots(s)
        run = {"seeds": "tuning",
               "command": f"python -m bench validity --scale {args.scale:g}{cap}{sections}",
               "trials": len(tasks)}
        if args.from_json:
            run["summary"] = ("python -m bench validity --from-json "
                              + " ".join(_shown(x) for x in args.from_json) + sections)
    run.update(machine=short_machine(), date=datetime.now(UTC).strftime("%Y-%m-%d"))
    record_tables(run["seeds"], parse_tables(tables), run)
    render()
    if before is not None:
        _headline(s, "sealed seeds", run["command"])
    return s


def _shown(path: Path) -> str:
    p = path.resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(path)


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells (an escaped `\\|` stays inside its cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def parse_tables(text: str) -> dict[str, dict[str, Any]]:
    """`validity_report.markdown`'s sections as tables, by measurement: the header's
    columns, the rows' cells, and the lines after the table (`notes`)."""
    titles = {title: key for key, (title, _, _) in SECTIONS.items()}
    out: dict[str, dict[str, Any]] = {}
    for part in re.split(r"^### ", text, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        key = titles.get(title.strip())
        lines = body.splitlines()
        at = [i for i, line in enumerate(lines) if line.startswith("|")]
        if key is None or len(at) < 2:
            continue
        rows = [_cells(lines[i]) for i in at]
        out[key] = {"columns": rows[0], "rows": rows[2:],
                    "notes": [x.strip() for x in lines[at[-1] + 1:] if x.strip()]}
    return out


def load_store(path: Path | None = None) -> dict[str, Any]:
    path = path or STORE
    return json.loads(path.read_text()) if path.exists() else {}


def _save(store: dict[str, Any], path: Path | None) -> None:
    path = path or STORE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(store, indent=1, ensure_ascii=False) + "\n")


def record_tables(seeds: str, tables: dict[str, dict[str, Any]], run: dict[str, Any],
                  path: Path | None = None) -> None:
    """Keep a run's tables (`parse_tables`): each replaces its measurement's table of the
    same seeds, the other measurements' stay."""
    store = load_store(path)
    for key, table in tables.items():
        store.setdefault(key, {})[seeds] = {"run": run, **table}
    _save(store, path)


def record_across_nights(seeds: str, rows: list[tuple[str, str, str]], run: dict[str, Any],
                         path: Path | None = None) -> None:
    """Keep a `bench.seasons` summary's rows (`rows_of`: key, measure, figure), each with
    its run: a row replaces the same key's row of the same seeds, the others stay."""
    store = load_store(path)
    mine = store.setdefault(ACROSS, {}).setdefault(seeds, {"rows": []})
    kept = {r["key"]: r for r in mine["rows"]}
    for key, label, figure in rows:
        kept[key] = {"key": key, "label": label, "figure": figure, "run": run}
    mine["rows"] = sorted(kept.values(), key=lambda r: (
        ACROSS_KEYS.index(r["key"]) if r["key"] in ACROSS_KEYS else len(ACROSS_KEYS)))
    _save(store, path)


def method(key: str) -> str:
    """A measurement's method, in a sentence or two."""
    if key == ACROSS:
        from bench.season_rule import REALISTIC, SEASON_ALPHA, SEASON_NIGHTS

        return (f"The lessons stage carried night to night on window-level markets "
                f"({REALISTIC} windows/day per detector, 3 detectors, 3 coins): one night at "
                "the default effect (6 bps in `oi_pctl_bin=hi`, 5 days), whose activated "
                "lessons' raw and selective 90 % intervals are set against the truth; paired "
                "power seasons from the market's first day; null seasons of a 14-day window "
                f"under the season rule (alpha {SEASON_ALPHA:g} over {SEASON_NIGHTS} nights) "
                "and, on the same nights, today's per-night rule (an upper bound on it: the "
                "out-of-sample confirmation is not replayed). Wilson 95 % intervals.")
    realistic = f"{CAL_SPEC.windows_per_day} windows/day per detector"
    return {
        "calibration": f"Planted +{CAL_SPEC.delta_bps:g} bps in `oi_pctl_bin=hi`, "
        f"{CAL_SPEC.days} days x {realistic}, with a decoy and a confounder: how often the "
        "planted rule's 90 % hour-bootstrap interval (its weakest split) covers the truth, "
        "per estimator, and its mean bias.",
        "misspecification": f"{BIG.days} days x {BIG.windows_per_day} windows/day per "
        "detector, the outcome or the propensity model wrong by construction: bias = "
        "mean(estimate - truth) +- its standard error, and the 90 % intervals covering the "
        "truth; `reg` is the outcome model alone (mu1 - mu0, no correction: its bootstrap "
        "holds the fit fixed, so no coverage is claimed for it).",
        "power": "The share of seeds whose night activates a positive lesson of the planted "
        f"detector naming the planted literal, by effect and days of data ({realistic}, "
        "noise sd 8 bps, 3 detectors searched; "
        + " / ".join(str(POWER_SEEDS[d]) for d in POWER_DAYS) + " seeds a cell at "
        + " / ".join(str(d) for d in POWER_DAYS) + " days).",
        "false_positives": f"Null markets (nothing planted), 5 days x {realistic}, 3 "
        "detectors: the share of nights that activate any rule naming no real effect (in the "
        "confounded null the trend regime's own +2 bps is real, so the single `regime` "
        "literal is not counted).",
        "book": "Planted on `bimb5_bin=with` (the 5-level book leaning with the signal; the "
        "book follows high OI's propensity, a confounder, and the aligned flow tracks it "
        f"80 % of the time, a decoy), {BOOK_SPEC.days} days x {realistic}. Found = a "
        "positive active lesson of the planted detector naming `bimb5_bin=with`; the 0 bps "
        "row is its null twin: the nights that activate a false rule.",
        "watchdog": f"A lesson counted as activated the night before night {WATCH_START}, "
        "each later night's out-of-sample day replayed through each sunset rule: how often a "
        f"persisting true effect is wrongly sunset within {WATCH_HORIZON} days, and the days "
        f"from a 5 bps effect's disappearance (day {WATCH_VANISH}) to its sunset (1 = the "
        "first day gone).",
        "harder": f"An 8 bps effect in each of {len(HARDER)} markets with a property of real "
        f"markets, beside its null twin, {HARDER_BASE.days} days x {realistic}, "
        f"{HARDER_SEEDS} seeds a cell; "
        "the planted rule is `oi_pctl_bin=hi` (in the book market `bimb5_bin=with`), its "
        "truth `planted_truth` (latent market 0.8 x 10 bps; regime shift identified only with "
        "the period adjusted for, by the window-break test). Found = a positive active lesson "
        "of the planted detector naming it; DR = the planted rule's cross-fitted estimate and "
        "90 % hour-bootstrap interval on every seed, activated or not (bias = mean(estimate - "
        "truth) +- its standard error).",
        "shared": "Planted on `oi_pctl_bin=hi` on all three detectors' windows (a "
        f"market-wide context), {CAL_SPEC.days} days x {realistic}, {SHARED_SEEDS} seeds a "
        "cell. Found (pooled) = an active positive lesson of the pooled search (detector "
        "`*`) naming it, beside the planted detector's own lesson (the power table's "
        "measure), every detector's own, and either; the 0 bps row is its null twin.",
    }[key]


def _run_text(run: dict[str, Any]) -> str:
    """The command of a kept run and what identifies it: its size, the judged code's stamp
    (sealed runs), the machine and the date."""
    bits = []
    if run.get("counts"):
        bits.append(run["counts"])
    if run.get("trials"):
        bits.append(f"{run['trials']} trials")
    if run.get("commit"):
        dirty = run.get("dirty")
        judged = ("" if dirty is False else ", judged code differs from the commit"
                  if dirty is True else ", judged code unknown")
        bits.append(f"commit {run['commit'][:7]}{judged}; code hash {run['code_hash']}, "
                    f"settings hash {run['settings_hash']}, learning config hash "
                    f"{run['learning_hash']}")
    bits.append(f"{run['machine']}, {run['date']}")
    text = f"`{run['command']}`"
    if run.get("summary"):
        text += f", summarised by `{run['summary']}`"
    text += f" ({'; '.join(bits)})"
    if run.get("changed_during_run"):
        text += (" **the judged code changed during the run: "
                 f"{', '.join(run['changed_during_run'])}**")
    return text


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _tuning_cell(row: list[str], at: list[int]) -> str:
    return next((row[i] for i in at if i < len(row) and row[i] not in ("-", "")), "-")


def section_markdown(key: str, entry: dict[str, Any]) -> str:
    """One measurement's section: method, commands, the sealed table with the tuning figure
    as its last column (the tuning table alone, marked so, before any sealed run)."""
    title, tuning_header, sources = SECTIONS[key]
    sealed, tuning = entry.get("sealed"), entry.get("tuning")
    out = [f"### {title}", "", method(key), ""]
    if sealed is None:
        assert tuning is not None, f"{key}: no table kept"
        out += [f"Tuning seeds only (no sealed run yet): {_run_text(tuning['run'])}.", "",
                _row(tuning["columns"]), "|" + "---|" * len(tuning["columns"])]
        out += [_row(r) for r in tuning["rows"]]
        return "\n".join(out + ([""] + tuning["notes"] if tuning["notes"] else []))
    runs = f"Sealed seeds: {_run_text(sealed['run'])}."
    columns, rows = list(sealed["columns"]), [list(r) for r in sealed["rows"]]
    if tuning is not None:
        runs += f" Tuning column: {_run_text(tuning['run'])}."
        at = [tuning["columns"].index(c) for c in sources if c in tuning["columns"]]
        theirs = {r[0]: r for r in tuning["rows"]}
        columns.append(tuning_header)
        rows = [r + [_tuning_cell(theirs[r[0]], at) if r[0] in theirs else "-"] for r in rows]
        mine = {r[0] for r in sealed["rows"]}
        rows += [[r[0]] + ["-"] * (len(sealed["columns"]) - 1) + [_tuning_cell(r, at)]
                 for r in tuning["rows"] if r[0] not in mine]
    out += [runs, "", _row(columns), "|" + "---|" * len(columns)]
    out += [_row(r) for r in rows]
    return "\n".join(out + ([""] + sealed["notes"] if sealed["notes"] else []))


def across_markdown(entry: dict[str, Any]) -> str:
    """"Evidence across nights": each measure's sealed figure and its tuning one; a column
    drawn from several runs names each row's run by a letter."""
    columns = [(seeds, entry.get(seeds, {}).get("rows", [])) for seeds in ("sealed", "tuning")]
    columns = [(seeds, rows) for seeds, rows in columns if rows]
    out = [f"### {ACROSS_TITLE}", "", method(ACROSS), ""]
    letters: dict[str, dict[str, str]] = {}
    runs = []
    for seeds, rows in columns:
        distinct: list[str] = []
        for r in rows:
            k = json.dumps(r["run"], sort_keys=True)
            if k not in distinct:
                distinct.append(k)
        letters[seeds] = ({k: f"({chr(97 + i)})" for i, k in enumerate(distinct)}
                          if len(distinct) > 1 else {distinct[0]: ""})
        texts = [(f"{letters[seeds][k]} " if letters[seeds][k] else "")
                 + _run_text(json.loads(k)) for k in distinct]
        name = "Sealed seeds" if seeds == "sealed" else (
            "Tuning column" if len(columns) > 1 else "Tuning seeds only (no sealed run yet)")
        runs.append(f"{name}: {'; '.join(texts)}.")
    out += [" ".join(runs), ""]
    by = {seeds: {r["key"]: r for r in rows} for seeds, rows in columns}
    keys = sorted({k for rows in by.values() for k in rows}, key=lambda k: (
        ACROSS_KEYS.index(k) if k in ACROSS_KEYS else len(ACROSS_KEYS)))
    out += [_row(["measure"] + [f"{seeds} seeds" for seeds, _ in columns]),
            "|" + "---|" * (len(columns) + 1)]
    for k in keys:
        label = next(by[seeds][k]["label"] for seeds, _ in columns if k in by[seeds])
        cells = []
        for seeds, _ in columns:
            r = by[seeds].get(k)
            tag = letters[seeds][json.dumps(r["run"], sort_keys=True)] if r else ""
            cells.append(f"{r['figure']} {tag}".rstrip() if r else "-")
        out.append(_row([label] + cells))
    return "\n".join(out)


def render(doc: Path | None = None, path: Path | None = None) -> dict[str, str]:
    """Rewrite each kept measurement's `<!-- bench:validity_KEY -->` block of `doc`
    (BENCHMARKS.md) from the kept tables; the prose around the blocks (the family's heading,
    each section's reading) stays as it is."""
    doc = doc or BENCHMARKS_MD
    store, out = load_store(path), {}
    for key in [*SECTIONS, ACROSS]:
        if store.get(key):
            body = across_markdown(store[key]) if key == ACROSS else section_markdown(
                key, store[key])
            replace_block(doc, f"validity_{key}", body)
            out[key] = body
    return out

if __name__ == "__main__":
    main()
