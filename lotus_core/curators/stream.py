"""The curator council, publication and the final signal_events / Signal Bus rows, one
MicroTape row's windows at a time: the live daemon's form of score_day's second half.

    stream = CouncilStream(day, specs, council, detector_status(audit, ids), fp, hq.days)
    for windows in per_row_windows:       # one (ts_ms, coin) each, in (ts_ms, coin) order
        for event, bus in stream.push(windows): ...

Each mandate of council.py is restated on one window with plain floats, in the same
order, so nudges sum in np.sum's order. The only carried state is the diversity
curator's per-coin window of recent windows (`_recent_counts`), kept as a deque.
Transcendentals go through numpy's scalar ufuncs, so every float is bit-identical to the
vectorised council's (math.tanh differs from np.tanh in the last bit, and the bus payload
prints curated_sigma in full). tests/core/live/test_stream_council.py proves rows and bus
rows equal to score_day's on whole fixture days.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.curators.config import CouncilConfig
from lotus_core.signals import ids
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
_PRE = frozenset(PRE_COUNCIL_COLUMNS)
_TEMPLATE: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)  # the column order, copied per row
_ALL_OK = (True, True, 0.0, True)  # detector_status's defaults
_NAN = float("nan")

Status = tuple[bool, bool, float, bool]  # leakage_ok, adversarial_ok, fragility, card_ok


def _clip_nudge(x: float, k: float) -> float:
    """run_council's np.clip(np.nan_to_num(nudge), -k, k) on one value."""
    return 0.0 if x != x else min(max(x, -k), k)


def _clip01(x: float) -> float:
    """np.clip(x, 0, 1) on one value (NaN stays NaN)."""
    return x if x != x else min(max(x, 0.0), 1.0)


class _Recent:
    """One coin's windows in (t - window_ms, t] with counts per detector: the per-coin
    state behind `_recent_counts` (searchsorted over the day's sorted times, in batch)."""

    __slots__ = ("by_det", "last_ts", "q")

    def __init__(self) -> None:
        self.q: deque[tuple[int, str]] = deque()
        self.by_det: dict[str, int] = {}
        self.last_ts: int | None = None

    def add(self, ts: int, detectors: Sequence[str], window_ms: int) -> None:
        q, by_det = self.q, self.by_det
        for det in detectors:
            q.append((ts, det))
            by_det[det] = by_det.get(det, 0) + 1
        cut = ts - window_ms
        while q[0][0] <= cut:
            by_det[q.popleft()[1]] -= 1


class CouncilStream:
    """run_council + publish + score_day's signal_events / bus assembly, per MicroTape row.

    `status` is detector_status(audit, detector_ids); `history_days` is the history's
    HistoryQuality.days (score_day's history_days and history_window come from them).
    `fingerprint` is read at every push: the daemon updates it as lines arrive."""

    def __init__(self, day: str, specs: Sequence[DetectorSpec], council: CouncilConfig,
                 status: pd.DataFrame, fingerprint: str | None,
                 history_days: Sequence[str]) -> None:
        self.day = day
        self.fingerprint = fingerprint
        spec_map = {s.id: s for s in specs}
        self._hash = {d: s.recipe_hash for d, s in spec_map.items()}
        self._scale = {d: float(s.strength_scale) for d, s in spec_map.items()}
        self._cohort = max(1, len(spec_map))
        self._status: dict[str, Status] = {
            str(d): (bool(r["leakage_ok"]), bool(r["adversarial_ok"]), float(r["fragility"]),
                     bool(r["card_ok"]))
            for d, r in status.to_dict(orient="index").items()}
        c = council.curators
        self._data, self._div, self._reg = c.data, c.diversity, c.regime
        self._mut, self._adv = c.mutation, c.adversarial
        self._context = tuple(c.data.context_columns)
        self._window_ms = int(c.diversity.window_s) * 1000
        self._orth_min = 1.0 - c.diversity.corr_cap
        self._ex_coins = frozenset(c.compliance.excluded_coins)
        self._ex_dets = frozenset(c.compliance.excluded_detectors)
        self._ex_sessions = frozenset(c.compliance.excluded_sessions)
        self._blackouts = tuple((int(a), int(b)) for a, b in c.compliance.blackouts_ms)
        self._require_card = bool(c.explainability.require_card)
        self._tau = float(council.tau_publish)
        self._eps = float(council.exploration.epsilon)
        self._mix = ids.draw_mix(council.exploration.seed, day)
        self._history_days = len(history_days)
        self._history_window = f"{min(history_days) if history_days else day}..{day}"
        self._recent: dict[str, _Recent] = {}
        self._pairs: dict[tuple[str, str], int] = {}
        self._crowding: dict[tuple[int, int], float] = {}

    def push(self, scored: Sequence[Mapping[str, Any]]
             ) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """The signal_events row, and the bus row (None unless published), of each window
        of one (ts_ms, coin); calls must come in (ts_ms, coin) order, each row once."""
        if not scored:
            return []
        ts, coin = int(scored[0]["ts_ms"]), str(scored[0]["coin"])
        if any(int(w["ts_ms"]) != ts or str(w["coin"]) != coin for w in scored):
            raise ValueError("push takes the windows of one (ts_ms, coin)")
        recent = self._recent.get(coin)
        if recent is None:
            recent = self._recent[coin] = _Recent()
        if recent.last_ts is not None and ts <= recent.last_ts:
            raise ValueError(f"{coin} windows at ts_ms={ts} after ts_ms={recent.last_ts}: "
                             "rows must come in time order, each once")
        recent.last_ts = ts
        dets = [str(w["detector_id"]) for w in scored]
        recent.add(ts, dets, self._window_ms)  # all of the row's windows count (side="right")
        total = len(recent.q)
        fp = self.fingerprint
        if fp and not fp.startswith("sha256:"):
            fp = f"sha256:{fp}"
        return [self._window(w, ts, coin, det, recent.by_det[det], total, fp)
                for w, det in zip(scored, dets, strict=True)]

    def _crowded(self, mine: int, total: int) -> float:
        """The diversity nudge: a function of two counts, so computed once per pair."""
        nudge = self._crowding.get((mine, total))
        if nudge is None:
            share = mine / max(total, 1)
            nudge = -self._div.kappa * float(np.tanh(np.log(max(share * self._cohort, 1e-9))))
            self._crowding[(mine, total)] = nudge
        return nudge

    def _regime_nudge(self, w: Mapping[str, Any]) -> float:
        cfg = self._reg
        regime, hbar, r = w["regime"], float(w["kr_hbar"]), float(w["ms_entrain_r"])
        if (regime == "warmup" or (regime == "quiet" and hbar > cfg.quiet_hbar_max)
                or (regime in ("trend", "chop") and hbar < cfg.active_hbar_min)):
            return -cfg.kappa  # regime_unclear
        if hbar <= cfg.hbar_lo and r >= cfg.entrain_hi:
            return cfg.kappa / 2  # exploit
        if hbar >= cfg.hbar_hi and r <= cfg.entrain_lo:
            return -cfg.kappa / 2  # explore
        return 0.0

    def _council(self, w: Mapping[str, Any], ts: int, det: str, mine: int, total: int,
                 fp: str | None) -> tuple[float, list[str]]:
        """(nudge_sum, veto codes): the eight mandates of council.py in MANDATES order."""
        st = self._status.get(det, _ALL_OK)
        codes: list[str] = []
        # data: provenance, freshness, outliers veto; missing context nudges
        d = self._data
        if not fp:
            codes.append('"data:no_fingerprint"')
        elif w["stale_ms"] > d.max_stale_ms:
            codes.append('"data:stale_quote"')
        elif w["spread_rel"] > d.max_spread_rel:
            codes.append('"data:wide_spread"')
        missing = 0
        for col in self._context:
            v = w[col]
            if v is None or v != v:
                missing += 1
        total_nudge = _clip_nudge(-d.kappa * (missing / len(self._context)), d.kappa)
        # leakage: veto only; np.sum adds its zero nudge too (+0.0 fixes a zero sum's sign)
        if not st[0]:
            codes.append('"leakage:audit_leakage_failed"')
        total_nudge += 0.0
        # diversity: near-duplicate veto; crowded / novel nudge
        if w["sq_orthogonality"] < self._orth_min:
            codes.append('"diversity:cohort_corr_cap"')
        total_nudge += _clip_nudge(self._crowded(mine, total), self._div.kappa)
        # regime: soft only
        total_nudge += _clip_nudge(self._regime_nudge(w), self._reg.kappa)
        # compliance: exclusions, first match
        if w["coin"] in self._ex_coins:
            codes.append('"compliance:excluded_coin"')
        elif det in self._ex_dets:
            codes.append('"compliance:excluded_detector"')
        elif w["session"] in self._ex_sessions:
            codes.append('"compliance:excluded_session"')
        elif any(a <= ts <= b for a, b in self._blackouts):
            codes.append('"compliance:blackout"')
        total_nudge += 0.0
        # mutation: complexity must be earned; soft only
        m = self._mut
        earned = _clip01((float(w["sq_accuracy"]) - 0.5) / m.earn_edge)
        total_nudge += _clip_nudge(-m.kappa * float(w["kr_rho"]) * (1.0 - earned), m.kappa)
        # adversarial: failed audit vetoes; fragile or barely-fired windows nudge
        a = self._adv
        if not st[1]:
            codes.append('"adversarial:audit_adversarial_failed"')
        weak = float(np.exp(-float(w["raw_strength"]) / self._scale.get(det, _NAN)))
        marginal = _clip01((weak - a.marginal_from) / (1.0 - a.marginal_from))
        worst = (max(st[2], marginal) if marginal == marginal and st[2] == st[2]
                 else _NAN)  # np.maximum propagates NaN
        total_nudge += _clip_nudge(-a.kappa * worst, a.kappa)
        # explainability: a known recipe with its hash; a card once required
        want = self._hash.get(det)
        if want is None or want != w["recipe_hash"]:
            codes.append('"explainability:unknown_recipe"')
        elif self._require_card and not st[3]:
            codes.append('"explainability:no_card"')
        total_nudge += 0.0
        return total_nudge, codes

    def _window(self, w: Mapping[str, Any], ts: int, coin: str, det: str, mine: int,
                total: int, fp: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        nudge_sum, codes = self._council(w, ts, det, mine, total, fp)
        vetoed = bool(codes)
        cs = _clip01(float(w["det_sigma"]) * float(np.exp(nudge_sum)))  # publish.curated
        above = cs >= self._tau
        pair = self._pairs.get((coin, det))
        if pair is None:
            pair = self._pairs[(coin, det)] = ids.pair_key(coin, det)
        u = ids.uniform_draw(ids.window_key_one(pair, ts), self._mix)
        live = not vetoed and above
        explore = not vetoed and not above
        paper = explore and u < self._eps
        propensity = 1.0 if live else self._eps if explore else 0.0
        published = live or paper

        row = _TEMPLATE.copy()  # schema order; the window's columns, then the council's
        row.update(w)
        if len(row) != len(_TEMPLATE) or not w.keys() >= _PRE:  # extra or missing keys
            row = {c: None if c in COUNCIL_COLUMNS else w[c] for c in EVENT_COLUMNS}
        row.update(nudge_sum=nudge_sum, curated_sigma=cs, vetoed=vetoed,
                   vetoes="[" + ",".join(codes) + "]", tau_publish=self._tau,
                   above_threshold=above, published=published, paper=paper,
                   propensity=propensity, explore_u=u, data_fingerprint=fp or "",
                   history_days=self._history_days, history_window=self._history_window)
        row["gates"] = gates_json_one(row)
        if not published:
            return row, None
        return row, {"window_id": str(w["window_id"]), "ts_ms": ts, "coin": coin,
                     "detector_id": det, "paper": paper, "propensity": propensity,
                     "payload": sigbus_payload(row, iso_ms_one(ts), self._history_window,
                                               fp or "")}
