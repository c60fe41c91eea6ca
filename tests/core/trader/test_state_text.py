"""`StateText`, the trader loop's snapshot text: the same document as the snapshot (seen as
pairs, in any order) however `seen` and `lifecycles` change between commits."""

from __future__ import annotations

import json

from lotus_core.trader.store import StateText


def _doc(text: str) -> dict:
    doc = json.loads(text)
    doc["seen"] = sorted(doc["seen"])
    return doc


def _want(rest: dict, seen: dict, lifecycles: dict) -> dict:
    return {**rest, "seen": sorted([k, v] for k, v in seen.items()),
            "lifecycles": dict(lifecycles)}


def test_text_follows_growth_pruning_and_changes() -> None:
    st, rest = StateText(), {"now_ms": 1, "top": {"BTC": 1e-05}}
    seen: dict[str, int] = {}
    lifecycles: dict[str, str] = {}
    assert _doc(st.text(rest, seen, lifecycles)) == _want(rest, seen, lifecycles)
    for i in range(5):  # grown a decision at a time
        seen[f"d{9 - i}"], lifecycles[f"d{9 - i}"] = i, f"l{i}"
        rest = {**rest, "now_ms": i}
        assert _doc(st.text(rest, seen, lifecycles)) == _want(rest, seen, lifecycles)
        assert _doc(st.text(rest, seen, lifecycles)) == _want(rest, seen, lifecycles)
    lifecycles["d8"] = "other"  # an entry changed in place
    assert _doc(st.text(rest, seen, lifecycles)) == _want(rest, seen, lifecycles)
    seen = {k: v for k, v in seen.items() if v > 2}  # the day's roll prunes
    assert _doc(st.text(rest, seen, lifecycles)) == _want(rest, seen, lifecycles)
    seen["d0"] = 7
    assert _doc(st.text({}, seen, {})) == _want({}, seen, {})
