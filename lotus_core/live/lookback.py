"""How many MicroTape rows before a window the live scoring stage must re-read.

A window at t is scored by DSI (annotate) and `score_day` from the frames of its day at
or before t. Each step re-runs both on the frames of the last `score_lookback_rows`
(per coin, never before the day's first frame) and keeps the windows of the new frames.
The bound is the largest of:

- the detectors and the audited scores (`lotus_core.audits.lookback`: the detectors' own
  lookback plus the cohort's horizon, the kernel's EMAs);
- the meta-signals' EMAs (kairos, asym: memory at `EWM_TOL`, 1e-13 of the weight; the
  basis z-score nests two EMAs, whose error at that memory is still ~1e-12 relative);
- the diversity curator's window of recent windows, plus the detectors' lookback;
- the DSI experts: the feature table's longest trailing window and lag, plus each
  expert's own windows, runs and gaps, and its EMAs' memory.

An EMA has infinite support, so at that bound the rescored value differs from the
whole-day one by less than 1e-12 relative: the tolerance the audits and the parity test
use (1e-9). The one stage this cannot bound is a DSI grammar expert whose `hold` is
`while_true` after a state completed hours ago and stayed true since (no such stretch in
the fixtures); docs/live.md says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lotus_core.audits.lookback import (
    detector_lookback_rows,
    ewm_memory,
    rows,
    scoring_lookback_rows,
)
from lotus_core.curators.config import CouncilConfig
from lotus_core.dsi.registry import Registry
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.spec import DetectorSpec

FEATURE_ROWS = 1800 + 60 + 900
"""lotus_core.dsi.features: the longest trailing window (range median, 1800 frames), the
funding lag (60) and rv_ref's median (900) it is scaled by."""

_COUNTS = ("window", "lookback", "min_run", "lags", "windows", "gap", "hold", "min_age")
_SPANS = ("macd_fast", "macd_slow", "flow_span")


def _ints(node: Any, keys: Iterable[str]) -> list[int]:
    out: list[int] = []
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k in keys:
                out += [x for x in (v if isinstance(v, list | tuple) else [v])
                        if isinstance(x, int) and not isinstance(x, bool)]
            out += _ints(v, keys)
    elif isinstance(node, list | tuple):
        for v in node:
            out += _ints(v, keys)
    return out


def dsi_lookback_rows(registry: Registry) -> int:
    """Frames before t that an expert's output at t can depend on (see module docstring)."""
    worst = 0
    for e in registry.active:
        need = sum(_ints(e.spec, _COUNTS))
        spans = _ints(e.spec, _SPANS)
        memory = max([ewm_memory(s) for s in spans] or [0])
        rsi = _ints(e.spec, ("rsi_frames",))
        if rsi:
            memory = max(memory, ewm_memory(alpha=1.0 / max(rsi)))
        worst = max(worst, need + memory)
    return FEATURE_ROWS + registry.label.rv_ref_window + worst


def score_lookback_rows(scoring: ScoringConfig, council: CouncilConfig,
                        specs: Sequence[DetectorSpec], registry: Registry,
                        cadence_ms: int) -> int:
    """Rows before a window's frame that its scores, curators and DSI evidence read."""
    r = lambda s: rows(s, cadence_ms)  # noqa: E731
    m = scoring.meta
    meta = max(ewm_memory(r(s)) for s in (m.kairos_rv_span_s, m.kairos_fast_s,
                                           m.kairos_slow_s, m.asym_basis_span_s))
    dets = max(detector_lookback_rows(s, cadence_ms) for s in specs)
    diversity = r(council.curators.diversity.window_s) + dets
    dsi = dsi_lookback_rows(registry) * registry.cadence_ms // cadence_ms + 1
    return max(scoring_lookback_rows(scoring, specs, cadence_ms), meta, diversity, dsi) + 1
