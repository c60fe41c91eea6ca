"""Scale-free, causal per-coin features shared by the learned experts.

Every feature at frame t uses frames <= t of the same coin and day (trailing windows that
include t), and is divided by the coin's own trailing scale, so one model fits BTC, ETH
and SOL alike and a day is never normalised by its own future. Missing inputs become the
neutral value 0 after the transform (documented per feature in docs/dsi.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.dsi.expert_spec import LabelParams

SQRT_60 = float(np.sqrt(60.0))


def trailing(x: np.ndarray, window: int, how: str, min_periods: int = 1) -> np.ndarray:
    """A trailing window statistic (frames t - window + 1 .. t)."""
    roll = pd.Series(x, dtype="float64").rolling(window, min_periods=min_periods)
    return getattr(roll, how)().to_numpy()


def lag(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def rv_ref(rv_bps: np.ndarray, label: LabelParams) -> np.ndarray:
    """The coin's trailing typical 60 s volatility: a median, so one burst cannot move it."""
    return trailing(rv_bps, label.rv_ref_window, "median", label.rv_ref_min_periods)


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(a / b); 0 where it is undefined (warm-up, zero scale)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(a / b)
    return np.where(np.isfinite(r), r, 0.0)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b; 0 where it is undefined (warm-up, zero scale)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = a / b
    return np.where(np.isfinite(r), r, 0.0)


def coin_features(f: pd.DataFrame, label: LabelParams) -> pd.DataFrame:
    """The base feature table of one coin's frames (same index, float64, never NaN)."""
    g = {c: f[c].to_numpy(dtype="float64") for c in (
        "dpx_bps", "rv_bps", "spread_bps", "depth_5_rel", "cancel_rate", "trade_count",
        "buy_vol", "sell_vol", "aggr_imb", "book_imb_5", "microprice_drift_bps",
        "sweep_flag", "size_outlier_count", "oi_delta", "funding", "range_bps")}
    ref = rv_ref(g["rv_bps"], label)
    s1 = np.maximum(ref / SQRT_60, 1e-3)  # per-frame scale in bps; NaN in warm-up
    ret = _ratio(g["dpx_bps"], s1)
    vol = g["buy_vol"] + g["sell_vol"]
    out = {
        "ret": np.clip(ret, -50, 50),
        "abs_ret": np.clip(np.abs(ret), 0, 50),
        "vol_rel": np.log1p(_ratio(vol, trailing(vol, 900, "mean"))),
        "trades_rel": np.log1p(_ratio(g["trade_count"], trailing(g["trade_count"], 900, "mean"))),
        "spread_rel": _log_ratio(g["spread_bps"], trailing(g["spread_bps"], 600, "median")),
        "depth_rel": np.nan_to_num(np.log(np.clip(g["depth_5_rel"], 0.01, 100.0))),
        "cancel": np.log1p(g["cancel_rate"]),
        "aggr_imb": g["aggr_imb"],
        "book_imb": np.nan_to_num(g["book_imb_5"]),
        "micro_z": np.clip(_ratio(g["microprice_drift_bps"], s1), -50, 50),
        "sweep": g["sweep_flag"],
        "outliers": np.clip(g["size_outlier_count"], 0, 5),
        "oi_pct": np.clip(np.nan_to_num(100.0 * g["oi_delta"]), -10, 10),
        "funding_jump": np.clip(_ratio(g["funding"] - lag(g["funding"], 60), 1e-5), -10, 10),
        "rv_ratio": _log_ratio(g["rv_bps"], ref),
        "range_rel": _log_ratio(g["range_bps"], trailing(g["range_bps"], 1800, "median")),
    }
    return pd.DataFrame(out, index=f.index)


ANOMALY_FEATURES = ("abs_ret", "vol_rel", "trades_rel", "spread_rel", "depth_rel", "cancel",
                    "abs_aggr", "abs_book", "abs_micro", "sweep", "outliers", "abs_oi",
                    "abs_funding", "rv_ratio", "range_rel")


def anomaly_matrix(feats: pd.DataFrame) -> np.ndarray:
    """Unsigned features: an anomaly is unusual in size, whatever its side."""
    cols = {
        "abs_aggr": np.abs(feats["aggr_imb"]), "abs_book": np.abs(feats["book_imb"]),
        "abs_micro": np.abs(feats["micro_z"]), "abs_oi": np.abs(feats["oi_pct"]),
        "abs_funding": np.abs(feats["funding_jump"]),
    }
    return np.column_stack([cols[c] if c in cols else feats[c] for c in ANOMALY_FEATURES])


SEQUENCE_BASE = ("abs_ret", "ret", "vol_rel", "spread_rel", "depth_rel", "aggr_imb", "book_imb",
                 "rv_ratio")


def sequence_matrix(feats: pd.DataFrame, lags: tuple[int, ...],
                    windows: tuple[int, ...]) -> np.ndarray:
    """A short window of the past: base features at each lag plus trailing means."""
    cols = []
    for name in SEQUENCE_BASE:
        x = feats[name].to_numpy()
        cols += [np.nan_to_num(lag(x, k)) for k in lags]
    for w in windows:
        for name in ("abs_ret", "vol_rel", "trades_rel"):
            cols.append(np.nan_to_num(trailing(feats[name].to_numpy(), w, "mean")))
    return np.column_stack(cols)
