"""Future-touch: a detector that only looks back gives the same windows and scores at or
before t whether or not the tape after t exists. Cutting the tape at t and comparing
catches any peek ahead (a shifted column, a centred window, a whole-day statistic)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from lotus_core.audits.result import DEFAULT, FINGERPRINT, AuditConfig, AuditResult, cut
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.spec import DetectorSpec

KEY = ["ts_ms", "coin", "direction"]
SCORE_COLUMNS = ("raw_strength", "signal", "sq_score", "kr_phi", "kr_theta", "kr_delta_phi",
                 "kr_hbar", "kr_rho", "det_sigma")


def rng_for(cfg: AuditConfig, spec: DetectorSpec, salt: str) -> np.random.Generator:
    """Seeded per (config seed, detector, audit): reruns draw the same cuts."""
    return np.random.default_rng([cfg.seed, zlib.crc32(f"{spec.id}/{salt}".encode())])


def cut_points(frames: pd.DataFrame, windows: pd.DataFrame, k: int,
               rng: np.random.Generator) -> list[int]:
    """Half the cuts exactly at window frames (where a peek changes the answer), half
    uniform over the day; sorted and unique."""
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    at = windows["ts_ms"].to_numpy(dtype=np.int64)
    picks = list(rng.choice(at, size=min(len(at), k - k // 2), replace=False)) if len(at) else []
    picks += list(rng.choice(ts, size=k - len(picks), replace=False))
    return sorted({int(t) for t in picks})


def _mismatches(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> int:
    """Rows on one side only, plus rows whose `cols` differ beyond 1e-9."""
    m = a[KEY + cols].merge(b[KEY + cols], on=KEY, how="outer", indicator=True,
                           suffixes=("_a", "_b"))
    one_side = int((m["_merge"] != "both").sum())
    both = m[m["_merge"] == "both"]
    diff = np.zeros(len(both), dtype=bool)
    for c in cols:
        x, y = both[f"{c}_a"].to_numpy(np.float64), both[f"{c}_b"].to_numpy(np.float64)
        diff |= ~np.isclose(x, y, rtol=0.0, atol=1e-9, equal_nan=True)
    return one_side + int(diff.sum())


def future_touch(frames: pd.DataFrame, spec: DetectorSpec, day: str, *,
                 history: pd.DataFrame | None = None,
                 cfg: AuditConfig = DEFAULT) -> AuditResult:
    """Mismatching windows/scores at or before each cut t, summed over the cuts; pass iff 0."""
    full = run_detectors(frames, [spec])
    cuts = cut_points(frames, full, cfg.cuts_windows, rng_for(cfg, spec, "future_touch"))
    bad = checked = 0
    for t in cuts:
        before = full[full["ts_ms"] <= t].reset_index(drop=True)
        bad += _mismatches(before, run_detectors(cut(frames, t), [spec]), ["raw_strength"])
        checked += len(before)
    score_cuts = [t for t in cuts if (full["ts_ms"] == t).any()][: cfg.cuts_scores]
    if score_cuts:
        def events(f: pd.DataFrame) -> pd.DataFrame:
            return score_day(f, day, fingerprint=FINGERPRINT, history=history,
                             detectors=[spec], evaluate=False).events
        ev = events(frames)
        for t in score_cuts:
            bad += _mismatches(ev[ev["ts_ms"] <= t], events(cut(frames, t)), list(SCORE_COLUMNS))
    return AuditResult("future_touch", bad == 0, float(bad), 0.0,
                       f"{len(cuts)} cuts ({len(score_cuts)} rescored), {checked} windows "
                       f"checked, {bad} mismatches")
