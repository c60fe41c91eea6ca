"""`StateText`, the trader loop's snapshot text: the same document as the snapshot (seen as
pairs, in any order) however `seen` and `lifecycles` change between commits, and the DM's
positions-only read of it in a SQLite fabric."""

from __future__ import annotations

import json

from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import sqlite_url
from lotus_core.trader.store import StateText, load_state, save_state


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


def test_positions_only_read_drops_the_logs(tmp_path) -> None:  # noqa: ANN001
    rest = {"now_ms": 5, "top": {"BTC": 0.1000000000000000055511151231257827,
                                 "ETH": 1.7976931348623157e308}}
    text = StateText().text(rest, {"d1": 3}, {"d1": "l1"})
    with OpsDb.open(sqlite_url(tmp_path / "f.sqlite")) as fabric:
        with fabric.transaction() as tx:
            save_state(tx, text, 4)
        with fabric.transaction() as tx:
            full, light = load_state(tx), load_state(tx, positions_only=True)
    assert full == (json.loads(text), 4)
    assert light == (rest, 4)
