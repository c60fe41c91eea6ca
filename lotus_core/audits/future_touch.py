"""Future-touch: a detector that only looks back gives the same windows and scores at or
before t whether or not the tape after t exists. Cutting the tape at t and comparing
catches any peek ahead (a shifted column, a centred window, a whole-day statistic).

Each cut re-runs the detector on a bounded trailing window, not the whole prefix: the
frames in (t - lookback - check, t], where lookback is what the spec can see
(lotus_core.audits.lookback) and check is the stretch before t whose windows are compared
with the full day's. An honest detector gives the same windows there; a peek ahead does
not (the frames after t are missing either way), so the audit keeps its power at a cost
that no longer grows with the hour of the cut."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from lotus_core.audits.lookback import detector_lookback_rows, scoring_lookback_rows
from lotus_core.audits.result import DEFAULT, AuditConfig, AuditResult
from lotus_core.signals.config import ScoringConfig, load_scoring
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.features import cadence_ms
from lotus_core.signals.pipeline import SCORE_COLUMNS, score_columns
from lotus_core.signals.quality import history_quality
from lotus_core.signals.spec import DetectorSpec

KEY = ["ts_ms", "coin", "direction"]


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


def _keys(df: pd.DataFrame) -> list[tuple[int, str, int]]:
    return list(zip(df["ts_ms"].to_numpy(dtype=np.int64).tolist(),
                    df["coin"].astype(str).tolist(),
                    df["direction"].to_numpy(dtype=np.int64).tolist(), strict=True))


def _mismatches(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> int:
    """Rows on one side only, plus rows whose `cols` differ beyond 1e-9.

    The check stretches hold a few dozen windows, so the keys are matched in a dict (a
    pandas merge cost ~25 ms a call, hundreds of calls a day); keys repeated on a side
    (never, for one detector) take the merge, which pairs every duplicate."""
    ka, kb = _keys(a), _keys(b)
    sa, sb = set(ka), set(kb)
    if len(sa) == len(ka) and len(sb) == len(kb):
        pos_b = {k: i for i, k in enumerate(kb)}
        both = [(i, pos_b[k]) for i, k in enumerate(ka) if k in pos_b]
        one_side = len(ka) + len(kb) - 2 * len(both)
        if not both:
            return one_side
        ia = np.array([i for i, _ in both], dtype=np.int64)
        ib = np.array([j for _, j in both], dtype=np.int64)
        diff = np.zeros(len(both), dtype=bool)
        for c in cols:
            x = a[c].to_numpy(np.float64)[ia]
            y = b[c].to_numpy(np.float64)[ib]
            diff |= ~np.isclose(x, y, rtol=0.0, atol=1e-9, equal_nan=True)
        return one_side + int(diff.sum())
    m = a[KEY + cols].merge(b[KEY + cols], on=KEY, how="outer", indicator=True,
                           suffixes=("_a", "_b"))
    one_side = int((m["_merge"] != "both").sum())
    both = m[m["_merge"] == "both"]
    diff = np.zeros(len(both), dtype=bool)
    for c in cols:
        x, y = both[f"{c}_a"].to_numpy(np.float64), both[f"{c}_b"].to_numpy(np.float64)
        diff |= ~np.isclose(x, y, rtol=0.0, atol=1e-9, equal_nan=True)
    return one_side + int(diff.sum())


def trailing(frames: pd.DataFrame, t_ms: int, span_ms: int) -> pd.DataFrame:
    """The tape as known at t, bounded: every coin's frames with t - span < ts_ms <= t."""
    ts = frames["ts_ms"].to_numpy()
    return frames[(ts <= t_ms) & (ts > t_ms - span_ms)].reset_index(drop=True)


def _near(df: pd.DataFrame, t_ms: int, check_ms: int) -> pd.DataFrame:
    ts = df["ts_ms"].to_numpy()
    return df[(ts <= t_ms) & (ts > t_ms - check_ms)].reset_index(drop=True)


def future_touch(frames: pd.DataFrame, spec: DetectorSpec, day: str, *,
                 history: pd.DataFrame | None = None,
                 cfg: AuditConfig = DEFAULT,
                 scoring: ScoringConfig | None = None) -> AuditResult:
    """Mismatching windows/scores in the check stretch before each cut t, summed over the
    cuts; pass iff 0. Each cut runs on a bounded trailing window (module docstring); the
    scores use `scoring` (the day's scoring configuration; None: the packaged one)."""
    full = run_detectors(frames, [spec])
    cadence = cadence_ms(frames["ts_ms"].to_numpy(dtype=np.int64),
                         frames["coin"].to_numpy(dtype=object))
    check_ms = cfg.check_s * 1000
    det_span = detector_lookback_rows(spec, cadence) * cadence + check_ms
    cuts = cut_points(frames, full, cfg.cuts_windows, rng_for(cfg, spec, "future_touch"))
    bad = checked = 0
    for t in cuts:
        before = _near(full, t, check_ms)
        after = _near(run_detectors(trailing(frames, t, det_span), [spec]), t, check_ms)
        bad += _mismatches(before, after, ["raw_strength"])
        checked += len(before)
    score_cuts = [t for t in cuts if (full["ts_ms"] == t).any()][: cfg.cuts_scores]
    if score_cuts:
        scoring = scoring or load_scoring()
        hq = history_quality(history, [spec], scoring.sq)  # the same for every cut

        def events(f: pd.DataFrame) -> pd.DataFrame:
            # the audited score columns through score_day's own code, without the council
            return score_columns(f, [spec], scoring=scoring, hq=hq)
        score_span = scoring_lookback_rows(scoring, [spec], cadence) * cadence + check_ms
        ev = events(frames)
        for t in score_cuts:
            bad += _mismatches(_near(ev, t, check_ms),
                               _near(events(trailing(frames, t, score_span)), t, check_ms),
                               list(SCORE_COLUMNS))
    return AuditResult("future_touch", bad == 0, float(bad), 0.0,
                       f"{len(cuts)} cuts ({len(score_cuts)} rescored) on trailing windows, "
                       f"{checked} windows checked, {bad} mismatches")
