"""Outcome-based audits on a detector's windows (detector_windows rows with outcomes):
the label shuffle (does the edge collapse without the true outcomes?) and the
rolling-origin gap (does the edge survive the next, unseen fold?)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from lotus_core.arrays import positions_by
from lotus_core.audits.result import DEFAULT, AuditConfig, AuditResult


def _hits(direction: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    s = direction * fwd
    return np.where(s > 0, 1.0, np.where(s == 0, 0.5, 0.0))


def _base_hit_rate(direction: np.ndarray, fwd: np.ndarray, groups: list[np.ndarray]) -> float:
    """Expected hit rate when each window's outcome is drawn from its coin's pool: what a
    shuffle preserves. Not 0.5 on a drifting day (mostly-long windows on a falling day)."""
    p = np.empty(len(direction))
    for g in groups:
        r = fwd[g]
        pos, neg, zero = (r > 0).mean(), (r < 0).mean(), (r == 0).mean()
        p[g] = np.where(direction[g] > 0, pos, neg) + 0.5 * zero
    return float(p.mean())


def usable(windows: pd.DataFrame) -> np.ndarray:
    """Windows an audit judges: with an outcome, and not across a recorded gap in the feed
    (`gap`; history written before the column has none)."""
    ok = windows["outcome_ok"].to_numpy(dtype=bool)
    if "gap" in windows.columns:
        ok = ok & ~windows["gap"].to_numpy(dtype=bool)
    return ok


def label_shuffle(windows: pd.DataFrame, rng: np.random.Generator,
                  cfg: AuditConfig = DEFAULT) -> AuditResult:
    """Hit-rate lift over the base rate (the expected hit rate with outcomes drawn from
    the window's coin pool) on the true outcomes, against `cfg.permutations` shuffles of
    the forward returns within each coin. Fails when the shuffled lift does not collapse
    to ~0 (|mean| > collapse_tol: the evaluation itself leaks outcomes into hits) or the
    real edge is significant and implausibly large (lift > max_hit_lift: outcomes reach
    the score by another path). "Implausibly large" is judged like the edge itself, with
    its error: the lift's lower one-sided (1 - alpha) bound, lift - z * SE(mean hit), must
    exceed max_hit_lift; a lift a hair above the limit (+0.2509 on 431 windows, SE 0.02)
    is a strong edge, not evidence of leakage, while an outcome that reaches the score
    gives hits near 1 and a bound far above it."""
    w = windows[usable(windows)]
    if len(w) < cfg.min_shuffle_n:
        return AuditResult("label_shuffle", True, float("nan"), cfg.max_hit_lift,
                           f"no_edge: only {len(w)} windows with outcomes")
    d = w["direction"].to_numpy(np.float64)
    r = w["fwd_ret_bps"].to_numpy(np.float64)
    coin = w["coin"].to_numpy(dtype=object)
    by_coin = positions_by(coin)
    groups = [by_coin[c] for c in sorted(by_coin)]  # np.unique's order: the draws' order
    base = _base_hit_rate(d, r, groups)
    hits = _hits(d, r)
    lift = float(hits.mean() - base)
    lift_lo = lift - float(ndtri(1.0 - cfg.alpha)) * float(hits.std(ddof=1)) / np.sqrt(len(hits))
    null = np.empty(cfg.permutations)
    for k in range(cfg.permutations):
        rs = r.copy()
        for g in groups:
            rs[g] = r[rng.permutation(g)]
        null[k] = _hits(d, rs).mean() - base
    p = float((1 + (null >= lift).sum()) / (cfg.permutations + 1))
    collapsed = abs(float(null.mean())) <= cfg.collapse_tol
    too_good = p <= cfg.alpha and lift_lo > cfg.max_hit_lift
    verdict = "edge" if p <= cfg.alpha and lift > 0 else "no_edge"
    return AuditResult("label_shuffle", collapsed and not too_good, lift, cfg.max_hit_lift,
                       f"{verdict}: lift {lift:+.4f} over base {base:.4f}, lower bound "
                       f"{lift_lo:+.4f}, p {p:.4f}, shuffled mean {null.mean():+.4f} sd "
                       f"{null.std():.4f}, n {len(w)}")


def rolling_origin_gap(windows: pd.DataFrame, cfg: AuditConfig = DEFAULT) -> AuditResult:
    """Chronological folds; at each origin k the in-fold hit rate (folds < k) against the
    next fold's. Metric: mean positive degradation; fails above tau_gap."""
    w = windows[usable(windows)].sort_values("ts_ms", kind="stable")
    return hits_gap(_hits(w["direction"].to_numpy(np.float64),
                          w["fwd_ret_bps"].to_numpy(np.float64)), cfg)


def window_hits(windows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(ts_ms, hit) of the usable windows, in their order: what the rolling gap reads."""
    w = windows[usable(windows)]
    return (w["ts_ms"].to_numpy(np.int64),
            _hits(w["direction"].to_numpy(np.float64), w["fwd_ret_bps"].to_numpy(np.float64)))


def hits_gap(hit: np.ndarray, cfg: AuditConfig = DEFAULT) -> AuditResult:
    """`rolling_origin_gap` of the windows' hits in time order."""
    if len(hit) < cfg.folds * cfg.min_fold_n:
        return AuditResult("rolling_origin_gap", True, 0.0, cfg.tau_gap,
                           f"insufficient: {len(hit)} windows with outcomes")
    folds = np.array_split(hit, cfg.folds)
    gaps = [float(np.concatenate(folds[:k]).mean() - folds[k].mean())
            for k in range(1, cfg.folds)]
    metric = float(np.mean(np.maximum(gaps, 0.0)))
    return AuditResult("rolling_origin_gap", metric <= cfg.tau_gap, metric, cfg.tau_gap,
                       "in-fold minus next-fold hit rate per origin: "
                       + ", ".join(f"{g:+.3f}" for g in gaps) + f"; n {len(hit)}")
