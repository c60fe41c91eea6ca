"""The names the synthetic market speaks: patterns, contexts, regimes, effect directions."""

from __future__ import annotations

PATTERN_TYPES: tuple[str, ...] = (
    "sweep",
    "sweep_then_stall",
    "depth_vacuum",
    "wick_triplet",
    "funding_shock",
    "oi_shock",
)
"""Every planted microstructure event type; each occurrence is listed in the truth file."""

UNDIRECTED_PATTERNS: frozenset[str] = frozenset({"depth_vacuum"})
"""Patterns without a side (direction 0); effects on them need direction up/down."""

CONTEXT_NAMES: tuple[str, ...] = ("oi_high", "funding_high")
"""Latent context states, each rendered observable: open interest, funding rate."""

REGIMES: tuple[str, ...] = ("quiet", "trend", "chop")

EFFECT_DIRECTIONS: tuple[str, ...] = ("with_trigger", "against_trigger", "up", "down")
