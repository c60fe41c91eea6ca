"""How `*` reads on the researcher's surface: one meaning, "all".

In a detector slot `*` is all detectors: a pooled lesson (lotus_core.learning.lessons.POOLED)
is learned over all detectors' windows together, and its braid and patch that are not
specialised per detector (`patch/*/...`) apply to all detectors' windows (the scorers'
wildcard, lotus_core.signals.priors.ANY). A coin `*` is all coins, a cond_key `*` every
context. The stored value stays `*` (lesson ids hash it, the scorers match it); a person
reads the names below instead of a bare `*`.
"""

from __future__ import annotations

from lotus_core.signals.priors import ANY

ALL = ANY
"""The detector id of pooled lessons and the patch keys' wildcard: the same `*`."""
POOLED_NAME = "all detectors (pooled)"
WILDCARD_NAME = "all detectors (wildcard *)"
WILDCARD_NOTE = ("A * stands for all: a pooled lesson (all detectors, pooled) is learned "
                 "over all detectors' windows together; in a patch key, "
                 "patch/<detector>/<coin>/<context>/<field>, * is a wildcard for all "
                 "detectors, all coins or every context.")


def detector_name(detector_id: str) -> str:
    """A lesson's or braid's detector as a person reads it (`*`: the pooled lessons)."""
    return POOLED_NAME if detector_id == ALL else detector_id


def patch_detector_name(detector_id: str) -> str:
    """A patch key's detector as a person reads it (`*`: the wildcard, all detectors)."""
    return WILDCARD_NAME if detector_id == ALL else detector_id


def metadata_suffix(detector_id: str) -> str:
    """A detector id fit for a metadata key (`loom_<suffix>`): `*` is no name."""
    return "all_detectors_pooled" if detector_id == ALL else detector_id
