"""Deterministic synthetic Hyperliquid market days with planted, documented ground truth.

Public API (see docs/synth.md): `generate_day`, `generate_days`, `SynthSpec` and its parts,
`default_spec`, `null_spec`, `load_spec`, `SpecError`, `TRUTH_SCHEMA_VERSION`.
Pure Python + numpy; never imports dagster.
"""

from lotus_core.synth.generator import generate_day, generate_days
from lotus_core.synth.spec import (
    DecoySpec,
    EffectSpec,
    SpecError,
    SynthSpec,
    default_spec,
    load_spec,
    null_spec,
)
from lotus_core.synth.truth import TRUTH_SCHEMA_VERSION

__all__ = [
    "TRUTH_SCHEMA_VERSION",
    "DecoySpec",
    "EffectSpec",
    "SpecError",
    "SynthSpec",
    "default_spec",
    "generate_day",
    "generate_days",
    "load_spec",
    "null_spec",
]
