"""The signal layer: detectors, scores (sq_*, kr_*, det_sigma), meta-signals, active priors,
publication and the Signal Bus. Pure numpy/pandas (no dagster); docs/scoring.md.

    load_detectors(source=None) -> DetectorSet       detector specs (detectors.yaml)
    load_scoring(source=None) -> ScoringConfig       scoring constants (scoring.yaml)
    run_detectors(frames, specs) -> windows           vectorised, causal, one window per event
    detect_day(frames) -> detector_windows            windows + realised outcomes (history)
    score_day(frames, day, fingerprint=..., history=..., dsi=..., priors=..., audit=...)
        -> SignalDay(events, curator_log, kpis, meta, bus, priors, history, timings)
    parse_priors(rows) / read_active_priors(fabric)   active prior patches (sig_priors)
    read_priors_for_date(fabric, day)                 the set in force for a scoring day
    publish: lotus_core.fabric.publish_alpha(fabric, bus payloads, keys) -> sig_outbox
    validate_sigbus(payload)                          against the fabric's sigbus-1.0.0
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> defining module. Imported on first use (PEP 562), so that lotus_core.curators can
# import lotus_core.signals.spec while lotus_core.signals.pipeline imports the curators.
_EXPORTS = {
    "SigbusError": "bus", "validate_sigbus": "bus",
    "ScoringConfig": "config", "load_scoring": "config",
    "run_detectors": "detectors",
    "SignalDay": "pipeline", "detect_day": "pipeline", "score_day": "pipeline",
    "NO_PRIORS": "priors", "ActivePriors": "priors", "Patch": "priors", "parse_priors": "priors",
    "SIGNAL_SCHEMAS": "schema",
    "DetectorSet": "spec", "DetectorSpec": "spec", "SpecError": "spec",
    "load_detectors": "spec",
    "read_active_priors": "store", "read_priors_for_date": "store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lotus_core.signals' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lotus_core.signals.{_EXPORTS[name]}"), name)
