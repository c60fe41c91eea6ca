"""The MicroTape's contract: exact dtypes, ranges, and where NaN is allowed (and why).

`strict=True` and `ordered=True`: an extra, missing or reordered column fails, and so does
a wrong dtype or an unexpected NaN, each naming the column. docs/microtape.md explains
every column; keep the two in step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from lotus_core.columns import STR, column
from lotus_core.microtape.context import SESSIONS
from lotus_core.microtape.regime import REGIMES
from lotus_core.store.coin_days import coin_days_schema

F64, I64 = "float64", "int64"
_c = column


_PCTL = pa.Check.in_range(0.0, 1.0)
_UNIT = pa.Check.in_range(-1.0, 1.0)
_POS = pa.Check.gt(0.0)
_NONNEG = pa.Check.ge(0.0)

# NaN allowed: "first" = the coin's first grid row; "no book" = before the first l2Book
# frame (only bbo so far); "no slow" = before the first 20-level frame; "warm-up" = the
# trailing window is not filled yet; "no trade" = no trade in the interval; "no candle" =
# before the first closed candle; "no ctx" = before the first activeAssetCtx (or the
# venue sent null); "no channel" = no trade of the coin received yet (a replayed one
# included) past the grace after its first grid time: no trades channel.
COLUMNS: dict[str, pa.Column] = {
    "coin": _c(STR, pa.Check.str_length(min_value=1)),
    "ts_ms": _c(I64, _POS),
    # book / top
    "bid_px": _c(F64, _POS),
    "ask_px": _c(F64, _POS),
    "mid_px": _c(F64, _POS),
    "micro_px": _c(F64, _POS),
    "spread_bps": _c(F64, _NONNEG),
    "dpx_bps": _c(F64, nullable=True),  # first
    "microprice_drift_bps": _c(F64),
    # depth
    "book_imb_1": _c(F64, _UNIT, nullable=True),  # no book
    "book_imb_5": _c(F64, _UNIT, nullable=True),  # no book
    "book_imb_10": _c(F64, _UNIT, nullable=True),  # no slow
    "depth_5_bid": _c(F64, _NONNEG, nullable=True),  # no book
    "depth_5_ask": _c(F64, _NONNEG, nullable=True),  # no book
    "depth_slope": _c(F64, _NONNEG, nullable=True),  # no slow, one-sided frame
    "depth_5_rel": _c(F64, _NONNEG, nullable=True),  # no book, warm-up, zero median
    "cancel_rate": _c(F64, _NONNEG),
    # tape: float64 (whole numbers for the counts, flags and run) for the NaN of a coin
    # without its trades channel (lotus_core.microtape.tape)
    "trade_count": _c(F64, pa.Check.ge(0), nullable=True),  # no channel
    "buy_vol": _c(F64, _NONNEG, nullable=True),  # no channel
    "sell_vol": _c(F64, _NONNEG, nullable=True),  # no channel
    "aggr_imb": _c(F64, _UNIT, nullable=True),  # no channel
    "aggr_runlen": _c(F64, nullable=True),  # no channel
    "sweep_flag": _c(F64, pa.Check.isin([0, 1]), nullable=True),  # no channel
    "sweep_dir": _c(F64, pa.Check.isin([-1, 0, 1]), nullable=True),  # no channel
    "size_outlier_count": _c(F64, pa.Check.ge(0), nullable=True),  # no channel
    "vwap_px": _c(F64, _POS, nullable=True),  # no channel, no trade
    # volatility
    "rv_bps": _c(F64, _NONNEG, nullable=True),  # warm-up
    "rv_pctl": _c(F64, _PCTL, nullable=True),  # warm-up
    # candles
    "wick_up_bps": _c(F64, _NONNEG, nullable=True),  # no candle
    "wick_dn_bps": _c(F64, _NONNEG, nullable=True),  # no candle
    "body_bps": _c(F64, nullable=True),  # no candle
    "range_bps": _c(F64, _NONNEG, nullable=True),  # no candle
    "range_pctl": _c(F64, _PCTL, nullable=True),  # no candle, warm-up
    "close_loc": _c(F64, _PCTL, nullable=True),  # no candle
    # context
    "funding": _c(F64, nullable=True),  # no ctx
    "funding_pctl": _c(F64, _PCTL, nullable=True),  # no ctx, warm-up
    "open_interest": _c(F64, _NONNEG, nullable=True),  # no ctx
    "oi_delta": _c(F64, nullable=True),  # no ctx 60 s ago, zero OI
    "oi_pctl": _c(F64, _PCTL, nullable=True),  # no ctx, warm-up
    "basis_bps": _c(F64, nullable=True),  # no ctx
    "premium": _c(F64, nullable=True),  # no ctx, venue null
    # classification and safety
    "session": _c(STR, pa.Check.isin(list(SESSIONS))),
    "trend_eff": _c(F64, _PCTL, nullable=True),  # warm-up
    "regime": _c(STR, pa.Check.isin(list(REGIMES))),
    "stale_ms": _c(I64, pa.Check.ge(0)),
    # inside a recorded gap in the feed, or its warm-up after it (lotus_core.microtape.gaps)
    "gap": _c(bool),
}

MICROTAPE_COLUMNS: tuple[str, ...] = tuple(COLUMNS)


def _sorted_by_coin_ts(df: pd.DataFrame) -> bool:
    """Rows are ordered by (coin, ts_ms) with no duplicate key."""
    if len(df) < 2:
        return True
    coin = df["coin"].to_numpy(dtype=object)
    ts = df["ts_ms"].to_numpy()
    same = coin[1:] == coin[:-1]
    return bool(np.all((coin[1:] > coin[:-1]) | (same & (ts[1:] > ts[:-1]))))


MICROTAPE_SCHEMA = pa.DataFrameSchema(
    COLUMNS,
    checks=[pa.Check(_sorted_by_coin_ts, element_wise=False, name="sorted_by_coin_ts")],
    strict=True,
    ordered=True,
    coerce=False,
    name="microtape_frames",
)


def with_gap(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with the `gap` column (False) if it lacks it: lake partitions written before
    the column existed read as frames with no gap."""
    if "gap" in df.columns:
        return df
    return df.assign(gap=np.zeros(len(df), dtype=bool))


def gap_of(df: pd.DataFrame) -> np.ndarray:
    """The `gap` flags of a MicroTape frame (all False for one written before the column)."""
    if "gap" in df.columns:
        return df["gap"].to_numpy(dtype=bool)
    return np.zeros(len(df), dtype=bool)


def empty_frame() -> pd.DataFrame:
    """A zero-row MicroTape with the exact dtypes (for a day with no quoted coin)."""
    return pd.DataFrame({name: pd.Series([], dtype=c.dtype.type) for name, c in COLUMNS.items()})


MICROTAPE_DAYS_SCHEMA = coin_days_schema("microtape_days")
"""`microtape_days`: the day's coins of the day x coin MicroTape and their rows."""
