"""Candidates from what the chain already produces: a day's detector cards awaiting sign-off.

A proposer turns its output into curator_candidates rows with a stable `item_id`, so posting
again is a no-op (store.post_candidate). Cards are keyed by detector and recipe hash: a
detector whose recipe changes needs a new sign-off; an unchanged one is not asked twice.
The breeder posts `bred_detector` items the same way (lotus_core/breeding/night.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def card_item_id(detector_id: str, recipe_hash: str) -> str:
    return f"card:{detector_id}:{recipe_hash}"


def card_candidates(cards: Iterable[Mapping[str, Any]], day: str) -> list[dict[str, Any]]:
    """detector_cards rows (detector_id, recipe_hash, card_json, card_ok) -> candidate rows."""
    out = []
    for card in cards:
        raw = card.get("card_json")
        detail = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        ok = bool(card.get("card_ok", False))
        out.append({
            "item_id": card_item_id(str(card["detector_id"]), str(card["recipe_hash"])),
            "kind": "detector_card", "subject_id": str(card["detector_id"]),
            "proposer": f"detector_cards:{day}", "detail": detail,
            "summary": f"{card['detector_id']} card of {day}"
                       + ("" if ok else " (card incomplete)"),
        })
    return out
