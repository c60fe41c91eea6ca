"""sq_*: signal quality of each window from its detector's record on EARLIER days only.

`history_quality` summarises the history windows (from `detector_windows` of previous days,
each with its realised outcome) per detector and (detector, coin), shrinking every rate to
a documented prior so that a detector with little or no history scores as the prior says.
`window_quality` then gives every window of the day its sq_* (docs/scoring.md, "sq_*").
Rows whose recipe_hash differs from the detector's current recipe are not its history.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `QualityLookup.window_one` is window_quality of one window (the
live step, `pipeline.WindowScorer`), right after it; tests/core/signals/
test_signals_scoring.py proves them equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lotus_core.signals.config import SqConfig, SqWeights
from lotus_core.signals.features import coin_blocks
from lotus_core.signals.meta import clip_one, nan_to_num_one, pow_one
from lotus_core.signals.spec import DetectorSpec

SQ_COLUMNS = ("sq_accuracy", "sq_precision", "sq_stability", "sq_orthogonality", "sq_cost",
              "sq_score")
MIN_MOVE_WINDOWS = 10  # a median |move| needs this many outcomes to replace the rv fallback
RV_SECONDS = 60.0  # rv_bps is over this many seconds: the fallback |move| is rv * sqrt(h / it)
MOVE_UNKNOWN = 1.0  # |move| (bps) when neither history nor rv_bps knows it
FEE_LEGS = 2.0  # sq_cost's cost: spread + FEE_LEGS * fee_bps (a round trip)


@dataclass(frozen=True)
class HistoryQuality:
    detectors: tuple[str, ...]
    pooled: pd.DataFrame  # index detector_id: n, accuracy, precision, move, stability, days
    by_coin: pd.DataFrame  # index (detector_id, coin): n, accuracy, precision, move
    rho: np.ndarray  # |corr| between detectors' position series (prior where unknown)
    days: tuple[str, ...] = ()  # history days that contributed
    dropped_stale: int = 0  # rows of an older recipe, ignored
    notes: dict[str, int] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.detectors)}


HISTORY_COLUMNS = ["ts_ms", "coin", "detector_id", "recipe_hash", "direction", "horizon_s",
                   "outcome_ok", "hit", "net_ret_bps", "signed_ret_bps"]
"""The detector_windows columns `history_quality` reads (with the `date` the lake adds): a
step that reads the history window reads only these (issue 32)."""


def _usable(history: pd.DataFrame | None, specs: Sequence[DetectorSpec]) -> tuple[pd.DataFrame,
                                                                                  int]:
    if history is None or len(history) == 0 or "detector_id" not in history:
        return pd.DataFrame(), 0
    current = {s.id: s.recipe_hash for s in specs}
    mine = history["detector_id"].map(current)
    fresh = history["recipe_hash"] == mine
    stale = int((mine.notna() & ~fresh).sum())
    return history[fresh & history["outcome_ok"].astype(bool)], stale


def _position_corr(h: pd.DataFrame, detectors: Sequence[str], grid_s: int,
                   prior: float) -> np.ndarray:
    """|corr| of the detectors' position series (+s over [ts, ts + h), summed, clipped to
    [-1, 1]) on a grid_s grid of each (day, coin) of history; prior where unknown."""
    k = len(detectors)
    rho = np.full((k, k), prior)
    np.fill_diagonal(rho, 1.0)
    if len(h) == 0:
        return rho
    idx = {d: i for i, d in enumerate(detectors)}
    step = grid_s * 1000
    series: list[np.ndarray] = []
    keys = h["date"].astype(str) + "/" + h["coin"].astype(str)
    for _, g in h.groupby(keys, sort=True):
        t0 = int(g["ts_ms"].min())
        t1 = int((g["ts_ms"] + g["horizon_s"] * 1000).max())
        nbins = (t1 - t0) // step + 2
        diff = np.zeros((k, nbins))
        row = g["detector_id"].map(idx).to_numpy()
        a = ((g["ts_ms"].to_numpy() - t0) // step).astype(np.int64)
        b = ((g["ts_ms"].to_numpy() + g["horizon_s"].to_numpy() * 1000 - t0) // step)
        s = g["direction"].to_numpy(dtype=np.float64)
        np.add.at(diff, (row, a), s)
        np.add.at(diff, (row, b.astype(np.int64)), -s)
        series.append(np.clip(np.cumsum(diff, axis=1)[:, :-1], -1.0, 1.0))
    x = np.concatenate(series, axis=1)
    sd = x.std(axis=1)
    live = sd > 0
    if live.sum() >= 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.abs(np.corrcoef(x[live]))
        sub = np.ix_(np.flatnonzero(live), np.flatnonzero(live))
        rho[sub] = np.nan_to_num(c, nan=prior)
        np.fill_diagonal(rho, 1.0)
    return rho


def history_quality(history: pd.DataFrame | None, specs: Sequence[DetectorSpec],
                    cfg: SqConfig) -> HistoryQuality:
    """Per-detector and per-(detector, coin) quality from earlier days' windows."""
    detectors = tuple(s.id for s in specs)
    h, stale = _usable(history, specs)
    p = cfg.prior
    pooled = pd.DataFrame(index=pd.Index(detectors, name="detector_id"))
    pooled["n"] = 0
    pooled["accuracy"], pooled["precision"] = p.accuracy, p.precision
    pooled["move"], pooled["stability"], pooled["days"] = np.nan, p.stability, 0
    by_coin = pd.DataFrame(columns=["n", "accuracy", "precision", "move"],
                           index=pd.MultiIndex.from_tuples([], names=["detector_id", "coin"]))
    days: tuple[str, ...] = ()
    if len(h):
        h = h.assign(net_win=(h["net_ret_bps"] > 0).astype(np.float64),
                     abs_move=h["signed_ret_bps"].abs())
        days = tuple(sorted(h["date"].astype(str).unique()))
        g = h.groupby("detector_id")
        agg = pd.DataFrame({"n": g.size(), "k": g["hit"].sum(), "kn": g["net_win"].sum(),
                            "move": g["abs_move"].median()})
        agg = agg.reindex(list(detectors))
        n = agg["n"].fillna(0)
        a0 = cfg.pseudo_pool
        pooled["n"] = n.astype(np.int64)
        pooled["accuracy"] = (agg["k"].fillna(0) + a0 * p.accuracy) / (n + a0)
        pooled["precision"] = (agg["kn"].fillna(0) + a0 * p.precision) / (n + a0)
        pooled["move"] = agg["move"].where(n >= MIN_MOVE_WINDOWS)
        daily = h.groupby(["detector_id", "date"])["hit"].agg(["mean", "size"])
        daily = daily[daily["size"] >= cfg.min_day_windows]["mean"].groupby("detector_id")
        d_n = daily.size().reindex(list(detectors)).fillna(0)
        d_sd = daily.std(ddof=0).reindex(list(detectors))
        raw = 1.0 - np.minimum(1.0, d_sd / cfg.stability_sd_ref)
        wgt = ((d_n - 1) / (d_n + 1)).clip(lower=0)
        pooled["stability"] = np.where(d_n >= 2, wgt * raw + (1 - wgt) * p.stability,
                                       p.stability)
        pooled["days"] = d_n.astype(np.int64)
        gc = h.groupby(["detector_id", "coin"])
        c = pd.DataFrame({"n": gc.size(), "k": gc["hit"].sum(), "kn": gc["net_win"].sum(),
                          "move": gc["abs_move"].median()})
        base = pooled.loc[c.index.get_level_values(0)]
        a1 = cfg.pseudo_coin
        by_coin = pd.DataFrame({
            "n": c["n"].astype(np.int64),
            "accuracy": (c["k"] + a1 * base["accuracy"].to_numpy()) / (c["n"] + a1),
            "precision": (c["kn"] + a1 * base["precision"].to_numpy()) / (c["n"] + a1),
            "move": c["move"].where(c["n"] >= MIN_MOVE_WINDOWS),
        }, index=c.index)
    rho = _position_corr(h, detectors, cfg.corr_grid_s, p.rho)
    return HistoryQuality(detectors, pooled, by_coin, rho, days, stale,
                          {"history_windows": int(len(h))})


def live_others(windows: pd.DataFrame, horizons: Mapping[str, int]) -> dict[str, np.ndarray]:
    """For each detector d': is d' live (a window on the same coin with ts <= t < ts + h)
    at each window's time? A window is never counted as live for itself."""
    n = len(windows)
    coin = windows["coin"].to_numpy(dtype=object)
    det = windows["detector_id"].to_numpy(dtype=object)
    ts = windows["ts_ms"].to_numpy(dtype=np.int64)
    order = np.lexsort((ts, coin))
    out: dict[str, np.ndarray] = {}
    for d, h in horizons.items():
        live = np.zeros(n, dtype=bool)
        for _, a, b in coin_blocks(coin[order]):
            rows = order[a:b]
            mine = rows[det[rows] == d]
            if len(mine) == 0:
                continue
            j = np.searchsorted(ts[mine], ts[rows], side="right") - 1
            ok = j >= 0
            age = ts[rows] - ts[mine[np.maximum(j, 0)]]
            live[rows] = ok & (age < h * 1000)
        live &= det != d
        out[d] = live
    return out


def window_quality(windows: pd.DataFrame, ctx: pd.DataFrame, hq: HistoryQuality,
                   specs: Sequence[DetectorSpec], cfg: SqConfig) -> pd.DataFrame:
    """sq_* per window; `ctx` carries the window's spread_bps and rv_bps."""
    n = len(windows)
    det = windows["detector_id"].astype(str)
    coin = windows["coin"].astype(str)
    key = pd.MultiIndex.from_arrays([det, coin])
    pooled = hq.pooled.reindex(det)
    local = hq.by_coin.reindex(key)
    acc = local["accuracy"].fillna(pd.Series(pooled["accuracy"].to_numpy(), index=local.index))
    prec = local["precision"].fillna(pd.Series(pooled["precision"].to_numpy(),
                                               index=local.index))
    move = local["move"].to_numpy(dtype=np.float64)
    move = np.where(np.isnan(move), pooled["move"].to_numpy(dtype=np.float64), move)
    horizon = windows["horizon_s"].to_numpy(dtype=np.float64)
    rv = ctx["rv_bps"].to_numpy(dtype=np.float64) * np.sqrt(horizon / RV_SECONDS)
    move = np.where(np.isnan(move), rv, move)
    move = np.nan_to_num(move, nan=MOVE_UNKNOWN)
    cost = ctx["spread_bps"].to_numpy(dtype=np.float64) + FEE_LEGS * cfg.fee_bps
    with np.errstate(invalid="ignore", divide="ignore"):
        sq_cost = np.where(move + cost > 0, move / (move + cost), 0.0)

    horizons = {s.id: s.horizon_s for s in specs}
    idx = hq.index()
    di = det.map(idx).to_numpy(dtype=np.int64)
    orth = np.ones(n)
    for d, live in live_others(windows, horizons).items():
        r = hq.rho[di, idx[d]]
        orth = np.minimum(orth, np.where(live, 1.0 - r, 1.0))

    out = pd.DataFrame({
        "sq_accuracy": acc.to_numpy(dtype=np.float64),
        "sq_precision": prec.to_numpy(dtype=np.float64),
        "sq_stability": pooled["stability"].to_numpy(dtype=np.float64),
        "sq_orthogonality": np.clip(orth, 0.0, 1.0),
        "sq_cost": np.clip(sq_cost, 0.0, 1.0),
    }, index=windows.index)
    w = cfg.weights
    out["sq_score"] = (out["sq_accuracy"] ** w.accuracy * out["sq_precision"] ** w.precision
                       * out["sq_stability"] ** w.stability
                       * out["sq_orthogonality"] ** w.orthogonality * out["sq_cost"] ** w.cost)
    local_n = local["n"].to_numpy(dtype=np.float64)
    out["sq_n"] = np.nan_to_num(local_n, nan=0.0).astype(np.int64)
    return out


class QualityLookup:
    """window_quality for one window at a time (the step): a HistoryQuality as it reads it
    (per (detector, coin) the by-coin rates, else the pooled ones) and rho between the
    cohort's detectors."""

    def __init__(self, hq: HistoryQuality, specs: Sequence[DetectorSpec],
                 weights: SqWeights) -> None:
        idx = hq.index()
        nan = float("nan")
        pooled = hq.pooled
        self._w = weights
        self._pooled: dict[str, tuple[float, float, float, float]] = {}
        self._rho_to: dict[str, dict[str, float]] = {}
        for s in specs:
            if s.id in pooled.index:
                row = pooled.loc[s.id]
                self._pooled[s.id] = (float(row["accuracy"]), float(row["precision"]),
                                      float(row["stability"]), float(row["move"]))
            else:
                self._pooled[s.id] = (nan, nan, nan, nan)
            self._rho_to[s.id] = ({d.id: float(hq.rho[idx[s.id], idx[d.id]]) for d in specs}
                                  if s.id in idx else {})
        self._by_coin: dict[tuple[str, str], tuple[float, float, float, float]] = {
            (str(d), str(c)): (float(r["n"]), float(r["accuracy"]), float(r["precision"]),
                               float(r["move"]))
            for (d, c), r in hq.by_coin.iterrows()}
        self._terms: dict[tuple[str, str], tuple[float, float, float, float, int, float]] = {}
        self._orth_pow: dict[float, float] = {}  # pow_one(orth, w.orthogonality): few values

    def _history(self, did: str, coin: str) -> tuple[float, float, float, float, int, float]:
        """window_quality's history terms of (detector, coin): accuracy, precision and
        stability, the history's median |move| (NaN: none), sq_n, and the first three
        factors of sq_score (its product runs left to right, so this prefix is exact)."""
        acc, prec, stab, move = self._pooled[did]
        n_local = 0
        local = self._by_coin.get((did, coin))
        if local is not None:
            n, l_acc, l_prec, l_move = local
            n_local = 0 if n != n else int(n)
            acc = acc if l_acc != l_acc else l_acc
            prec = prec if l_prec != l_prec else l_prec
            move = move if l_move != l_move else l_move
        w = self._w
        head = pow_one(acc, w.accuracy) * pow_one(prec, w.precision) * pow_one(stab, w.stability)
        return acc, prec, stab, move, n_local, head

    def window_one(self, did: str, coin: str, rv: float, horizon: int, cost: float,
                   live: Sequence[str]) -> tuple[float, float, float, int, float, float, float]:
        """window_quality of one window of `did` on `coin`, from the row's rv_bps, its cost
        (spread_bps + FEE_LEGS * fee_bps) and the detectors live on the row (`live`:
        live_others' set plus the window's own): (sq_accuracy, sq_precision, sq_stability,
        sq_n, sq_orthogonality, sq_cost, sq_score)."""
        key = (did, coin)
        h = self._terms.get(key)
        if h is None:
            h = self._terms[key] = self._history(did, coin)
        acc, prec, stab, move, n_local, head = h
        if move != move:
            move = rv * math.sqrt(horizon / RV_SECONDS)
        move = nan_to_num_one(move, MOVE_UNKNOWN)
        sq_cost = clip_one(move / (move + cost) if move + cost > 0 else 0.0, 0.0, 1.0)
        orth = 1.0
        rho_to = self._rho_to[did]
        for other in live:
            if other != did:  # never live for itself, as in live_others
                orth = min(orth, 1.0 - rho_to[other])
        orth = clip_one(orth, 0.0, 1.0)
        w = self._w
        p_orth = self._orth_pow.get(orth)
        if p_orth is None:
            p_orth = self._orth_pow[orth] = pow_one(orth, w.orthogonality)
        return (acc, prec, stab, n_local, orth, sq_cost,
                head * p_orth * pow_one(sq_cost, w.cost))
