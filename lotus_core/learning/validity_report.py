"""The validity plan: which trials measure what (interval calibration, bias under misspecified
nuisances, power, false positives, the watchdog's trade-off), and their summaries as
Markdown tables. `lotus validate` and bench/validity.py run the same plan at a chosen scale.

Sizes are those of the live market at the generator's default rate: a detector firing 3
times an hour on each of 3 coins is 216 windows a day (`REALISTIC`); the misspecification
study uses 1500 a day so that bias stands out of the noise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from lotus_core.intervals import rate_text
from lotus_core.learning.config import LearningConfig
from lotus_core.learning.hetero import is_continuous
from lotus_core.learning.validity import KINDS, Task, clopper_pearson, replay
from lotus_core.learning.validity_seeds import SeedPlan
from lotus_core.signals.config import ContextConfig
from lotus_core.signals.context import parse_cond_key
from lotus_core.synth.windows import WindowSpec, planted_truth

REALISTIC = 216  # windows a day per detector: 3 an hour x 24 h x 3 coins
CAL_SPEC = WindowSpec(days=5, windows_per_day=REALISTIC, delta_bps=5.0)
BIG = WindowSpec(days=6, windows_per_day=1500, session_effect_bps=4.0, decoy_agreement=0.0,
                 surface_bps=8.0)
SCENARIOS: dict[str, WindowSpec] = {
    "edge (oi tercile, decoy 0.8)": WindowSpec(days=6, windows_per_day=1500),
    "off-edge (oi top quintile)": replace(BIG, effect="oi_top_quintile"),
    "interaction (oi hi & funding hi)": replace(BIG, effect="oi_hi_and_funding_hi"),
    "outcome model wrong": replace(BIG, outcome="nonadditive"),
    "propensity model wrong": replace(BIG, propensity="nonlinear"),
    "both wrong": replace(BIG, outcome="nonadditive", propensity="nonlinear"),
}
SCENARIO_CELLS = dict(zip(SCENARIOS, ("edge", "off_edge", "interaction", "outcome_wrong",
                                      "propensity_wrong", "both_wrong"), strict=True))
"""Each scenario's cell in validity_seeds.yaml (`misspecification`)."""
POWER_EFFECTS = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0)
POWER_DAYS = (3, 5, 10)
POWER_SEEDS = {3: 6, 5: 30, 10: 6}  # seeds per cell at scale 1 (5 days: the headline)
# an effect planted on a book literal (bimb5_bin=with) at the live size, the book following
# high OI's propensity and the aligned flow tracking it 80 % of the time (the decoy)
BOOK_SPEC = WindowSpec(days=5, windows_per_day=REALISTIC, effect="bimb_with",
                       confound_book=True, decoy_agreement=0.8)
BOOK_EFFECTS = (0.0, 5.0, 8.0, 12.0)  # 0: the null counterpart (nothing planted)
# an effect shared by the three detectors (a market-wide context; the target: 90 %
# at 5 bps, found by the pooled search), 0: its null twin
SHARED_EFFECTS = (0.0, 3.0, 5.0, 8.0)
SHARED_SEEDS = 30
NULLS: dict[str, WindowSpec] = {
    "plain": WindowSpec(days=5, windows_per_day=REALISTIC, effect="none", delta_bps=0.0,
                        regime_effect_bps=0.0),
    "confounded (trend +2 bps, OI tracks trend)": WindowSpec(
        days=5, windows_per_day=REALISTIC, effect="none", delta_bps=0.0),
    "heavy-tailed (t3)": WindowSpec(days=5, windows_per_day=REALISTIC, effect="none",
                                    delta_bps=0.0, regime_effect_bps=0.0, noise="student_t"),
    "hour-clustered": WindowSpec(days=5, windows_per_day=REALISTIC, effect="none",
                                 delta_bps=0.0, regime_effect_bps=0.0, noise="hour_clustered"),
}
NULL_CELLS = dict(zip(NULLS, ("plain", "confounded", "heavy_tailed", "hour_clustered"),
                      strict=True))
"""Each null market's cell in validity_seeds.yaml (`false_positives`)."""
WATCH_START = 3  # the first watchdog night (the lesson counts as activated the night before)
WATCH_HORIZON = 10  # nights a persisting effect must survive
WATCH_VANISH = 7  # day index the vanishing effect is gone from
WATCH_EFFECTS = (3.0, 5.0, 8.0)
WATCH_RULES: tuple[tuple[str, float], ...] = (
    ("first_fail", 0.0), ("cusum", 0.5), ("cusum", 1.0), ("cusum", 2.0), ("cusum", 3.0),
    ("cusum", 5.0))


# harder markets, each a power cell (the rule's truth 8 bps: found 29/30 at 5
# days in the power table) and its null twin (the same market, nothing planted)
HARDER_BASE = WindowSpec(days=5, windows_per_day=REALISTIC, delta_bps=8.0)
HARDER: dict[str, WindowSpec] = {
    # the effect follows a latent state; top OI copies it 80 % of the time: 0.8 x 10 = 8 bps
    "latent": replace(HARDER_BASE, delta_bps=10.0, latent_agreement=0.8),
    # noise sd 0.5x-1.5x with rv_pctl (2x between its bins' means)
    "hetero": replace(HARDER_BASE, noise_rv_slope=1.0),
    # no activeAssetCtx for 2-4 whole hours on half the days (seeded): oi, funding unknown
    "ctx_gaps": replace(HARDER_BASE, ctx_gap_hours=(2, 4), ctx_gap_day_share=0.5),
    # from a seeded day the trend regime's own +4 bps turns -4 and OI's confounding reverses
    "shift": replace(HARDER_BASE, regime_effect_bps=4.0, regime_shift=True),
    # a book effect (the book table's market at 8 bps) on a capture where one coin has no
    # l2Book at all: its book columns NaN, its cancel rate 0, every day
    "book_absent": replace(BOOK_SPEC, delta_bps=8.0, book_absent_coin=True),
    # one coin's whole feed out 2-6 hours on half the days: no windows of it then
    "coin_outage": replace(HARDER_BASE, coin_outage_hours=(2, 6), coin_outage_day_share=0.5),
}
HARDER_TEXT = {
    "latent": "unobserved driver (latent state; top OI tercile its proxy, corr 0.8)",
    "hetero": "heteroskedastic (noise sd x 0.5-1.5 with rv_pctl)",
    "ctx_gaps": "missing activeAssetCtx 2-4 h on half the days",
    "shift": "regime shift (trend +4 -> -4 bps, OI confounding reversed)",
    "book_absent": "a book effect (bimb5_bin=with); one coin recorded without l2Book",
    "coin_outage": "one coin's feed out 2-6 h on half the days",
}
HARDER_SEEDS = 50  # seeds per cell at scale 1


def harder_spec(market: str, null: bool) -> WindowSpec:
    """A harder market's power cell, or (null) its twin with nothing planted."""
    return HARDER[market].null() if null else HARDER[market]


SECTIONS = ("calibration", "misspecification", "power", "false_positives", "watchdog", "book",
            "harder", "shared")


def _n(base: int, scale: float) -> int:
    return max(2, int(round(base * scale)))


def plan(scale: float = 1.0, sections: Sequence[str] | None = None,
         partition: str = "tuning", cap: int | None = None, *,
         seeds: SeedPlan, cfg: LearningConfig, base: ContextConfig) -> list[Task]:
    """Every trial of the plan; `scale` multiplies the seed counts (1.0: the documented
    run, >= 200 seeds for calibration and for false positives), `cap` bounds each cell's.
    Seeds come from `seeds` (validity_seeds.yaml) in its `partition` ("tuning", or
    "evaluation": the sealed seeds of `lotus validate --final`), each table cell from its
    own range; `cfg` and `base` are the configuration every trial learns with. All three
    are the entry point's, so a stamped run names what it ran with."""
    want = set(sections or SECTIONS)

    def task(kind: str, label: str, spec: WindowSpec, seed: int) -> Task:
        return Task(kind, label, spec, seed, cfg, base)

    def cell(section: str, name: str, base: int) -> list[int]:
        n = _n(base, scale) if cap is None else min(_n(base, scale), cap)
        return seeds.seeds(partition, section, name, n)

    out: list[Task] = []
    if "calibration" in want:
        out += [task("estimate", "calibration", CAL_SPEC, s)
                for s in cell("calibration", "main", 200)]
    if "misspecification" in want:
        out += [task("estimate", f"misspec:{name}", spec, s)
                for name, spec in SCENARIOS.items()
                for s in cell("misspecification", SCENARIO_CELLS[name], 8)]
    if "power" in want:
        out += [task("night", f"power:{d}:{days}",
                     replace(CAL_SPEC, delta_bps=d, days=days), s)
                for d in POWER_EFFECTS for days in POWER_DAYS
                for s in cell("power", f"{d:g}x{days}", POWER_SEEDS[days])]
    if "false_positives" in want:
        out += [task("night", f"null:{name}", spec, s)
                for name, spec in NULLS.items()
                for s in cell("false_positives", NULL_CELLS[name], 50)]
    if "book" in want:
        out += [task("night", f"book:{d:g}", book_spec(d), s)
                for d in BOOK_EFFECTS for s in cell("book", f"{d:g}", 10)]
    if "watchdog" in want:
        days = WATCH_START + WATCH_HORIZON + 1
        out += [task("watchdog", f"persist:{d}", replace(CAL_SPEC, delta_bps=d, days=days), s)
                for d in WATCH_EFFECTS for s in cell("watchdog", f"persist_{d:g}", 4)]
        out += [task("watchdog", "vanish:5.0",
                     replace(CAL_SPEC, delta_bps=5.0, days=days, vanish_from_day=WATCH_VANISH),
                     s) for s in cell("watchdog", "vanish_5", 8)]
    if "harder" in want:  # each seed: a night (found? false rules?) and the DR estimate
        out += [task("night_dr", f"harder:{market}:{'null' if null else 'power'}",
                     harder_spec(market, null), s)
                for market in HARDER for null in (False, True)
                for s in cell("harder", f"{market}_null" if null else market, HARDER_SEEDS)]
    if "shared" in want:
        out += [task("night", f"shared:{d:g}", shared_spec(d), s)
                for d in SHARED_EFFECTS for s in cell("shared", f"{d:g}", SHARED_SEEDS)]
    return out


def shared_spec(delta_bps: float) -> WindowSpec:
    """The shared-effect market: `delta_bps` in `oi_pctl_bin=hi` on every detector's
    windows (the power table's market otherwise), 0 its null twin."""
    spec = replace(CAL_SPEC, shared=True, delta_bps=delta_bps)
    return spec if delta_bps else spec.null()


def book_spec(delta_bps: float) -> WindowSpec:
    """The book/tape trial's market: `delta_bps` on bimb5_bin=with, 0 its null twin."""
    return replace(BOOK_SPEC, delta_bps=delta_bps) if delta_bps else BOOK_SPEC.null()


def _rate(k: int, n: int) -> str:
    return rate_text(k, n, clopper_pearson)


def _by(results: Sequence[dict[str, Any]], prefix: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if r["label"].startswith(prefix):
            out[r["label"][len(prefix):]].append(r)
    return out


def false_rules(spec: WindowSpec, rules: Sequence[str]) -> list[str]:
    """Active rules (`detector:rule`) naming no real effect of a null spec: only the trend
    regime's own effect (when planted) is real, and only as the single regime literal."""
    real = spec.regime_effect_bps != 0.0
    out = []
    for r in rules:
        key = r.split(":", 1)[1]
        lits = () if is_continuous(key) else parse_cond_key(key)
        if real and len(lits) == 1 and lits[0][0] == "regime":
            continue
        out.append(r)
    return out


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every section's figures (plain numbers, for tables, plots and tests)."""
    s: dict[str, Any] = {}
    cal = _by(results, "calibration").get("", [])
    if cal:
        s["calibration"] = {k: (sum(r[f"{k}_covers"] for r in cal), len(cal))
                            for k in KINDS if k != "reg"}
        s["calibration_bias"] = {k: float(np.mean([r[k] - r["truth"] for r in cal]))
                                 for k in KINDS}
    mis = _by(results, "misspec:")
    if mis:
        s["misspecification"] = {
            name: {"truth": rs[0]["truth"], "n": len(rs), **{
                k: {"bias": float(np.mean([r[k] - r["truth"] for r in rs])),
                    "se": float(np.std([r[k] for r in rs], ddof=1) / np.sqrt(len(rs))),
                    "rmse": float(np.sqrt(np.mean([(r[k] - r["truth"]) ** 2 for r in rs]))),
                    "covers": sum(r.get(f"{k}_covers", False) for r in rs)}
                for k in KINDS}} for name, rs in mis.items()}
    pw = _by(results, "power:")
    if pw:
        s["power"] = {key: (sum(r["found"] for r in rs), len(rs)) for key, rs in pw.items()}
        s["power_refusals"] = {key: sorted({r["planted_gates"] for r in rs if not r["found"]})
                               for key, rs in pw.items()}
    nul = _by(results, "null:")
    if nul:
        s["false_positives"] = {}
        for name, rs in nul.items():
            spec = NULLS[name]
            bad = [false_rules(spec, r["active_rules"]) for r in rs]
            s["false_positives"][name] = (sum(bool(b) for b in bad), len(rs),
                                          sorted({x for b in bad for x in b})[:6])
        s["false_positives_total"] = (sum(v[0] for v in s["false_positives"].values()),
                                      sum(v[1] for v in s["false_positives"].values()))
    bk = _by(results, "book:")
    if bk:
        s["book"] = {}
        for key, rs in sorted(bk.items(), key=lambda kv: float(kv[0])):
            spec = book_spec(float(key))
            false = [false_rules(spec, r["active_rules"]) for r in rs] \
                if spec.effect == "none" else []
            s["book"][key] = {"found": sum(r["found"] for r in rs), "n": len(rs),
                              "false": sum(bool(f) for f in false),
                              "examples": sorted({x for f in false for x in f})[:4],
                              "refusals": sorted({r["planted_gates"] for r in rs
                                                  if not r["found"]})}
    sh = _by(results, "shared:")
    if sh:
        s["shared"] = {}
        for key, rs in sorted(sh.items(), key=lambda kv: float(kv[0])):
            false = [false_rules(shared_spec(0.0), r["active_rules"]) for r in rs] \
                if float(key) == 0.0 else []
            s["shared"][key] = {
                "pooled": sum(r["found_pooled"] for r in rs), "n": len(rs),
                "own": sum(r["found"] for r in rs),
                "all_own": sum(r["own_detectors"] == 3 for r in rs),
                "either": sum(r["found_pooled"] or r["found"] for r in rs),
                "false": sum(bool(f) for f in false),
                "examples": sorted({x for f in false for x in f})[:4],
                "refusals": sorted({r["pooled_gates"] for r in rs if not r["found_pooled"]})}
    wd = [r for r in results if r["kind"] == "watchdog"]
    if wd:
        s["watchdog"] = _watchdog(wd)
    hd = _by(results, "harder:")
    if hd:
        s["harder"] = _harder(hd)
    return s


def _dr(rs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """DR (and naive) bias, its standard error and the 90 % interval's coverage over seeds."""
    if not rs:
        return {}
    err = np.array([r["dr"] - r["truth"] for r in rs])
    return {"n": len(rs), "truth": rs[0]["truth"], "bias": float(err.mean()),
            "se": float(err.std(ddof=1) / np.sqrt(len(rs))) if len(rs) > 1 else float("nan"),
            "covers": sum(r["dr_covers"] for r in rs),
            "naive_bias": float(np.mean([r["naive"] - r["truth"] for r in rs]))}


def _harder(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per harder market: found by name, its null twin's false activations, and the planted
    rule's DR bias and coverage in both (`night_dr_trial` results)."""
    out: dict[str, Any] = {}
    for market in HARDER:
        power, null = runs.get(f"{market}:power", []), runs.get(f"{market}:null", [])
        if not (power or null):
            continue
        false = [false_rules(harder_spec(market, True), r["active_rules"]) for r in null]
        out[market] = {
            "truth": planted_truth(HARDER[market]),
            "found": (sum(r["found"] for r in power), len(power)),
            "refusals": sorted({r["planted_gates"] for r in power if not r["found"]}),
            "null_false": (sum(bool(f) for f in false), len(null)),
            "null_examples": sorted({x for f in false for x in f})[:4],
            "dr": _dr(power),
            "dr_null": _dr(null),
        }
    return out


def _watchdog(rs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"persist": {}, "vanish": {}}
    for rule, h in WATCH_RULES:
        name = rule if rule == "first_fail" else f"cusum h={h:g}"
        for r in rs:
            at = replay(r["series"], rule, h, 10)
            if r["vanish"] is None:
                key = r["label"].split(":")[1]
                k, n = out["persist"].get(f"{name}|{key}", (0, 0))
                out["persist"][f"{name}|{key}"] = (
                    k + int(at is not None and at < WATCH_HORIZON), n + 1)
            else:
                gone = r["vanish"] - r["start_night"]  # series index of the first day gone
                early = at is not None and at < gone  # sunset before it vanished
                days = None if at is None or early else at - gone + 1
                out["vanish"].setdefault(name, []).append(-1 if early else days)
    return out


def _fmt_days(xs: list[int | None]) -> str:
    got = [x for x in xs if x is not None and x > 0]
    never = sum(x is None for x in xs)
    early = sum(x == -1 for x in xs)
    if not got:
        return f"never in {never}, early in {early}"
    q = np.quantile(got, [0.5, 0.9])
    within = {d: sum(1 for x in got if x <= d) for d in (1, 2, 3, 5)}
    return (f"median {q[0]:g}, p90 {q[1]:g}; within 1/2/3/5 days: " +
            "/".join(f"{within[d]}" for d in (1, 2, 3, 5)) + f" of {len(xs)}"
            + (f"; not within the run: {never}" if never else "")
            + (f"; before it vanished: {early}" if early else ""))


def markdown(s: dict[str, Any]) -> str:
    """The summary as Markdown sections (tables)."""
    out: list[str] = []
    if "calibration" in s:
        out += ["### Interval calibration", "",
                f"Planted +{CAL_SPEC.delta_bps:g} bps in `oi_pctl_bin=hi`, "
                f"{CAL_SPEC.days} days x {CAL_SPEC.windows_per_day} windows/day per detector "
                "(3 coins x 3/h), decoy and confounder as in the tests; the planted rule's "
                "90 % hour-bootstrap interval (its weakest split) against the truth.", "",
                "| estimator | covers the truth (95 % Clopper-Pearson) | mean bias (bps) |",
                "|---|---|---|"]
        for k, (c, n) in s["calibration"].items():
            out.append(f"| {k} | {_rate(c, n)} | {s['calibration_bias'][k]:+.3f} |")
        out.append("")
    if "misspecification" in s:
        out += ["### Bias under misspecified nuisances", "",
                "6 days x 1500 windows/day per detector. `reg` = the outcome model alone "
                "(mu1 - mu0, no correction: its bootstrap holds the fit fixed, so no "
                "coverage is claimed for it). Bias = mean(estimate - truth) over seeds "
                "(+- its standard error).", "",
                "| scenario | truth | DR bias | DR covers | IPW bias | IPW covers | "
                "reg bias | naive bias | naive covers |", "|---|---|---|---|---|---|---|---|---|"]
        for name, v in s["misspecification"].items():
            n = v["n"]

            def b(k: str, v: dict[str, Any] = v) -> str:
                return f"{v[k]['bias']:+.2f} +- {v[k]['se']:.2f}"
            out.append(f"| {name} | {v['truth']:.2f} | {b('dr')} | {v['dr']['covers']}/{n} | "
                       f"{b('ipw')} | {v['ipw']['covers']}/{n} | {b('reg')} | {b('naive')} | "
                       f"{v['naive']['covers']}/{n} |")
        out.append("")
    if "power" in s:
        out += ["### Power", "",
                "Share of seeds whose night activates a positive lesson naming the planted "
                "literal (planted detector), by effect and data size (x 3 coins, 216 "
                "windows/day per detector, noise sd 8 bps, 3 detectors searched).", "",
                "| effect (bps) | " + " | ".join(f"{d} days" for d in POWER_DAYS) + " |",
                "|---|" + "---|" * len(POWER_DAYS)]
        for d in POWER_EFFECTS:
            cells = [s["power"].get(f"{d}:{days}") for days in POWER_DAYS]
            out.append(f"| {d:g} | " + " | ".join(_rate(*c) if c else "-" for c in cells) + " |")
        out += ["", f"Smallest effect with >= 90 % power at 5 days: {smallest_powered(s)}.", ""]
    if "false_positives" in s:
        k, n = s["false_positives_total"]
        out += ["### False positives", "",
                "Null markets (nothing planted), 5 days x 216 windows/day per detector, 3 "
                "detectors: share of nights that activate any rule naming no real effect (in "
                "the confounded null the trend regime's own +2 bps is real, so the single "
                "`regime` literal is not counted).", "",
                "| null | nights activating a false rule | examples |", "|---|---|---|"]
        for name, (kk, nn, ex) in s["false_positives"].items():
            out.append(f"| {name} | {_rate(kk, nn)} | {', '.join(ex) or '-'} |")
        out += [f"| **all** | **{_rate(k, n)}** | |", ""]
    if "book" in s:
        out += ["### Book/tape: an effect on a new feature", "",
                f"Planted on `bimb5_bin=with` (the 5-level book leaning with the signal), "
                f"{BOOK_SPEC.days} days x {BOOK_SPEC.windows_per_day} windows/day per "
                "detector, 3 detectors, the packaged vocabulary and bar; the book follows "
                "high OI's propensity (a confounder) and the aligned flow tracks it 80 % of "
                "the time (a decoy). Found = a positive active lesson of the planted detector "
                "naming `bimb5_bin=with`; for 0 bps (its null twin) the nights that activate "
                "a false rule.", "",
                "| effect (bps) | found by name | null: nights activating a false rule | "
                "planted rule's gates when missed |", "|---|---|---|---|"]
        out += _effect_rows(s["book"], lambda v: [_rate(v["found"], v["n"])])
        out.append("")
    if "shared" in s:
        out += ["### An effect shared by every detector", "",
                f"Planted on `oi_pctl_bin=hi` on all three detectors' windows (a market-wide "
                f"context), {CAL_SPEC.days} days x {CAL_SPEC.windows_per_day} windows/day per "
                "detector, decoy and confounder as in the power table. Found (pooled) = an "
                "active positive lesson of the pooled search (detector `*`) naming "
                "`oi_pctl_bin=hi`; beside it the planted detector's own lesson (the power "
                "table's measure), every detector's own, and either; for 0 bps (its null "
                "twin) the nights that activate a false rule.", "",
                "| effect (bps) | found (pooled) | the planted detector's own | all three "
                "detectors' own | pooled or own | null: nights activating a false rule | "
                "pooled rule's gates when missed |", "|---|---|---|---|---|---|---|"]
        out += _effect_rows(s["shared"], lambda v: [
            _rate(v[k], v["n"]) for k in ("pooled", "own", "all_own", "either")])
        out.append("")
    if "watchdog" in s:
        w = s["watchdog"]
        effects = sorted({k.split("|")[1] for k in w["persist"]}, key=float)
        out += ["### Watchdog", "",
                f"A lesson counted as activated the night before night {WATCH_START}; each "
                "later night's out-of-sample day replayed through each rule (216 "
                "windows/day). Left: how often a persisting true effect is wrongly sunset "
                f"within {WATCH_HORIZON} days. Right: days from a 5 bps effect's "
                f"disappearance (day {WATCH_VANISH}) to its sunset (1 = the first day gone).",
                "", "| rule | " + " | ".join(f"wrongly sunset, {e} bps" for e in effects)
                + " | vanished 5 bps: days to sunset |",
                "|---|" + "---|" * (len(effects) + 1)]
        for rule, h in WATCH_RULES:
            name = rule if rule == "first_fail" else f"cusum h={h:g}"
            cells = [_rate(*w["persist"][f"{name}|{e}"]) if f"{name}|{e}" in w["persist"]
                     else "-" for e in effects]
            out.append(f"| {name} | " + " | ".join(cells) + " | "
                       + _fmt_days(w["vanish"].get(name, [])) + " |")
        out.append("")
    if "harder" in s:
        out += _harder_markdown(s["harder"])
    return "\n".join(out)


def _effect_rows(cells: dict[str, dict[str, Any]],
                 found: Callable[[dict[str, Any]], list[str]]) -> list[str]:
    """A table's rows by planted effect: its found-rate columns, then a dash for the null
    column and the gates when missed; the 0 bps row (the null twin) dashes the found columns
    and gives its false nights."""
    out = []
    for key, v in cells.items():
        if float(key) == 0.0:
            out.append("| 0 (null) |" + " - |" * len(found(v)) + f" {_rate(v['false'], v['n'])} "
                       f"{', '.join(v['examples'])} | - |")
        else:
            out.append(f"| {key} | " + " | ".join(found(v)) + " | - | "
                       f"{'; '.join(v['refusals'][:3]) or '-'} |")
    return out


def _harder_markdown(h: dict[str, Any]) -> list[str]:
    out = ["### Harder markets", "",
           f"{HARDER_BASE.days} days x {HARDER_BASE.windows_per_day} windows/day per detector "
           "(3 coins x 3/h), 3 detectors, the packaged vocabulary and bar, decoy and confounder "
           "as in the power table; the planted rule is `oi_pctl_bin=hi` (in the book market "
           "`bimb5_bin=with`, the book table's market), worth 8 bps (its "
           "truth, `planted_truth`: E[Y(l) - Y(not l)] of the observed literal; for the latent "
           "market 0.8 x 10 bps, derived there; in the regime-shift market identified only "
           "with the period adjusted for: the window-break test, docs/learning.md). Found = a "
           "positive active lesson of the planted detector naming it; the null twin is the "
           "same market with nothing planted. DR = the planted rule's cross-fitted estimate "
           "(its weakest split) and 90 % hour-bootstrap interval on every seed of the cell, "
           "activated or not; bias = mean(estimate - truth) +- its standard error.", "",
           "| market | truth (bps) | found by name | null twin: nights activating a false rule "
           "| DR bias | DR 90 % covers | null twin: DR bias, covers 0 | naive bias | "
           "planted rule's gates when missed |", "|---|---|---|---|---|---|---|---|---|"]
    for market, v in h.items():
        d, z = v["dr"], v["dr_null"]
        dr = f"{d['bias']:+.2f} +- {d['se']:.2f}" if d else "-"
        cov = _rate(d["covers"], d["n"]) if d else "-"
        nul = f"{z['bias']:+.2f} +- {z['se']:.2f}; {z['covers']}/{z['n']}" if z else "-"
        naive = f"{d['naive_bias']:+.2f}" if d else "-"
        ex = f" ({', '.join(v['null_examples'])})" if v["null_examples"] else ""
        out.append(f"| {HARDER_TEXT[market]} | {v['truth']:.2f} | {_rate(*v['found'])} | "
                   f"{_rate(*v['null_false'])}{ex} | {dr} | {cov} | {nul} | {naive} | "
                   f"{'; '.join(v['refusals'][:3]) or '-'} |")
    out.append("")
    return out


def smallest_powered(s: dict[str, Any], days: int = 5, power: float = 0.9) -> str:
    for d in POWER_EFFECTS:
        got = s.get("power", {}).get(f"{d}:{days}")
        if got and got[1] and got[0] / got[1] >= power:
            return f"{d:g} bps ({_rate(*got)})"
    return f"none of {', '.join(f'{d:g}' for d in POWER_EFFECTS)} bps"


def sealed_header(st: dict[str, Any]) -> str:
    """The stamp of a sealed run (`lotus validate --final`) as the tables' header line."""
    dirty = {True: "differs from the commit", False: "as committed",
             None: "unknown"}[st.get("dirty")]
    changed = (f" **The judged code changed during the run: "
               f"{', '.join(st['changed_during_run'])}.**" if st.get("changed_during_run")
               else "")
    cap = f" --seeds {st['cap']}" if st.get("cap") else ""
    return (f"_Sealed evaluation seeds (validity_seeds.yaml `evaluation`), {st['trials']} "
            f"trials, started {st['started']}, {st['wall_s'] / 60:.1f} min wall, "
            f"{st['cpu_s'] / 60:.1f} min summed over trials. Commit {st['commit']} (judged "
            f"code {dirty}); code hash {st['code_hash']} of {', '.join(st['packages'])}; "
            f"settings hash {st['settings_hash']}; learning config hash {st['learning_hash']}. "
            "Command: `" + (st.get("command") or f"lotus validate --final --scale "
                            f"{st['scale']:g}{cap}" + (f" --sections {st['sections']}"
                                                       if st["sections"] != "all" else ""))
            + f"`._{changed}")


def sealed_stamp(before: dict[str, Any], settings_dump: dict[str, Any], cfg: LearningConfig,
                 base: ContextConfig, tasks: Sequence[Task], results: Sequence[dict[str, Any]],
                 **run: Any) -> dict[str, Any]:
    """The stamp of a sealed run: the judged code's stamp taken when it began (`before`,
    `validity_stamp.stamp(VALIDITY_CODE)`; marked if the code changed under the run), the
    settings' and the learning configuration's hashes, each cell's seeds [first, last,
    count], and `run` (scale, cap, sections, started, wall_s)."""
    from lotus_core.learning.validity_stamp import canonical_hash, changed_modules, module_hashes

    st = {k: before[k] for k in ("commit", "dirty", "code_hash", "packages", "modules")}
    moved = changed_modules(before["modules"], module_hashes(before["packages"]))
    if moved:
        st["changed_during_run"] = moved
    seeds: dict[str, list[int]] = {}
    for t in tasks:
        seeds.setdefault(t.label, []).append(t.seed)
    st.update(settings_hash=canonical_hash(settings_dump),
              learning_hash=canonical_hash({"learning": cfg.model_dump(mode="json"),
                                            "context": base.model_dump(mode="json")}),
              partition="evaluation", trials=len(tasks),
              seeds={k: [min(v), max(v), len(v)] for k, v in seeds.items()},
              cpu_s=sum(r["seconds"] for r in results), **run)
    return st
