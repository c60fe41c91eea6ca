"""The alpha normaliser: per detector and horizon, a monotone map from a window's score to
its expected signed forward return μ (bps), dispersion σ and hit probability.

Fitted on `signal_events` ⋈ `signal_eval` of the training days only (earlier days; never
the day decided). Method (docs/dm.md):

1. y = the window's signed forward return at horizon h (fwd_ret_bps, gross: the allocator
   charges costs itself; the net μ is reported as μ − mean cost), x = curated_sigma.
2. x is cut into quantile bins (≥ 30 windows each); isotonic regression (increasing, from
   scikit-learn) on the bin means weighted by counts gives μ_pool(x); the same for the
   hit rate. Pooled across coins; each coin adds its mean residual shrunk by n_c/(n_c + k).
3. Reliability λ ∈ [0, 1]: the out-of-fold calibration slope Σyŷ/Σŷ² (ŷ predicted by a fit
   on the other time blocks), clipped. μ̂ = λ·μ: a score map that does not hold out of
   sample is shrunk to 0. The out-of-fold MSE and the MSE of predicting 0 are reported.
4. Too little history (< min_windows done windows or < min_days days): the conservative
   prior μ = 0, p_hit = 0.5, λ = 0, σ = the data's σ or prior_sigma_bps. Never an
   invented edge.
5. Uncertainty, from the windows behind each number: a score bin's mean has the standard
   error of its residuals summed per independent episode (windows of one coin whose horizons
   start in the same horizon-long bucket share their outcome, so they count once: a
   cluster-robust standard error, never below the independent-windows σ_bin/√n_bin); λ has
   the cluster-robust standard error of the out-of-fold slope.
6. Intervals: [λ_lo·μ, μ] ± z·se_bin (the union of the shrunk and the raw map), λ_lo = max(0,
   λ − z·se_λ), z = `interval_z`. The **edge** fusion and the allocator use is the interval's
   bound nearest zero, and zero when the interval holds zero: an edge the calibration cannot
   tell from nothing is no edge (docs/dm.md, "Trade only what pays").
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.dm.config import CalibrationSettings
from lotus_core.evaluation.late import KEY as LATE_KEY
from lotus_core.evaluation.outcomes import OUTCOME_COLUMNS

CALIBRATION_COLUMNS = [
    "detector_id", "horizon_s", "status", "n", "days", "train_window", "x_knots", "mu_knots",
    "hit_knots", "n_knots", "sigma_bps", "reliability", "mse_oof", "mse_null", "cost_bps",
    "coin_offsets", "corr", "se_knots", "reliability_se",
]
BIN_MIN = 30
MAX_BINS = 20


@dataclass(frozen=True)
class Forecast:
    """A calibrated alpha at one horizon, in the direction of the signal (bps)."""

    mu_bps: float  # λ·μ, the point estimate, signed by the signal's direction
    mu_raw_bps: float  # before the reliability shrinkage
    sigma_bps: float
    p_hit: float
    reliability: float
    lo_bps: float
    hi_bps: float
    cost_bps: float
    status: str  # fitted | prior
    edge_bps: float = 0.0  # what fusion uses: the interval's bound nearest 0 (0 if it holds 0)
    reliability_lo: float = 0.0  # λ − z·se_λ, clipped to [0, 1]


@dataclass(frozen=True)
class _Fit:
    x: np.ndarray  # bin centres (increasing)
    mu: np.ndarray  # isotonic μ at the centres (non-decreasing)
    hit: np.ndarray
    n: np.ndarray  # windows per bin


def _bins(x: np.ndarray) -> np.ndarray:
    """Quantile bin index per point (≥ BIN_MIN points a bin, ≤ MAX_BINS bins)."""
    k = int(max(1, min(MAX_BINS, len(x) // BIN_MIN)))
    if k == 1:
        return np.zeros(len(x), dtype=np.int64)
    order = np.argsort(x, kind="stable")
    idx = np.empty(len(x), dtype=np.int64)
    idx[order] = (np.arange(len(x)) * k) // len(x)
    return idx


def _fit(x: np.ndarray, y: np.ndarray, hit: np.ndarray) -> _Fit:
    from sklearn.isotonic import IsotonicRegression  # here: ~1 s of import every process
    # that never calibrates (the code server, the CLI) spared

    b = _bins(x)
    nb = int(b.max()) + 1
    n = np.bincount(b, minlength=nb).astype(np.float64)
    xc = np.bincount(b, weights=x, minlength=nb) / n
    yc = np.bincount(b, weights=y, minlength=nb) / n
    hc = np.bincount(b, weights=hit, minlength=nb) / n
    mu = IsotonicRegression(increasing=True).fit(xc, yc, sample_weight=n).predict(xc)
    hp = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0).fit(
        xc, hc, sample_weight=n).predict(xc)
    return _Fit(xc, np.asarray(mu, dtype=np.float64), np.asarray(hp, dtype=np.float64), n)


def _robust_se(score: np.ndarray, cluster: np.ndarray) -> float:
    """sqrt(Σ_c (Σ_{i∈c} s_i)²) for per-window scores s: the spread of a sum whose windows
    share an outcome within a cluster, never below the independent-windows sqrt(Σ s²)."""
    if len(score) == 0:
        return 0.0
    _, inv = np.unique(cluster, return_inverse=True)
    per = np.bincount(inv, weights=score)
    return math.sqrt(max(float(np.dot(per, per)), float(np.dot(score, score))))


def _bin_se(x: np.ndarray, y: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """The standard error of each score bin's mean (the bins of `_fit`), cluster-robust."""
    b = _bins(x)
    nb = int(b.max()) + 1
    out = np.empty(nb)
    for j in range(nb):
        yj = y[b == j]
        out[j] = _robust_se(yj - yj.mean(), cluster[b == j]) / max(len(yj), 1)
    return out


def _episodes(coin: np.ndarray, ts: np.ndarray, horizon_s: int) -> np.ndarray:
    """One id per coin and horizon-long time bucket: windows whose outcomes overlap."""
    codes = pd.factorize(coin)[0].astype(np.int64)
    return codes * (1 << 40) + ts.astype(np.int64) // (horizon_s * 1000)


def _predict(f: _Fit, q: np.ndarray) -> np.ndarray:
    return np.interp(q, f.x, f.mu)


def _folds(ts: np.ndarray, k: int) -> np.ndarray:
    """Contiguous time blocks (by rank of ts), so a fold never trains on its own hours."""
    order = np.argsort(ts, kind="stable")
    fold = np.empty(len(ts), dtype=np.int64)
    fold[order] = (np.arange(len(ts)) * k) // len(ts)
    return fold


def _oof(x: np.ndarray, y: np.ndarray, hit: np.ndarray, ts: np.ndarray,
         k: int) -> np.ndarray:
    fold = _folds(ts, k)
    pred = np.zeros(len(y))
    for j in range(k):
        test = fold == j
        if test.all() or not test.any():
            continue
        pred[test] = _predict(_fit(x[~test], y[~test], hit[~test]), x[test])
    return pred


def _corr(frame: pd.DataFrame, horizon_s: int, min_overlap: int) -> dict[str, dict[str, float]]:
    """Correlation of detectors' realised signed returns on co-occurring buckets."""
    if frame.empty:
        return {}
    f = frame.assign(bucket=frame["ts_ms"] // (horizon_s * 1000))
    wide = f.pivot_table(index=["coin", "bucket"], columns="detector_id", values="y",
                         aggfunc="mean")
    out: dict[str, dict[str, float]] = {}
    cols = sorted(wide.columns)
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            pair = wide[[a, b]].dropna()
            if len(pair) < min_overlap or pair[a].std() == 0 or pair[b].std() == 0:
                continue
            rho = float(np.corrcoef(pair[a], pair[b])[0, 1])
            out.setdefault(a, {})[b] = round(rho, 6)
            out.setdefault(b, {})[a] = round(rho, 6)
    return out


TRAIN_EVENT_COLUMNS = ["window_id", "detector_id", "curated_sigma"]
TRAIN_EVAL_COLUMNS = ["window_id", "ts_ms", "coin", "detector_id", "horizon_s", "fwd_ret_bps",
                      "net_ret_bps", "hit", "status"]
TRAIN_LATE_COLUMNS = [*LATE_KEY, *(c for c in OUTCOME_COLUMNS if c in TRAIN_EVAL_COLUMNS)]
"""The signal_events and signal_eval columns `training_frame` reads (and the day's detectors
the calibration fits), and the signal_eval_late columns `with_late` lays over those evals:
`dm_calibration` reads only these of its window."""


def training_frame(events: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """Done outcomes joined to their window's score: window_id, ts_ms, day, coin,
    detector_id, horizon_s, x (curated_sigma), y (signed fwd return bps), hit, cost."""
    ev = events[["window_id", "curated_sigma"]].astype({"window_id": str})
    done = evals[evals["status"] == "done"].astype({"window_id": str})
    m = done.merge(ev, on="window_id", how="inner", validate="many_to_one")
    m = m.sort_values(["ts_ms", "coin", "detector_id", "horizon_s"], kind="stable")
    return pd.DataFrame({
        "window_id": m["window_id"].to_numpy(),
        "ts_ms": m["ts_ms"].to_numpy(dtype=np.int64),
        "day": pd.to_datetime(m["ts_ms"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
        .to_numpy(),
        "coin": m["coin"].astype(str).to_numpy(),
        "detector_id": m["detector_id"].astype(str).to_numpy(),
        "horizon_s": m["horizon_s"].to_numpy(dtype=np.int64),
        "x": m["curated_sigma"].to_numpy(dtype=np.float64),
        "y": m["fwd_ret_bps"].to_numpy(dtype=np.float64),
        "hit": m["hit"].astype(float).to_numpy(dtype=np.float64),
        "cost": (m["fwd_ret_bps"] - m["net_ret_bps"]).to_numpy(dtype=np.float64),
    })


def _prior_row(detector: str, h: int, g: pd.DataFrame, cfg: CalibrationSettings,
               window: str, corr: dict[str, float]) -> dict[str, Any]:
    sigma = float(g["y"].std(ddof=1)) if len(g) >= 2 else cfg.prior_sigma_bps
    cost = float(g["cost"].mean()) if len(g) else 0.0
    return {
        "detector_id": detector, "horizon_s": h, "status": "prior", "n": len(g),
        "days": int(g["day"].nunique()), "train_window": window,
        "x_knots": "[0.0,1.0]", "mu_knots": "[0.0,0.0]", "hit_knots": "[0.5,0.5]",
        "n_knots": json.dumps([max(len(g), 1)] * 2), "sigma_bps": sigma if sigma > 0 else
        cfg.prior_sigma_bps, "reliability": 0.0, "mse_oof": math.nan, "mse_null": math.nan,
        "cost_bps": cost, "coin_offsets": "{}", "corr": json.dumps(corr, sort_keys=True),
        "se_knots": "[0.0,0.0]", "reliability_se": 0.0,
    }


def fit_calibration(train: pd.DataFrame, cfg: CalibrationSettings, window: str,
                    detectors: Iterable[str] = ()) -> pd.DataFrame:
    """One row per (detector, horizon) of cfg.horizons_s; `detectors` adds rows (priors)
    for detectors absent from the training data."""
    rows = []
    dets = sorted(set(train["detector_id"]) | set(detectors))
    for h in cfg.horizons_s:
        th = train[train["horizon_s"] == h]
        corr = _corr(th, h, cfg.corr_min_overlap)
        for det in dets:
            g = th[th["detector_id"] == det]
            if len(g) < cfg.min_windows or g["day"].nunique() < cfg.min_days:
                rows.append(_prior_row(det, h, g, cfg, window, corr.get(det, {})))
                continue
            x, y = g["x"].to_numpy(), g["y"].to_numpy()
            hit, ts = g["hit"].to_numpy(), g["ts_ms"].to_numpy()
            fit = _fit(x, y, hit)
            pred = _oof(x, y, hit, ts, cfg.folds)
            denom = float(np.dot(pred, pred))
            slope = float(np.dot(y, pred)) / denom if denom > 0 else 0.0
            episode = _episodes(g["coin"].to_numpy(), ts, h)
            # the slope's standard error from its out-of-fold residuals, per episode
            slope_se = (_robust_se(pred * (y - slope * pred), episode) / denom
                        if denom > 0 else 1.0)
            se_bins = _bin_se(x, y, episode)
            resid = y - _predict(fit, x)
            offsets = {}
            for coin, r in pd.Series(resid).groupby(g["coin"].to_numpy()):
                n_c = len(r)
                offsets[str(coin)] = round(float(r.mean()) * n_c / (n_c + cfg.coin_shrink_k), 9)
            rows.append({
                "detector_id": det, "horizon_s": h, "status": "fitted", "n": len(g),
                "days": int(g["day"].nunique()), "train_window": window,
                "x_knots": json.dumps([round(v, 12) for v in fit.x.tolist()]),
                "mu_knots": json.dumps([round(v, 9) for v in fit.mu.tolist()]),
                "hit_knots": json.dumps([round(v, 9) for v in fit.hit.tolist()]),
                "n_knots": json.dumps([int(v) for v in fit.n.tolist()]),
                "sigma_bps": max(float(np.std(resid, ddof=1)), 1e-6),
                "reliability": float(np.clip(slope, 0.0, 1.0)),
                "mse_oof": float(np.mean((y - pred) ** 2)), "mse_null": float(np.mean(y**2)),
                "cost_bps": float(g["cost"].mean()),
                "coin_offsets": json.dumps(offsets, sort_keys=True),
                "corr": json.dumps(corr.get(det, {}), sort_keys=True),
                "se_knots": json.dumps([round(float(v), 9) for v in se_bins.tolist()]),
                "reliability_se": float(slope_se),
            })
    out = pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)
    return out.astype({"horizon_s": np.int64, "n": np.int64, "days": np.int64}).reset_index(
        drop=True)


def _finite(v: object) -> float:
    """A stored number, 0 where a table has none (NaN, or no such column)."""
    f = float(v) if isinstance(v, (int, float)) else math.nan
    return f if math.isfinite(f) else 0.0


_MEMO_MAX = 1 << 16  # forecasts a Calibration keeps (a day's live alphas × horizons: ~4,000)


class Calibration:
    """Look-ups into a calibration table (the `dm_calibration` asset's rows)."""

    def __init__(self, table: pd.DataFrame, cfg: CalibrationSettings) -> None:
        self.cfg = cfg
        self._rows: dict[tuple[str, int], dict[str, Any]] = {}
        self._memo: dict[tuple[str, int, str, float, int], Forecast] = {}
        for r in table.to_dict("records"):
            key = (str(r["detector_id"]), int(r["horizon_s"]))
            self._rows[key] = {
                **r,
                "x": np.asarray(json.loads(r["x_knots"]), dtype=np.float64),
                "mu": np.asarray(json.loads(r["mu_knots"]), dtype=np.float64),
                "hit": np.asarray(json.loads(r["hit_knots"]), dtype=np.float64),
                "nk": np.asarray(json.loads(r["n_knots"]), dtype=np.float64),
                "off": json.loads(r["coin_offsets"]),
                "rho": json.loads(r["corr"]),
                # a table written before the uncertainty columns: independent windows, λ exact
                "se": (np.asarray(json.loads(r["se_knots"]), dtype=np.float64)
                       if isinstance(r.get("se_knots"), str) else None),
                "lam_se": _finite(r.get("reliability_se")),
            }

    @property
    def horizons(self) -> tuple[int, ...]:
        return tuple(self.cfg.horizons_s)

    def correlation(self, a: str, b: str, horizon_s: int) -> float:
        """Realised-return correlation of two detectors (0 when unknown)."""
        if a == b:
            return 1.0
        r = self._rows.get((a, horizon_s))
        return float(r["rho"].get(b, 0.0)) if r else 0.0

    def forecast(self, detector_id: str, horizon_s: int, coin: str, score: float,
                 direction: int) -> Forecast:
        """μ, σ, p_hit at `horizon_s` for a window scored `score`, signed by `direction`.
        Memoised: fusion asks again for every live alpha at every decision (~75 times
        each), and the answer is a function of the arguments and the table alone."""
        key = (detector_id, horizon_s, coin, score, direction)
        f = self._memo.get(key)
        if f is None:
            if len(self._memo) >= _MEMO_MAX:  # a long-running loop: bounded
                self._memo.clear()
            f = self._memo[key] = self._forecast(detector_id, horizon_s, coin, score,
                                                 direction)
        return f

    def _forecast(self, detector_id: str, horizon_s: int, coin: str, score: float,
                  direction: int) -> Forecast:
        r = self._rows.get((detector_id, horizon_s))
        z = self.cfg.interval_z
        if r is None or direction == 0:
            sigma = float(r["sigma_bps"]) if r is not None else self.cfg.prior_sigma_bps
            half = z * sigma
            return Forecast(0.0, 0.0, sigma, 0.5, 0.0, -half, half,
                            float(r["cost_bps"]) if r is not None else 0.0, "prior")
        lam = float(r["reliability"])
        mu_raw = float(np.interp(score, r["x"], r["mu"])) + float(r["off"].get(coin, 0.0))
        p_raw = float(np.interp(score, r["x"], r["hit"]))
        nearest = int(np.argmin(np.abs(r["x"] - score)))
        se = float(r["sigma_bps"]) / math.sqrt(max(float(r["nk"][nearest]), 1.0))
        if r["se"] is not None and len(r["se"]) == len(r["x"]):
            se = max(se, float(r["se"][nearest]))
        mu = lam * mu_raw
        lam_lo = min(1.0, max(0.0, lam - z * float(r["lam_se"])))
        lo = min(lam_lo * mu_raw, mu_raw) - z * se
        hi = max(lam_lo * mu_raw, mu_raw) + z * se
        edge = lo if lo > 0 else hi if hi < 0 else 0.0  # the bound nearest 0
        s = float(direction)
        lo_s, hi_s = sorted((s * lo, s * hi))
        return Forecast(
            mu_bps=s * mu, mu_raw_bps=s * mu_raw, sigma_bps=float(r["sigma_bps"]),
            p_hit=0.5 + lam * (p_raw - 0.5), reliability=lam, lo_bps=lo_s, hi_bps=hi_s,
            cost_bps=float(r["cost_bps"]), status=str(r["status"]), edge_bps=s * edge,
            reliability_lo=lam_lo,
        )


def empty_calibration(cfg: CalibrationSettings) -> Calibration:
    """No history at all: every forecast is the conservative prior."""
    return Calibration(pd.DataFrame(columns=CALIBRATION_COLUMNS), cfg)
