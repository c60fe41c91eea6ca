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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lotus_core.arrays import positions_by
from lotus_core.audits.lookback import detector_lookback_rows, scoring_lookback_rows
from lotus_core.audits.result import DEFAULT, AuditConfig, AuditResult
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.detectors import run_detectors, tape_windows
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


@dataclass(frozen=True)
class _Keyed:
    """Rows to compare, as arrays: their key (ts_ms, coin, direction) and the compared
    columns (one float64 column each). Cut from a frame once, then sliced per cut: the
    cuts of a day compare hundreds of small stretches, and a pandas slice and column read
    per stretch cost more than the comparison."""

    ts: np.ndarray
    coin: np.ndarray
    direction: np.ndarray
    values: np.ndarray  # rows x compared columns

    @classmethod
    def of(cls, df: pd.DataFrame, cols: Sequence[str]) -> _Keyed:
        return cls(df["ts_ms"].to_numpy(dtype=np.int64),
                   df["coin"].astype(str).to_numpy(dtype=object),
                   df["direction"].to_numpy(dtype=np.int64),
                   np.column_stack([df[c].to_numpy(np.float64) for c in cols])
                   if len(cols) else np.empty((len(df), 0)))

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, rows: np.ndarray | slice) -> _Keyed:
        return _Keyed(self.ts[rows], self.coin[rows], self.direction[rows], self.values[rows])

    def trailing(self, t_ms: int, span_ms: int) -> _Keyed:
        """`trailing` of these rows: the same rows, in the same order."""
        return self.take(trailing_rows(self.ts, t_ms, span_ms))

    def keys(self) -> list[tuple[int, str, int]]:
        return list(zip(self.ts.tolist(), self.coin.tolist(), self.direction.tolist(),
                        strict=True))

    def frame(self, cols: Sequence[str]) -> pd.DataFrame:
        out = pd.DataFrame({"ts_ms": self.ts, "coin": self.coin, "direction": self.direction})
        for j, c in enumerate(cols):
            out[c] = self.values[:, j]
        return out


def _mismatches(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> int:
    """Rows on one side only, plus rows whose `cols` differ beyond 1e-9 (`_count`)."""
    return _count(_Keyed.of(a, cols), _Keyed.of(b, cols), cols)


def _count(a: _Keyed, b: _Keyed, cols: Sequence[str]) -> int:
    """Rows on one side only, plus rows whose compared values differ beyond 1e-9.

    The check stretches hold a few dozen windows, so the keys are matched in a dict (a
    pandas merge cost ~25 ms a call, hundreds of calls a day); keys repeated on a side
    (never, for one detector) take the merge, which pairs every duplicate."""
    ka, kb = a.keys(), b.keys()
    sa, sb = set(ka), set(kb)
    if len(sa) == len(ka) and len(sb) == len(kb):
        pos_b = {k: i for i, k in enumerate(kb)}
        both = [(i, pos_b[k]) for i, k in enumerate(ka) if k in pos_b]
        one_side = len(ka) + len(kb) - 2 * len(both)
        if not both:
            return one_side
        ia = np.array([i for i, _ in both], dtype=np.int64)
        ib = np.array([j for _, j in both], dtype=np.int64)
        close = np.isclose(a.values[ia], b.values[ib], rtol=0.0, atol=1e-9, equal_nan=True)
        return one_side + int((~close).any(axis=1).sum())
    cols = list(cols)
    m = a.frame(cols).merge(b.frame(cols), on=KEY, how="outer", indicator=True,
                            suffixes=("_a", "_b"))
    one_side = int((m["_merge"] != "both").sum())
    both = m[m["_merge"] == "both"]
    diff = np.zeros(len(both), dtype=bool)
    for c in cols:
        x, y = both[f"{c}_a"].to_numpy(np.float64), both[f"{c}_b"].to_numpy(np.float64)
        diff |= ~np.isclose(x, y, rtol=0.0, atol=1e-9, equal_nan=True)
    return one_side + int(diff.sum())


def trailing_rows(ts: np.ndarray, t_ms: int, span_ms: int) -> np.ndarray:
    """The positions of the rows with t - span < ts_ms <= t, in their order (`trailing`'s
    rows): two binary searches when the rows are in time order (the usual case), else
    the mask."""
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        lo, hi = np.searchsorted(ts, [t_ms - span_ms, t_ms], side="right")
        return np.arange(int(lo), int(hi))
    return np.flatnonzero((ts <= t_ms) & (ts > t_ms - span_ms))


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


APART = "#"
"""Joins a coin and a tape's number into the coin name that keeps the tape apart in a
batched call (`_apart`); no coin holds it."""


def _by_cadence(frames: pd.DataFrame, tapes: Sequence[np.ndarray]
                ) -> tuple[np.ndarray, dict[int | tuple[str, int], list[int]]]:
    """(the frames' coins as str, the tapes grouped: one-coin tapes by their cadence, which
    one batched call shares; a tape of several coins, or none, alone)."""
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    coins = frames["coin"].astype(str).to_numpy(dtype=object)
    groups: dict[int | tuple[str, int], list[int]] = {}
    for k, rows in enumerate(tapes):
        one = len(rows) > 0 and bool((coins[rows] == coins[rows[0]]).all())
        groups.setdefault(cadence_ms(ts[rows], coins[rows]) if one else ("alone", k),
                          []).append(k)
    return coins, groups


def _apart(frames: pd.DataFrame, tapes: Sequence[np.ndarray],
           run: Callable[[pd.DataFrame, dict[str, str], dict[str, pd.DataFrame]], pd.DataFrame],
           cols: Sequence[str], known: Mapping[int, pd.DataFrame] | None = None
           ) -> list[_Keyed]:
    """`run` of each tape (row positions in `frames`) as if called on that tape alone, its
    rows keyed back to their coin (`_Keyed`, the `cols` compared): the tapes of one
    cadence in one call instead of a call each (a call's pandas overhead, not its rows,
    was most of a cut's cost).

    In that call each tape is its own coin (`coin#k`; `run` gets {that name: coin} to
    look up what it keys by coin): the detectors and the scores are per coin (every
    row-wise state, rolling window, EMA, segment, cooldown and live cohort is taken within
    a coin's rows; tests/core/audits/test_audits_by_coin.py proves the batched windows and
    scores equal to one call per tape, a peeking detector included), so no state crosses
    from one tape into another. What is not per coin is the cadence (the smallest step
    over every coin), hence one call per cadence; a tape of several coins (never: a coin's
    cuts) runs alone.

    `known`: tape -> its `run_detectors` windows, when the caller holds them; `run` gets
    them by that tape's coin name in its call (`run_detectors`' `known`)."""
    known = known or {}
    coins, groups = _by_cadence(frames, tapes)
    out: dict[int, _Keyed] = {}
    for ks in groups.values():
        if len(ks) == 1:
            k = ks[0]
            mine = {str(coins[tapes[k][0]]): known[k]} if k in known else {}
            out[k] = _Keyed.of(run(frames.iloc[tapes[k]].reset_index(drop=True), {}, mine),
                               cols)
            continue
        names = {f"{coins[tapes[k][0]]}{APART}{k}": k for k in ks}
        blob = frames.iloc[np.concatenate([tapes[k] for k in ks])].reset_index(drop=True)
        blob["coin"] = np.concatenate([np.full(len(tapes[k]), name, dtype=object)
                                       for name, k in names.items()])
        got = _Keyed.of(run(blob, {name: str(coins[tapes[k][0]]) for name, k in names.items()},
                            {name: known[k] for name, k in names.items() if k in known}),
                        cols)
        at = positions_by(got.coin)
        for name, k in names.items():
            part = got.take(at.get(name, np.empty(0, dtype=np.int64)))
            out[k] = _Keyed(part.ts, np.full(len(part), coins[tapes[k][0]], dtype=object),
                            part.direction, part.values)
    return [out[k] for k in range(len(tapes))]


def coins_as(hq: HistoryQuality, names: dict[str, str]) -> HistoryQuality:
    """`hq` with each coin's per-coin history also under the names in `names` (name ->
    coin): what `window_quality` reads for a tape renamed by `_apart`."""
    by_coin = hq.by_coin
    if len(by_coin) == 0 or not names:
        return hq
    coin_of = by_coin.index.get_level_values(1).astype(str)
    parts = [by_coin]
    for name, coin in names.items():
        rows = by_coin[coin_of == coin]
        if len(rows):
            parts.append(rows.set_axis(pd.MultiIndex.from_arrays(
                [rows.index.get_level_values(0), np.full(len(rows), name, dtype=object)],
                names=by_coin.index.names)))
    return replace(hq, by_coin=pd.concat(parts)) if len(parts) > 1 else hq


Audited = tuple[DetectorSpec, pd.DataFrame, "Touch", HistoryQuality]
"""One detector's future-touch on a coin: its spec, its windows on the coin's whole tape,
its `Touch` and the history quality it scores with."""


def touch_coin(frames: pd.DataFrame, spec: DetectorSpec, full: pd.DataFrame, touch: Touch, *,
               cfg: AuditConfig, scoring: ScoringConfig, hq: HistoryQuality) -> None:
    """Add one coin to `touch`: `frames` is the coin's whole tape, `full` the spec's windows
    on it (`touch_coin_all` of one detector)."""
    touch_coin_all(frames, [(spec, full, touch, hq)], cfg=cfg, scoring=scoring)


def touch_coin_all(frames: pd.DataFrame, audited: Sequence[Audited], *, cfg: AuditConfig,
                   scoring: ScoringConfig, found: pd.DataFrame | None = None) -> None:
    """Add one coin to each detector's `Touch`: `frames` is the coin's whole tape. The
    detectors and the scores are per coin, so the day's count is the coins' sum. A cut with
    none of the coin's frames in its trailing window has none of its windows in the check
    stretch either (the stretch lies inside the window): nothing to run. Every detector's
    window cuts run in one pass (`_window_cuts`), its score cuts together (`_apart`), each
    as if alone. `found`: the tape's `run_detectors` windows of every detector, when the
    caller holds them (the whole tape's scores then take them instead of running them)."""
    if len(frames) == 0:
        return
    ts = frames["ts_ms"].to_numpy(dtype=np.int64)
    cadence = cadence_ms(ts, frames["coin"].to_numpy(dtype=object))
    _window_cuts(frames, ts, cadence, audited, cfg)
    of = (None if found is None
          else found["detector_id"].astype(str).to_numpy(dtype=object))
    for spec, _, touch, hq in audited:
        mine = None if found is None else found[of == spec.id]
        _score_cuts(frames, ts, cadence, spec, touch, cfg=cfg, scoring=scoring, hq=hq,
                    found=mine)


def _window_cuts(frames: pd.DataFrame, ts: np.ndarray, cadence: int,
                 audited: Sequence[Audited], cfg: AuditConfig) -> None:
    """Each detector's windows in the check stretch of each cut against those of the cut's
    trailing window run alone: every detector's cuts in one pass (`_tapes_apart`)."""
    check_ms = cfg.check_s * 1000
    jobs: list[tuple[Touch, _Keyed, int]] = []
    tapes: list[tuple[np.ndarray, DetectorSpec]] = []
    for spec, full, touch, _ in audited:
        det_span = detector_lookback_rows(spec, cadence) * cadence + check_ms
        cuts = [(t, rows) for t in touch.cuts if len(rows := trailing_rows(ts, t, det_span))]
        if not cuts:
            continue
        before = _Keyed.of(full, ["raw_strength"])
        jobs.extend((touch, before, t) for t, _ in cuts)
        tapes.extend((rows, spec) for _, rows in cuts)
    for (touch, before, t), after in zip(jobs, _tapes_apart(frames, tapes), strict=True):
        mine = before.trailing(t, check_ms)
        touch.bad += _count(mine, after.trailing(t, check_ms), ["raw_strength"])
        touch.checked += len(mine)


def _tapes_apart(frames: pd.DataFrame, tapes: Sequence[tuple[np.ndarray, DetectorSpec]]
                 ) -> list[_Keyed]:
    """`run_detectors(frames.iloc[rows], [spec])` of each tape, keyed (raw_strength): the
    tapes of one coin and cadence in one array pass (`tape_windows`, what `_apart` of
    run_detectors gives, without a frame per tape); a tape of several coins runs alone."""
    coins, groups = _by_cadence(frames, [rows for rows, _ in tapes])
    out: dict[int, _Keyed] = {}
    for key, ks in groups.items():
        if isinstance(key, tuple):
            rows, spec = tapes[ks[0]]
            out[ks[0]] = _Keyed.of(run_detectors(frames.iloc[rows].reset_index(drop=True),
                                                 [spec]), ["raw_strength"])
            continue
        found = tape_windows(frames, [tapes[k] for k in ks])
        for k, (wts, direction, strength) in zip(ks, found, strict=True):
            out[k] = _Keyed(wts, np.full(len(wts), coins[tapes[k][0][0]], dtype=object),
                            direction.astype(np.int64), strength.reshape(-1, 1))
    return [out[k] for k in range(len(tapes))]


def _score_cuts(frames: pd.DataFrame, ts: np.ndarray, cadence: int, spec: DetectorSpec,
                touch: Touch, *, cfg: AuditConfig, scoring: ScoringConfig,
                hq: HistoryQuality, found: pd.DataFrame | None) -> None:
    """The audited score columns through score_day's own code, without the council: the
    whole tape (what the cuts are compared with; its windows `found`, when held) and each
    score cut's trailing window."""
    check_ms = cfg.check_s * 1000
    score_span = scoring_lookback_rows(scoring, [spec], cadence) * cadence + check_ms
    cuts = [(t, rows) for t in touch.score_cuts
            if len(rows := trailing_rows(ts, t, score_span))]
    if not cuts:
        return
    ev = _apart(frames, [np.arange(len(frames)), *(r for _, r in cuts)],
                lambda f, names, mine: score_columns(f, [spec], scoring=scoring,
                                                     hq=coins_as(hq, names), known=mine),
                SCORE_COLUMNS, known={} if found is None else {0: found})
    for (t, _), after in zip(cuts, ev[1:], strict=True):
        touch.bad += _count(ev[0].trailing(t, check_ms), after.trailing(t, check_ms),
                            SCORE_COLUMNS)


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
