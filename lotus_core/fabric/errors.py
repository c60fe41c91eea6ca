"""Errors of the module fabric API (envelope errors live in envelope.py)."""

from __future__ import annotations

from lotus_core.store.errors import FabricError


class RouteError(FabricError, ValueError):
    """The model map does not let this sender tag this module with this intent."""


class DuplicateEventError(FabricError, ValueError):
    """An event_id already in the box with different content (a bug or tampering)."""
