"""Intervals after selection and evidence across nights.

Every trial runs the lessons stage itself (`lotus_core.learning.pipeline.lessons`, the packaged
learning.yaml) on window-level markets (lotus_core.synth.windows, the realistic size: 216
windows/day/detector, 3 detectors, 3 coins), carrying the lessons table night to night as
the nightly asset does:

- coverage: one night at the default effect (6 bps in `oi_pctl_bin=hi`, 5 days); among the
  seeds whose night ACTIVATES the planted lesson, how often its raw 90 % interval and its
  selective one (`sel_ci_lo`, `sel_ci_hi`; lotus_core/learning/selective.py) cover the truth;
- null seasons: a plain null market (nothing planted) over `--nights` nights of a 14-day
  window; any activation is false. Per night and per season, for the packaged rule (the
  season's alpha spending, lotus_core/learning/anytime.py) and, on the same nights, for
  today's per-night rule (family_alpha a night): a candidate that passed every gate but
  the bar and cleared today's bar would have been activated by it (an upper bound on it:
  the out-of-sample confirmation and the champion-challenger are not replayed);
- power seasons: the default effect from the market's first day, nights 2..`--power-nights`
  (the window growing), run under both rules: the night the planted lesson first activates.

Seeds come from lotus_core/learning/validity_seeds.yaml, sections `selective` and `seasons`:
tuning cells by default, the sealed evaluation cells with `--final`. Each result is appended
to `--json` (JSON lines) as it finishes. `--tuned ...` and/or `--sealed ...` summarise kept runs:
their rows go to bench/results/learning_validity.json (a row replaces the same measure's row
of the same seeds) and BENCHMARKS.md's "Evidence across nights" is rendered from there, the
sealed figure beside the tuning one (`bench.validity.render`). Wilson 95 % intervals.

Usage: nice -n 10 python -m bench seasons [--final] [--coverage N] [--seasons N] [--skip-seasons K]
                                          [--nights 90] [--power N] [--power-nights 8]
                                          [--processes 2] --json RUN.jsonl
       python -m bench seasons [--tuned RUN.jsonl...] [--sealed RUN.jsonl...] [--load "..."]
                                                    (a sealed run alone also records the
                                                    summary's headline)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from bench.pooled import wilson
from bench.report import REPO, headline, read_text, short_machine
from bench.season_rule import REALISTIC, SEASON_ALPHA, SEASON_NIGHTS
from lotus_core.learning import pipeline
from lotus_core.learning.anytime import night_alpha, season_bound
from lotus_core.learning.config import LearningConfig, load_learning
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import PLANTED, WindowSpec, window_frame

DEFAULT = WindowSpec(days=5, windows_per_day=REALISTIC)  # the generator's 6 bps in oi hi
NULL = WindowSpec(windows_per_day=REALISTIC, effect="none", delta_bps=0.0,
                  regime_effect_bps=0.0)
BAR = "not_significant_after_search"


def season_rule(cfg: LearningConfig) -> LearningConfig:
    """The configuration with the season budget this bench measures, whatever the packaged
    learning.yaml says (its `season_alpha` stays off until the 90-night figure exists)."""
    return cfg.model_copy(update={"activation": cfg.activation.model_copy(
        update={"season_alpha": SEASON_ALPHA, "season_nights": SEASON_NIGHTS})})


def today_rule(cfg: LearningConfig) -> LearningConfig:
    """The same configuration without the season budget: each night spends family_alpha."""
    return cfg.model_copy(update={"activation": cfg.activation.model_copy(
        update={"season_alpha": None})})


def _planted(lessons: pd.DataFrame) -> pd.DataFrame:
    return lessons[(lessons["detector_id"] == PLANTED) & (lessons["rule"] == "oi_pctl_bin=hi")]


def coverage_trial(seed: int, cfg: LearningConfig | None = None,
                   spec: WindowSpec = DEFAULT) -> dict[str, Any]:
    """One night at the default effect: the planted lesson's state and intervals."""
    cfg = cfg or season_rule(load_learning())
    frame = window_frame(spec, seed)
    tw = pipeline.training_window(frame, cfg, load_scoring().context)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), sorted(frame["date"].unique())[-1], cfg)
    row = _planted(lessons)
    out: dict[str, Any] = {"seed": seed, "truth": spec.delta_bps, "active": False}
    if len(row):
        r = row.iloc[0]
        out.update(active=bool(r["state"] == "active"), uplift=float(r["uplift_bps"]),
                   ci_lo=float(r["ci_lo"]), ci_hi=float(r["ci_hi"]),
                   sel=float(r["sel_uplift_bps"]), sel_lo=float(r["sel_ci_lo"]),
                   sel_hi=float(r["sel_ci_hi"]), z=float(r["z"]), z_crit=float(r["z_crit"]))
    return out


def _nights(frame: pd.DataFrame, cfg: LearningConfig, first: int, last: int,
            ) -> Iterable[tuple[str, pd.DataFrame]]:
    """(day, lessons) for nights first..last (day indices), each on its trailing window,
    the lessons table carried from night to night."""
    base = load_scoring().context
    days = sorted(frame["date"].unique())
    prev = pd.DataFrame()
    for i in range(first, last + 1):
        win = frame[frame["date"].isin(days[max(0, i - cfg.window_days + 1):i + 1])]
        prev, _ = pipeline.lessons(pipeline.training_window(win, cfg, base), prev, days[i], cfg)
        yield days[i], prev


def would_activate_today(lessons: pd.DataFrame, cfg: LearningConfig) -> pd.DataFrame:
    """Tonight's proposed candidates that passed every gate but the bar and clear the bar of
    today's per-night rule (the same family, family_alpha instead of the season's share)."""
    ratio = cfg.activation.family_alpha / night_alpha(cfg.activation)
    today_bar = norm.isf(np.minimum(norm.sf(lessons["z_crit"].to_numpy(dtype=float)) * ratio,
                                    0.5))
    rest = lessons["gates"].fillna("").map(
        lambda g: not [x for x in str(g).split(",") if x and x != BAR])
    hit = (lessons["state"] == "proposed") & rest.to_numpy() \
        & (lessons["z"].to_numpy(dtype=float) >= today_bar)
    return lessons[hit]


def null_season(seed: int, nights: int = 90, cfg: LearningConfig | None = None,
                spec: WindowSpec = NULL, log: Path | None = None) -> dict[str, Any]:
    """A null market's season: every night's new activations (all false) under the packaged
    rule, and the candidates today's per-night rule would have activated; each night is
    also appended to `log` (JSON lines), so a season cut short still counts its nights."""
    cfg = cfg or season_rule(load_learning())
    frame = window_frame(replace(spec, days=cfg.window_days - 1 + nights), seed)
    false_nights, today_nights, rules = [], [], []
    for day, lessons in _nights(frame, cfg, cfg.window_days - 1,
                                cfg.window_days - 2 + nights):
        new = lessons[(lessons["state"] == "active") & (lessons["activated_on"] == day)]
        if len(new):
            false_nights.append(day)
            rules += [f"{d}:{r}" for d, r in zip(new["detector_id"], new["rule"], strict=True)]
        today = bool(len(new) or len(would_activate_today(lessons, cfg)))
        if today:
            today_nights.append(day)
        if log is not None:
            with log.open("a") as f:
                f.write(json.dumps({"kind": "night", "seed": seed, "day": day,
                                    "false": int(len(new)),
                                    "today": today}) + "\n")
    return {"seed": seed, "nights": nights, "false_nights": false_nights,
            "today_nights": today_nights, "rules": rules}


def power_season(seed: int, nights: int = 8, cfg: LearningConfig | None = None,
                 spec: WindowSpec = DEFAULT) -> dict[str, Any]:
    """The default effect from day 0: the first night (1 = the second day) the planted
    lesson is active, under the packaged rule and under today's (None: not by `nights`)."""
    cfg = cfg or season_rule(load_learning())
    frame = window_frame(replace(spec, days=nights), seed)
    out: dict[str, Any] = {"seed": seed}
    for name, c in (("anytime", cfg), ("today", today_rule(cfg))):
        out[name] = None
        for i, (_, lessons) in enumerate(_nights(frame, c, 1, nights - 1), start=1):
            row = _planted(lessons)
            if len(row) and row["state"].iloc[0] == "active" and row["sign"].iloc[0] > 0:
                out[name] = i
                break
    return out


def _call(job: tuple[str, int, dict[str, Any]]) -> dict[str, Any]:
    kind, seed, kw = job
    t = time.process_time()
    fn: Callable[..., dict[str, Any]] = {"coverage": coverage_trial, "null": null_season,
                                         "power": power_season}[kind]
    return {**fn(seed, **kw), "kind": kind, "cpu_s": time.process_time() - t}


def run(jobs: list[tuple[str, int, dict[str, Any]]], processes: int,
        sink: Path | None = None) -> list[dict[str, Any]]:
    """Every job's result (in completion order), each also appended to `sink` (JSON lines)
    as it finishes, so a run cut short can still be summarised (`--from-json`)."""
    out: list[dict[str, Any]] = []

    def done(r: dict[str, Any]) -> None:
        out.append(r)
        print(f"{r['kind']} seed {r['seed']} ({r['cpu_s']:.0f} s cpu)", flush=True)
        if sink is not None:
            with sink.open("a") as f:
                f.write(json.dumps(r) + "\n")

    if processes <= 1:
        for j in jobs:
            done(_call(j))
        return out
    with ProcessPoolExecutor(processes) as pool:
        for fut in as_completed([pool.submit(_call, j) for j in jobs]):
            done(fut.result())
    return out


def _share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / max(n, 1):.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"


def partial_seasons(nights: list[dict[str, Any]], done: set[int]) -> list[dict[str, Any]]:
    """Null seasons cut short, from their per-night log (`null_season(log=...)`): each
    unfinished seed as a season of the nights it reached."""
    out = []
    for seed in sorted({int(r["seed"]) for r in nights} - done):
        mine = [r for r in nights if int(r["seed"]) == seed]
        out.append({"kind": "null", "seed": seed, "nights": len(mine), "partial": True,
                    "false_nights": [r["day"] for r in mine if r["false"]],
                    "today_nights": [r["day"] for r in mine if r["today"]]})
    return out


def summarise(rows: list[dict[str, Any]], cfg: LearningConfig) -> dict[str, Any]:
    """Plain figures of a run; rows of kind `night` (a null season's per-night log) stand
    in for seasons that did not finish."""
    done = {int(r["seed"]) for r in rows if r["kind"] == "null"}
    rows = [r for r in rows if r["kind"] != "night"] + partial_seasons(
        [r for r in rows if r["kind"] == "night"], done)
    cov = [r for r in rows if r["kind"] == "coverage"]
    act = [r for r in cov if r["active"]]
    every = [r for r in rows if r["kind"] == "null"]  # the cut-short seasons' nights count
    nulls = [r for r in every if not r.get("partial")] or every  # a season: a full one
    power = [r for r in rows if r["kind"] == "power"]
    n_nights = sum(r["nights"] for r in every)
    return {
        "coverage_seeds": len(cov), "activated": len(act),
        "raw_covers": sum(r["ci_lo"] <= r["truth"] <= r["ci_hi"] for r in act),
        "sel_covers": sum(r["sel_lo"] <= r["truth"] <= r["sel_hi"] for r in act),
        "raw_mean": float(np.mean([r["uplift"] for r in act])) if act else float("nan"),
        "sel_mean": float(np.mean([r["sel"] for r in act])) if act else float("nan"),
        "sel_median": float(np.median([r["sel"] for r in act])) if act else float("nan"),
        "truth": act[0]["truth"] if act else float("nan"),
        "seasons": len(nulls), "nights": n_nights,
        "season_false": sum(bool(r["false_nights"]) for r in nulls),
        "night_false": sum(len(r["false_nights"]) for r in every),
        "season_today": sum(bool(r["today_nights"]) for r in nulls),
        "night_today": sum(len(r["today_nights"]) for r in every),
        "season_nights": max(r["nights"] for r in nulls) if nulls else 0,
        "partial": any(r.get("partial") for r in nulls),
        "cut_short": sorted(r["nights"] for r in every if r.get("partial") and nulls != every),
        "bound": season_bound(cfg.activation, max(r["nights"] for r in nulls) if nulls else 90),
        "night_alpha": night_alpha(cfg.activation),
        "power_seeds": len(power),
        "power_any": sum(r["anytime"] is not None for r in power),
        "power_today": sum(r["today"] is not None for r in power),
        "power_nights": [(r["anytime"], r["today"]) for r in power],
    }


def rows_of(s: dict[str, Any], power_nights: int) -> list[tuple[str, str, str]]:
    """(key, measure, figure) of a summary (Wilson 95 % intervals). The key names a measure
    across runs; what differs between runs of it (a season's length, its bound) goes with
    the figure, so a tuning and a sealed run share the row."""
    rows: list[tuple[str, str, str]] = []
    if s["coverage_seeds"]:
        a = s["activated"]
        rows += [
            ("activated",
             f"default effect {s['truth']:g} bps x 5 days, one night: planted lesson activated",
             _share(a, s["coverage_seeds"])),
            ("raw_covers", "activated: raw 90 % interval covers the truth",
             _share(s["raw_covers"], a)),
            ("sel_covers", "activated: selective 90 % interval covers the truth",
             _share(s["sel_covers"], a)),
            ("estimates", "activated: mean raw / mean (median) selective estimate, bps",
             f"{s['raw_mean']:.2f} / {s['sel_mean']:.2f} ({s['sel_median']:.2f}); "
             f"truth {s['truth']:g}")]
    if s["power_seeds"]:
        pairs = s["power_nights"]
        both = [(x, y) for x, y in pairs if x is not None and y is not None]
        later = [x - y for x, y in both]
        rows += [
            ("power_season",
             f"default effect from day 0: active by night {power_nights - 1}, season rule",
             _share(s["power_any"], s["power_seeds"])),
            ("power_today", "... today's per-night rule, same seeds",
             _share(s["power_today"], s["power_seeds"])),
            ("power_later", "... nights later than today's rule, paired: mean; max",
             f"{np.mean(later):+.2f}; {max(later):+d} ({len(both)} seeds)" if both else "-")]
    if s["seasons"]:
        extra = (f"; the nights below add {len(s['cut_short'])} cut short at "
                 f"{', '.join(map(str, s['cut_short']))}" if s.get("cut_short") else "")
        rows += [
            ("null_seasons", "null seasons activating any false lesson, season rule",
             _share(s["season_false"], s["seasons"])
             + (f"; one-sided 95 % upper bound {100 * (1 - 0.05 ** (1 / s['seasons'])):.1f} %"
                if s["season_false"] == 0 else "")
             + f" ({'cut short: ' if s['partial'] else ''}{s['season_nights']} nights{extra}; "
             f"bound {100 * s['bound']:.1f} %)"),
            ("null_nights", f"null nights activating a false lesson, season rule (night alpha "
             f"{s['night_alpha']:.2g})", _share(s["night_false"], s["nights"])),
            ("today_seasons", "null seasons where today's rule would activate one (upper bound)",
             _share(s["season_today"], s["seasons"])),
            ("today_nights", "null nights where today's rule would activate one (upper bound)",
             _share(s["night_today"], s["nights"]))]
    return rows


def markdown(s: dict[str, Any], power_nights: int, seeds: str = "figure") -> str:
    """One run's figures as a table (`python -m bench seasons` prints it)."""
    out = [f"| measure | {seeds} |", "| --- | --- |"]
    out += [f"| {label} | {figure} |" for _, label, figure in rows_of(s, power_nights)]
    return "\n".join(out)


def _read(paths: list[Path]) -> list[dict[str, Any]]:
    rows = [json.loads(line) for p in paths if p.exists()  # kept runs may be gzipped
            for line in read_text(p).splitlines() if line.strip()]
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    for r in rows:  # per-night lines of a season log carry a day; a result read twice counts once
        r.setdefault("kind", "night" if "day" in r else "")
        out.setdefault((r["kind"], int(r["seed"]), str(r.get("day", ""))), r)
    return list(out.values())


def _run(seeds: str, s: dict[str, Any], paths: list[Path], load: str) -> dict[str, Any]:
    """The kept record of a summarised run: its commands, size, machine and date."""
    shown = [str(p.resolve().relative_to(REPO)) if p.resolve().is_relative_to(REPO) else str(p)
             for p in paths]
    return {"seeds": seeds,
            "command": "python -m bench seasons " + ("--final " if seeds == "sealed" else "")
            + "--json RUN.jsonl [...]",
            "summary": f"python -m bench seasons --{'sealed' if seeds == 'sealed' else 'tuned'} "
            + " ".join(shown),
            "counts": f"{s['coverage_seeds']} coverage nights, {s['power_seeds']} paired power "
            f"seasons, {s['seasons']} null season{'' if s['seasons'] == 1 else 's'}, "
            f"{s['nights']} null nights",
            "load": load, "machine": short_machine(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d")}


def _headline(sealed: dict[str, Any]) -> None:
    """The summary's figure: the sealed null seasons and the selective intervals' coverage."""
    parts = []
    if sealed["seasons"]:
        parts.append("null seasons activating a false lesson "
                     + _share(sealed["season_false"], sealed["seasons"]))
    if sealed["coverage_seeds"] and sealed["activated"]:
        parts.append("selective 90 % CI covers " + _share(sealed["sel_covers"],
                                                          sealed["activated"]))
    if parts:
        headline("seasons", "; ".join(parts), "Wilson 95 % intervals, sealed seeds",
                 command="python -m bench seasons --final")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--final", action="store_true", help="the sealed evaluation seeds")
    ap.add_argument("--coverage", type=int, default=200, help="one-night coverage seeds")
    ap.add_argument("--seasons", type=int, default=4, help="null seasons")
    ap.add_argument("--skip-seasons", type=int, default=0, metavar="K",
                    help="start at the cell's (K+1)-th null season (continue a run whose "
                         "first K seasons finished: summarise both files together)")
    ap.add_argument("--nights", type=int, default=90)
    ap.add_argument("--power", type=int, default=16, help="paired power seasons")
    ap.add_argument("--power-nights", type=int, default=8)
    ap.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", type=Path, help="append every result here (JSON lines)")
    ap.add_argument("--tuned", type=Path, nargs="+", metavar="JSONL",
                    help="summarise these tuning runs (and --sealed ones) into the docs")
    ap.add_argument("--sealed", type=Path, nargs="*", default=[], metavar="JSONL")
    ap.add_argument("--load", default="not recorded", help="the load the runs saw (uptime)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    cfg = season_rule(load_learning())
    if a.sealed or a.tuned:  # summarise kept runs into BENCHMARKS.md
        got = {seeds: summarise(_read(paths), cfg)
               for seeds, paths in (("tuning", a.tuned), ("sealed", a.sealed)) if paths}
        for seeds, s in got.items():
            print(f"{seeds} seeds:\n{markdown(s, a.power_nights, f'{seeds} seeds')}\n")
        if not a.no_write:
            from bench.validity import record_across_nights, render
            for seeds, s in got.items():
                record_across_nights(seeds, rows_of(s, a.power_nights),
                                     _run(seeds, s, a.tuned if seeds == "tuning" else a.sealed,
                                          a.load))
            render()
            if not a.tuned:  # a sealed run alone: the summary's figure
                _headline(got["sealed"])
        return got["tuning"] if a.tuned else got["sealed"]
    part = "evaluation" if a.final else "tuning"
    plan = load_seeds()
    jobs: list[tuple[str, int, dict[str, Any]]] = []
    jobs += [("coverage", s, {}) for s in plan.seeds(part, "selective", "d6x5", a.coverage)]
    jobs += [("power", s, {"nights": a.power_nights})
             for s in plan.seeds(part, "seasons", "power_default", a.power)]
    night_log = a.json.with_suffix(".nights.jsonl") if a.json else None
    jobs += [("null", s, {"nights": a.nights, "log": night_log})
             for s in plan.seeds(part, "seasons", "null_plain",
                                 a.skip_seasons + a.seasons)[a.skip_seasons:]]
    rows = run(jobs, a.processes, a.json)
    s = summarise(rows, cfg)
    print(markdown(s, a.power_nights))
    return s


if __name__ == "__main__":
    main()
