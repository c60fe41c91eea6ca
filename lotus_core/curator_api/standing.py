"""The action log folded into what stands now, per detector: the interface the council reads.

A nudge is a curator role's standing opinion of a detector: the role's newest nudge replaces
its older ones (0 withdraws it), and the detector's total is the sum over roles, each within
its kappa, exactly as the council sums its curators' c in log space (docs/curators.md). A
detector veto stands once logged (lifting one is not an action yet). Pure: rows in, dict out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def standing(actions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """detector_id -> {nudges: {role: c}, nudge_sum, vetoes: [{role, curator_id, reason,
    seq}]} from curator_actions rows (any order; seq decides)."""
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(actions, key=lambda r: int(r["seq"])):
        if row["target_kind"] != "detector":
            continue
        entry = out.setdefault(row["target_id"], {"nudges": {}, "nudge_sum": 0.0, "vetoes": []})
        if row["action"] == "nudge":
            entry["nudges"][row["role"]] = float(row["value"])
        elif row["action"] == "veto":
            entry["vetoes"].append({"role": row["role"], "curator_id": row["curator_id"],
                                    "reason": row["reason"], "seq": int(row["seq"])})
    for entry in out.values():
        entry["nudges"] = {r: c for r, c in sorted(entry["nudges"].items()) if c != 0.0}
        entry["nudge_sum"] = float(sum(entry["nudges"].values()))
    return out
