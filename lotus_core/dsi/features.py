"""Scale-free, causal per-coin features shared by the learned experts, in both forms: the
day's table (`coin_features`) and the same features at one row (`FeatureStep`).

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. Both forms read the constants below; each step formula sits under its
batch counterpart. tests/core/dsi/test_dsi.py (`test_fitted_model_day_equals_annotate` and
the others beside it) checks DsiStream, which reads FeatureStep, against `annotate`.

Every feature at frame t uses frames <= t of the same coin and day (trailing windows that
include t), and is divided by the coin's own trailing scale, so one model fits BTC, ETH
and SOL alike and a day is never normalised by its own future. Missing inputs become the
neutral value 0 after the transform (documented per feature in docs/dsi.md), so no feature
is NaN. That includes the trade columns of a coin whose trades channel is missing (NaN in
the MicroTape, docs/microtape.md): vol_rel and trades_rel are 0 by their ratio's rule, and
aggr_imb, sweep and outliers read 0 (`TRADE_NEUTRAL`): no imbalance, sweep or outlier seen,
as in an interval without trades, so the experts see a quiet tape, not a NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.dsi.expert_spec import LabelParams
from lotus_core.dsi.windows import (
    Inputs,
    Kahan,
    Median,
    Program,
    clip_step,
    lag,
    lit,
    push_kahans,
    step_lag,
    trailing,
)

SQRT_60 = float(np.sqrt(60.0))
SCALE_FLOOR = 1e-3  # the per-frame scale's floor, bps
Z_CLIP = 50.0  # ret, abs_ret and micro_z, in per-frame scales
MIN_PERIODS = 1  # the feature windows' and sequence means' min_periods: read from row 1
VOL_WINDOW = 900  # trailing mean of volume and of the trade count
SPREAD_WINDOW = 600  # trailing median of the spread
RANGE_WINDOW = 1800  # trailing median of the candle range
DEPTH_CLIP = (0.01, 100.0)
OUTLIER_CLIP = (0.0, 5.0)
PERCENT = 100.0  # oi_delta (a fraction) -> oi_pct
OI_CLIP = 10.0  # percent
FUNDING_LAG = 60
FUNDING_UNIT = 1e-5
FUNDING_CLIP = 10.0
TRADE_NEUTRAL = 0.0  # aggr_imb, sweep and outliers where the trade column is NaN


def rv_ref(rv_bps: np.ndarray, label: LabelParams) -> np.ndarray:
    """The coin's trailing typical 60 s volatility: a median, so one burst cannot move it."""
    return trailing(rv_bps, label.rv_ref_window, "median", label.rv_ref_min_periods)


def scale(ref: np.ndarray) -> np.ndarray:
    """The per-frame scale in bps (NaN in warm-up: np.maximum keeps it); per row: s1."""
    return np.maximum(ref / SQRT_60, SCALE_FLOOR)


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(a / b); 0 where it is undefined (warm-up, zero scale)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(a / b)
    return np.where(np.isfinite(r), r, 0.0)


def _log_ratio_step(prog: Program, a: str, b: str) -> str:
    """_log_ratio at the row."""
    out = prog.name("log_ratio")
    prog.add(f"_q = {a} / {b} if {b} != 0.0 else NAN\n"
             f"{out} = log(_q) if 0.0 < _q < inf else 0.0")
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b; 0 where it is undefined (warm-up, zero scale)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = a / b
    return np.where(np.isfinite(r), r, 0.0)


def _ratio_step(prog: Program, a: str, b: str) -> str:
    """_ratio at the row."""
    out = prog.name("ratio")
    prog.add(f"{out} = {a} / {b} if {b} != 0.0 else 0.0\n"
             f"if {out} - {out} != 0.0:\n    {out} = 0.0")
    return out


FEATURE_INPUTS = (
    "dpx_bps", "rv_bps", "spread_bps", "depth_5_rel", "cancel_rate", "trade_count",
    "buy_vol", "sell_vol", "aggr_imb", "book_imb_5", "microprice_drift_bps",
    "sweep_flag", "size_outlier_count", "oi_delta", "funding", "range_bps")
"""The MicroTape columns `coin_features` reads."""


def coin_features(f: pd.DataFrame, label: LabelParams) -> pd.DataFrame:
    """The base feature table of one coin's frames (same index, float64, never NaN: the
    module's rules for missing inputs)."""
    g = {c: f[c].to_numpy(dtype="float64") for c in FEATURE_INPUTS}
    ref = rv_ref(g["rv_bps"], label)
    s1 = scale(ref)
    ret = _ratio(g["dpx_bps"], s1)
    vol = g["buy_vol"] + g["sell_vol"]
    trades = g["trade_count"]
    funding = g["funding"]
    out = {
        "ret": np.clip(ret, -Z_CLIP, Z_CLIP),
        "abs_ret": np.clip(np.abs(ret), 0, Z_CLIP),
        "vol_rel": np.log1p(_ratio(vol, trailing(vol, VOL_WINDOW, "mean", MIN_PERIODS))),
        "trades_rel": np.log1p(_ratio(trades,
                                      trailing(trades, VOL_WINDOW, "mean", MIN_PERIODS))),
        "spread_rel": _log_ratio(g["spread_bps"],
                                 trailing(g["spread_bps"], SPREAD_WINDOW, "median",
                                          MIN_PERIODS)),
        "depth_rel": np.nan_to_num(np.log(np.clip(g["depth_5_rel"], *DEPTH_CLIP))),
        "cancel": np.log1p(g["cancel_rate"]),
        "aggr_imb": np.nan_to_num(g["aggr_imb"], nan=TRADE_NEUTRAL),
        "book_imb": np.nan_to_num(g["book_imb_5"]),
        "micro_z": np.clip(_ratio(g["microprice_drift_bps"], s1), -Z_CLIP, Z_CLIP),
        "sweep": np.nan_to_num(g["sweep_flag"], nan=TRADE_NEUTRAL),
        "outliers": np.clip(np.nan_to_num(g["size_outlier_count"], nan=TRADE_NEUTRAL),
                            *OUTLIER_CLIP),
        "oi_pct": np.clip(np.nan_to_num(PERCENT * g["oi_delta"]), -OI_CLIP, OI_CLIP),
        "funding_jump": np.clip(_ratio(funding - lag(funding, FUNDING_LAG), FUNDING_UNIT),
                                -FUNDING_CLIP, FUNDING_CLIP),
        "rv_ratio": _log_ratio(g["rv_bps"], ref),
        "range_rel": _log_ratio(g["range_bps"],
                                trailing(g["range_bps"], RANGE_WINDOW, "median",
                                         MIN_PERIODS)),
    }
    return pd.DataFrame(out, index=f.index)


class FeatureStep:
    """coin_features at one row: `self[name]` is the name of a feature's value (or of `ref`,
    `s1`, `r`: rv_ref, scale and the unclipped ret), written on first use (an expert that is
    silent, e.g. unfitted, costs nothing). Each branch is the line of coin_features above."""

    def __init__(self, prog: Program, cols: Inputs, label: LabelParams) -> None:
        self.p, self.c, self.label = prog, cols, label

    def __getitem__(self, name: str) -> str:
        return self.p.memo(("feature", name), lambda: self._make(name))

    def _median(self, col: str, size: int, minp: int) -> str:
        return self.p.shared(Median, col, self.c[col], size).median(minp)

    def _make(self, name: str) -> str:
        p, c, z = self.p, self.c, Z_CLIP
        out = p.name("f_" + name)
        if name == "ref":
            return self._median("rv_bps", self.label.rv_ref_window, self.label.rv_ref_min_periods)
        if name == "s1":  # np.maximum: a NaN scale stays NaN
            p.add(f"{out} = {self['ref']} / {lit(SQRT_60)}\n"
                  f"if {out} < {lit(SCALE_FLOOR)}:\n    {out} = {lit(SCALE_FLOOR)}")
        elif name == "r":
            return _ratio_step(p, c["dpx_bps"], self["s1"])
        elif name == "ret":
            p.add(f"{out} = {clip_step(self['r'], -z, z)}")
        elif name == "abs_ret":
            p.add(f"_q = abs({self['r']})\n{out} = {lit(z)} if _q > {lit(z)} else _q")
        elif name == "vol_rel":
            vol = p.name("vol")
            p.add(f"{vol} = {c['buy_vol']} + {c['sell_vol']}")
            w = Kahan(p, VOL_WINDOW)  # buy_vol + sell_vol: not an input column
            w.push(vol)
            p.add(f"{out} = log1p(_q) if (_q := {_ratio_step(p, vol, w.mean(MIN_PERIODS))}) "
                  "> -1.0 else LOG1P(_q)")
        elif name == "trades_rel":
            w = p.shared(Kahan, "trade_count", c["trade_count"], VOL_WINDOW)
            r = _ratio_step(p, c["trade_count"], w.mean(MIN_PERIODS))
            p.add(f"{out} = log1p({r}) if {r} > -1.0 else LOG1P({r})")
        elif name == "spread_rel":
            return _log_ratio_step(p, c["spread_bps"],
                                   self._median("spread_bps", SPREAD_WINDOW, MIN_PERIODS))
        elif name == "depth_rel":
            p.add(f"_q = {clip_step(c['depth_5_rel'], *DEPTH_CLIP)}\n"
                  f"{out} = log(_q) if _q == _q else 0.0")
        elif name == "cancel":
            x = c["cancel_rate"]
            p.add(f"{out} = log1p({x}) if {x} > -1.0 else LOG1P({x})")
        elif name == "aggr_imb":
            x = c["aggr_imb"]
            p.add(f"{out} = {x} if {x} == {x} else {lit(TRADE_NEUTRAL)}")
        elif name == "book_imb":
            x = c["book_imb_5"]
            p.add(f"{out} = {x} if {x} - {x} == 0.0 else NTN({x})")
        elif name == "micro_z":
            r = _ratio_step(p, c["microprice_drift_bps"], self["s1"])
            p.add(f"{out} = {clip_step(r, -z, z)}")
        elif name == "sweep":
            x = c["sweep_flag"]
            p.add(f"{out} = {x} if {x} == {x} else {lit(TRADE_NEUTRAL)}")
        elif name == "outliers":
            x = c["size_outlier_count"]
            p.add(f"_q = {x} if {x} == {x} else {lit(TRADE_NEUTRAL)}\n"
                  f"{out} = {clip_step('_q', *OUTLIER_CLIP)}")
        elif name == "oi_pct":
            p.add(f"_q = {lit(PERCENT)} * {c['oi_delta']}\n"
                  f"_q = _q if _q - _q == 0.0 else NTN(_q)\n"
                  f"{out} = {clip_step('_q', -OI_CLIP, OI_CLIP)}")
        elif name == "funding_jump":
            x = c["funding"]
            was = step_lag(p, x, FUNDING_LAG)
            jump = p.name("jump")
            p.add(f"{jump} = {x} - {was}")
            r = _ratio_step(p, jump, lit(FUNDING_UNIT))
            p.add(f"{out} = {clip_step(r, -FUNDING_CLIP, FUNDING_CLIP)}")
        elif name == "rv_ratio":
            return _log_ratio_step(p, c["rv_bps"], self["ref"])
        elif name == "range_rel":
            return _log_ratio_step(p, c["range_bps"],
                                   self._median("range_bps", RANGE_WINDOW, MIN_PERIODS))
        else:
            raise KeyError(name)
        return out


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


def anomaly_row(feats: FeatureStep) -> list[str]:
    """anomaly_matrix at one row: the expressions of its columns."""
    return [f"abs({feats[ANOMALY_ABS[c]]})" if c in ANOMALY_ABS else feats[c]
            for c in ANOMALY_FEATURES]


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
            cols.append(np.nan_to_num(trailing(feats[name].to_numpy(), w, "mean", MIN_PERIODS)))
    return np.column_stack(cols)


def sequence_row(prog: Program, feats: FeatureStep, lags: tuple[int, ...],
                 windows: tuple[int, ...]) -> list[str]:
    """sequence_matrix at one row, in its column order: the base features of the last
    max(lags) + 1 rows (0 before the day has them, as nan_to_num of lag's NaN) and the
    trailing means (Kahan windows of a feature, pushed together)."""
    base = [feats[name] for name in SEQUENCE_BASE]
    means = [(feats[name], w) for w in windows for name in SEQUENCE_MEANS]
    b, total = prog.name("base"), prog.name("total")
    hist = prog.var("hist", f"deque([{(0.0,) * len(base)}] * {max(lags) + 1}, "
                            f"maxlen={max(lags) + 1})")
    prog.add(f"""
        {b} = ({', '.join(base)},)
        {total} = {' + '.join(base)}
        if {total} - {total} != 0.0:  # some NaN or inf: nan_to_num them
            {b} = tuple(map(NTN, {b}))
        {hist}.append({b})
        """)
    rows: dict[int, list[str]] = {}  # the base features k rows ago, unpacked
    for k in lags:
        if k not in rows:
            rows[k] = [prog.name(f"b{k}_{j}") for j in range(len(base))]
            prog.add(f"{', '.join(rows[k])}, = {b if k == 0 else f'{hist}[{-1 - k}]'}")
    xs = [rows[k][j] for j in range(len(base)) for k in lags]
    runs = {x: Kahan.run(prog) for x, _ in means}  # a feature's windows, pushed together
    wins = [(x, Kahan(prog, w, runs[x])) for x, w in means]
    for x in runs:
        push_kahans(prog, x, [win for y, win in wins if y == x])
    for _, win in wins:
        m = win.mean(MIN_PERIODS)
        xs.append(f"({m} if {m} - {m} == 0.0 else NTN({m}))")
    return xs
