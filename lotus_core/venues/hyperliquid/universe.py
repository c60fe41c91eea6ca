"""Hyperliquid's perp universe: the shipped snapshot of the names the info endpoint's
{"type": "meta"} lists (perps.yaml; the file says how to refresh it)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lotus_core.yaml_io import parse_yaml

SNAPSHOT = Path(__file__).resolve().parent / "perps.yaml"


@cache
def shipped_perps() -> tuple[str, ...]:
    """The shipped snapshot of Hyperliquid's perp universe, in the file's order."""
    return tuple(str(c) for c in parse_yaml(SNAPSHOT.read_text())["perps"])


@cache
def known_perps() -> frozenset[str]:
    """The shipped snapshot of Hyperliquid's perp universe, as a set."""
    return frozenset(shipped_perps())
