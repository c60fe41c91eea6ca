"""How far back a detector (and the scoring on top of it) can see, derived from its spec.

The future-touch audit re-runs a detector on the tape cut at t. Re-running on the whole
prefix makes an 8-hour day cost half a minute; every honest step of the engine looks back a
bounded number of rows, so a trailing window of that many rows gives the same answer at t.
Rolling maxima, window sums, segments and the cooldown have hard bounds; an exponential
moving average has infinite support, so its memory is the number of rows after which the
weight of anything older is below `EWM_TOL` (far below the audit's 1e-9 comparison).
tests/core/audits/test_audit_lookback.py proves the bound on every shipped detector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.spec import (
    BreakoutRetestParams,
    DetectorSpec,
    DivergenceParams,
    FlowPressureParams,
    MeanReversionParams,
    SweepParams,
)

EWM_TOL = 1e-13  # weight left on rows older than an EMA's memory


def rows(seconds: float, cadence_ms: int) -> int:
    """The engine's own conversion (features.rows): at least one row."""
    return max(1, int(round(seconds * 1000.0 / cadence_ms)))


def ewm_memory(span_rows: int | None = None, alpha: float | None = None) -> int:
    """Rows after which an EMA (adjust=False) keeps less than EWM_TOL of older inputs."""
    a = alpha if alpha is not None else 2.0 / (float(span_rows or 1) + 1.0)
    if a >= 1.0:
        return 1
    return int(math.ceil(math.log(EWM_TOL) / math.log1p(-a))) + 1


def detector_lookback_rows(spec: DetectorSpec, cadence_ms: int) -> int:
    """Rows before t that a window at t can depend on (kind's features + the cooldown)."""
    p = spec.typed_params
    r = lambda s: rows(s, cadence_ms)  # noqa: E731
    if isinstance(p, BreakoutRetestParams):
        # fire <- event within win rows <- breaks within win rows <- lookback max
        need = r(p.lookback_s) + 2 * r(p.retest_window_s) + 2
    elif isinstance(p, DivergenceParams):
        rsi = ewm_memory(alpha=1.0 / r(p.rsi_span_s))
        macd = ewm_memory(r(p.macd_slow_s)) + ewm_memory(r(p.macd_signal_s)) + 1
        need = max(rsi, macd, ewm_memory(r(p.macd_fast_s))) + r(p.lookback_s) + 2
    elif isinstance(p, MeanReversionParams):
        need = max(ewm_memory(r(p.ema_span_s)) + ewm_memory(r(p.z_span_s)),
                   r(p.z_span_s)) + 2
    elif isinstance(p, SweepParams):
        need = ewm_memory(r(p.vol_span_s)) + 2
        if p.stall_s > 0:
            need += r(p.max_wait_s) + r(p.stall_s) + 1
    elif isinstance(p, FlowPressureParams):
        need = max(ewm_memory(r(p.flow_span_s)), r(p.flow_span_s)) + 1
    else:  # a new kind must say how far it looks back before the audit can bound it
        raise ValueError(f"{spec.id}: no lookback rule for kind {spec.kind!r}")
    return need + r(spec.cooldown_s) + 1


def scoring_lookback_rows(cfg: ScoringConfig, specs: Sequence[DetectorSpec],
                          cadence_ms: int) -> int:
    """Rows before t that the audited scores of a window at t (future_touch.SCORE_COLUMNS)
    can depend on: the detectors' own lookback, the kernel's frame EMAs (spread_rel, flow)
    and the cohort still live (orthogonality looks one horizon back, at windows that need
    their own lookback). The meta-signals (kairos, asym) are not audited scores."""
    r = lambda s: rows(s, cadence_ms)  # noqa: E731
    feats = max(ewm_memory(r(cfg.kr.spread_ema_s)), ewm_memory(r(cfg.kr.flow_span_s)))
    dets = max(detector_lookback_rows(s, cadence_ms) for s in specs)
    horizon = max(r(s.horizon_s) for s in specs)
    return max(feats, dets + horizon) + 1
