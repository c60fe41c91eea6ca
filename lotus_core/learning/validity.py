"""Measuring the learner against planted truth (`lotus validate`, bench/validity.py).

Each trial is one seed of one `WindowSpec` (lotus_core.synth.windows) through the real
learning code, judged against the planted truth:

- `estimate_trial`: the planted rule's DR, IPW and naive estimates with their 90 % hour-
  bootstrap intervals (bias and coverage of each estimator, nuisances fitted as every night);
- `night_trial`: one night of `learn` on the whole frame: did the planted rule (or any rule
  naming the planted literals) activate, and did anything else (`night_dr_trial`: both
  this and `estimate_trial` on one seed);
- `watchdog_trial`: every night of a run whose effect persists or vanishes, with the watchdog
  switched off, recording the newest day's out-of-sample estimate of the planted lesson from
  its activation on, so any watchdog rule can be replayed on the same evidence.

Trials are independent and deterministic for (spec, seed); `run_trials` spreads them over
processes and reports progress.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta

from lotus_core.learning import pipeline
from lotus_core.learning.breaks import periods
from lotus_core.learning.config import LearningConfig
from lotus_core.learning.estimator import fit_nuisances, pseudo_outcomes
from lotus_core.learning.evaluate import hour_weights, rule_detail, widen
from lotus_core.learning.hetero import continuous_sources, is_continuous
from lotus_core.learning.lessons import POOLED, cusum_step, detector_units, rule_lits
from lotus_core.signals.config import ContextConfig
from lotus_core.signals.context import parse_cond_key
from lotus_core.synth.windows import PLANTED, WindowSpec, planted_truth, window_frame
from lotus_core.time import DAY_NS

KINDS = ("dr", "ipw", "reg", "naive")


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a proportion k / n."""
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _split_draws(y: np.ndarray, psi: np.ndarray | None, treat: np.ndarray, mask: np.ndarray,
                 hour_idx: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """(point, bootstrap draws) of a split: the mean of `psi` over the scope, or (psi None)
    the naive difference of mean y, treated minus control, within the scope."""
    h = w.shape[1]

    def sums(sel: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.bincount(hour_idx[sel], weights=vals[sel], minlength=h),
                np.bincount(hour_idx[sel], minlength=h).astype(np.float64))

    with np.errstate(invalid="ignore", divide="ignore"):
        if psi is not None:
            s, n = sums(mask, psi)
            return float(s.sum() / max(n.sum(), 1.0)), (w @ s) / (w @ n)
        s1, n1 = sums(mask & treat, y)
        s0, n0 = sums(mask & ~treat, y)
        point = float(s1.sum() / max(n1.sum(), 1) - s0.sum() / max(n0.sum(), 1))
        return point, (w @ s1) / (w @ n1) - (w @ s0) / (w @ n0)


def _iid_se(y: np.ndarray, psi: np.ndarray | None, treat: np.ndarray,
            mask: np.ndarray) -> float:
    if psi is not None:
        return float(psi[mask].std(ddof=1) / np.sqrt(max(mask.sum(), 1)))
    a, b = y[mask & treat], y[mask & ~treat]
    return float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))


def estimate_trial(spec: WindowSpec, seed: int, *, cfg: LearningConfig,
                   base: ContextConfig) -> dict[str, Any]:
    """The planted rule's DR / IPW / naive estimates and 90 % intervals on one seed (the
    rule's weakest split for each estimator, as the learner judges a rule). `cfg` and
    `base`: what every trial of a run learns with, loaded once by its entry point."""
    frame = window_frame(spec, seed)
    tw = pipeline.training_window(frame, cfg, base)
    m = (tw.frame["detector_id"] == PLANTED).to_numpy()
    units = detector_units(tw.frame[m], tw.lits[m], tw.quantizer)
    lits = rule_lits(units, spec.planted_rule)
    assert lits is not None
    nz = fit_nuisances(units, cfg.estimator, period=periods(units, cfg.estimator))
    hour_idx, w = hour_weights(units, cfg.bootstrap.resamples, cfg.bootstrap.seed)
    q = (1 - cfg.bootstrap.ci) / 2
    truth = planted_truth(spec)
    out: dict[str, Any] = {"seed": seed, "truth": truth, "n": units.n}
    detail = rule_detail(units, nz, lits, hour_idx, w, cfg.bootstrap.ci)
    out.update(clipped_share=detail.clipped_share, ess=detail.ess, dr_ipw_z=detail.dr_ipw_z)
    for kind in KINDS:
        points, draws, iid = [], [], []
        for lit in lits:
            scope = tuple(x for x in lits if x != lit)
            mask = units.known(lit)  # as the learner judges a split (evaluate.rule_detail)
            for x in scope:
                mask &= units.codes[:, int(units.literal_feature[x])] == \
                    int(units.literal_value[x])
            treat = units.codes[:, int(units.literal_feature[lit])] == \
                int(units.literal_value[lit])
            psi = None if kind == "naive" else \
                pseudo_outcomes(units, nz, np.array([lit]), kind=kind)[:, 0]
            p, d = _split_draws(units.y, psi, treat, mask, hour_idx, w)
            points.append(p)
            draws.append(d)
            iid.append(_iid_se(units.y, psi, treat, mask))
        j = int(np.argmin(points))  # the planted effects are positive: the weakest split
        if kind == "dr":  # the product's own interval
            lo, hi = detail.ci_lo, detail.ci_hi
        else:  # the same construction: percentile, no narrower than the normal one
            d = np.vstack(draws).min(axis=0)
            d = d[np.isfinite(d)]
            lo, hi = np.quantile(d, [q, 1 - q])
            lo, hi, _ = widen(points[j], 1, float(lo), float(hi), float("nan"),
                              max(float(np.std(d, ddof=1)), iid[j]), 1 - q)
        out.update({f"{kind}": points[j], f"{kind}_lo": float(lo), f"{kind}_hi": float(hi),
                    f"{kind}_covers": bool(lo <= truth <= hi)})
    return out


def _names_planted(rule: str, planted_rule: str) -> bool:
    if is_continuous(rule):  # thresholds on the inputs: named by the inputs' binned features
        return {f for f, _ in parse_cond_key(planted_rule)} <= continuous_sources(rule)
    return set(parse_cond_key(planted_rule)) <= set(parse_cond_key(rule))


def night_trial(spec: WindowSpec, seed: int, *, cfg: LearningConfig,
                base: ContextConfig) -> dict[str, Any]:
    """One night of learning on the whole frame (the newest day is the night's day)."""
    frame = window_frame(spec, seed)
    day = sorted(frame["date"].unique())[-1]
    tw = pipeline.training_window(frame, cfg, base)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), day, cfg)
    act = lessons[lessons["state"] == "active"]
    mine = act[act["detector_id"] == PLANTED]
    found = [r for r in mine["rule"] if _names_planted(r, spec.planted_rule)]
    planted_row = lessons[(lessons["detector_id"] == PLANTED)
                          & (lessons["rule"] == spec.planted_rule)]
    named = act[[_names_planted(r, spec.planted_rule) for r in act["rule"]]] \
        if len(act) else act
    pooled = named[named["detector_id"] == POOLED]
    own = named[(named["detector_id"] != POOLED) & (named["sign"] > 0)]
    pooled_row = lessons[(lessons["detector_id"] == POOLED)
                         & (lessons["rule"] == spec.planted_rule)]
    return {
        "seed": seed, "truth": planted_truth(spec), "any_active": bool(len(act)),
        "n_active": int(len(act)), "active_rules": [f"{d}:{r}" for d, r in
                                                   zip(act["detector_id"], act["rule"],
                                                       strict=True)],
        "found": bool(found) and bool((mine.loc[mine["rule"].isin(found), "sign"] > 0).all()),
        "found_rules": found,
        "planted_gates": str(planted_row["gates"].iloc[0]) if len(planted_row) else "unsearched",
        "refused_overlap": int(lessons["overlap"].notna().sum()),
        # a market-wide effect (WindowSpec.shared): the pooled lesson (detector `*`) naming
        # it, positive, and how many detectors' own lessons name it
        "found_pooled": bool(len(pooled)) and bool((pooled["sign"] > 0).all()),
        "own_detectors": int(own["detector_id"].nunique()),
        "pooled_gates": str(pooled_row["gates"].iloc[0]) if len(pooled_row) else "unsearched",
    }


def night_dr_trial(spec: WindowSpec, seed: int, *, cfg: LearningConfig,
                   base: ContextConfig) -> dict[str, Any]:
    """`night_trial` and `estimate_trial` on the same seed (so the same frame): did the night
    find the planted rule, and the rule's DR estimate and interval whether it did or not."""
    return {**estimate_trial(spec, seed, cfg=cfg, base=base),
            **night_trial(spec, seed, cfg=cfg, base=base)}


def watchdog_trial(spec: WindowSpec, seed: int, start_night: int = 3, *,
                   cfg: LearningConfig, base: ContextConfig) -> dict[str, Any]:
    """The watchdog's evidence on the planted lesson, night by night from `start_night` (as
    if it had been activated the night before): each night's window uplift (cross-fitted DR,
    as the lessons stage re-estimates it) and the newest day's out-of-sample (uplift, sd,
    support, p05) from the lessons stage's own `Watchdog`, so that any watchdog rule can be
    replayed on the same evidence (`replay`)."""
    from lotus_core.learning.lessons import Watchdog

    frame = window_frame(spec, seed)
    frame = frame[frame["detector_id"] == PLANTED].reset_index(drop=True)
    days = sorted(frame["date"].unique())
    series: list[tuple[float, float, float, int, float]] = []
    for i in range(start_night, len(days)):
        win = frame[frame["date"].isin(days[max(0, i - cfg.window_days + 1):i + 1])]
        tw = pipeline.training_window(win, cfg, base)
        units = detector_units(tw.frame, tw.lits, tw.quantizer)
        lits = rule_lits(units, spec.planted_rule)
        assert lits is not None
        hour_idx, w = hour_weights(units, cfg.bootstrap.resamples, cfg.bootstrap.seed)
        d = rule_detail(units, fit_nuisances(units, cfg.estimator,
                                             period=periods(units, cfg.estimator)),
                        lits, hour_idx, w,
                        cfg.bootstrap.ci)
        newest = int(pd.Timestamp(days[i], tz="UTC").value // DAY_NS)
        oos = Watchdog(cfg, newest).check(units, lits)
        assert oos is not None
        up, p05, sup, sd = oos
        series.append((d.uplift, up, sd, sup, p05))
    return {"seed": seed, "start_night": start_night, "vanish": spec.vanish_from_day,
            "series": series}


def replay(series: Sequence[tuple[float, float, float, int, float]], rule: str, h: float,
           min_support: int) -> int | None:
    """Index (0 = the first night after activation) of the night a watchdog rule would
    sunset the lesson on this evidence, or None."""
    stat = 0.0
    for t, (uplift, up, sd, sup, p05) in enumerate(series):
        if sup < min_support:
            return t
        if rule == "first_fail":
            if not (np.isfinite(p05) and p05 > 0):
                return t
            continue
        stat = cusum_step(stat, 1, uplift, up, sd)
        if stat > h:
            return t
    return None


@dataclass(frozen=True)
class Task:
    kind: str  # "estimate" | "night" | "night_dr" | "watchdog"
    label: str
    spec: WindowSpec
    seed: int
    cfg: LearningConfig  # the run's learning.yaml (its entry point's)
    base: ContextConfig  # the run's scoring.yaml context


_KINDS: dict[str, Callable[..., dict[str, Any]]] = {
    "estimate": estimate_trial, "night": night_trial, "night_dr": night_dr_trial,
    "watchdog": watchdog_trial}


def _run(task: Task) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = _KINDS[task.kind](task.spec, task.seed, cfg=task.cfg, base=task.base)
    return {**out, "kind": task.kind, "label": task.label,
            "seconds": time.perf_counter() - t0}


def run_trials(tasks: Iterable[Task], processes: int = 2,
               progress: Callable[[int, int, dict[str, Any]], None] | None = None
               ) -> list[dict[str, Any]]:
    """Every task's result, in task order, spread over `processes` worker processes."""
    tasks = list(tasks)
    results: list[dict[str, Any]] = []
    if processes <= 1:
        for i, t in enumerate(tasks):
            results.append(_run(t))
            if progress:
                progress(i + 1, len(tasks), results[-1])
        return results
    with ProcessPoolExecutor(processes) as pool:
        for i, r in enumerate(pool.map(_run, tasks, chunksize=1)):
            results.append(r)
            if progress:
                progress(i + 1, len(tasks), r)
    return results


def print_progress(done: int, total: int, result: dict[str, Any]) -> None:
    print(f"\r[{done}/{total}] {result['kind']} {result['label']} seed {result['seed']} "
          f"({result['seconds']:.1f} s)   ", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def with_days(spec: WindowSpec, days: int, windows_per_day: int) -> WindowSpec:
    return replace(spec, days=days, windows_per_day=windows_per_day)
