# ruff: noqa: E501  (the Markdown table rows below are long on purpose)
"""The lessons stage at scale: >= 1,000,000 generated windows of one
detector, 15 categorical features, every conjunction of <= 3 literals searched; then econml's
DRLearner fitted per rule on 20 of those rules, against our estimates and their CIs.

Usage: python -m bench lessons [--n 1000000] [--shape packaged|synthetic] [--features 15]
                               [--days 14] [--seed 1] [--drl-fraction 1.0] [--max-fit-rows N]
`--shape packaged` (default): the features have the value counts of the budget shape (the
packaged learning.yaml quantizer.features plus BUDGET_EXTRA, 15 features, `na` values
included), largest first; `synthetic`:
`--features` features of 3-4 values. The generated detector: f0 = "c" adds +5 bps (the planted effect); f1 copies f0 70 % of the
time and does nothing (the decoy); f2 = "c" adds +2 bps and makes f0 = "c" likelier (the
confounder); the other features are independent noise; y has noise sd 8 bps.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from bench.report import headline, wrap, write_section

VALUES = ("a", "b", "c", "d")
PLANTED_BPS = 5.0
CONFOUNDER_BPS = 2.0
NOISE_BPS = 8.0
DECOY_COPY = 0.7
T0_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def feature_sizes(n_features: int) -> list[int]:
    """4, 4, 3, then alternating 4 / 3: values 3-4 per feature."""
    base = [4, 4, 3]
    return (base + [4 if j % 2 == 0 else 3 for j in range(max(0, n_features - 3))])[:n_features]


# The budget shape: the packaged quantizer's features plus the next book/tape ones up to the
# caps (15 features, <= 53 literals), so the measured time bounds every packaged search.
BUDGET_EXTRA = ("bimb5_bin", "flow_bin", "oi_delta_bin", "trend_bin", "cancel_bin")


def packaged_sizes() -> tuple[list[int], list[str]]:
    """Value counts (na included) of the budget shape's features (the packaged quantizer's
    plus BUDGET_EXTRA), largest first (so f0 and f1 have 4 values and f2 at least 3), and
    those features' names in that order."""
    from lotus_core.learning.config import load_learning
    from lotus_core.signals.context import LITERALS

    packaged = load_learning().quantizer.features
    names = (*packaged, *(f for f in BUDGET_EXTRA if f not in packaged))
    feats = sorted(names, key=lambda f: (-len(LITERALS[f]), f))
    return [len(LITERALS[f]) for f in feats], feats


def rule_count(sizes: list[int], max_literals: int = 3) -> int:
    return sum(int(np.prod(c)) for k in range(1, max_literals + 1)
               for c in combinations(sizes, k))


def generate(n: int, n_features: int = 15, days: int = 14, seed: int = 1,
             sizes: list[int] | None = None):
    """A deterministic UnitSet of one detector (see the module docstring) and its truth;
    `sizes` (values per feature) overrides the synthetic 3-4 values of `n_features`."""
    from lotus_core.learning.units import UnitSet

    sizes = feature_sizes(n_features) if sizes is None else list(sizes)
    n_features = len(sizes)
    if n_features < 3 or sizes[0] != 4 or sizes[1] != 4 or sizes[2] < 3:
        raise ValueError("need f0 (planted) and f1 (decoy) of 4 values, f2 (confounder) of "
                         f">= 3; got sizes {sizes}")
    rng = np.random.default_rng(seed)
    ts = T0_MS + np.sort(rng.integers(0, days * 86_400_000, n)).astype(np.int64)
    codes = np.empty((n, n_features), dtype=np.int16)
    for j, s in enumerate(sizes):
        codes[:, j] = rng.integers(0, s, n)
    conf = codes[:, 2] == 2  # f2 = "c": the confounder
    p_c = np.where(conf, 0.45, 0.15)  # f0 = "c" likelier under the confounder
    f0_c = rng.random(n) < p_c
    other = rng.integers(0, 3, n)  # f0 otherwise one of a, b, d
    codes[:, 0] = np.where(f0_c, 2, np.where(other >= 2, 3, other))
    copy = rng.random(n) < DECOY_COPY  # the decoy copies f0
    codes[:, 1] = np.where(copy, codes[:, 0], codes[:, 1])
    planted = f0_c.astype(np.float64) * PLANTED_BPS
    y = -1.5 + CONFOUNDER_BPS * conf + planted + rng.normal(0.0, NOISE_BPS, n)
    hit = (y > 0).astype(np.float64)
    units = UnitSet(tuple(f"f{j}" for j in range(n_features)),
                    tuple(VALUES[:s] for s in sizes), codes, y, hit, ts)
    return units


def f0_other_truth(n_f2: int = 3) -> float:
    """The true ATE of f0 = a (or b, or d: symmetric) against every other value of f0, the
    other features as confounders, by enumeration of the generator: -5 bps times the chance
    that "not a" is c, averaged over (f1, f2), the features that move that chance; f2 has
    `n_f2` equally likely values."""
    ate = 0.0
    for f2 in range(n_f2):
        pc = 0.45 if f2 == 2 else 0.15
        p0 = np.array([(1 - pc) / 3, (1 - pc) / 3, pc, (1 - pc) / 3])
        for f1 in range(4):
            joint = p0 * np.where(np.arange(4) == f1, DECOY_COPY + (1 - DECOY_COPY) / 4,
                                  (1 - DECOY_COPY) / 4)
            rest = joint.copy()
            rest[0] = 0.0
            ate += joint.sum() / n_f2 * -PLANTED_BPS * rest[2] / rest.sum()
    return float(ate)


def disagreement_note(rows: list[dict], n_f2: int = 3) -> str:
    """Where the two disagree on a 1-literal rule of f0 other than the planted value, say
    which one covers the truth (known exactly for those rules)."""
    truth = f0_other_truth(n_f2)
    hit = [r for r in rows if not r["agree"] and r["rule"] in ("f0=a", "f0=b", "f0=d")]
    if not hit:
        return ""
    ours = sum(r["ours_lo"] <= truth <= r["ours_hi"] for r in hit)
    drl = sum(r["drl_lo"] <= truth <= r["drl_hi"] for r in hit)
    names = ", ".join(f"`{r['rule']}`" for r in hit)
    return (f"{names} {'is a literal' if len(hit) == 1 else 'are literals'} of the 4-valued "
            "planted feature, whose control arm mixes the other three values: the true effect, "
            f"{truth:+.3f} bps by enumeration of the generator, is inside our CI for {ours} of "
            f"{len(hit)}, DRLearner's for {drl} of {len(hit)} (ours weights every other value by "
            "the multinomial propensity; DRLearner's binary T does not model how that mix moves "
            "with W).")


@dataclass
class EngineRun:
    seconds: dict[str, float]
    rules_searched: int
    scores: pd.DataFrame
    top: list[tuple[int, ...]]
    details: dict[tuple[int, ...], object]
    nz: object = None
    hour_idx: np.ndarray | None = None
    weights: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _lits(r) -> tuple[int, ...]:
    return tuple(int(x) for x in (r.l0, r.l1, r.l2) if x >= 0)


def rule_key(units, lits: tuple[int, ...]) -> str:
    """`f0=c&f3=a`, literals sorted: lessons.rule_key without its check that the features
    are context literals (these are f0..f14)."""
    return "&".join(sorted("=".join(units.literal_name(x)) for x in lits))


def run_engine(units, cfg) -> EngineRun:
    """The lessons stage of one detector, phase by phase, as
    lotus_core.learning.lessons.search_detector runs it (keep = []); search_detector itself
    names rules through canonical_cond_key, which accepts only the context literals."""
    from lotus_core.learning.estimator import fit_nuisances, pseudo_outcomes
    from lotus_core.learning.evaluate import hour_weights, rule_detail
    from lotus_core.learning.lessons import family_counts
    from lotus_core.learning.search import enumerate_rules, scope_sums, score_rules

    sec: dict[str, float] = {}
    cpu: dict[str, float] = {}
    load = [os.getloadavg()]
    t, c = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal t, c
        sec[name], cpu[name] = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()

    nz = fit_nuisances(units, cfg.estimator)
    lap("fit_nuisances")
    psi = pseudo_outcomes(units, nz)
    lap("pseudo_outcomes")
    sums = scope_sums(units, psi)
    lap("scope_sums")
    rules = enumerate_rules(units, cfg.search.max_literals)
    lap("enumerate_rules")
    scores = score_rules(units, sums, rules, cfg.search)
    family_counts(scores)  # the per-length multiple-testing family (lessons.z_crits)
    lap("score_rules")
    elig = scores[scores["eligible"] & (scores["sign"] != 0)]
    top = elig.sort_values("score", ascending=False, kind="stable").head(4 * cfg.search.top_k)
    ranked = sorted((-float(r.score), rule_key(units, _lits(r)), _lits(r))
                    for r in top.itertuples())
    wanted = [lits for _, _, lits in ranked[:cfg.search.top_k]]
    hour_idx, weights = hour_weights(units, cfg.bootstrap.resamples, cfg.bootstrap.seed)
    details = {lits: rule_detail(units, nz, lits, hour_idx, weights, cfg.bootstrap.ci)
               for lits in wanted}
    lap("bootstrap_detail")
    load.append(os.getloadavg())
    sec["total"] = sum(sec.values())
    cpu["total"] = sum(cpu.values())
    return EngineRun(sec, len(scores), scores, wanted, details, nz, hour_idx, weights,
                     extra={"cpu": cpu, "load": load})


def pick_rules(units, run: EngineRun, n_top: int = 10, n_other: int = 10,
               seed: int = 3) -> list[tuple[int, ...]]:
    """The top `n_top` eligible rules by score, then `n_other` others drawn with a fixed seed
    among the eligible ones (signed: every split agrees), spread over 1-, 2- and 3-literal
    rules (20 % / 40 % / 40 %)."""
    sc = run.scores
    elig = sc[sc["eligible"] & (sc["sign"] != 0)].sort_values("score", ascending=False,
                                                               kind="stable")
    top = [_lits(r) for r in elig.head(n_top).itertuples()]
    rest = elig.iloc[n_top:]
    rng = np.random.default_rng(seed)
    quota = {1: round(0.2 * n_other), 2: round(0.4 * n_other)}
    quota[3] = n_other - quota[1] - quota[2]
    chosen: list[tuple[int, ...]] = []
    for k in (1, 2, 3):
        pool = rest[rest["n_literals"] == k]
        take = min(quota[k], len(pool))
        idx = np.sort(rng.choice(len(pool), size=take, replace=False)) if take else []
        chosen += [_lits(r) for r in pool.iloc[idx].itertuples()]
    if len(chosen) < n_other:  # a small pool for some size: fill from any size
        left = rest[~rest.apply(lambda r: _lits(r) in chosen, axis=1)]
        idx = rng.choice(len(left), size=min(n_other - len(chosen), len(left)), replace=False)
        chosen += [_lits(r) for r in left.iloc[np.sort(idx)].itertuples()]
    return top + chosen


def drlearner_rule(units, lits: tuple[int, ...], primary: int, cfg, fraction: float = 1.0,
                   seed: int = 11, ci: float = 0.90) -> dict:
    """econml's DRLearner on one rule's primary split: windows where the scope (the rule's
    other literals) holds, T = 1{primary literal}, W = one-hot of the features the rule
    does not name, Y = y; logistic propensity, ridge outcome, time-blocked 3-fold cross-
    fitting passed as explicit (train, test) splits. `fraction` < 1: a seeded subsample of
    the scope (kept in time order)."""
    import warnings

    from econml.dr import DRLearner
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Ridge

    from lotus_core.learning.estimator import propensity_model, time_folds
    from lotus_core.learning.units import rule_mask

    t0 = time.perf_counter()
    scope = tuple(x for x in lits if x != primary)
    idx = np.flatnonzero(rule_mask(units, scope))
    if fraction < 1.0:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, size=max(1, round(fraction * len(idx))), replace=False))
    named = {int(units.literal_feature[x]) for x in lits}
    f_t, v_t = int(units.literal_feature[primary]), int(units.literal_value[primary])
    t = (units.codes[idx, f_t] == v_t).astype(np.int64)
    cols = []
    for f in range(len(units.features)):
        if f in named:
            continue
        c = units.codes[idx, f]
        cols += [(c == v).astype(np.float64) for v in range(len(units.values[f]))]
    w = np.column_stack(cols)
    fold = time_folds(units.hour[idx], 3)
    splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k))
              for k in range(int(fold.max()) + 1)]
    est = DRLearner(model_propensity=propensity_model(cfg.estimator, len(idx)),
                    model_regression=Ridge(alpha=cfg.estimator.ridge_alpha),
                    min_propensity=cfg.estimator.propensity_clip[0], cv=splits,
                    random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(units.y[idx], t, W=w)
        ate = float(est.ate())
        lo, hi = (float(np.ravel(x)[0]) for x in est.ate_interval(alpha=1 - ci))
    return {"ate": ate, "lo": lo, "hi": hi, "rows": len(idx),
            "seconds": time.perf_counter() - t0}


def compare(units, run: EngineRun, picked: list[tuple[int, ...]], cfg,
            fraction: float, n_top: int = 10) -> list[dict]:
    """Our DR estimate + 90 % CI and DRLearner's, rule by rule."""
    from lotus_core.learning.evaluate import rule_detail
    from lotus_core.learning.units import rule_mask

    rows = []
    for i, lits in enumerate(picked):
        det = run.details.get(lits) or rule_detail(units, run.nz, lits, run.hour_idx,
                                                   run.weights, cfg.bootstrap.ci)
        drl = drlearner_rule(units, lits, det.primary, cfg, fraction, ci=cfg.bootstrap.ci)
        scope = tuple(x for x in lits if x != det.primary)
        ours_in = drl["lo"] <= det.uplift <= drl["hi"]
        drl_in = det.ci_lo <= drl["ate"] <= det.ci_hi
        rows.append({
            "pick": "top" if i < n_top else "seeded", "rule": rule_key(units, lits),
            "literals": len(lits), "primary": "=".join(units.literal_name(det.primary)),
            "scope_n": int(rule_mask(units, scope).sum()), "ours": det.uplift,
            "ours_lo": det.ci_lo, "ours_hi": det.ci_hi, "drl": drl["ate"],
            "drl_lo": drl["lo"], "drl_hi": drl["hi"], "drl_rows": drl["rows"],
            "drl_s": drl["seconds"], "ours_in_drl": ours_in, "drl_in_ours": drl_in,
            "agree": ours_in and drl_in,
            "overlap": drl["lo"] <= det.ci_hi and det.ci_lo <= drl["hi"],
        })
        print(f"  {rows[-1]['rule']}: ours {det.uplift:+.2f} [{det.ci_lo:+.2f}, "
              f"{det.ci_hi:+.2f}]  drl {drl['ate']:+.2f} [{drl['lo']:+.2f}, {drl['hi']:+.2f}] "
              f"({drl['rows']:,} rows, {drl['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return rows


def speed_ratio(run: EngineRun, rows: list[dict]) -> dict:
    """DRLearner seconds per rule extrapolated to every rule searched, vs our total: the plain
    mean, and the mean per literal count weighted by the searched mix (most rules have 3
    literals, hence the smallest scopes)."""
    df = pd.DataFrame(rows)
    mean_s = float(df["drl_s"].mean())
    mix = run.scores["n_literals"].value_counts().to_dict()
    per_k = df.groupby("literals")["drl_s"].mean().to_dict()
    weighted = sum(mix.get(k, 0) * per_k.get(k, mean_s) for k in mix)
    total = run.seconds["total"]
    return {"drl_mean_s": mean_s, "drl_per_k": per_k, "mix": mix,
            "drl_all_plain_s": mean_s * run.rules_searched, "drl_all_weighted_s": weighted,
            "ratio_plain": mean_s * run.rules_searched / total, "ratio_weighted": weighted / total}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fmt_ci(lo: float, hi: float) -> str:
    return f"[{lo:+.2f}, {hi:+.2f}]"


def _versus(r: dict) -> str:
    return (f"`{r['rule']}` ours {r['ours']:+.2f} {_fmt_ci(r['ours_lo'], r['ours_hi'])}, DRLearner "
            f"{r['drl']:+.2f} {_fmt_ci(r['drl_lo'], r['drl_hi'])}")


def by_literals(rows: list[dict]) -> str:
    """The DRLearner comparison by the rule's literal count (its scope shrinks, and
    DRLearner's time with it), and over all rules."""
    def line(label: str, rs: list[dict]) -> str:
        top = sum(r["pick"] == "top" for r in rs)
        scopes = sorted({r["scope_n"] for r in rs})
        scope = ("" if label.startswith("**") else f"{scopes[0]:,}" if len(scopes) == 1
                 else f"{scopes[0]:,}-{scopes[-1]:,}")
        agree = sum(r["agree"] for r in rs)
        agree_s = f"**{agree}**" if label.startswith("**") else f"{agree}"
        return (f"| {label} | {len(rs)} ({top} / {len(rs) - top}) | {scope} | {agree_s} | "
                f"{sum(r['overlap'] for r in rs)} | {np.mean([r['drl_s'] for r in rs]):.2f} s |")

    ks = sorted({r["literals"] for r in rows})
    return "\n".join(["| literals | rules (top / seeded) | scope windows | each inside the other's "
                      "90 % CI | CIs overlap | DRLearner time per rule |",
                      "| ---: | ---: | ---: | ---: | ---: | ---: |",
                      *(line(str(k), [r for r in rows if r["literals"] == k]) for k in ks),
                      line("**all**", rows)])


def report(args, units, cfg, run: EngineRun, rows: list[dict], speed: dict,
           peak_engine: float, peak_all: float, planted_rank: int) -> str:
    """The section: method, the stage's phases, the goal, DRLearner beside ours by the rules'
    literal count, a reading; every figure from this run."""
    s = run.seconds
    est = cfg.estimator
    sizes = [len(v) for v in units.values]
    days = (int(units.ts_ms.max()) - int(units.ts_ms.min())) / 86_400_000
    cpu, load = run.extra["cpu"], run.extra["load"]
    phases = [k for k in s if k != "total"]
    mix = ", ".join(f"{speed['mix'].get(k, 0):,} of {k}" for k in (1, 2, 3))
    eligible = int((run.scores["eligible"] & (run.scores["sign"] != 0)).sum())
    goal_wall = "met" if s["total"] < 60 else "NOT met"
    goal_cpu = "met" if cpu["total"] < 60 else "NOT met"
    loads = " -> ".join(f"{la[0]:.2f}" for la in load)
    full = args.drl_fraction >= 1.0
    drl_rows = ("Both see every window of the scope." if full else
                f"DRLearner sees a seeded {args.drl_fraction:.0%} subsample of each scope (in time "
                "order), so its interval is wider; ours uses every window.")
    lower = "" if full else f"; both lower bounds: DRLearner saw {args.drl_fraction:.0%} of each scope"
    shape = (f"shaped as the budget (learning.yaml quantizer.features plus "
             f"{', '.join(BUDGET_EXTRA)}; `na` included; {min(sizes)}-{max(sizes)} values, "
             f"{units.n_literals} literals)"
             if args.shape == "packaged" else
             f"({min(sizes)}-{max(sizes)} values, {units.n_literals} literals)")
    role = {"f0=c": "The planted", "f2=c": "the confounder"}
    named = "; ".join(f"{role[r['rule']]} {_versus(r)}" for r in rows if r["rule"] in role)
    apart = [r for r in rows if not r["agree"]]
    outside = ("Outside each other's CI: " + "; ".join(_versus(r) for r in apart) + "."
               if apart else "Every estimate is inside the other's CI.")
    method = wrap(
        f"`python -m bench lessons`: {units.n:,} generated windows of one detector over {days:.1f} "
        f"days (seed {args.seed}), {len(sizes)} categorical features "
        f"{shape}. Planted: f0 = c adds +{PLANTED_BPS:g} bps; decoy f1 copies f0 "
        f"{DECOY_COPY:.0%} of the time and does nothing; confounder f2 = c adds "
        f"+{CONFOUNDER_BPS:g} bps and raises P(f0=c) from 0.15 to 0.45; noise sd "
        f"{NOISE_BPS:g} bps. The stage as `search_detector` runs it (learning.yaml as "
        f"packaged{args.cfg_note}): cross-fitted nuisances ({est.folds} time-blocked folds, "
        f"max_fit_rows {est.max_fit_rows:,}), AIPW pseudo-outcomes, grouped scope sums, every "
        f"conjunction of <= {cfg.search.max_literals} literals scored, then the hour-blocked "
        f"bootstrap ({cfg.bootstrap.resamples} resamples) of the top {cfg.search.top_k}.")
    goal = wrap(
        f"Goal (docs/learning.md): the stage in < 60 s: **{cpu['total']:.1f} s CPU ({goal_cpu})**, "
        f"{s['total']:.1f} s wall ({goal_wall}; load average {loads} on a shared 2-core "
        f"machine). {run.rules_searched:,} rules searched ({mix} literals), {eligible:,} eligible "
        f"and signed; the planted f0=c ranks {planted_rank}. Peak RSS {peak_engine:,.0f} MB "
        f"after the stage, {peak_all:,.0f} MB with DRLearner.")
    peer = wrap(
        f"Against econml {_econml_version()} `DRLearner`, fitted per rule on {len(rows)} rules "
        "(the top 10 by score, 10 drawn with seed 3 among the other eligible signed rules) at "
        "the rule's primary split (its weakest literal as T within the scope of the others; W = "
        "one-hot of the features the rule does not name; the search's "
        f"L2 logit propensity, C={est.propensity_c:g}, `Ridge(alpha={est.ridge_alpha:g})` "
        f"outcome, `min_propensity={est.propensity_clip[0]:g}`, the same {est.folds} "
        "time-blocked folds; ATE and 90 % interval by `ate_interval(alpha=0.1)`). Ours: the DR "
        f"estimate and the rule's 90 % hour-blocked bootstrap CI. {drl_rows}")
    reading = wrap(
        f"Reading. {named}. {outside} {disagreement_note(rows, sizes[2])} Refitting DRLearner "
        f"for each of the {run.rules_searched:,} rules: ~{speed['drl_all_plain_s'] / 3600:.1f} h "
        f"at its mean (**{speed['ratio_plain']:,.0f}x** our {s['total']:.1f} s), "
        f"~{speed['drl_all_weighted_s'] / 3600:.1f} h by the searched mix of literal counts "
        f"(**{speed['ratio_weighted']:,.0f}x**){lower}.")
    return f"""## Lessons stage at scale

{method}

| | {' | '.join(f'`{k}`' for k in phases)} | **total** |
| --- |{' ---: |' * (len(phases) + 1)}
| wall | {' | '.join(f'{s[k]:.2f} s' for k in phases)} | **{s['total']:.2f} s** |
| CPU | {' | '.join(f'{cpu[k]:.2f} s' for k in phases)} | **{cpu['total']:.2f} s** |

{goal}

{peer}

{by_literals(rows)}

{reading}
"""


def _econml_version() -> str:
    import econml

    return econml.__version__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="windows")
    ap.add_argument("--shape", choices=("packaged", "synthetic"), default="packaged",
                    help="feature value counts: the packaged vocabulary's, or 3-4 synthetic")
    ap.add_argument("--features", type=int, default=15, help="with --shape synthetic")
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drl-fraction", type=float, default=1.0,
                    help="share of each rule's scope DRLearner is fitted on")
    ap.add_argument("--max-fit-rows", type=int, default=None,
                    help="override estimator.max_fit_rows (recorded in the report)")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args, _ = ap.parse_known_args()  # `python -m bench quick` passes every benchmark the same flags
    from lotus_core.learning.config import load_learning

    cfg = load_learning()
    args.cfg_note = ""
    if args.max_fit_rows is not None:
        cfg = cfg.model_copy(update={"estimator": cfg.estimator.model_copy(
            update={"max_fit_rows": args.max_fit_rows})})
        args.cfg_note = f", except estimator.max_fit_rows = {args.max_fit_rows:,}"
    if args.shape == "packaged":
        sizes, args.vocab_names = packaged_sizes()
    else:
        sizes, args.vocab_names = feature_sizes(args.features), []
    print(f"rules of <= 3 literals: {rule_count(sizes):,} ({len(sizes)} features, "
          f"values {sizes})", file=sys.stderr, flush=True)
    t = time.perf_counter()
    units = generate(args.n, len(sizes), args.days, args.seed, sizes=sizes)
    gen_s = time.perf_counter() - t
    print(f"generated {units.n:,} windows in {gen_s:.1f} s", file=sys.stderr, flush=True)
    run = run_engine(units, cfg)
    peak_engine = _peak_mb()
    print(f"rules searched: {run.rules_searched:,}", file=sys.stderr)
    print("lessons stage: " + ", ".join(f"{k} {v:.2f} s" for k, v in run.seconds.items())
          + f"; peak RSS {peak_engine:,.0f} MB", file=sys.stderr, flush=True)
    sc = run.scores
    ranked = sc[sc["eligible"] & (sc["sign"] != 0)].sort_values("score", ascending=False,
                                                                 kind="stable")
    planted = units.literal_index("f0", "c")
    hits = np.flatnonzero((ranked["l0"].to_numpy() == planted) & (ranked["l1"].to_numpy() < 0))
    planted_rank = int(hits[0]) + 1 if len(hits) else -1
    picked = pick_rules(units, run)
    rows = compare(units, run, picked, cfg, args.drl_fraction)
    speed = speed_ratio(run, rows)
    peak_all = _peak_mb()
    body = report(args, units, cfg, run, rows, speed, peak_engine, peak_all, planted_rank)
    if not args.no_write:
        write_section("lessons", body)
        agree = sum(r["agree"] for r in rows)
        headline("lessons", f"{run.extra['cpu']['total']:.1f} s CPU "
                 f"({run.seconds['total']:.1f} s wall) for {units.n:,} windows; inside "
                 f"DRLearner's CI on {agree} of {len(rows)} rules; a DRLearner fit per searched "
                 f"rule ~{speed['ratio_plain']:,.0f}x slower", "one run (no spread measured)")
    print(body)


if __name__ == "__main__":
    main()
