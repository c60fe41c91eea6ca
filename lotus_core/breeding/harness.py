"""The harness disposes: every candidate is compiled and judged on the training window
only, and keeps the first reason it failed.

The gates, in order (cheap and decisive first; every survivor passed all of them):
1. compile   inside the grammar, and it fires at least `min_windows` times;
2. future_touch  windows at or before t are the same on the tape cut at t (leakage);
3. oos       rolling-origin out-of-sample: chronological folds, the first is the origin,
             the later folds pooled must beat the base hit rate at alpha / candidates
             (Bonferroni over the night's candidates: each is a hypothesis fixed before
             the harness looked) with a lift >= min_lift;
4. rolling_gap and label_shuffle  the audits' own (lotus_core.audits.edge): no collapse of
             the edge in the next fold, and no implausible, uncollapsing edge (leakage);
5. adversarial  the windows survive quote noise, lost frames and a wider spread
             (lotus_core.audits.adversarial.perturb): at most `max_drop` of them lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.arrays import positions_by
from lotus_core.audits.adversarial import PERTURBATIONS, perturb
from lotus_core.audits.edge import _base_hit_rate, label_shuffle, rolling_origin_gap, usable
from lotus_core.audits.future_touch import _mismatches, cut_points, trailing
from lotus_core.audits.result import AuditConfig
from lotus_core.breeding.compile import bred_windows, columns, lookback_rows
from lotus_core.breeding.grammar import (
    BOUNDED,
    CONTEXT,
    DETECTOR_PREFIX,
    UNBOUNDED,
    BredSpec,
    Grammar,
)
from lotus_core.breeding.propose import Candidate
from lotus_core.signals.detectors import SLICE_COLUMNS, run_detectors
from lotus_core.signals.features import cadence_ms
from lotus_core.signals.outcomes import window_outcomes
from lotus_core.signals.spec import DetectorSpec

NEEDED = ("coin", "ts_ms", "mid_px", "bid_px", "ask_px", "micro_px", "vwap_px", "spread_bps",
          "gap", *SLICE_COLUMNS, *BOUNDED, *UNBOUNDED, *CONTEXT)
"""The columns the harness keeps (context: what gates read; a tape without one: no gate on
it holds)."""
GATES = ("compile", "future_touch", "oos", "rolling_gap", "label_shuffle", "adversarial")


@dataclass(frozen=True)
class HarnessConfig:
    seed: int = 7
    min_windows: int = 30
    folds: int = 4
    alpha: float = 0.05  # family-wise, split over the night's candidates
    min_lift: float = 0.05  # out-of-sample hit rate over the base rate
    cuts: int = 8  # future-touch cuts (half at window frames)
    check_s: int = 600
    max_drop: float = 0.5  # adversarial: share of windows lost under a perturbation
    fee_bps: float = 0.0  # outcomes are direction hits; costs are scoring's business
    audit: AuditConfig = field(default_factory=AuditConfig)


@dataclass(frozen=True)
class Verdict:
    candidate: Candidate
    survived: bool
    reason: str  # "" for a survivor; else "<gate>: <why>"
    metrics: dict[str, Any]


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _hits(d: np.ndarray, r: np.ndarray) -> np.ndarray:
    s = d * r
    return np.where(s > 0, 1.0, np.where(s == 0, 0.5, 0.0))


def with_outcomes(windows: pd.DataFrame, frames: pd.DataFrame, fee_bps: float) -> pd.DataFrame:
    return pd.concat([windows, window_outcomes(windows, frames, fee_bps)], axis=1)


def lift_test(w: pd.DataFrame) -> dict[str, float]:
    """Hits of windows with outcomes against the base hit rate (each window's outcome drawn
    from its coin's pool, lotus_core.audits.edge), as a one-sided z-test."""
    w = w[usable(w)]
    if len(w) == 0:
        return {"n": 0.0, "hit": float("nan"), "base": float("nan"), "lift": float("nan"),
                "p": 1.0}
    d = w["direction"].to_numpy(np.float64)
    r = w["fwd_ret_bps"].to_numpy(np.float64)
    coin = w["coin"].to_numpy(dtype=object)
    by_coin = positions_by(coin)
    base = _base_hit_rate(d, r, [by_coin[c] for c in sorted(by_coin)])
    hit = _hits(d, r)
    lift = float(hit.mean() - base)
    sd = math.sqrt(max(base * (1 - base), 1e-12) / len(hit))
    return {"n": float(len(hit)), "hit": float(hit.mean()), "base": base, "lift": lift,
            "p": _normal_sf(lift / sd)}


def oos_test(w: pd.DataFrame, folds: int) -> dict[str, float]:
    """Rolling-origin out-of-sample: chronological folds, the first is the origin; the later
    folds pooled are tested (`lift_test`)."""
    w = w[usable(w)].sort_values("ts_ms", kind="stable")
    parts = np.array_split(np.arange(len(w)), folds)
    oos = np.concatenate(parts[1:]) if len(parts) > 1 else np.arange(0)
    return lift_test(w.iloc[oos])


class Harness:
    """Judges candidates on one training window (a MicroTape of one or more days)."""

    def __init__(self, frames: pd.DataFrame, grammar: Grammar,
                 vetted: Sequence[DetectorSpec] = (), cfg: HarnessConfig | None = None) -> None:
        keep = [c for c in frames.columns if c in NEEDED]
        self.frames = frames[keep].reset_index(drop=True)  # what compile and perturb read
        self.grammar = grammar
        self.vetted = [s for s in vetted if s.id in grammar.vetted]
        self.cfg = cfg or HarnessConfig()
        self.cols = columns(self.frames)
        self._ts = self.cols["ts_ms"].astype(np.int64)
        self._cadence = cadence_ms(self._ts, self.cols["coin"]) if len(self._ts) else 1000
        self._vetted_windows = run_detectors(self.frames, self.vetted) if self.vetted else None

    def windows(self, spec: BredSpec, frames: pd.DataFrame | None = None,
                upto_ms: int | None = None) -> pd.DataFrame:
        """The spec's windows on `frames` (default: the training window, cut after
        `upto_ms` if given). Vetted detectors run on the same (cut) frames."""
        uses = {t.input[len(DETECTOR_PREFIX):] for t in spec.votes
                if t.input.startswith(DETECTOR_PREFIX)}
        if frames is None and upto_ms is None:
            return bred_windows(self.cols, [spec], self._vetted_windows)
        if frames is None:
            assert upto_ms is not None
            keep = self._ts <= upto_ms
            span = lookback_rows(spec, self._cadence) * self._cadence
            if span > 0 and not uses:  # a bounded trailing window gives the same answer
                keep &= self._ts > upto_ms - span - self.cfg.check_s * 1000
            cols = {c: v[keep] for c, v in self.cols.items()}
            if not uses:
                return bred_windows(cols, [spec])
            frames = self.frames[keep].reset_index(drop=True)
        specs = [s for s in self.vetted if s.id in uses]
        return bred_windows(frames, [spec], run_detectors(frames, specs) if specs else None)

    def future_touch(self, spec: BredSpec, full: pd.DataFrame) -> tuple[int, int]:
        """(mismatching windows, windows checked) over the cuts: the audit's own cut points
        and comparison (lotus_core.audits.future_touch) on the tape as known at each t."""
        rng = np.random.default_rng([self.cfg.seed, int(spec.recipe_hash[7:15], 16)])
        check = self.cfg.check_s * 1000
        bad = checked = 0
        for t in cut_points(self.frames, full, self.cfg.cuts, rng):
            before = trailing(full, t, check)
            after = trailing(self.windows(spec, upto_ms=t), t, check)
            bad += _mismatches(before, after, ["raw_strength"])
            checked += len(before)
        return bad, checked

    def adversarial_drop(self, spec: BredSpec, full: pd.DataFrame) -> dict[str, float]:
        """Per perturbation, the share of the windows with no match (same coin and direction,
        within max(2 s, cooldown) on the perturbed tape)."""
        rng = np.random.default_rng([self.cfg.audit.seed, 3])
        out = {}
        tol = max(2000, spec.cooldown_s * 1000)
        base = full[["ts_ms", "coin", "direction"]].sort_values("ts_ms", kind="stable")
        for kind in PERTURBATIONS:
            p = self.windows(spec, perturb(self.frames, kind, self.cfg.audit, rng))
            right = p[["ts_ms", "coin", "direction"]].assign(hit=1.0).sort_values(
                "ts_ms", kind="stable")
            m = pd.merge_asof(base, right, on="ts_ms", by=["coin", "direction"],
                              tolerance=tol, direction="nearest")
            out[kind] = float(1.0 - np.nan_to_num(m["hit"].to_numpy(np.float64)).mean())
        return out

    def judge(self, cand: Candidate, n_candidates: int) -> Verdict:
        cfg, spec = self.cfg, cand.spec
        metrics: dict[str, Any] = {}

        def lose(reason: str) -> Verdict:
            return Verdict(cand, False, reason, metrics)

        why = self.grammar.admits(spec)
        if why is not None:
            return lose(f"compile: {why}")
        full = self.windows(spec)
        metrics["windows"] = int(len(full))
        if len(full) < cfg.min_windows:
            return lose(f"compile: {len(full)} windows < {cfg.min_windows}")
        bad, checked = self.future_touch(spec, full)
        metrics["future_touch_mismatches"] = bad
        if bad:
            return lose(f"future_touch: {bad} mismatching windows of {checked} checked on the "
                        f"cut tape (looks ahead)")
        w = with_outcomes(full, self.frames, cfg.fee_bps)
        oos = oos_test(w, cfg.folds)
        metrics.update({f"oos_{k}": v for k, v in oos.items()})
        bar = cfg.alpha / max(n_candidates, 1)
        if not (oos["p"] <= bar and oos["lift"] >= cfg.min_lift):
            return lose(f"oos: lift {oos['lift']:+.3f}, p {oos['p']:.2g} (need lift >= "
                        f"{cfg.min_lift} and p <= {bar:.2g})")
        gap = rolling_origin_gap(w, cfg.audit)
        metrics["rolling_gap"] = gap.metric
        if not gap.passed:
            return lose(f"rolling_gap: {gap.detail}")
        rng = np.random.default_rng([cfg.audit.seed, int(spec.recipe_hash[7:15], 16)])
        shuffle = label_shuffle(w, rng, cfg.audit)
        metrics["label_shuffle_lift"] = shuffle.metric
        if not shuffle.passed:
            return lose(f"label_shuffle: {shuffle.detail}")
        drops = self.adversarial_drop(spec, full)
        metrics["adversarial_worst_drop"] = max(drops.values())
        if max(drops.values()) > cfg.max_drop:
            return lose("adversarial: " + ", ".join(f"{k} -{v:.2f}" for k, v in drops.items()))
        return Verdict(cand, True, "", metrics)

    def dispose(self, cands: Sequence[Candidate]) -> list[Verdict]:
        return [self.judge(c, len(cands)) for c in cands]
