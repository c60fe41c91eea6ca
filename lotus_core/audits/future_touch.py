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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.audits.lookback import detector_lookback_rows, scoring_lookback_rows
from lotus_core.audits.result import DEFAULT, AuditConfig, AuditResult
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.features import cadence_ms
from lotus_core.signals.pipeline import SCORE_COLUMNS, score_columns
from lotus_core.signals.quality import HistoryQuality, history_quality
from lotus_core.signals.spec import DetectorSpec
from lotus_core.store.by_coin import FrameCoins

KEY = ["ts_ms", "coin", "direction"]


def rng_for(cfg: AuditConfig, spec: DetectorSpec, salt: str) -> np.random.Generator:
    """Seeded per (config seed, detector, audit): reruns draw the same cuts."""
    return np.random.default_rng([cfg.seed, zlib.crc32(f"{spec.id}/{salt}".encode())])


def cut_draws(n_frames: int, n_windows: int, k: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The positions `cut_points` draws: of the windows (half the cuts), then of the frames.
    Positions, not values, so a day read coin by coin draws the same cuts without holding
    every frame's timestamp (`Generator.choice` of an array is the array at these)."""
    at = (rng.choice(n_windows, size=min(n_windows, k - k // 2), replace=False) if n_windows
          else np.empty(0, dtype=np.int64))
    return at, rng.choice(n_frames, size=k - len(at), replace=False)


def cut_points(frames: pd.DataFrame, windows: pd.DataFrame, k: int,
               rng: np.random.Generator) -> list[int]:
    """Half the cuts exactly at window frames (where a peek changes the answer), half
    uniform over the day; sorted and unique."""
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    at = windows["ts_ms"].to_numpy(dtype=np.int64)
    w, f = cut_draws(len(ts), len(at), k, rng)
    return sorted({int(t) for t in np.r_[at[w], ts[f]]})


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
    """The rows with t - span < ts_ms <= t, in their order: the tape as known at t, bounded
    (every coin's frames), or the windows of a cut's check stretch. Rows in time order (the
    usual case) are sliced at two binary searches, a view instead of a masked copy of every
    column (hundreds of cuts a day: the mask and its copies were most of their cost); rows
    out of order take the mask."""
    ts = frames["ts_ms"].to_numpy()
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        lo, hi = np.searchsorted(ts, [t_ms - span_ms, t_ms], side="right")
        return frames.iloc[int(lo):int(hi)].reset_index(drop=True)
    return frames[(ts <= t_ms) & (ts > t_ms - span_ms)].reset_index(drop=True)


@dataclass
class Touch:
    """One detector's future-touch audit summed over the coins: the day's cuts (`cuts`; the
    first `cuts_scores` of those at a window also re-score, `score_cuts`), the windows
    checked and the mismatches found so far."""

    cuts: list[int]
    score_cuts: list[int]
    bad: int = 0
    checked: int = 0

    @classmethod
    def at(cls, cuts: list[int], window_ts: np.ndarray, cfg: AuditConfig) -> Touch:
        hit = set(np.asarray(window_ts, dtype=np.int64).tolist())
        return cls(cuts, [t for t in cuts if t in hit][: cfg.cuts_scores])

    def result(self) -> AuditResult:
        return AuditResult("future_touch", self.bad == 0, float(self.bad), 0.0,
                           f"{len(self.cuts)} cuts ({len(self.score_cuts)} rescored) on "
                           f"trailing windows, {self.checked} windows checked, "
                           f"{self.bad} mismatches")


def touch_coin(frames: pd.DataFrame, spec: DetectorSpec, full: pd.DataFrame, touch: Touch, *,
               cfg: AuditConfig, scoring: ScoringConfig, hq: HistoryQuality) -> None:
    """Add one coin to `touch`: `frames` is the coin's whole tape, `full` the spec's windows
    on it. The detectors and the scores are per coin, so the day's count is the coins' sum.
    A cut with none of the coin's frames in its trailing window has none of its windows in
    the check stretch either (the stretch lies inside the window): nothing to run."""
    if len(frames) == 0:
        return
    cadence = cadence_ms(frames["ts_ms"].to_numpy(dtype=np.int64),
                         frames["coin"].to_numpy(dtype=object))
    check_ms = cfg.check_s * 1000
    det_span = detector_lookback_rows(spec, cadence) * cadence + check_ms
    for t in touch.cuts:
        tape = trailing(frames, t, det_span)
        if len(tape) == 0:
            continue
        before = trailing(full, t, check_ms)
        after = trailing(run_detectors(tape, [spec]), t, check_ms)
        touch.bad += _mismatches(before, after, ["raw_strength"])
        touch.checked += len(before)
    if not touch.score_cuts:
        return

    def events(f: pd.DataFrame) -> pd.DataFrame:
        # the audited score columns through score_day's own code, without the council
        return score_columns(f, [spec], scoring=scoring, hq=hq)
    score_span = scoring_lookback_rows(scoring, [spec], cadence) * cadence + check_ms
    ev: pd.DataFrame | None = None
    for t in touch.score_cuts:
        tape = trailing(frames, t, score_span)
        if len(tape) == 0:
            continue
        ev = events(frames) if ev is None else ev
        touch.bad += _mismatches(trailing(ev, t, check_ms), trailing(events(tape), t, check_ms),
                                 list(SCORE_COLUMNS))


def future_touch(frames: pd.DataFrame, spec: DetectorSpec, day: str, *,
                 history: pd.DataFrame | None = None,
                 cfg: AuditConfig = DEFAULT,
                 scoring: ScoringConfig) -> AuditResult:
    """Mismatching windows/scores in the check stretch before each cut t, summed over the
    cuts and the coins; pass iff 0. Each cut runs on a bounded trailing window (module
    docstring); the scores use `scoring`, the configuration the day is scored with (the
    caller's, so the audit judges the scores the day publishes). The whole-frame form of
    what `audit_by_coin` does coin by coin."""
    tape = FrameCoins(frames)
    full = {c: run_detectors(tape.read(c), [spec]) for c in tape.coins()}
    pooled = (pd.concat(full.values(), ignore_index=True).sort_values(
        ["ts_ms", "coin"], kind="stable") if full else frames.iloc[:0])
    cuts = cut_points(frames, pooled, cfg.cuts_windows, rng_for(cfg, spec, "future_touch"))
    touch = Touch.at(cuts, pooled["ts_ms"].to_numpy(dtype=np.int64), cfg)
    hq = history_quality(history, [spec], scoring.sq)  # the same for every cut and coin
    for c, windows in full.items():
        touch_coin(tape.read(c), spec, windows, touch, cfg=cfg, scoring=scoring, hq=hq)
    return touch.result()
