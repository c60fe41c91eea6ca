"""Asset context (funding, open interest, mark/oracle) and the UTC trading session."""

from __future__ import annotations

import numpy as np

from lotus_core.microtape.book import BPS
from lotus_core.microtape.grid import asof, rolling_pctl, safe_ratio, take
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.time import DAY_MS, HOUR_MS

SESSIONS = ("asia", "eu", "us", "weekend")


def context_features(
    ctx: dict[str, np.ndarray], grid: np.ndarray, params: MicroTapeParams
) -> dict[str, np.ndarray]:
    """Latest activeAssetCtx values as of t, their trailing percentiles, OI change, basis."""
    i = asof(ctx["recv"], grid)
    i_back = asof(ctx["recv"], grid - params.oi_delta_ms)
    funding = take(ctx["funding"], i)
    oi = take(ctx["open_interest"], i)
    oi_back = take(ctx["open_interest"], i_back)
    mark, oracle = take(ctx["mark_px"], i), take(ctx["oracle_px"], i)
    window = params.points(params.ctx_pctl_window_ms)
    min_periods = params.points(params.pctl_min_ms)
    return {
        "funding": funding,
        "funding_pctl": rolling_pctl(funding, window, min_periods),
        "open_interest": oi,
        "oi_delta": safe_ratio(oi, oi_back) - 1.0,
        "oi_pctl": rolling_pctl(oi, window, min_periods),
        "basis_bps": safe_ratio(mark - oracle, oracle) * BPS,
        "premium": take(ctx["premium"], i),
    }


def session(grid: np.ndarray, params: MicroTapeParams) -> np.ndarray:
    """asia / eu / us by UTC hour on weekdays, weekend all Saturday and Sunday (UTC)."""
    weekday = (grid // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    hour = (grid % DAY_MS) // HOUR_MS
    code = np.where(hour < params.eu_start_hour, 0, np.where(hour < params.us_start_hour, 1, 2))
    code = np.where(weekday >= 5, 3, code)
    return np.asarray(SESSIONS, dtype=object)[code]
