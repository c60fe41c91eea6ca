"""The Curator API's standing vetoes and nudges, in force per window: one rule, read by the
nightly batch (`run_council`) and the live step (`CouncilStep`) alike (docs/curators.md,
"Standing actions").

    in force for a window of detector d at ts_ms  <=>  an action on d signed at t
                                                      with t + settle_ms <= ts_ms

t is the action's `signed_ts_ms` (inside the signed body: anyone can re-verify it);
settle_ms is curators.yaml `standing_actions.settle_s`. What stands at ts is the log's fold
(`standing`: per role the newest nudge by seq, 0 withdrawing it; every veto) over the
actions in force then. The API accepts a signed time within its skew (300 s) of its clock,
so an action is in the log by t + 300 s; with settle_s above that plus the live poll period,
the live daemon has read every action in force for a window before it scores the window,
and a restarted daemon, a replay and the nightly chain all see the same log: live ==
nightly by construction. The council applies a role's standing c inside that curator's
lever (c = clip(mandate + standing, +-kappa)) and a role's standing veto as that curator's
veto (`standing_veto`), after its own rules.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lotus_core.curators.config import CURATORS, SOFT_CURATORS, VETO_CURATORS, CouncilConfig

STANDING_ACTIONS = ("veto", "nudge")  # the detector actions that stand
STANDING_NUDGE = "standing_nudge"  # curator_log reason of a lever moved by a standing nudge
STANDING_VETO = "standing_veto"    # the veto reason (code "<role>:standing_veto")
_INDEX = {name: i for i, name in enumerate(CURATORS)}


def standing(actions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """detector_id -> {nudges: {role: c}, nudge_sum, vetoes: [{role, curator_id, reason,
    seq}]} from curator_actions rows (any order; seq decides): per role the newest nudge
    (0 withdraws it), their sum, and every veto. Pure: rows in, dict out."""
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


@dataclass(frozen=True)
class InForce:
    """What stands on one detector from some time on, per curator in CURATORS order: the
    standing nudge c (0.0: none) and whether a standing veto holds."""

    nudges: tuple[float, ...]
    vetoes: tuple[bool, ...]


def _in_force(entry: Mapping[str, Any] | None) -> InForce | None:
    """A fold entry as the council reads it (None: nothing stands). Only a lever the
    curator holds counts: nudges of the soft curators, vetoes of the veto curators (the
    API refuses the others; a log written by other means cannot add a lever)."""
    if entry is None:
        return None
    nudges = [0.0] * len(CURATORS)
    vetoes = [False] * len(CURATORS)
    for role, c in entry["nudges"].items():
        if role in SOFT_CURATORS:
            nudges[_INDEX[role]] = float(c)
    for v in entry["vetoes"]:
        if v["role"] in VETO_CURATORS:
            vetoes[_INDEX[v["role"]]] = True
    if not any(nudges) and not any(vetoes):
        return None
    return InForce(tuple(nudges), tuple(vetoes))


def effective_ms(row: Mapping[str, Any], settle_ms: int) -> int:
    """The first window time an action is in force for."""
    return int(row["signed_ts_ms"]) + settle_ms


class Standing:
    """Per detector, the times its standing state changes and the state from each on
    (`at` for one window, `windows` for arrays: the same searchsorted rule)."""

    def __init__(self, actions: Sequence[Mapping[str, Any]], settle_ms: int) -> None:
        self.actions = actions
        self.settle_ms = int(settle_ms)
        by_det: dict[str, list[Mapping[str, Any]]] = {}
        for row in actions:
            if row["target_kind"] == "detector" and row["action"] in STANDING_ACTIONS:
                by_det.setdefault(str(row["target_id"]), []).append(row)
        self._times: dict[str, list[int]] = {}
        self._states: dict[str, list[InForce | None]] = {}
        for det, rows in sorted(by_det.items()):
            times = sorted({effective_ms(r, self.settle_ms) for r in rows})
            states = [_in_force(standing(r for r in rows
                                         if effective_ms(r, self.settle_ms) <= t).get(det))
                      for t in times]
            if any(s is not None for s in states):
                self._times[det], self._states[det] = times, states

    @classmethod
    def of(cls, actions: Sequence[Mapping[str, Any]], council: CouncilConfig) -> Standing:
        return cls(actions, council.standing_actions.settle_s * 1000)

    def __bool__(self) -> bool:
        return bool(self._times)

    def at(self, detector_id: str, ts_ms: int) -> InForce | None:
        """What stands on the detector for a window at ts_ms (None: nothing)."""
        times = self._times.get(detector_id)
        if times is None:
            return None
        k = bisect_right(times, ts_ms) - 1
        return None if k < 0 else self._states[detector_id][k]

    def windows(self, detector_id: np.ndarray, ts_ms: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """`at` on every window: (nudges, vetoes), arrays of shape (n, len(CURATORS))."""
        n = len(ts_ms)
        nudges = np.zeros((n, len(CURATORS)))
        vetoes = np.zeros((n, len(CURATORS)), dtype=bool)
        ts = np.asarray(ts_ms, dtype=np.int64)
        for det, times in self._times.items():
            sel = np.flatnonzero(detector_id == det)
            if len(sel) == 0:
                continue
            k = np.searchsorted(np.asarray(times, dtype=np.int64), ts[sel], side="right") - 1
            for j, st in enumerate(self._states[det]):
                if st is not None:
                    rows = sel[k == j]
                    nudges[rows] = st.nudges
                    vetoes[rows] = st.vetoes
        return nudges, vetoes


NO_STANDING = Standing((), 0)
