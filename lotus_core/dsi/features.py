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
SCALE_FLOOR = 1e-3  # the per-frame scale's floor, bps
Z_CLIP = 50.0  # ret, abs_ret and micro_z, in per-frame scales
VOL_WINDOW = 900  # trailing mean of volume and of the trade count
SPREAD_WINDOW = 600  # trailing median of the spread
RANGE_WINDOW = 1800  # trailing median of the candle range
DEPTH_CLIP = (0.01, 100.0)
OUTLIER_CLIP = 5.0
OI_CLIP = 10.0  # percent
FUNDING_LAG = 60
FUNDING_UNIT = 1e-5
FUNDING_CLIP = 10.0


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
    s1 = np.maximum(ref / SQRT_60, SCALE_FLOOR)  # per-frame scale in bps; NaN in warm-up
    ret = _ratio(g["dpx_bps"], s1)
    vol = g["buy_vol"] + g["sell_vol"]
    trades = g["trade_count"]
    funding = g["funding"]
    out = {
        "ret": np.clip(ret, -Z_CLIP, Z_CLIP),
        "abs_ret": np.clip(np.abs(ret), 0, Z_CLIP),
        "vol_rel": np.log1p(_ratio(vol, trailing(vol, VOL_WINDOW, "mean"))),
        "trades_rel": np.log1p(_ratio(trades, trailing(trades, VOL_WINDOW, "mean"))),
        "spread_rel": _log_ratio(g["spread_bps"],
                                 trailing(g["spread_bps"], SPREAD_WINDOW, "median")),
        "depth_rel": np.nan_to_num(np.log(np.clip(g["depth_5_rel"], *DEPTH_CLIP))),
        "cancel": np.log1p(g["cancel_rate"]),
        "aggr_imb": g["aggr_imb"],
        "book_imb": np.nan_to_num(g["book_imb_5"]),
        "micro_z": np.clip(_ratio(g["microprice_drift_bps"], s1), -Z_CLIP, Z_CLIP),
        "sweep": g["sweep_flag"],
        "outliers": np.clip(g["size_outlier_count"], 0, OUTLIER_CLIP),
        "oi_pct": np.clip(np.nan_to_num(100.0 * g["oi_delta"]), -OI_CLIP, OI_CLIP),
        "funding_jump": np.clip(_ratio(funding - lag(funding, FUNDING_LAG), FUNDING_UNIT),
                                -FUNDING_CLIP, FUNDING_CLIP),
        "rv_ratio": _log_ratio(g["rv_bps"], ref),
        "range_rel": _log_ratio(g["range_bps"],
                                trailing(g["range_bps"], RANGE_WINDOW, "median")),
    }
    return pd.DataFrame(out, index=f.index)


ANOMALY_FEATURES = ("abs_ret", "vol_rel", "trades_rel", "spread_rel", "depth_rel", "cancel",
                    "abs_aggr", "abs_book", "abs_micro", "sweep", "outliers", "abs_oi",
                    "abs_funding", "rv_ratio", "range_rel")
ANOMALY_ABS = {"abs_aggr": "aggr_imb", "abs_book": "book_imb", "abs_micro": "micro_z",
               "abs_oi": "oi_pct", "abs_funding": "funding_jump"}
"""The anomaly columns that are |feature|."""


def anomaly_matrix(feats: pd.DataFrame) -> np.ndarray:
    """Unsigned features: an anomaly is unusual in size, whatever its side."""
    return np.column_stack([np.abs(feats[ANOMALY_ABS[c]]) if c in ANOMALY_ABS else feats[c]
                            for c in ANOMALY_FEATURES])


SEQUENCE_BASE = ("abs_ret", "ret", "vol_rel", "spread_rel", "depth_rel", "aggr_imb", "book_imb",
                 "rv_ratio")
SEQUENCE_MEANS = ("abs_ret", "vol_rel", "trades_rel")


def sequence_matrix(feats: pd.DataFrame, lags: tuple[int, ...],
                    windows: tuple[int, ...]) -> np.ndarray:
    """A short window of the past: base features at each lag plus trailing means."""
    cols = []
    for name in SEQUENCE_BASE:
        x = feats[name].to_numpy()
        cols += [np.nan_to_num(lag(x, k)) for k in lags]
    for w in windows:
        for name in SEQUENCE_MEANS:
            cols.append(np.nan_to_num(trailing(feats[name].to_numpy(), w, "mean")))
    return np.column_stack(cols)
