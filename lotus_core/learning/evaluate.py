"""The detail of a short list of rules: hour-blocked bootstrap CI, IPW and naive estimates
beside the doubly robust one, the hit-rate uplift, and stability across days and regimes.

Every split of a rule (treatment literal within the scope of the others) is resampled with
the SAME hour weights, so a rule's bootstrap draw is the weakest split of one resample.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri  # scipy.stats' norm.ppf, without importing scipy.stats

from lotus_core.arrays import small_int
from lotus_core.learning.estimator import LiteralTerms, Nuisances, literal_terms
from lotus_core.learning.units import UnitSet, rule_mask

MIN_DAY_SCOPE = 5  # a day needs this many scope windows to count in stability


@dataclass(frozen=True)
class RuleDetail:
    uplift: float  # DR, signed
    sign: int
    ci_lo: float
    ci_hi: float
    p05: float  # 5th percentile of the bootstrap in the rule's direction (> 0: significant)
    boot_sd: float
    se_iid: float  # std(psi) / sqrt(n) over the primary scope: a floor under boot_sd
    uplift_ipw: float
    uplift_naive: float
    uplift_hit: float  # DR uplift of the hit rate (primary split)
    support: int  # windows where the whole rule holds
    scope_n: int  # windows of the primary split's scope
    stability: float  # mean / std of the daily uplift (signed)
    stability_regime: float  # the same across regimes (nan: the rule names the regime)
    days: int  # days with enough scope windows
    primary: int  # flat literal id of the primary (weakest) split's treatment
    clipped_share: float = 0.0  # worst split: share of scope windows whose propensity was clipped
    ess: float = float("inf")  # worst split: effective sample size of the smaller IPW arm
    dr_ipw_z: float = 0.0  # primary split: |DR - IPW| / bootstrap sd of their difference
    primary_tau: float = 0.0  # the primary split's signed mean, kept when `uplift` is zeroed


def hour_weights(units: UnitSet, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(hour index per unit, B x H multinomial resampling counts of the hours)."""
    hours, idx = np.unique(units.hour, return_inverse=True)
    idx = idx.astype(small_int(len(hours)), copy=False)  # held through every rule's detail
    rng = np.random.default_rng(seed)
    w = rng.multinomial(len(hours), np.full(len(hours), 1.0 / len(hours)), size=resamples)
    return idx, w.astype(np.float64)


def _ratio_stability(values: np.ndarray) -> float:
    if len(values) < 2:
        return 0.0
    sd = float(np.std(values, ddof=1))
    mean = float(np.mean(values))
    if sd == 0.0:
        return float(np.sign(mean)) * 1e6 if mean else 0.0
    return mean / sd


def _group_sums(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum, count) of `vals` by key, of the keys with at least `MIN_DAY_SCOPE` values; the
    signed mean of each is `_group_uplift`."""
    uniq, inv = np.unique(keys, return_inverse=True)
    n = np.bincount(inv, minlength=len(uniq))
    s = np.bincount(inv, weights=vals, minlength=len(uniq))
    ok = n >= MIN_DAY_SCOPE
    return s[ok], n[ok]


GAP_SD_FLOOR = 1e-9
"""bps: a bootstrap sd of DR - IPW below this is rounding (the two estimates equal in every
draw), not a spread a gap can be measured against."""


def _gap_z(gap_mean: float, gap_draws: np.ndarray) -> float:
    """|DR - IPW| in bootstrap sds of their difference; 0 when the estimates agree exactly,
    NaN (missing: `overlap:dr_ipw_undefined`) when they differ and the spread is zero or
    undefined (fewer than two draws), never the infinity or 1e15 a near-zero sd makes."""
    gap_sd = float(np.std(gap_draws, ddof=1)) if len(gap_draws) > 1 else float("nan")
    if gap_sd > GAP_SD_FLOOR:  # False for NaN
        return abs(gap_mean) / gap_sd
    return 0.0 if abs(gap_mean) <= GAP_SD_FLOOR else float("nan")


def _group_uplift(sums: tuple[np.ndarray, np.ndarray], sign: int) -> np.ndarray:
    s, n = sums
    return sign * s / n


def _ess(w: np.ndarray) -> float:
    """Kish's effective sample size of weights `w` ((sum w)^2 / sum w^2; 0 when empty)."""
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def overlap(e_raw: np.ndarray, a: np.ndarray, clip: tuple[float, float]
            ) -> tuple[float, float]:
    """(share of a scope's windows whose propensity `e_raw` for the split's literal fell
    outside the `clip` bounds, the smaller arm's effective sample size under the clipped
    inverse-propensity weights; `a`: the windows where the literal holds). Both say whether
    the scope holds comparable treated and control windows (positivity)."""
    if len(e_raw) == 0:
        return 0.0, 0.0
    lo, hi = clip
    clipped = float(((e_raw < lo) | (e_raw > hi)).mean())
    e = np.clip(e_raw, lo, hi)
    return clipped, min(_ess(1.0 / e[a]), _ess(1.0 / (1.0 - e[~a])))


def widen(tau: float, sign: int, ci_lo: float, ci_hi: float, p05: float, se: float,
          hi_q: float) -> tuple[float, float, float]:
    """(ci_lo, ci_hi, p05) no narrower than the normal interval tau +- z * se. The hour
    bootstrap holds the nuisances fixed, so alone it covered the planted effect in 83 % of
    200 seeds at a nominal 90 % (docs/validity.md); `se` = max(bootstrap sd, i.i.d. SE),
    the one the activation gates use."""
    if not (np.isfinite(se) and np.isfinite(ci_lo) and np.isfinite(ci_hi)):
        return ci_lo, ci_hi, p05
    z = float(ndtri(hi_q))
    s = sign or 1
    return (min(ci_lo, tau - z * se), max(ci_hi, tau + z * se),
            min(p05, s * tau - float(ndtri(0.95)) * se))


@dataclass(frozen=True)
class _Split:
    """One split of a rule (its treatment literal within the scope of the others) reduced to
    what the detail reports of it: no window-long array is kept."""

    lit: int
    tau: float  # the mean psi over the scope
    draws: np.ndarray  # (B,) the bootstrap's means
    gap_draws: np.ndarray  # (B,) the bootstrap's means of DR - IPW
    gap_mean: float
    se_iid: float
    uplift_ipw: float
    uplift_hit: float
    naive: float
    support: int
    scope_n: int
    daily: tuple[np.ndarray, np.ndarray]  # `_group_sums` of psi by day
    regime: tuple[np.ndarray, np.ndarray] | None  # by regime (None: no regime feature)
    overlap: tuple[float, float]


def _split(units: UnitSet, nz: Nuisances, lit: int, scope: tuple[int, ...],
           hour_idx: np.ndarray, weights: np.ndarray, f_regime: int) -> _Split:
    """A split judged on its scope's windows alone (where the scope holds and lit's feature
    is known): their terms made for them (`literal_terms`), each number the same as the
    whole window's columns masked to them gave. `f_regime`: the regime feature (-1: none)."""
    rows = np.flatnonzero(rule_mask(units, scope) & units.known(lit)).astype(small_int(units.n))
    return _judged(units, nz, lit, rows, literal_terms(units, nz, lit, rows), hour_idx,
                   weights, f_regime)


def _feature_splits(units: UnitSet, nz: Nuisances, scopes: dict[int, list[tuple[int, ...]]],
                    hour_idx: np.ndarray, weights: np.ndarray,
                    f_regime: int) -> dict[tuple[int, tuple[int, ...]], _Split]:
    """`_split` of each literal of one feature in each of its `scopes` (literal -> scopes):
    the feature's propensities predicted once for the windows any of them reads, each
    literal's terms made once for the windows of any of its scopes, and each scope's taken
    from those (a window's terms are its own: the same numbers, in the same order). The
    fixture nights' details split each literal in 4-5 scopes, 2-3 literals a feature
    (1,667 splits of 355 literals of 147 features on 2026-02-05), and predicting the
    propensities for each split was most of the details' CPU. Held at once: the feature's
    propensities of those windows and one literal's four terms (<= 10 and 8 MB at
    250,000 windows)."""
    reads = {}  # each literal's windows: its scopes' (the masks, not every scope's, held)
    for lit, of_lit in scopes.items():
        union = np.zeros(units.n, dtype=bool)
        for scope in of_lit:
            union |= rule_mask(units, scope)
        reads[lit] = union & units.known(lit)
    read = np.zeros(units.n, dtype=bool)
    for mask in reads.values():
        read |= mask
    every = np.flatnonzero(read).astype(small_int(units.n))
    del read
    f = int(units.literal_feature[next(iter(scopes))])
    pf = nz.prop.rows(f, every)
    out = {}
    for lit, of_lit in scopes.items():
        mine = reads.pop(lit)
        rows = np.flatnonzero(mine).astype(small_int(units.n))
        t = literal_terms(units, nz, lit, rows, (pf, np.flatnonzero(mine[every])))
        del mine
        for scope in of_lit:
            at = np.flatnonzero(rule_mask(units, scope)[rows])  # the scope's windows of `rows`
            out[(lit, scope)] = _judged(units, nz, lit, rows[at], LiteralTerms(
                t.dr[at], t.ipw[at], t.hit[at], t.e_raw[at]), hour_idx, weights, f_regime)
    return out


def _judged(units: UnitSet, nz: Nuisances, lit: int, rows: np.ndarray, t: LiteralTerms,
            hour_idx: np.ndarray, weights: np.ndarray, f_regime: int) -> _Split:
    """The split of `lit` on its scope's windows `rows`, whose terms are `t`."""
    psi, ipw, hit, e_raw, n = t.dr, t.ipw, t.hit, t.e_raw, len(rows)
    del t
    f = int(units.literal_feature[lit])
    treat = units.codes[rows, f] == int(units.literal_value[lit])
    # each window-long array is let go once its numbers are taken (a split of
    # every window holding its terms, hours, gaps, returns and days together is ~20 MB of the
    # detail's peak at 250,000 windows); the same numbers in the same order as before
    uplift_hit = float(hit.mean()) if n else 0.0
    del hit
    ov = overlap(e_raw, treat, nz.clip)
    del e_raw
    hours = hour_idx[rows]
    n_h = np.bincount(hours, minlength=weights.shape[1]).astype(np.float64)
    s_h = np.bincount(hours, weights=psi, minlength=weights.shape[1])
    gap = psi - ipw
    uplift_ipw = float(ipw.mean()) if n else 0.0
    del ipw
    g_h = np.bincount(hours, weights=gap, minlength=weights.shape[1])
    gap_mean = float(gap.mean()) if n else 0.0
    del gap, hours
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (weights @ s_h) / (weights @ n_h)
        gap_draws = (weights @ g_h) / (weights @ n_h)
    naive = 0.0
    if treat.any() and not treat.all():
        naive = float(units.y[rows[treat]].mean() - units.y[rows[~treat]].mean())
    return _Split(
        lit=lit, tau=float(psi.mean()) if n else 0.0, draws=draws,
        gap_draws=gap_draws[np.isfinite(gap_draws)], gap_mean=gap_mean,
        se_iid=float(psi.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf"),
        uplift_ipw=uplift_ipw, uplift_hit=uplift_hit, naive=naive,
        support=int(treat.sum()), scope_n=n,
        daily=_group_sums(units.days_of(rows), psi),
        regime=_group_sums(units.codes[rows, f_regime], psi) if f_regime >= 0 else None,
        overlap=ov)


def _splits_of(units: UnitSet, rule: tuple[int, ...]) -> list[tuple[int, tuple[int, ...]]]:
    """(treatment literal, scope) of each split a rule is judged by."""
    treat_ok = units.treatment_literal
    return [(lit, tuple(x for x in rule if x != lit))
            for lit in rule if treat_ok[lit] or not treat_ok[list(rule)].any()]


def rule_detail(units: UnitSet, nz: Nuisances, rule: tuple[int, ...], hour_idx: np.ndarray,
                weights: np.ndarray, ci: float) -> RuleDetail:
    """Everything a lesson reports about one rule (flat literal ids)."""
    f_regime = units.features.index("regime") if "regime" in units.features else -1
    splits = [_split(units, nz, lit, scope, hour_idx, weights, f_regime)
              for lit, scope in _splits_of(units, rule)]
    return _detail(units, rule, splits, ci, f_regime)


def rule_details(units: UnitSet, nz: Nuisances, rules: list[tuple[int, ...]],
                 hour_idx: np.ndarray, weights: np.ndarray, ci: float,
                 each: Callable[[], object] | None = None) -> list[RuleDetail]:
    """`rule_detail` of each rule, the same numbers, their splits made a feature at a time
    (`_feature_splits`): a feature's propensities and a literal's terms once for all their
    scopes, and a split two rules share (the same literal in the same scope) made once.
    `each`: called after each feature's splits (the search hands the heap back there)."""
    f_regime = units.features.index("regime") if "regime" in units.features else -1
    wanted = [_splits_of(units, rule) for rule in rules]
    scopes: dict[int, dict[int, list[tuple[int, ...]]]] = {}  # feature -> literal -> scopes
    for lit, scope in sorted({s for splits in wanted for s in splits}):
        scopes.setdefault(int(units.literal_feature[lit]), {}).setdefault(lit, []).append(scope)
    made: dict[tuple[int, tuple[int, ...]], _Split] = {}
    for of_feature in scopes.values():
        made.update(_feature_splits(units, nz, of_feature, hour_idx, weights, f_regime))
        if each is not None:
            each()
    return [_detail(units, rule, [made[s] for s in splits], ci, f_regime)
            for rule, splits in zip(rules, wanted, strict=True)]


def _detail(units: UnitSet, rule: tuple[int, ...], splits: list[_Split], ci: float,
            f_regime: int) -> RuleDetail:
    """A rule's detail from its splits (`_splits_of` order)."""
    taus = np.array([s.tau for s in splits])
    sign = 1 if taus.min() > 0 else (-1 if taus.max() < 0 else 0)
    p = splits[int(np.argmin(taus)) if sign >= 0 else int(np.argmax(taus))]
    all_draws = np.vstack([s.draws for s in splits])
    with warnings.catch_warnings():  # a draw no split measured is NaN, dropped below
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        draws = np.nanmin(all_draws, axis=0) if sign >= 0 else np.nanmax(all_draws, axis=0)
    draws = draws[np.isfinite(draws)]
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    if len(draws):
        ci_lo, ci_hi = (float(x) for x in np.quantile(draws, [lo_q, hi_q]))
        p05 = float(np.quantile((sign or 1) * draws, 0.05))
        boot_sd = float(np.std(draws, ddof=1)) if len(draws) > 1 else float("inf")
    else:
        ci_lo = ci_hi = p05 = float("nan")
        boot_sd = float("inf")
    ci_lo, ci_hi, p05 = widen(p.tau, sign, ci_lo, ci_hi, p05, max(boot_sd, p.se_iid), hi_q)
    dr_ipw_z = _gap_z(p.gap_mean, p.gap_draws)
    names_regime = f_regime >= 0 and any(int(units.literal_feature[x]) == f_regime for x in rule)
    daily = _group_uplift(p.daily, sign or 1)
    regime = (np.nan if names_regime or p.regime is None else
              _ratio_stability(_group_uplift(p.regime, sign or 1)))
    return RuleDetail(
        uplift=float(p.tau) if sign else 0.0, sign=sign, ci_lo=ci_lo, ci_hi=ci_hi, p05=p05,
        boot_sd=boot_sd, se_iid=p.se_iid, uplift_ipw=p.uplift_ipw, uplift_naive=p.naive,
        uplift_hit=p.uplift_hit, support=p.support, scope_n=p.scope_n,
        stability=_ratio_stability(daily), stability_regime=float(regime),
        days=int(len(daily)), primary=int(p.lit),
        clipped_share=max(s.overlap[0] for s in splits),
        ess=min(s.overlap[1] for s in splits), dr_ipw_z=dr_ipw_z, primary_tau=p.tau,
    )
