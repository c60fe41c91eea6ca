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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pandas as pd

from lotus_core.comoments import Comoments
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
step that reads the history window reads only these."""


History: TypeAlias = pd.DataFrame | Iterable[pd.DataFrame] | None
"""Earlier days' detector_windows (with `date`): one frame, or parts of it, each a whole
(date, coin) group, coin by coin (`CoinDays.parts`); None: none."""


POOLED_MOVES = 65_536
"""A detector's pooled median |move| is exact up to this many usable history windows (3
coins x 7 days x 24 h hold at most ~46,000 a detector); above, it is the median of the
POOLED_MOVES windows with the smallest hash of (ts_ms, coin, detector_id): a uniform sample
fixed by the window, not by the order it is read in."""


@dataclass
class _Coin:
    """One (detector, coin)'s usable history so far; `move` once the coin is finished."""

    n: int = 0
    k: float = 0.0
    kn: float = 0.0
    moves: list[np.ndarray] = field(default_factory=list)
    move: float | None = None


@dataclass
class _Pooled:
    """A detector's |moves| with their windows' hashes, cut to the POOLED_MOVES smallest
    hashes whenever a quarter more are held (a bottom-k sample)."""

    hashes: list[np.ndarray] = field(default_factory=list)
    moves: list[np.ndarray] = field(default_factory=list)
    held: int = 0

    def add(self, hashes: np.ndarray, moves: np.ndarray) -> None:
        self.hashes.append(hashes)
        self.moves.append(moves)
        self.held += len(moves)
        if self.held > POOLED_MOVES + POOLED_MOVES // 4:
            self._cut()

    def _cut(self) -> None:
        h, m = np.concatenate(self.hashes), np.concatenate(self.moves)
        if len(h) > POOLED_MOVES:
            keep = np.argpartition(h, POOLED_MOVES - 1)[:POOLED_MOVES]
            h, m = h[keep], m[keep]
        self.hashes, self.moves, self.held = [h], [m], len(h)

    def median(self) -> float:
        self._cut()
        return float(pd.Series(self.moves[0]).median())


@dataclass
class _Detector:
    """One detector's usable history so far, and its rows of an older recipe."""

    stale: int = 0
    days: dict[str, list[float]] = field(default_factory=dict)  # date -> [hits, windows]
    coins: dict[str, _Coin] = field(default_factory=dict)
    pooled: _Pooled = field(default_factory=_Pooled)


class QualityFold:
    """`history_quality`'s sums, folded a part at a time: counts and hit sums per detector,
    (detector, coin) and (detector, day); each (detector, coin)'s |moves| until its coin is
    finished (its median is then kept, not the moves); each detector's |moves| as a bounded
    uniform sample (`POOLED_MOVES`); the detectors' position series as mergeable
    co-moments (`Comoments`), one (date, coin) series at a time.

    Parts come coin by coin (`CoinDays.parts`, `CoinParts`' order: every day of a coin, then
    the next coin), each holding whole (date, coin) groups; a whole window is one part. So
    a step holds one coin's history and the fold's fixed-size state, whatever the coins."""

    def __init__(self, specs: Sequence[DetectorSpec], grid_s: int) -> None:
        self.detectors = tuple(s.id for s in specs)
        self.current = {s.id: s.recipe_hash for s in specs}
        self.grid_s = grid_s
        self.by_detector = {d: _Detector() for d in self.detectors}
        self.position = Comoments()
        self.finished: set[str] = set()
        self.coin: str | None = None

    def add(self, part: pd.DataFrame) -> None:
        if len(part) == 0 or "detector_id" not in part:
            return
        self._next_coins(part["coin"].astype(str).unique())
        mine = part["detector_id"].map(self.current)
        fresh = part["recipe_hash"] == mine
        for d, n in part.loc[mine.notna() & ~fresh, "detector_id"].value_counts().items():
            self.by_detector[str(d)].stale += int(n)
        h = part[fresh & part["outcome_ok"].astype(bool)]
        if len(h) == 0:
            return
        h = h.assign(net_win=(h["net_ret_bps"] > 0).astype(np.float64),
                     abs_move=h["signed_ret_bps"].abs())
        h = h.assign(row_hash=pd.util.hash_pandas_object(pd.DataFrame({
            "ts_ms": h["ts_ms"].to_numpy(dtype=np.int64),
            "coin": h["coin"].to_numpy(dtype=object),
            "detector_id": h["detector_id"].to_numpy(dtype=object)}), index=False).to_numpy())
        for (d, c), g in h.groupby(["detector_id", "coin"], sort=False):
            det = self.by_detector[str(d)]
            cell = det.coins.setdefault(str(c), _Coin())
            cell.n += len(g)
            cell.k += float(g["hit"].sum())
            cell.kn += float(g["net_win"].sum())
            moves = g["abs_move"].to_numpy(dtype=np.float64)
            cell.moves.append(moves)
            det.pooled.add(g["row_hash"].to_numpy(), moves)
        daily = h.groupby(["detector_id", "date"], sort=False)["hit"].agg(["sum", "size"])
        for (d, day), row in daily.iterrows():
            acc = self.by_detector[str(d)].days.setdefault(str(day), [0.0, 0])
            acc[0] += float(row["sum"])
            acc[1] += int(row["size"])
        # coin by coin, each coin's days in order: the order `CoinParts` hands the parts
        # in, so a whole window and its parts merge the co-moments in the same sequence
        for _, g in h.groupby([h["coin"].astype(str), h["date"].astype(str)], sort=True):
            self.position.add(_position_series(g, self.detectors, self.grid_s).T)

    def _next_coins(self, coins: np.ndarray) -> None:
        """A part of one coin finishes the coin before it; a coin met again once finished
        means the parts did not come coin by coin, which the medians cannot take."""
        again = self.finished.intersection(coins)
        if again:
            raise ValueError(f"history part for coin(s) {sorted(again)[:5]} after they were "
                             "finished: parts must come coin by coin (CoinParts' order)")
        if len(coins) == 1 and self.coin is not None and coins[0] != self.coin:
            self._finish(self.coin)
        self.coin = str(coins[0]) if len(coins) == 1 else None

    def _finish(self, coin: str | None = None) -> None:
        """Each finished cell's median kept, its moves dropped (`coin`: that coin's; None:
        every cell)."""
        for det in self.by_detector.values():
            for c, cell in det.coins.items():
                if cell.move is None and (coin is None or c == coin):
                    cell.move = _median(cell.moves) if cell.n >= MIN_MOVE_WINDOWS else np.nan
                    cell.moves = []
        if coin is not None:
            self.finished.add(coin)

    def quality(self, cfg: SqConfig, only: Sequence[str] | None = None) -> HistoryQuality:
        """The HistoryQuality of every detector folded, or of `only` those (their rows and
        rates are their own; rho is the sub-matrix of the whole set's)."""
        detectors = self.detectors if only is None else tuple(only)
        self._finish()
        p = cfg.prior
        pooled = pd.DataFrame(index=pd.Index(detectors, name="detector_id"))
        pooled["n"] = 0
        pooled["accuracy"], pooled["precision"] = p.accuracy, p.precision
        pooled["move"], pooled["stability"], pooled["days"] = np.nan, p.stability, 0
        rows: list[tuple[str, str, int, float, float, float]] = []
        days: set[str] = set()
        usable = 0
        for d in detectors:
            det = self.by_detector[d]
            if not det.coins:
                continue
            days |= set(det.days)
            cells = sorted(det.coins.items())
            n = sum(c.n for _, c in cells)
            usable += n
            a0 = cfg.pseudo_pool
            pooled.at[d, "n"] = n
            pooled.at[d, "accuracy"] = (sum(c.k for _, c in cells) + a0 * p.accuracy) / (n + a0)
            pooled.at[d, "precision"] = (sum(c.kn for _, c in cells) + a0 * p.precision) / (n + a0)
            if n >= MIN_MOVE_WINDOWS:
                pooled.at[d, "move"] = det.pooled.median()
            means = pd.Series([hits / size for hits, size in
                               (det.days[k] for k in sorted(det.days))
                               if size >= cfg.min_day_windows], dtype=np.float64)
            if len(means) >= 2:
                raw = 1.0 - min(1.0, float(means.std(ddof=0)) / cfg.stability_sd_ref)
                wgt = max(0.0, (len(means) - 1) / (len(means) + 1))
                pooled.at[d, "stability"] = wgt * raw + (1 - wgt) * p.stability
            pooled.at[d, "days"] = len(means)
            for c, cell in cells:
                rows.append((d, c, cell.n, cell.k, cell.kn, float(cell.move)))
        pooled["n"] = pooled["n"].astype(np.int64)
        pooled["days"] = pooled["days"].astype(np.int64)
        by_coin = _by_coin(rows, pooled, cfg.pseudo_coin)
        rho = self._rho(detectors, p.rho)
        stale = sum(self.by_detector[d].stale for d in detectors)
        return HistoryQuality(detectors, pooled, by_coin, rho, tuple(sorted(days)), stale,
                              {"history_windows": usable})

    def _rho(self, detectors: Sequence[str], prior: float) -> np.ndarray:
        """|corr| of the position series between `detectors` (prior where unknown)."""
        k = len(self.detectors)
        rho = np.full((k, k), prior)
        np.fill_diagonal(rho, 1.0)
        live = self.position.live()
        if live.sum() >= 2:
            sub = np.ix_(np.flatnonzero(live), np.flatnonzero(live))
            rho[sub] = np.nan_to_num(self.position.abs_corr(), nan=prior)
            np.fill_diagonal(rho, 1.0)
        at = [self.detectors.index(d) for d in detectors]
        return rho[np.ix_(at, at)]


def _median(moves: Sequence[np.ndarray]) -> float:
    return float(pd.Series(np.concatenate(moves)).median())


def _by_coin(rows: Sequence[tuple[str, str, int, float, float, float]], pooled: pd.DataFrame,
             a1: float) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["n", "accuracy", "precision", "move"],
                            index=pd.MultiIndex.from_tuples([], names=["detector_id", "coin"]))
    c = pd.DataFrame(rows, columns=["detector_id", "coin", "n", "k", "kn", "move"]
                     ).set_index(["detector_id", "coin"])
    base = pooled.loc[c.index.get_level_values(0)]
    return pd.DataFrame({
        "n": c["n"].astype(np.int64),
        "accuracy": (c["k"] + a1 * base["accuracy"].to_numpy()) / (c["n"] + a1),
        "precision": (c["kn"] + a1 * base["precision"].to_numpy()) / (c["n"] + a1),
        "move": c["move"],
    }, index=c.index)


def _position_series(g: pd.DataFrame, detectors: Sequence[str], grid_s: int) -> np.ndarray:
    """The detectors' position series (+s over [ts, ts + h), summed, clipped to [-1, 1]) on
    a grid_s grid of one (date, coin)'s windows: detectors x bins."""
    k = len(detectors)
    idx = {d: i for i, d in enumerate(detectors)}
    step = grid_s * 1000
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
    return np.clip(np.cumsum(diff, axis=1)[:, :-1], -1.0, 1.0)


def history_parts(history: History) -> Iterable[pd.DataFrame]:
    if history is None:
        return ()
    return (history,) if isinstance(history, pd.DataFrame) else history


def quality_fold(history: History, specs: Sequence[DetectorSpec], cfg: SqConfig
                 ) -> QualityFold:
    """Every part of `history` folded (read once)."""
    fold = QualityFold(specs, cfg.corr_grid_s)
    for part in history_parts(history):
        fold.add(part)
    return fold


def history_quality(history: History, specs: Sequence[DetectorSpec],
                    cfg: SqConfig) -> HistoryQuality:
    """Per-detector and per-(detector, coin) quality from earlier days' windows."""
    return quality_fold(history, specs, cfg).quality(cfg)


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
