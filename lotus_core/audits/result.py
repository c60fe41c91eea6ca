"""The shared result type and the audit thresholds (one place, so docs/audits.md matches)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

FINGERPRINT = "sha256:" + "0" * 64  # audits re-score tapes; provenance is not under test


@dataclass(frozen=True)
class AuditResult:
    """One audit of one detector: passed iff `metric` is on the right side of `threshold`."""

    name: str
    passed: bool
    metric: float
    threshold: float
    detail: str = ""


@dataclass(frozen=True)
class AuditConfig:
    seed: int = 7
    cuts_windows: int = 16  # future-touch cuts checked on windows (cheap)
    cuts_scores: int = 3  # ... and on full scores (score_day per cut)
    check_s: int = 600  # windows in (t - check_s, t] are compared at each cut
    permutations: int = 200
    alpha: float = 0.05  # label shuffle: significance of a real edge
    max_hit_lift: float = 0.25  # a significant lift whose lower (1 - alpha) bound is above
    # this (hit rate surely above ~0.75) is "too good": leakage
    collapse_tol: float = 0.05  # |mean shuffled hit lift| must stay below this
    min_shuffle_n: int = 50  # fewer windows: reported, never failed (too noisy to judge)
    folds: int = 4  # rolling-origin folds
    tau_gap: float = 0.15  # max mean in-fold minus out-of-sample hit-rate degradation
    min_fold_n: int = 30  # fewer windows per fold: "insufficient" (passes, reported)
    noise_frac: float = 0.25  # price noise sd, as a fraction of the coin's median half spread
    drop_frac: float = 0.05
    spread_mult: float = 1.5
    max_sigma_drop: float = 0.5  # adversarial: max fall of matched mean det_sigma


def cut(frames: pd.DataFrame, t_ms: int) -> pd.DataFrame:
    """The tape as it was known at t: every coin's frames with ts_ms <= t."""
    return frames[frames["ts_ms"].to_numpy() <= t_ms].reset_index(drop=True)


DEFAULT = AuditConfig()


_NUM = r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|nan)"


def _found(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def failure_sentence(name: str, metric: float, detail: str = "",
                     cfg: AuditConfig = DEFAULT) -> str:
    """Why audit `name` failed, in one sentence: the value, the limit it broke (named as in
    `AuditConfig`) and the rule, e.g. "label_shuffle: hit lift +0.4710 (lower bound +0.4420)
    > max_hit_lift 0.25 (p 0.0050 <= alpha 0.05): too good to be real (possible leakage)".
    `detail` is the audit's own detail text (`AuditResult.detail`), read for the figures the
    metric does not carry (the shuffle's p, lower bound and null mean, the worst
    perturbation)."""
    if name == "future_touch":
        return (f"future_touch: {metric:.0f} mismatching window(s) or score(s) > 0 allowed: "
                "cutting the tape after a window changed it, so the detector reads data "
                "received after its window (its code leaks the future)")
    if name == "label_shuffle":
        p = _found(r"\bp " + _NUM, detail)
        null = _found(r"shuffled mean " + _NUM, detail)
        lo = _found(r"lower bound " + _NUM, detail)
        judged = lo if lo is not None else metric  # rows stored before the bound: the lift
        if math.isfinite(judged) and judged > cfg.max_hit_lift:
            at = (f" (p {p:.4f} <= alpha {cfg.alpha:g})" if p is not None
                  else f" (significant at alpha {cfg.alpha:g})")
            bound = f" (lower bound {lo:+.4f})" if lo is not None else ""
            return (f"label_shuffle: hit lift {metric:+.4f}{bound} > max_hit_lift "
                    f"{cfg.max_hit_lift:g}{at}: too good to be real (possible leakage: the "
                    "outcome reaches the score by another path)")
        shown = f" {abs(null):.4f}" if null is not None else ""
        return (f"label_shuffle: |mean hit lift over {cfg.permutations} shuffles of the "
                f"outcomes|{shown} > collapse_tol {cfg.collapse_tol:g}: the edge does not "
                "collapse without the true outcomes (the evaluation leaks outcomes into hits)")
    if name in ("rolling_origin_gap", "rolling_gap"):
        return (f"rolling_origin_gap: mean in-fold minus next-fold hit rate {metric:.4f} > "
                f"tau_gap {cfg.tau_gap:g}: the edge does not hold on the next, unseen fold "
                "(fitted to its past)")
    if name == "adversarial":
        drops = {k: float(v) for k, v in re.findall(r"(\w+) " + _NUM, detail)}
        worst = f" ({max(drops, key=lambda k: drops[k])})" if drops else ""
        return (f"adversarial: det_sigma drop under the worst perturbation{worst} "
                f"{metric:.4f} > max_sigma_drop {cfg.max_sigma_drop:g}: the detector is "
                "fragile to what real tapes do (quote noise, lost frames, a wider spread)")
    return f"{name}: metric {metric:.4g} fails its limit"
