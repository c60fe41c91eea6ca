"""Nightly lessons: search every detector's rules, estimate the best ones doubly robustly,
gate them, and move each lesson through its lifecycle (docs/learning.md).

proposed -> active -> sunset -> archived. A candidate becomes ACTIVE when its bootstrap
p05 > 0 (in its direction), its support and daily stability clear the minimums, it beats
the night's weighted Bonferroni bar for its length (|uplift| / max(boot_sd, iid SE) >=
z_crit[k]: family_alpha's share for k-literal rules over both signs of every k-literal
rule the search could activate that night, all detectors; `z_crits`), the window holds
enough days and hours, and
it does not overlap an active lesson it cannot beat (champion-challenger: promoted only
when the CIs separate). An active lesson is SUNSET when it fails on the window, its TTL
ends, or the watchdog finds p05 <= 0 (or too little support) on the newest out-of-sample
day; sunset lessons are ARCHIVED the next night and forgotten after a TTL, when their
rule may be learned again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.special import ndtri  # scipy.stats' norm.ppf, without importing scipy.stats

from lotus_core.arrays import small_int
from lotus_core.columns import STR
from lotus_core.learning.anytime import night_alpha
from lotus_core.learning.breaks import window_break
from lotus_core.learning.config import LearningConfig
from lotus_core.learning.estimator import Nuisances, fit_nuisances, pseudo_outcomes
from lotus_core.learning.evaluate import RuleDetail, hour_weights, rule_detail, rule_details
from lotus_core.learning.hetero import Moderators, is_continuous, moderators
from lotus_core.learning.hetero import search as hetero_search
from lotus_core.learning.search import enumerate_rules, names_na, scope_sums, score_rules
from lotus_core.learning.selective import with_selective
from lotus_core.learning.units import UnitSet, encode, rule_mask
from lotus_core.malloc import release_free_heap
from lotus_core.time import DAY_NS

LIVE = ("proposed", "active")
# the detector id of a pooled lesson: every detector's windows searched together (the
# priors' wildcard detector; docs/learning.md, "Pooled lessons")
POOLED = "*"
STATES = ("proposed", "active", "sunset", "archived")


def lesson_id(detector_id: str, rule: str, horizon_s: int) -> str:
    digest = hashlib.sha256(f"{detector_id}|{rule}|{horizon_s}".encode()).hexdigest()
    return "L" + digest[:15]


class LiteralSpace(Protocol):
    """What the lessons need of a quantiser: the features, each one's values, a JSON form.
    The signal layer's `Quantizer` is one; the Trader's execution quantiser another."""

    @property
    def features(self) -> tuple[str, ...]: ...

    @property
    def values(self) -> dict[str, tuple[str, ...]]: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Outcome:
    """Which frame columns the lessons learn from: `y` (the effect is in its units, e.g. net
    bps), `hit` (0/1) and the group column (one search per value: a detector, or the
    Trader's one group), and which features may be treatments (None: all)."""

    y: str = "net_ret_bps"
    hit: str = "hit"
    group: str = "detector_id"
    treatments: tuple[str, ...] | None = None


SIGNAL_OUTCOME = Outcome()


def unit_columns(frame: pd.DataFrame, outcome: Outcome = SIGNAL_OUTCOME) -> list[str]:
    """The frame's columns a unit set is made of (`detector_units`): a caller that takes some
    windows' rows takes these alone, not the window's every column."""
    return [c for c in (outcome.y, outcome.hit, "ts_ms") if c in frame.columns]


def detector_units(frame: pd.DataFrame, lits: pd.DataFrame, q: LiteralSpace,
                   outcome: Outcome = SIGNAL_OUTCOME, y: np.ndarray | None = None) -> UnitSet:
    """The frame's windows as units; `y` (when given) instead of the frame's outcome."""
    missing = [c for c in (outcome.y, outcome.hit, "ts_ms") if c not in frame.columns]
    if missing:
        raise ValueError(f"learning frame lacks the outcome columns {missing}")
    return UnitSet(q.features, tuple(q.values[f] for f in q.features),
                   encode(lits, q.features, q.values),
                   frame[outcome.y].to_numpy(dtype=np.float64) if y is None else y,
                   frame[outcome.hit].to_numpy(dtype=np.float64),
                   frame["ts_ms"].to_numpy(dtype=np.int64), outcome.treatments)


def split_key(key: str) -> tuple[tuple[str, str], ...]:
    """`a=x&b=y` -> (("a", "x"), ("b", "y")) sorted, without judging the names (the unit set
    they are looked up in does: a lesson's features need not be the signal layer's)."""
    if key in ("*", ""):
        return ()
    return tuple(sorted(tuple(part.split("=", 1)) for part in key.split("&")))  # type: ignore[misc]


def rule_key(units: UnitSet, lits: tuple[int, ...]) -> str:
    """The canonical cond_key of a rule: literals sorted by name (`*` when empty)."""
    parts = sorted(units.literal_name(x) for x in lits)
    return "&".join(f"{k}={v}" for k, v in parts) if parts else "*"


def rule_lits(units: UnitSet, key: str) -> tuple[int, ...] | None:
    """Flat literal ids of a cond_key, or None when it names a feature not quantised."""
    out = []
    for name, value in split_key(key):
        if name not in units.features or value not in units.values[units.features.index(name)]:
            return None
        out.append(units.literal_index(name, value))
    return tuple(sorted(out))


@dataclass
class Searched:
    detector_id: str
    hours: int  # distinct hours of the windows searched (the gates' minimum)
    rules_searched: int  # every rule enumerated
    # rules of 1, 2, 3 literals in the testing family: eligible by design (`family_counts`)
    family: tuple[int, int, int]
    # rule key -> (literal ids, detail, mdl, bins)
    details: dict[str, tuple[tuple[int, ...], RuleDetail, float, float]]
    in_family: dict[str, bool]  # per detailed rule: is it one of `family`?
    period_from: str | None = None  # the window's break: nuisances fitted per period
    # continuous rules (hetero.py): their unit set (literal names; the whole window's, for
    # the out-of-sample checks) and the hours they were judged on, by rule key
    rule_units: dict[str, UnitSet] | None = None
    rule_hours: dict[str, int] | None = None


def family_counts(scores: pd.DataFrame) -> tuple[int, int, int]:
    """Rules of 1, 2 and 3 literals the search could activate: `eligible` (support, control
    arm, no na literal, monotone order, a treatment split), a function of the literals
    alone, never of the outcome, so the family is fixed before any rule is estimated and
    a union bound over it holds. Rules outside it (too rare, naming na) can never be
    active, so they spend no error budget."""
    n = np.bincount(scores.loc[scores["eligible"], "n_literals"].to_numpy(dtype=np.int64),
                    minlength=4)
    return int(n[1]), int(n[2]), int(n[3])


def search_detector(units: UnitSet, cfg: LearningConfig, keep: list[str],
                    mods: Moderators | None = None) -> Searched:
    """Score every rule, then the bootstrap detail of the top_k eligible ones plus `keep`
    (the detector's live lessons, re-estimated every night); with `mods` (the windows'
    continuous moderators, `hetero.enabled`) the continuous rules too (hetero.py)."""
    brk = window_break(units, cfg.estimator)  # the market changed: nuisances per period
    nz = fit_nuisances(units, cfg.estimator, period=None if brk is None else brk.period(units))
    release_free_heap()  # each phase's freed temporaries (`lotus_core.malloc`), before the next
    # psi a block of literals at a time, and again for the detailed rules' literals: the
    # (n x L) matrix held whole is ~110 MB at 250,000 windows (each column is computed
    # alone: the same values either way)
    sums = scope_sums(units, lambda lits, rows: pseudo_outcomes(units, nz, lits, rows=rows))
    rules = enumerate_rules(units, cfg.search.max_literals)
    release_free_heap()
    scores = score_rules(units, sums, rules, cfg.search)
    del sums
    release_free_heap()
    elig = scores[scores["eligible"] & (scores["sign"] != 0)]
    top = elig.sort_values("score", ascending=False, kind="stable").head(4 * cfg.search.top_k)
    wanted: dict[str, tuple[int, ...]] = {}
    ranked = sorted(((-float(r.score), rule_key(units, lits), lits) for r, lits in
                     ((r, tuple(int(x) for x in (r.l0, r.l1, r.l2) if x >= 0))
                      for r in top.itertuples())))
    for _, key, lits in ranked[:cfg.search.top_k]:
        wanted[key] = lits
    in_family = dict.fromkeys(wanted, True)
    kept = {key: lits for key in keep if (lits := rule_lits(units, key)) is not None}
    for (key, lits), ok in zip(kept.items(), _eligible(scores, list(kept.values())),
                               strict=True):
        wanted.setdefault(key, lits)
        in_family.setdefault(key, ok)
    hour_idx, weights = hour_weights(units, cfg.bootstrap.resamples, cfg.bootstrap.seed)
    details = {}
    keys = sorted(wanted)
    # every rule's splits made together, a feature at a time (the heap handed back after each)
    for key, det in zip(keys, rule_details(units, nz, [wanted[k] for k in keys], hour_idx,
                                           weights, cfg.bootstrap.ci, each=release_free_heap),
                        strict=True):
        lits = wanted[key]
        bins = float(sum(np.log2(len(units.values[int(units.literal_feature[x])]))
                         for x in lits))
        details[key] = (lits, det, cfg.search.lambda_mdl * (len(lits) + bins), bins)
    family = family_counts(scores)
    out = Searched("", int(weights.shape[1]), len(scores), family, details, in_family,
                   None if brk is None else brk.first_date)
    if mods is not None:
        found = hetero_search(units, mods, cfg, [k for k in keep if is_continuous(k)])
        out.family = (family[0] + found.family_extra[0], family[1] + found.family_extra[1],
                      family[2] + found.family_extra[2])
        out.rule_units, out.rule_hours = {}, {}
        for key, j in found.judged.items():
            details[key] = (j.lits, j.detail, j.mdl, j.bins)
            in_family[key] = True
            out.rule_units[key], out.rule_hours[key] = j.window, j.hours
    return out


def _eligible(scores: pd.DataFrame, rules: list[tuple[int, ...]]) -> list[bool]:
    """Whether each rule (its sorted literal ids) is an eligible row of `scores` (literal
    ids l0, l1, l2, -1 padded): rows compared as numbers, not a set of every eligible
    rule's tuple made row by row (a third of a second a night)."""
    if not rules:
        return []
    got = scores.loc[scores["eligible"], ["l0", "l1", "l2"]].to_numpy(dtype=np.int64)
    want = np.array([(*r, -1, -1, -1)[:3] for r in rules], dtype=np.int64)
    base = max(int(got.max(initial=-1)), int(want.max(initial=-1))) + 2

    def code(a: np.ndarray) -> np.ndarray:
        return ((a[:, 0] + 1) * base + a[:, 1] + 1) * base + a[:, 2] + 1

    hit = np.isin(code(want), code(got))
    return [bool(h) and len(r) <= 3 for r, h in zip(rules, hit, strict=True)]


def bqs(cfg: LearningConfig, d: RuleDetail, mdl: float) -> float:
    """Braid Quality Score = a*|uplift| - b*MDL - c*boot_sd + d*log(1 + support)."""
    sd = _sd(d) if np.isfinite(_sd(d)) else abs(d.uplift) + 1.0
    return (cfg.bqs.a * abs(d.uplift) - cfg.bqs.b * mdl - cfg.bqs.c * sd
            + cfg.bqs.d * float(np.log1p(d.support)))


def z_crits(cfg: LearningConfig, family: tuple[int, int, int],
            scale: float = 1.0) -> tuple[float, float, float]:
    """The bar |uplift| / SE must clear, per rule length k = 1, 2, 3 (weighted Bonferroni):
    k-literal rules share alpha_k = family_alpha * length_alpha[k] over both signs of the
    night's `family[k]` such rules, z_k = Phi^-1(1 - alpha_k / (2 m_k)). The union bound over
    every (rule, sign) keeps the night's family-wise error <= sum alpha_k <= family_alpha,
    while a short rule's bar no longer grows with the (far more numerous) long rules. A
    length with no share can never activate (infinite bar). `scale` is the share of
    family_alpha this family may spend (the pooled family and the per-detector families
    split it: `pooled_split`)."""
    out = []
    for share, m in zip(cfg.activation.length_alpha, family, strict=True):
        a = night_alpha(cfg.activation) * share * scale  # a season's share (anytime.py)
        out.append(float(-ndtri(a / (2 * max(1, m)))) if a > 0 else float("inf"))
    return out[0], out[1], out[2]


def _sd(d: RuleDetail) -> float:
    """The standard error a rule is judged by: the hour-blocked bootstrap's, never below the
    i.i.d. one (few hours make the bootstrap optimistic)."""
    return max(d.boot_sd, d.se_iid)


def _z(d: RuleDetail) -> float:
    sd = _sd(d)
    return abs(d.uplift) / sd if np.isfinite(sd) and sd > 0 else 0.0


def overlap_failures(cfg: LearningConfig, d: RuleDetail) -> list[str]:
    """Why a rule's treated and control windows are not comparable (empty: they are)."""
    out = []
    if d.clipped_share > cfg.overlap.max_clipped_share:
        out.append("overlap:clipped")
    if d.ess < cfg.overlap.min_ess:
        out.append("overlap:ess")
    if np.isnan(d.dr_ipw_z):  # they differ, and no spread says by how much
        out.append("overlap:dr_ipw_undefined")
    elif d.dr_ipw_z > cfg.overlap.max_dr_ipw_z:
        out.append("overlap:dr_ipw_disagree")
    return out


def gate_failures(cfg: LearningConfig, d: RuleDetail, zc: float, hours: int,
                  names_na: bool = False) -> list[str]:
    """Why a rule may not be active (empty: it may)."""
    out = []
    if names_na and not cfg.search.na_literals:
        out.append("na_literal")
    if d.sign == 0:
        out.append("splits_disagree")
    if not (np.isfinite(d.p05) and d.p05 > 0):
        out.append("p05_le_0")
    if d.support < cfg.activation.min_support:
        out.append("support_below_min")
    if d.stability < cfg.activation.min_stability:
        out.append("unstable")
    if _z(d) < zc:
        out.append("not_significant_after_search")
    if d.days < cfg.activation.min_days:
        out.append("too_few_days")
    if hours < cfg.activation.min_hours:
        out.append("too_few_hours")
    return out + overlap_failures(cfg, d)


def _overlap(a: str, b: str) -> bool:
    """Two rules overlap when they can hold together and share a literal."""
    la, lb = dict(split_key(a)), dict(split_key(b))
    if any(lb.get(k, v) != v for k, v in la.items()):
        return False
    return bool(set(la.items()) & set(lb.items()))


def _separated(challenger: dict, champion: dict) -> bool:
    if challenger["sign"] > 0:
        return challenger["ci_lo"] > champion["ci_hi"]
    return challenger["ci_hi"] < champion["ci_lo"]


class Watchdog:
    """Out-of-sample checks on the newest day: nuisances fitted once per detector on the
    days before it (of its own period, when the window broke), then any number of rules
    evaluated on that day alone."""

    def __init__(self, cfg: LearningConfig, newest_day: int) -> None:
        self.cfg, self.newest = cfg, newest_day
        self._cache: dict[int, tuple[UnitSet, Nuisances] | None] = {}

    def _fit(self, units: UnitSet) -> tuple[UnitSet, Nuisances] | None:
        key = id(units)
        if key not in self._cache:
            is_new = units.day == self.newest
            if not is_new.any() or is_new.all():
                self._cache[key] = None
            else:
                self._cache[key] = self._newest(units, is_new)
        return self._cache[key]

    def _newest(self, units: UnitSet, is_new: np.ndarray) -> tuple[UnitSet, Nuisances]:
        """The newest day's units and nuisances fitted on the earlier days of its own period
        (the window's break, lotus_core.learning.breaks: a market that changed mid-window
        is not scored with the model of before); when the newest day starts a period of its
        own, cross-fitted over its own time folds, as the search fits that period."""
        est = self.cfg.estimator
        new = units.take(np.flatnonzero(is_new))
        brk = window_break(units, est)
        # lazy: a check asks its rule's few features, so only theirs are fitted
        if brk is not None and brk.day >= self.newest:
            return new, fit_nuisances(new, est, lazy=True)
        period = None if brk is None else brk.period(units)
        nz = fit_nuisances(units, est, fold=is_new.astype(np.int64), only=(1,), period=period,
                           lazy=True)
        prop = nz.prop.take(np.flatnonzero(is_new), new)
        return new, Nuisances(nz.fold[is_new], prop, nz.beta_y, nz.base_y[is_new],
                              nz.beta_hit, nz.base_hit[is_new], nz.clip)

    def check(self, units: UnitSet,
              lits: tuple[int, ...]) -> tuple[float, float, int, float] | None:
        """(uplift, p05, support, sd) of a rule on the newest day; None: no earlier day."""
        fitted = self._fit(units)
        if fitted is None:
            return None
        return _oos(self.cfg, *fitted, lits)


def _oos(cfg: LearningConfig, new: UnitSet, sub: Nuisances,
         lits: tuple[int, ...]) -> tuple[float, float, int, float]:
    support = int(rule_mask(new, lits).sum())
    if support == 0:
        return (0.0, float("nan"), 0, float("nan"))
    hour_idx, weights = hour_weights(new, cfg.watchdog.resamples, cfg.bootstrap.seed)
    d = rule_detail(new, sub, lits, hour_idx, weights, cfg.bootstrap.ci)
    # the signed mean of the primary split (rule_detail's uplift is zeroed when splits disagree)
    return (d.primary_tau, d.p05, support, _sd(d))


def cusum_step(previous: float, sign: int, uplift: float, oos_uplift: float,
               oos_sd: float) -> float:
    """One day of the watchdog's CUSUM: the log-likelihood ratio of "the effect is gone"
    (tau = 0) against "it holds as estimated" (tau = |uplift|) for the day's out-of-sample
    estimate (normal, sd `oos_sd`), added to yesterday's statistic and floored at 0. A day
    with no usable estimate adds nothing."""
    tau1 = abs(uplift)
    if not (np.isfinite(oos_uplift) and np.isfinite(oos_sd) and oos_sd > 0 and tau1 > 0):
        return previous
    x = sign * oos_uplift
    return max(0.0, previous + tau1 * (tau1 / 2 - x) / oos_sd ** 2)


def watchdog_verdict(cfg: LearningConfig, sign: int, uplift: float, prev_cusum: float,
                     oos: tuple[float, float, int, float]) -> tuple[str | None, float]:
    """(why the watchdog sunsets the lesson tonight or None, tonight's CUSUM)."""
    up, p05, sup, sd = oos
    if sup < cfg.watchdog.min_support:
        return "support_below_min_oos", prev_cusum
    if cfg.watchdog.rule == "first_fail":
        return ("p05_le_0_oos" if not (np.isfinite(p05) and p05 > 0) else None), 0.0
    stat = cusum_step(prev_cusum, sign, uplift, up, sd)
    return ("cusum_oos" if stat > cfg.watchdog.cusum_h else None), stat


def _confirmed(r: dict, cand: dict[str, tuple[str, tuple[int, ...]]],
               units_of: Callable[[str], UnitSet], watchdog: Watchdog,
               cfg: LearningConfig) -> bool:
    """A newly proposed lesson holds on the newest day out of sample: same sign, support."""
    got = cand.get(r["lesson_id"])
    if got is None:
        return False
    wd = watchdog.check(units_of(got[0]), got[1])
    if wd is None:
        return False
    up, p05, sup, sd = wd
    r.update(oos_uplift=up, oos_p05=p05, oos_support=sup, oos_sd=sd, oos_cusum=0.0)
    return sup >= cfg.watchdog.min_support and r["sign"] * up > 0


def pooled_split(cfg: LearningConfig, pooled: bool) -> tuple[float, float]:
    """(per-detector share, pooled share) of family_alpha tonight: with a pooled search the
    pooled family spends `pooled.alpha_share` and the per-detector families the rest, so by
    the union bound over both families the night's family-wise error stays <=
    family_alpha; a night without one keeps all of it for the detectors."""
    share = cfg.pooled.alpha_share if pooled else 0.0
    return 1.0 - share, share


def pooled_y(frame: pd.DataFrame, outcome: Outcome) -> np.ndarray:
    """The pooled set's outcome: centred on each detector's own mean (a detector fixed
    effect: detectors differ in their average return, and their mix differs across
    contexts), so the pooled effect of a literal is the within-detector effect, averaged
    over detectors by their window counts."""
    y = frame[outcome.y].to_numpy(dtype=np.float64)
    return y - frame.groupby("detector_id")[outcome.y].transform("mean").to_numpy()


@dataclass(frozen=True)
class Task:
    """A search's input: a detector id (or POOLED), its live rules' keys to re-estimate,
    and its windows: `rows` of the window's units (None: every window), with `y` in place
    of theirs when given (the pooled set's centred outcome). Every task's units are taken
    of the window's one set when it is searched, and let go after (each
    detector's and the pooled set's own copies, held together through the night, would be
    ~20 MB of the pooled search's peak at 250,000 windows)."""

    detector_id: str
    window: UnitSet
    keep: list[str]
    rows: np.ndarray | None = None
    y: np.ndarray | None = None
    mods: Moderators | None = None  # the window's continuous moderators (hetero.enabled)

    def units(self) -> UnitSet:
        """The task's windows as units (the pooled set of every window shares the window's
        codes, hit and times)."""
        units = self.window if self.rows is None else self.window.take(self.rows)
        return units if self.y is None else replace(units, y=self.y)


def _search_all(tasks: list[Task], cfg: LearningConfig) -> list[Searched]:
    """search_detector for every task, in order, each task's units made for its search
    alone (inline: a forked pool inside a threaded Dagster or pytest process once left a
    worker blocked on an inherited lock)."""
    return [search_detector(t.units(), cfg, t.keep,
                            None if t.mods is None else t.mods.take(t.rows)) for t in tasks]


def _previous(previous: pd.DataFrame) -> pd.DataFrame:
    return previous.set_index("lesson_id") if len(previous) else pd.DataFrame()


def learning_tasks(frame: pd.DataFrame, lits: pd.DataFrame, q: LiteralSpace,
                   cfg: LearningConfig, previous: pd.DataFrame,
                   outcome: Outcome = SIGNAL_OUTCOME) -> list[Task]:
    """Each detector's windows as units, with its live rules to re-estimate, and (when the
    night pools) every such detector's together, last: all the search reads of the
    window's frame and literals, so a caller can let go of them before it searches
    (`learn_tasks`)."""
    if outcome.group != "detector_id" and len(frame):
        frame = frame.assign(detector_id=frame[outcome.group].astype(str))
    # the continuous moderators (hetero.py), of the signal layer's windows alone
    mods = moderators(frame, q.features) \
        if cfg.hetero.enabled and outcome.treatments is None and len(frame) else None
    # the columns the units are made of, alone: each detector's rows (and the pooled set's,
    # every row) are taken of them, not of the window's every column (at 250,000
    # windows the pooled set's copies of the whole frame would be ~60 MB)
    frame = frame[[c for c in ("detector_id",) if c in frame.columns]
                  + unit_columns(frame, outcome)]
    prev = _previous(previous)
    enough = [(det, m) for det in (sorted(frame["detector_id"].unique()) if len(frame) else [])
              if (m := (frame["detector_id"] == det).to_numpy()).sum()
              >= 2 * cfg.search.min_support]  # the detectors with windows enough to search
    if not enough:
        return []
    window = detector_units(frame, lits, q, outcome)
    rows_type = small_int(window.n)

    def keep(det: str) -> list[str]:
        return sorted(prev[(prev["detector_id"] == det) & prev["state"].isin(LIVE)]["rule"]) \
            if len(prev) else []

    tasks = [Task(det, window, keep(det), np.flatnonzero(m).astype(rows_type), mods=mods)
             for det, m in enough]
    if cfg.pooled.enabled and len(tasks) >= cfg.pooled.min_groups:
        m = frame["detector_id"].isin([t.detector_id for t in tasks]).to_numpy()
        tasks.append(Task(POOLED, window, keep(POOLED),
                          None if m.all() else np.flatnonzero(m).astype(rows_type),
                          pooled_y(frame[m], outcome), mods))
    return tasks


def learn(frame: pd.DataFrame, lits: pd.DataFrame, q: LiteralSpace, cfg: LearningConfig,
          previous: pd.DataFrame, day: str, window: str,
          outcome: Outcome = SIGNAL_OUTCOME) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lessons, watchdog alerts) for the night of `day`; `frame`/`lits` hold the training
    window (rows aligned), `previous` is last night's lessons (empty on the first night).
    `outcome` names the frame's outcome, hit and group columns and the treatment features
    (the signal layer's by default; the Trader's execution lessons pass theirs)."""
    return learn_tasks(learning_tasks(frame, lits, q, cfg, previous, outcome), q, cfg,
                       previous, day, window)


def learn_tasks(tasks: list[Task], q: LiteralSpace, cfg: LearningConfig,
                previous: pd.DataFrame, day: str,
                window: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`learn` on the window's tasks (`learning_tasks`)."""
    today = date.fromisoformat(day)
    newest = (pd.Timestamp(today, tz="UTC").value // DAY_NS)
    prev = _previous(previous)
    pooled = any(t.detector_id == POOLED for t in tasks)
    searched: dict[str, Searched] = {}
    for t, s in zip(tasks, _search_all(tasks, cfg), strict=True):
        s.detector_id = t.detector_id
        searched[t.detector_id] = s
    every = tasks[0].window if tasks else None  # the window's units: literal names
    by_id = {t.detector_id: t for t in tasks}
    made: dict[str, UnitSet] = {}

    def units_of(det: str) -> UnitSet:
        """A task's units again, once, for the watchdog's out-of-sample checks."""
        if det not in made:
            made[det] = by_id[det].units()
        return made[det]

    own, pooled_share = pooled_split(cfg, pooled)
    family = tuple(int(sum(s.family[k] for d, s in searched.items() if d != POOLED))
                   for k in range(3))
    bars = z_crits(cfg, (family[0], family[1], family[2]), own)
    pool_bars = z_crits(cfg, searched[POOLED].family, pooled_share) if pooled else bars
    rows: list[dict] = []
    watchdog = Watchdog(cfg, int(newest))
    for det, s in searched.items():
        for key, (rule, d, mdl, bins) in s.details.items():
            lid = lesson_id(det, key, cfg.horizon_s)
            zc = (pool_bars if det == POOLED else bars)[len(rule) - 1]
            assert every is not None  # a search had a task
            names = every
            hours = s.hours
            if s.rule_units is not None and key in s.rule_units:  # a continuous rule
                names = made[f"{det}|{key}"] = s.rule_units[key]
                hours = (s.rule_hours or {})[key]
            fails = gate_failures(cfg, d, zc, hours,
                                  bool(names_na(names, np.array([[*rule, -1, -1, -1][:3]]))[0]))
            if not s.in_family.get(key, True):  # a live rule too rare tonight: not tested
                fails.insert(0, "outside_family")
            z = _z(d)
            rows.append({
                "lesson_id": lid, "detector_id": det, "rule": key,
                "treatment": "=".join(names.literal_name(d.primary)),
                "n_literals": len(rule), "bins": bins, "horizon_s": cfg.horizon_s,
                "sign": d.sign, "uplift_bps": d.uplift, "ci_lo": d.ci_lo, "ci_hi": d.ci_hi,
                "p05": d.p05, "boot_sd": d.boot_sd if np.isfinite(d.boot_sd) else np.nan,
                "uplift_ipw": d.uplift_ipw, "uplift_naive": d.uplift_naive,
                "uplift_hit": d.uplift_hit, "support": d.support, "scope_n": d.scope_n,
                "stability": d.stability, "stability_regime": d.stability_regime,
                "days": d.days, "clipped_share": d.clipped_share, "ess": d.ess,
                "dr_ipw_z": d.dr_ipw_z,
                "overlap": ",".join(f for f in fails if f.startswith("overlap:")) or None,
                "mdl": mdl, "score": abs(d.uplift) - mdl,
                "bqs": bqs(cfg, d, mdl), "z": z, "z_crit": zc,
                "gates": ",".join(fails), "period_from": s.period_from,
                "_rule_lits": rule,
                "_units": f"{det}|{key}" if names is not every else det,
            })
    cand = {r["lesson_id"]: r for r in rows}
    cand_lits = {r["lesson_id"]: (r["_units"], r["_rule_lits"]) for r in rows}
    out: list[dict] = []
    # 1. carry last night's lessons forward
    for lid, p in (prev.iterrows() if len(prev) else []):
        state = p["state"]
        base = {**p.to_dict(), "lesson_id": lid}
        c = cand.pop(lid, None)
        if c is not None:
            base.update({k: v for k, v in c.items() if not k.startswith("_")})
        if state == "archived":
            since = date.fromisoformat(p["state_since"])
            if (today - since).days >= cfg.activation.ttl_days:
                continue  # forgotten: the rule may be learned again
            out.append({**base, "state": "archived", "reason": p["reason"]})
            continue
        if state == "sunset":
            out.append({**base, "state": "archived", "state_since": day,
                        "reason": p["reason"]})
            continue
        if c is None:  # the rule can no longer be estimated (its detector went quiet)
            new_state = "sunset" if state == "active" else None
            if new_state:
                out.append({**base, "state": "sunset", "state_since": day,
                            "reason": "no_data"})
            continue
        if state == "active":
            why = None
            if p["expires_on"] and day >= p["expires_on"]:
                why = "ttl"
            elif not (np.isfinite(c["p05"]) and c["p05"] > 0):
                why = "p05_le_0_on_window"
            elif c["support"] < cfg.activation.min_support:
                why = "support_below_min_on_window"
            else:
                wd = watchdog.check(units_of(c["_units"]), c["_rule_lits"])
                if wd is not None:
                    prev_stat = p.get("oos_cusum")
                    prev_stat = float(prev_stat) if pd.notna(prev_stat) else 0.0
                    bad, stat = watchdog_verdict(cfg, int(c["sign"]) or int(p["sign"]),
                                                 float(c["uplift_bps"]), prev_stat, wd)
                    up, p05, sup, sd = wd
                    base.update({"oos_uplift": up, "oos_p05": p05, "oos_support": sup,
                                 "oos_sd": sd, "oos_cusum": stat})
                    if bad:
                        why = "watchdog:" + bad
            if why:
                out.append({**base, "state": "sunset", "state_since": day, "reason": why})
            else:
                out.append({**base, "state": "active", "reason": "holds"})
            continue
        # proposed: activate, stay, or fade
        out.append({**base, "state": "proposed", "reason": c["gates"] or "awaiting_champion"})
    # 2. new candidates
    for lid in sorted(cand):
        c = cand[lid]
        if c["sign"] == 0:
            continue
        out.append({**{k: v for k, v in c.items() if not k.startswith("_")},
                    "state": "proposed", "state_since": day, "first_seen": day,
                    "reason": c["gates"] or "awaiting_champion", "activated_on": None,
                    "expires_on": None, "challenger_of": None})
    # 3. promotions, best BQS first; champion-challenger against active overlapping lessons
    order = sorted((r for r in out if r["state"] == "proposed" and not r["gates"]),
                   key=lambda r: (-r["bqs"], r["lesson_id"]))
    for r in order:
        if cfg.activation.oos_confirm and not _confirmed(
                r, cand_lits, units_of, watchdog, cfg):
            r["reason"] = "not_confirmed_oos"
            continue
        champs = [a for a in out if a["state"] == "active" and a["detector_id"] == r["detector_id"]
                  and a["lesson_id"] != r["lesson_id"] and _overlap(a["rule"], r["rule"])]
        if champs and not all(_separated(r, a) for a in champs):
            r["challenger_of"] = sorted(a["lesson_id"] for a in champs)[0]
            r["reason"] = "challenger_not_separated"
            continue
        for a in champs:
            a.update(state="sunset", state_since=day, reason=f"superseded_by:{r['lesson_id']}")
        r.update(state="active", state_since=day, activated_on=day, reason="activated",
                 expires_on=(today + timedelta(days=cfg.activation.ttl_days)).isoformat())
    lessons = with_selective(_finish(out, day, window, q), cfg.bootstrap.ci)
    return lessons, watchdog_alerts(lessons, day)


def watchdog_alerts(lessons: pd.DataFrame, day: str) -> pd.DataFrame:
    """The lessons the watchdog sunset on `day`, as alert rows (one derivation, used by the
    lessons stage and the watchdog_alerts asset alike)."""
    hit = lessons[(lessons["state"] == "sunset") & (lessons["state_since"] == day)
                  & lessons["reason"].str.startswith("watchdog:").fillna(False)]
    return pd.DataFrame({
        "lesson_id": hit["lesson_id"], "detector_id": hit["detector_id"], "rule": hit["rule"],
        "reason": hit["reason"].str.removeprefix("watchdog:"),
        "uplift_oos": hit["oos_uplift"], "p05_oos": hit["oos_p05"],
        "support_oos": hit["oos_support"]}).sort_values("lesson_id", kind="stable") \
        .reset_index(drop=True)


COLUMNS = ["lesson_id", "detector_id", "rule", "treatment", "n_literals", "bins", "horizon_s",
           "state", "reason", "state_since", "first_seen", "activated_on", "expires_on",
           "challenger_of", "sign", "uplift_bps", "ci_lo", "ci_hi", "sel_uplift_bps",
           "sel_ci_lo", "sel_ci_hi", "p05", "boot_sd",
           "uplift_ipw", "uplift_naive", "uplift_hit", "support", "scope_n", "stability",
           "stability_regime", "days", "clipped_share", "ess", "dr_ipw_z", "overlap", "mdl",
           "score", "bqs", "z", "z_crit", "gates",
           "oos_uplift", "oos_p05", "oos_support", "oos_sd", "oos_cusum", "period_from",
           "train_window", "quantizer"]


def _finish(rows: list[dict], day: str, window: str, q: LiteralSpace) -> pd.DataFrame:
    qjson = json.dumps(q.to_dict(), sort_keys=True)
    df = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in rows], columns=COLUMNS)
    df["train_window"] = window
    df["quantizer"] = qjson
    str_cols = ["lesson_id", "detector_id", "rule", "treatment", "state", "reason",
                "state_since", "first_seen", "activated_on", "expires_on", "challenger_of",
                "gates", "overlap", "period_from", "train_window", "quantizer"]
    for c in str_cols:
        df[c] = df[c].astype(STR)
    for c in ("n_literals", "horizon_s", "sign", "support", "scope_n", "days"):
        df[c] = df[c].astype(np.int64)
    for c in set(COLUMNS) - set(str_cols) - {"n_literals", "horizon_s", "sign", "support",
                                             "scope_n", "days"}:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    df["first_seen"] = df["first_seen"].fillna(day)
    df = df.sort_values(["detector_id", "state", "lesson_id"], kind="stable")
    return df.reset_index(drop=True)
