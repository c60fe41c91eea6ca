"""The live step's signal_events and Signal Bus rows: `CouncilStream`, one MicroTape row's
scored windows at a time, in (ts_ms, coin) order (score_day's second half, per row).

    stream = CouncilStream(day, specs, council, detector_status(audit, ids), fp, hq.days,
                           actions)  # the Curator API's detector actions (set_actions)
    for windows in per_row_windows:       # one (ts_ms, coin) each, in (ts_ms, coin) order
        for event, bus in stream.push(windows): ...

The council's rules and state are council.py's `CouncilStep` (beside run_council and
curate: standing actions, the exploration cap), the publication's `publish_one` (beside
publish). This module only lays out the rows with the
signal layer's texts (gates_json_one, sigbus_payload): it is apart from council.py because
signals.pipeline imports council.py. Equality test: tests/core/curators/test_curators.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from lotus_core.curators.config import CouncilConfig
from lotus_core.curators.council import CouncilStep
from lotus_core.curators.standing import Standing
from lotus_core.signals.bus import iso_ms_one, sigbus_payload
from lotus_core.signals.pipeline import gates_json_one
from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA
from lotus_core.signals.spec import DetectorSpec

# the signal_events columns the council and the assembly add; the rest come with a window
COUNCIL_COLUMNS = ("nudge_sum", "curated_sigma", "vetoed", "vetoes", "gates", "tau_publish",
                   "above_threshold", "published", "paper", "propensity", "explore_u",
                   "data_fingerprint", "history_days", "history_window")
EVENT_COLUMNS: tuple[str, ...] = tuple(SIGNAL_EVENTS_SCHEMA.columns)
PRE_COUNCIL_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in COUNCIL_COLUMNS)
_N_PRE = len(PRE_COUNCIL_COLUMNS)
_COUNCIL = frozenset(COUNCIL_COLUMNS)
_TEMPLATE: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)  # the column order of every row


class CouncilStream(CouncilStep):
    """run_council + publish + score_day's signal_events / bus assembly, per MicroTape row.

    `status` is detector_status(audit, detector_ids); `history_days` is the history's
    HistoryQuality.days (score_day's history_days and history_window come from them).
    `fingerprint` is read at every push: the daemon updates it as lines arrive."""

    def __init__(self, day: str, specs: Sequence[DetectorSpec], council: CouncilConfig,
                 status: pd.DataFrame, fingerprint: str | None,
                 history_days: Sequence[str],
                 actions: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(day, specs, council, status, Standing.of(actions, council))
        self._settle_ms = council.standing_actions.settle_s * 1000
        self.day = day
        self.fingerprint = fingerprint
        self._history_days = len(history_days)
        self._history_window = f"{min(history_days) if history_days else day}..{day}"

    def set_actions(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """The Curator API's detector actions as the log now holds them (the live daemon
        polls it at batch boundaries); a no-op when it is the same sequence."""
        if actions is not self.standing.actions:
            self.set_standing(Standing(actions, self._settle_ms))

    def push(self, scored: Sequence[Mapping[str, Any]]
             ) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """The signal_events row, and the bus row (None unless published), of each window
        of one (ts_ms, coin); calls must come in (ts_ms, coin) order, each row once."""
        if not scored:
            return []
        ts, coin, dets, recent = self._enter(scored)
        total = len(recent.q)
        fp = self.fingerprint  # score_day's normalisation
        if fp and not fp.startswith("sha256:"):
            fp = f"sha256:{fp}"
        return [self._window(w, ts, coin, det, recent.by_det[det], total, fp)
                for w, det in zip(scored, dets, strict=True)]

    def _window(self, w: Mapping[str, Any], ts: int, coin: str, det: str, mine: int,
                total: int, fp: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        nudge_sum, codes = self._council(w, ts, det, mine, total, fp)
        u = self._draw(ts, coin, det)
        codes, (cs, above, published, paper, propensity) = self._publish(
            float(w["det_sigma"]), nudge_sum, codes, coin, det, u)
        row = {**_TEMPLATE, **w}  # schema order; the window's columns, then the council's
        # w has exactly the pre-council columns: no extra key (row kept its size), none of
        # the council's, as many as there are; else the slow path drops extras, names a gap
        if len(row) != len(_TEMPLATE) or len(w) != _N_PRE or not w.keys().isdisjoint(_COUNCIL):
            row = {c: None if c in _COUNCIL else w[c] for c in EVENT_COLUMNS}
        # the council's columns, stored one by one (a keyword update costs twice as much)
        row["nudge_sum"] = nudge_sum
        row["curated_sigma"] = cs
        row["vetoed"] = bool(codes)
        row["vetoes"] = "[" + ",".join(codes) + "]"
        row["tau_publish"] = self._tau
        row["above_threshold"] = above
        row["published"] = published
        row["paper"] = paper
        row["propensity"] = propensity
        row["explore_u"] = u
        row["data_fingerprint"] = fp or ""
        row["history_days"] = self._history_days
        row["history_window"] = self._history_window
        row["gates"] = gates_json_one(row)
        if not published:
            return row, None
        return row, {"window_id": str(w["window_id"]), "ts_ms": ts, "coin": coin,
                     "detector_id": det, "paper": paper, "propensity": propensity,
                     "payload": sigbus_payload(row, iso_ms_one(ts), self._history_window,
                                               fp or "")}
