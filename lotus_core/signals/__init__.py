"""The signal layer: detectors, scores (sq_*, kr_*, det_sigma), meta-signals, active priors,
publication and the Signal Bus. Pure numpy/pandas (no dagster); docs/scoring.md.

    load_detectors(source=None) -> DetectorSet       detector specs (detectors.yaml)
    load_scoring(source=None) -> ScoringConfig       scoring constants (scoring.yaml)
    run_detectors(frames, specs) -> windows           vectorised, causal, one window per event
    detect_day(frames, scoring=...) -> detector_windows   windows + realised outcomes (history)
    score_day(frames, day, fingerprint=..., scoring=..., council=..., history=..., dsi=...)
        -> SignalDay(events, curator_log, kpis, meta, bus, priors, history, timings)
    parse_priors(rows)                                active prior patches (sig_priors rows;
                                                      read and written only through
                                                      lotus_core.learning.priors_store)
    publish: lotus_core.fabric.publish_alpha(fabric, bus payloads, keys, models_map=)
                                                      -> sig_outbox
    validate_sigbus(payload)                          against the fabric's sigbus-1.0.0

`detect_day`, `score_day` and `SignalDay` are imported from `lotus_core.signals.pipeline`
and the schemas from `lotus_core.signals.schema`: both use the curators, which use this
package's specs and features, so the package itself exports only the layer below them.
"""

from __future__ import annotations

from lotus_core.signals.bus import SigbusError, validate_sigbus
from lotus_core.signals.config import ScoringConfig, load_scoring
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.priors import NO_PRIORS, ActivePriors, Patch, parse_priors
from lotus_core.signals.spec import DetectorSet, DetectorSpec, SpecError, load_detectors

__all__ = [
    "NO_PRIORS", "ActivePriors", "DetectorSet", "DetectorSpec", "Patch", "ScoringConfig",
    "SigbusError", "SpecError", "load_detectors", "load_scoring", "parse_priors",
    "run_detectors", "validate_sigbus",
]
