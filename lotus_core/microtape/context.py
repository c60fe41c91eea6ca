"""Asset context (funding, open interest, mark/oracle) and the UTC trading session.

One definition for the nightly build and the live tape (lotus_core.microtape.flow): the
OI look-back (`oi_back_time`), the ratios (`oi_delta`, `basis_bps`, over arrays or, with
`grid.ratio_of`, floats), the percentiles, each on its declared timescale (the grid's
`ctx_pctl_window`, or the coin's trailing days: `context_history`; `ctx_rank` is the live
tape's step form) and the session clock (`weekday`, `utc_hour`; `session_of` beside
`session`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lotus_core.microtape.book import BPS
from lotus_core.microtape.context_history import (
    ContextReference,
    FixedRank,
    rank_days,
    rank_in,
)
from lotus_core.microtape.grid import RollingPctl, asof, rolling_pctl, safe_ratio, take
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.time import DAY_MS, HOUR_MS

SESSIONS = ("asia", "eu", "us", "weekend")
WEEKEND = 3  # SESSIONS' index
SATURDAY = 5  # `weekday`: Monday = 0


def oi_back_time(t: Any, params: MicroTapeParams) -> Any:
    """The time whose open interest `oi_delta` compares with t's (ints or arrays)."""
    return t - params.oi_delta_ms


def oi_delta(oi: Any, oi_back: Any, ratio: Any = safe_ratio) -> Any:
    """Relative OI change over the look-back (NaN with no OI then, or a zero one)."""
    return ratio(oi, oi_back) - 1.0


def basis_bps(mark: Any, oracle: Any, ratio: Any = safe_ratio) -> Any:
    """Mark over oracle price, in bps (NaN for a zero or unknown oracle)."""
    return ratio(mark - oracle, oracle) * BPS


def ctx_pctl_window(params: MicroTapeParams) -> tuple[int, int]:
    """(points, min_periods) of the funding and OI percentiles."""
    return params.points(params.ctx_pctl_window_ms), params.points(params.pctl_min_ms)


def ctx_rank(column: str, params: MicroTapeParams, reference: ContextReference | None
             ) -> RollingPctl | FixedRank:
    """The live tape's percentile of `funding_pctl` / `oi_pctl`, on the column's timescale."""
    if rank_days(params, column) > 0:
        return FixedRank(None if reference is None else reference.get(column))
    return RollingPctl(*ctx_pctl_window(params))


def context_features(
    ctx: dict[str, np.ndarray], grid: np.ndarray, params: MicroTapeParams,
    reference: ContextReference | None = None,
) -> dict[str, np.ndarray]:
    """Latest activeAssetCtx values as of t, their percentiles (each on its timescale:
    the grid's trailing window, or `reference`, the coin's trailing days), OI change,
    basis."""
    i = asof(ctx["recv"], grid)
    i_back = asof(ctx["recv"], oi_back_time(grid, params))
    funding = take(ctx["funding"], i)
    oi = take(ctx["open_interest"], i)
    oi_back = take(ctx["open_interest"], i_back)
    mark, oracle = take(ctx["mark_px"], i), take(ctx["oracle_px"], i)
    window, min_periods = ctx_pctl_window(params)

    def pctl(column: str, x: np.ndarray) -> np.ndarray:
        if rank_days(params, column) > 0:
            return rank_in(None if reference is None else reference.get(column), x)
        return rolling_pctl(x, window, min_periods)

    return {
        "funding": funding,
        "funding_pctl": pctl("funding_pctl", funding),
        "open_interest": oi,
        "oi_delta": oi_delta(oi, oi_back),
        "oi_pctl": pctl("oi_pctl", oi),
        "basis_bps": basis_bps(mark, oracle),
        "premium": take(ctx["premium"], i),
    }


def weekday(t: Any) -> Any:
    """UTC weekday of epoch ms (ints or arrays): 1970-01-01 was a Thursday; Monday = 0."""
    return (t // DAY_MS + 3) % 7


def utc_hour(t: Any) -> Any:
    """UTC hour of day of epoch ms (ints or arrays)."""
    return (t % DAY_MS) // HOUR_MS


def session(grid: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """asia / eu / us by UTC hour on weekdays, weekend all Saturday and Sunday (UTC)."""
    hour = utc_hour(grid)
    code = np.where(hour < params.eu_start_hour, 0, np.where(hour < params.us_start_hour, 1, 2))
    code = np.where(weekday(grid) >= SATURDAY, WEEKEND, code)
    return np.asarray(SESSIONS, dtype=object)[code]


def session_of(ts_ms: int, params: MicroTapeParams) -> str:
    """`session` of one grid time."""
    if weekday(ts_ms) >= SATURDAY:
        return SESSIONS[WEEKEND]
    hour = utc_hour(ts_ms)
    return SESSIONS[0 if hour < params.eu_start_hour else 1 if hour < params.us_start_hour else 2]
