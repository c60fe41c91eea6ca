"""The shared result type and the audit thresholds (one place, so docs/audits.md matches)."""

from __future__ import annotations

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
    max_hit_lift: float = 0.25  # hit rate above 0.75 at p <= alpha is "too good": leakage
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
