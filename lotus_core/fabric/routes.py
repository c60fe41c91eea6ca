"""Checking an envelope's routes against models.map.yaml before it is written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lotus_core.fabric.errors import RouteError
from lotus_core.fabric.manifests import ModelsMap


def check_routes(envelope: Mapping[str, Any], models_map: ModelsMap) -> None:
    """Raise RouteError unless `from` may send `intent` to every module in `to`.
    `models_map`: the caller's, loaded once by its entry point (`load_modules().map`)."""
    sender, intent = envelope["from"], envelope["intent"]
    denied = [t for t in envelope["to"] if not models_map.allowed(sender, t, intent)]
    if denied:
        allowed = list(models_map.targets(sender, intent))
        raise RouteError(
            f"{sender} may not send {intent} to {denied} (models.map.yaml allows {allowed})"
        )
