"""Every tunable of the MicroTape in one frozen, documented place.

Windows are given in milliseconds (the unit of every clock in the feed). Those that run over
the fixed grid must be whole multiples of the cadence: a window of `w` ms is exactly
`w // cadence_ms` grid points, whatever the cadence.
"""

from __future__ import annotations

from pydantic import model_validator

from lotus_core.strict import StrictModel

GRID_WINDOWS = (
    "rv_window_ms",
    "rv_pctl_window_ms",
    "pctl_min_ms",
    "trend_window_ms",
    "depth_rel_window_ms",
    "depth_rel_min_ms",
    "ctx_pctl_window_ms",
)
"""Windows that run over grid points, hence must be whole multiples of the cadence."""


class MicroTapeParams(StrictModel):
    """Parameters of `build_microtape`; the defaults are what the pipeline uses.

    Grid
      cadence_ms: grid step; a frame at t summarises (t - cadence_ms, t].
    Volatility and regime
      rv_window_ms: trailing window of `rv_bps` (needs the full window, else NaN).
      rv_pctl_window_ms: trailing window of `rv_pctl`.
      pctl_min_ms: history a grid percentile (rv/funding/oi) needs before it is reported.
      trend_window_ms: trailing window of `trend_eff` (needs the full window).
      regime_quiet_pctl: `rv_pctl` below this is "quiet".
      regime_trend_eff: otherwise `trend_eff` at or above this is "trend", else "chop".
    Depth
      depth_rel_window_ms / depth_rel_min_ms: trailing median of top-5 depth for `depth_5_rel`.
    Cancels
      cancel_fast_max_age_ms: the fast (5-level) stream is used while its last frame is at
        most this old; otherwise the slow (20-level) stream.
      cancel_eps: relative tolerance (of visible depth) below which a cancel is float noise.
    Tape
      trade_max_lag_ms: trades received more than this after their venue time are replays
        (the venue re-sends recent trades on subscribe) and are left out of the tape.
      trade_channel_grace_ms: a coin with no trade received (replays included) this long
        after its grid began has no trades channel: its trade features are missing from
        then until a trade arrives (before, a quiet tape: a subscribed channel proves itself
        at once with the venue's snapshot, a generated day within seconds).
      sweep_min_levels: distinct trade prices in one interval and side that make a sweep.
      sweep_depth_levels: opposite-side levels whose total size a sweep's volume exceeds.
      outlier_window: previous trades in the robust size threshold (odd: exact median).
      outlier_k: threshold = median + outlier_k * max(MAD, outlier_mad_floor * median).
      outlier_mad_floor: floor of the MAD as a fraction of the median (lot-size ties make
        the MAD 0 on quiet coins, which would flag every above-median trade).
    Candles
      candle_interval: the candle stream used ("1m").
      candle_pctl_window / candle_pctl_min: previous closed candles for `range_pctl`.
    Context
      oi_delta_ms: look-back of `oi_delta`.
      ctx_pctl_window_ms: trailing window of `funding_pctl` and `oi_pctl` when ranked on
        the grid (their `*_rank_days` is 0).
      funding_rank_days / oi_rank_days: the timescale each is ranked on: 0, the grid's
        trailing `ctx_pctl_window_ms`; N > 0, the coin's minute closes over the N whole
        UTC days before the row's day, read from those days' recordings
        (lotus_core.microtape.context_history). Funding: 3 days (the venue sets it hourly
        and it drifts over days); open interest: the grid's 4 h (docs/microtape.md says
        why).
      ctx_rank_min_minutes: minute closes a day-ranked percentile needs (its warm-up).
    Gaps
      gap_warmup_ms: rows after a recorded gap in the feed still flagged `gap` (the short
        trailing windows, rv and trend efficiency, refill; lotus_core.microtape.gaps).
    Session (UTC hour at which each weekday session starts; Saturday/Sunday are "weekend")
      eu_start_hour, us_start_hour: asia is [0, eu), eu is [eu, us), us is [us, 24).
    """

    cadence_ms: int = 1_000
    rv_window_ms: int = 60_000
    rv_pctl_window_ms: int = 3_600_000
    pctl_min_ms: int = 300_000
    trend_window_ms: int = 300_000
    regime_quiet_pctl: float = 0.40
    regime_trend_eff: float = 0.08
    depth_rel_window_ms: int = 600_000
    depth_rel_min_ms: int = 60_000
    cancel_fast_max_age_ms: int = 10_000
    cancel_eps: float = 1e-9
    trade_max_lag_ms: int = 3_000
    trade_channel_grace_ms: int = 60_000
    sweep_min_levels: int = 3
    sweep_depth_levels: int = 3
    outlier_window: int = 101
    outlier_k: float = 6.0
    outlier_mad_floor: float = 0.1
    candle_interval: str = "1m"
    candle_pctl_window: int = 60
    candle_pctl_min: int = 20
    oi_delta_ms: int = 60_000
    ctx_pctl_window_ms: int = 14_400_000
    funding_rank_days: int = 3
    oi_rank_days: int = 0
    ctx_rank_min_minutes: int = 720
    eu_start_hour: int = 7
    us_start_hour: int = 13
    gap_warmup_ms: int = 300_000

    @model_validator(mode="after")
    def _check(self) -> MicroTapeParams:
        """Cross-field rules (each message names the field); pydantic wraps them in a
        ValidationError, a ValueError."""
        if self.cadence_ms <= 0:
            raise ValueError(f"cadence_ms must be positive, got {self.cadence_ms}")
        for name in GRID_WINDOWS:
            value = getattr(self, name)
            if value <= 0 or value % self.cadence_ms:
                raise ValueError(
                    f"{name}={value} must be a positive multiple of cadence_ms={self.cadence_ms}"
                )
        for name in type(self).model_fields:
            if name.endswith("_ms") and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.outlier_window < 3 or self.outlier_window % 2 == 0:
            raise ValueError(f"outlier_window must be odd and >= 3, got {self.outlier_window}")
        if not 0 <= self.eu_start_hour <= self.us_start_hour <= 24:
            raise ValueError("session hours must satisfy 0 <= eu_start_hour <= us_start_hour <= 24")
        if self.sweep_min_levels < 1 or self.sweep_depth_levels < 1:
            raise ValueError("sweep_min_levels and sweep_depth_levels must be >= 1")
        for name in ("funding_rank_days", "oi_rank_days", "ctx_rank_min_minutes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.candle_pctl_min < 1 or self.candle_pctl_min > self.candle_pctl_window:
            raise ValueError("need 1 <= candle_pctl_min <= candle_pctl_window")
        return self

    @classmethod
    def given(cls, **values: int | None) -> MicroTapeParams:
        """The parameters with each value given (None: the default): what a settings section
        or a run config that leaves a field unset passes."""
        return cls(**{k: v for k, v in values.items() if v is not None})

    def points(self, window_ms: int) -> int:
        """Grid points in a window of `window_ms`."""
        return window_ms // self.cadence_ms
