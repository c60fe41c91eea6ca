"""The curator council: eight narrow mandates, hard vetoes only where the seeds allow them,
soft nudges bounded by each curator's kappa, every verdict logged (docs/curators.md).

    log curated_sigma = log det_sigma + sum_j c_j,   c_j in [-kappa_j, +kappa_j]

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. Each vectorised mandate (run_council) has its one-window form
`<mandate>_one` directly under it, on the same config fields and named rules; `CouncilStep`
runs those per MicroTape row in MANDATES order (np.sum's) with numpy's scalar exp/log/tanh,
so its floats are the batch's bit for bit. Equality test, the live `CouncilStream`
(curators/events.py) vs score_day on whole days: tests/core/curators/test_curators.py.

The Curator API's standing vetoes and nudges (curators/standing.py) enter each curator's
lever; `curate` adds the publication and the exploration cap (curators/exploration.py),
the step's `_publish` the same per window (tests/core/curators/test_standing_actions.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lotus_core.curators.config import (
    CURATORS,
    AdversarialCurator,
    ComplianceCurator,
    CouncilConfig,
    DataCurator,
    DiversityCurator,
    ExplainabilityCurator,
    MutationCurator,
    RegimeCurator,
)
from lotus_core.curators.exploration import (
    CAP_CURATOR,
    CAP_REASON,
    ExplorationCap,
    capped,
    exploration_ids,
)
from lotus_core.curators.publish import Publication, clip01_one, publish, publish_one
from lotus_core.curators.standing import (
    NO_STANDING,
    STANDING_NUDGE,
    STANDING_VETO,
    InForce,
    Standing,
)
from lotus_core.signals import ids
from lotus_core.signals.features import coin_blocks
from lotus_core.signals.spec import DetectorSpec

LOG_COLUMNS = ("window_id", "curator", "kind", "value", "reason")
_NAN = float("nan")


class Status(NamedTuple):
    """A detector's audit and card status; the defaults are an unaudited detector's."""

    leakage_ok: bool = True
    adversarial_ok: bool = True
    fragility: float = 0.0
    card_ok: bool = True


STATUS_COLUMNS = Status._fields
_ALL_OK = Status()


@dataclass(frozen=True)
class Verdict:
    """One curator on every window: its nudge (0 = none) and veto, each with a reason code."""

    nudge: np.ndarray
    nudge_reason: np.ndarray
    veto: np.ndarray
    veto_reason: np.ndarray


@dataclass(frozen=True)
class CouncilResult:
    nudge_sum: np.ndarray
    vetoed: np.ndarray
    vetoes: np.ndarray  # per window, the JSON list of "curator:reason" codes
    verdicts: dict[str, Verdict]
    log: pd.DataFrame


def detector_status(status: Mapping[str, Mapping[str, Any]] | pd.DataFrame | None,
                    detector_ids: Sequence[str]) -> pd.DataFrame:
    """Audit and card status per detector (index detector_id), `Status`'s defaults filled in:
    leakage_ok and adversarial_ok True, fragility 0, card_ok True.

    Accepts a dict detector_id -> {leakage_ok, adversarial_ok, fragility?, card_ok?} or a
    DataFrame with a detector_id column (or index) and those columns."""
    out = pd.DataFrame(_ALL_OK._asdict(),
                       index=pd.Index(list(detector_ids), name="detector_id"))
    if status is None:
        return out
    if isinstance(status, pd.DataFrame):
        frame = status.set_index("detector_id") if "detector_id" in status else status
        items = frame.to_dict(orient="index").items()
    else:
        items = status.items()
    for det, row in items:
        if det not in out.index:
            continue
        unknown = sorted(set(row) - set(STATUS_COLUMNS))
        if unknown:
            raise ValueError(f"audit status of {det}: unknown keys {unknown}; "
                             f"expected {list(STATUS_COLUMNS)}")
        for key, value in row.items():
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            out.loc[det, key] = float(value) if key == "fragility" else bool(value)
    out["fragility"] = out["fragility"].astype(np.float64).clip(0.0, 1.0)
    for col in ("leakage_ok", "adversarial_ok", "card_ok"):
        out[col] = out[col].astype(bool)
    return out


def clip_nudge(nudge: np.ndarray, kappa: float) -> np.ndarray:
    """A curator's nudges within its kappa; NaN is no nudge."""
    return np.clip(np.nan_to_num(nudge), -kappa, kappa)


def clip_nudge_one(x: float, kappa: float) -> float:
    """`clip_nudge` on one value (inf clips to kappa, as nan_to_num's max float does)."""
    return 0.0 if x != x else min(max(x, -kappa), kappa)


def veto_code(curator: str, reason: Any, end: str = '"') -> Any:
    """A veto's JSON string in `vetoes`, '"curator:reason"'; reason a str or a str array."""
    return '"' + curator + ":" + reason + end


class _Codes(dict[str, str]):
    """One curator's veto_code per reason, each made once (the step's form)."""

    def __init__(self, curator: str) -> None:
        super().__init__()
        self.curator = curator

    def __missing__(self, reason: str) -> str:
        text = self[reason] = veto_code(self.curator, reason)
        return text


_NO_VERDICT = (0.0, "")  # a window's (nudge, veto reason) when the curator has neither


def _verdict(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.zeros(n), np.full(n, "", dtype=object), np.zeros(n, dtype=bool),
            np.full(n, "", dtype=object))


def _first_veto(n: int, rules: Sequence[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Veto flags and the first matching reason, in rule order (the `_one` forms: if/elif)."""
    veto = np.zeros(n, dtype=bool)
    reason = np.full(n, "", dtype=object)
    for code, mask in rules:
        new = mask & ~veto
        reason[new] = code
        veto |= mask
    return veto, reason


@dataclass(frozen=True)
class Context:
    w: pd.DataFrame  # the scored windows
    status: pd.DataFrame  # per window: leakage_ok, adversarial_ok, fragility, card_ok
    specs: Mapping[str, DetectorSpec]
    cfg: CouncilConfig
    fingerprint: str | None


def data_curator(c: Context) -> Verdict:
    """DQ: stale quote, outlier spread and missing provenance veto; missing context nudges."""
    cfg, w, n = c.cfg.curators.data, c.w, len(c.w)
    nudge, nreason, _, _ = _verdict(n)
    veto, vreason = _first_veto(n, [
        ("no_fingerprint", np.full(n, not c.fingerprint)),
        ("stale_quote", w["stale_ms"].to_numpy() > cfg.max_stale_ms),
        ("wide_spread", w["spread_rel"].to_numpy() > cfg.max_spread_rel),
    ])
    missing = np.mean([w[col].isna().to_numpy() for col in cfg.context_columns], axis=0)
    nudge = -cfg.kappa * missing
    nreason = np.where(missing > 0, "missing_context", "")
    return Verdict(nudge, nreason.astype(object), veto, vreason)


def data_curator_one(cfg: DataCurator, w: Mapping[str, Any], fp: str | None
                     ) -> tuple[float, str]:
    """`data_curator` on one window: (nudge, veto reason or "")."""
    missing = 0
    for col in cfg.context_columns:
        v = w[col]
        if v is None or v != v:  # isna
            missing += 1
    nudge = -cfg.kappa * (missing / len(cfg.context_columns))
    if not fp:
        return nudge, "no_fingerprint"
    if w["stale_ms"] > cfg.max_stale_ms:
        return nudge, "stale_quote"
    if w["spread_rel"] > cfg.max_spread_rel:
        return nudge, "wide_spread"
    return nudge, ""


def leakage_curator(c: Context) -> Verdict:
    """Veto every window of a detector whose leakage audit failed."""
    nudge, nreason, _, _ = _verdict(len(c.w))
    veto, reason = _first_veto(len(c.w), [("audit_leakage_failed",
                                           ~c.status["leakage_ok"].to_numpy())])
    return Verdict(nudge, nreason, veto, reason)


def leakage_curator_one(st: Status) -> tuple[float, str]:
    """`leakage_curator` on one window of a detector with status `st`."""
    return _NO_VERDICT if st.leakage_ok else (0.0, "audit_leakage_failed")


def recent_window_ms(cfg: DiversityCurator) -> int:
    """The diversity curator's window: a window counts the coin's windows in (t - this, t]."""
    return cfg.window_s * 1000


def _recent_counts(w: pd.DataFrame, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Per window: windows of its coin, and of its (coin, detector), in (t - window, t]."""
    n = len(w)
    ts = w["ts_ms"].to_numpy(dtype=np.int64)
    coin = w["coin"].to_numpy(dtype=object)
    det = w["detector_id"].to_numpy(dtype=object)
    all_n = np.zeros(n, dtype=np.int64)
    mine_n = np.zeros(n, dtype=np.int64)
    order = np.lexsort((ts, coin))
    for _, a, b in coin_blocks(coin[order]):
        rows = order[a:b]
        t = ts[rows]
        all_n[rows] = (np.searchsorted(t, t, side="right")
                       - np.searchsorted(t, t - window_ms, side="right"))
        for d in np.unique(det[rows]):
            sub = rows[det[rows] == d]
            td = ts[sub]
            mine_n[sub] = (np.searchsorted(td, td, side="right")
                           - np.searchsorted(td, td - window_ms, side="right"))
    return mine_n, all_n


class _Recent:
    """One coin's windows in (t - window_ms, t] with counts per detector: the step's state
    behind `_recent_counts` (which searchsorts the day's sorted times)."""

    __slots__ = ("by_det", "last_ts", "q")

    def __init__(self) -> None:
        self.q: deque[tuple[int, str]] = deque()
        self.by_det: dict[str, int] = {}
        self.last_ts: int | None = None

    def add(self, ts: int, detectors: Sequence[str], window_ms: int) -> None:
        """All of the row's windows count (side="right"); those at or before t - window
        leave (the left searchsorted, side="right")."""
        q, by_det = self.q, self.by_det
        for det in detectors:
            q.append((ts, det))
            by_det[det] = by_det.get(det, 0) + 1
        cut = ts - window_ms
        while q[0][0] <= cut:
            by_det[q.popleft()[1]] -= 1


def cohort_size(specs: Mapping[str, DetectorSpec] | Sequence[DetectorSpec]) -> int:
    """The cohort a detector's share of its coin's recent windows is compared with."""
    return max(1, len(specs))


def crowding(mine: Any, total: Any, cohort: int, kappa: float,
             maximum: Callable[[Any, Any], Any] = np.maximum) -> Any:
    """The diversity nudge from the recent-window counts: over-represented detectors are
    pushed down, under-represented ones up. On arrays (batch), or on two ints with
    maximum=max (the step: numpy's maximum costs microseconds on scalars; same floats)."""
    share = mine / maximum(total, 1)
    return -kappa * np.tanh(np.log(maximum(share * cohort, 1e-9)))


def diversity_curator(c: Context) -> Verdict:
    """Veto when a live cohort member is a near-duplicate; nudge for under-/over-represented."""
    cfg, w, n = c.cfg.curators.diversity, c.w, len(c.w)
    veto, vreason = _first_veto(n, [
        ("cohort_corr_cap", w["sq_orthogonality"].to_numpy() < 1.0 - cfg.corr_cap)])
    mine, total = _recent_counts(w, recent_window_ms(cfg))
    nudge = crowding(mine, total, cohort_size(c.specs), cfg.kappa)
    nreason = np.where(nudge > 0, "novelty", np.where(nudge < 0, "crowded", "")).astype(object)
    return Verdict(nudge, nreason, veto, vreason)


def diversity_curator_one(cfg: DiversityCurator, w: Mapping[str, Any], nudge: float
                          ) -> tuple[float, str]:
    """`diversity_curator` on one window, given its `crowding` (from the step's counts)."""
    if w["sq_orthogonality"] < 1.0 - cfg.corr_cap:
        return nudge, "cohort_corr_cap"
    return nudge, ""


WARMUP, QUIET, ACTIVE = "warmup", "quiet", ("trend", "chop")  # the regime labels read here


def regime_levels(kappa: float) -> tuple[float, float, float]:
    """The regime nudges: regime_unclear, exploit, explore."""
    return -kappa, kappa / 2, -kappa / 2


def regime_curator(c: Context) -> Verdict:
    """kr_hbar vs the regime label, and ms_entrain_r: exploit calm coherence, explore
    surprise without coherence, distrust an insane label. Soft only."""
    cfg, w, n = c.cfg.curators.regime, c.w, len(c.w)
    _, _, veto, vreason = _verdict(n)
    regime = w["regime"].astype(str).to_numpy(dtype=object)
    hbar = w["kr_hbar"].to_numpy(dtype=np.float64)
    r = w["ms_entrain_r"].to_numpy(dtype=np.float64)
    insane = ((regime == WARMUP) | ((regime == QUIET) & (hbar > cfg.quiet_hbar_max))
              | (np.isin(regime, list(ACTIVE)) & (hbar < cfg.active_hbar_min)))
    exploit = ~insane & (hbar <= cfg.hbar_lo) & (r >= cfg.entrain_hi)
    explore = ~insane & (hbar >= cfg.hbar_hi) & (r <= cfg.entrain_lo)
    nudge = np.select([insane, exploit, explore], list(regime_levels(cfg.kappa)), 0.0)
    nreason = np.select([insane, exploit, explore], ["regime_unclear", "exploit", "explore"], "")
    return Verdict(nudge, nreason.astype(object), veto, vreason)


def regime_curator_one(cfg: RegimeCurator, levels: tuple[float, float, float],
                       w: Mapping[str, Any]) -> tuple[float, str]:
    """`regime_curator` on one window; `levels` is regime_levels(cfg.kappa)."""
    regime, hbar, r = w["regime"], float(w["kr_hbar"]), float(w["ms_entrain_r"])
    if (regime == WARMUP or (regime == QUIET and hbar > cfg.quiet_hbar_max)
            or (regime in ACTIVE and hbar < cfg.active_hbar_min)):
        return levels[0], ""
    if hbar <= cfg.hbar_lo and r >= cfg.entrain_hi:
        return levels[1], ""
    if hbar >= cfg.hbar_hi and r <= cfg.entrain_lo:
        return levels[2], ""
    return _NO_VERDICT


def in_blackout(ts: Any, start_ms: int, end_ms: int) -> Any:
    """A blackout interval, both ends inclusive; ts an int64 array or one int."""
    return (ts >= start_ms) & (ts <= end_ms)


def compliance_curator(c: Context) -> Verdict:
    """Policy exclusions: coins, detectors, sessions, blackout intervals."""
    cfg, w, n = c.cfg.curators.compliance, c.w, len(c.w)
    nudge, nreason, _, _ = _verdict(n)
    ts = w["ts_ms"].to_numpy(dtype=np.int64)
    black = np.zeros(n, dtype=bool)
    for a, b in cfg.blackouts_ms:
        black |= in_blackout(ts, a, b)
    veto, reason = _first_veto(n, [
        ("excluded_coin", w["coin"].isin(cfg.excluded_coins).to_numpy()),
        ("excluded_detector", w["detector_id"].isin(cfg.excluded_detectors).to_numpy()),
        ("excluded_session", w["session"].isin(cfg.excluded_sessions).to_numpy()),
        ("blackout", black),
    ])
    return Verdict(nudge, nreason, veto, reason)


def compliance_curator_one(cfg: ComplianceCurator, w: Mapping[str, Any], ts: int, det: str
                           ) -> tuple[float, str]:
    """`compliance_curator` on one window (first match)."""
    if w["coin"] in cfg.excluded_coins:
        return 0.0, "excluded_coin"
    if det in cfg.excluded_detectors:
        return 0.0, "excluded_detector"
    if w["session"] in cfg.excluded_sessions:
        return 0.0, "excluded_session"
    for a, b in cfg.blackouts_ms:
        if in_blackout(ts, a, b):
            return 0.0, "blackout"
    return _NO_VERDICT


COIN_FLIP = 0.5  # the accuracy that earns a recipe none of its complexity


def mutation_curator(c: Context) -> Verdict:
    """Complexity must be earned: nudge = -kappa * kr_rho * (1 - earned). Soft only."""
    cfg, w, n = c.cfg.curators.mutation, c.w, len(c.w)
    _, _, veto, vreason = _verdict(n)
    earned = np.clip((w["sq_accuracy"].to_numpy() - COIN_FLIP) / cfg.earn_edge, 0.0, 1.0)
    nudge = -cfg.kappa * w["kr_rho"].to_numpy() * (1.0 - earned)
    nreason = np.where(nudge < 0, "unearned_complexity", "").astype(object)
    return Verdict(nudge, nreason, veto, vreason)


def mutation_curator_one(cfg: MutationCurator, w: Mapping[str, Any]) -> tuple[float, str]:
    """`mutation_curator` on one window."""
    earned = clip01_one((float(w["sq_accuracy"]) - COIN_FLIP) / cfg.earn_edge)
    return -cfg.kappa * float(w["kr_rho"]) * (1.0 - earned), ""


def adversarial_curator(c: Context) -> Verdict:
    """Veto detectors failing the adversarial audit; nudge fragile or barely-fired windows."""
    cfg, w, n = c.cfg.curators.adversarial, c.w, len(c.w)
    veto, vreason = _first_veto(n, [("audit_adversarial_failed",
                                     ~c.status["adversarial_ok"].to_numpy())])
    scale = w["detector_id"].map({d: s.strength_scale for d, s in c.specs.items()})
    weak = np.exp(-w["raw_strength"].to_numpy() / scale.to_numpy(dtype=np.float64))
    marginal = np.clip((weak - cfg.marginal_from) / (1.0 - cfg.marginal_from), 0.0, 1.0)
    fragility = c.status["fragility"].to_numpy(dtype=np.float64)
    nudge = -cfg.kappa * np.maximum(fragility, marginal)
    nreason = np.where(nudge < 0, np.where(fragility >= marginal, "fragile", "marginal_fire"),
                       "").astype(object)
    return Verdict(nudge, nreason, veto, vreason)


def adversarial_curator_one(cfg: AdversarialCurator, w: Mapping[str, Any], st: Status,
                            scale: float) -> tuple[float, str]:
    """`adversarial_curator` on one window of a detector with status `st` and its spec's
    strength_scale (NaN for an unknown detector, as the batch's map gives)."""
    weak = float(np.exp(-float(w["raw_strength"]) / scale))
    marginal = clip01_one((weak - cfg.marginal_from) / (1.0 - cfg.marginal_from))
    frag = st.fragility
    worst = (max(frag, marginal) if marginal == marginal and frag == frag
             else _NAN)  # np.maximum propagates NaN
    return -cfg.kappa * worst, "" if st.adversarial_ok else "audit_adversarial_failed"


def explainability_curator(c: Context) -> Verdict:
    """Proofs complete: a known recipe with its hash, and (once required) a complete card."""
    cfg, w, n = c.cfg.curators.explainability, c.w, len(c.w)
    nudge, nreason, _, _ = _verdict(n)
    known = w["detector_id"].isin(list(c.specs)).to_numpy()
    hashes = w["detector_id"].map({d: s.recipe_hash for d, s in c.specs.items()})
    same = (hashes == w["recipe_hash"]).to_numpy()
    no_card = np.full(n, cfg.require_card) & ~c.status["card_ok"].to_numpy()
    veto, reason = _first_veto(n, [("unknown_recipe", ~(known & same)), ("no_card", no_card)])
    return Verdict(nudge, nreason, veto, reason)


def explainability_curator_one(cfg: ExplainabilityCurator, w: Mapping[str, Any], st: Status,
                               recipe_hash: str | None) -> tuple[float, str]:
    """`explainability_curator` on one window; `recipe_hash` is its spec's (None: unknown)."""
    if recipe_hash is None or recipe_hash != w["recipe_hash"]:
        return 0.0, "unknown_recipe"
    if cfg.require_card and not st.card_ok:
        return 0.0, "no_card"
    return _NO_VERDICT


MANDATES: dict[str, Callable[[Context], Verdict]] = {
    "data": data_curator,
    "leakage": leakage_curator,
    "diversity": diversity_curator,
    "regime": regime_curator,
    "compliance": compliance_curator,
    "mutation": mutation_curator,
    "adversarial": adversarial_curator,
    "explainability": explainability_curator,
}
if tuple(MANDATES) != CURATORS:  # the config and the mandates must name the same eight
    raise RuntimeError(f"curator mandates {tuple(MANDATES)} != config curators {CURATORS}")
_CODES = {name: _Codes(name) for name in MANDATES}


def _json_codes(verdicts: Mapping[str, Verdict], n: int) -> np.ndarray:
    out = pd.Series([""] * n, dtype=object)
    for name, v in verdicts.items():
        code = pd.Series(np.where(v.veto, veto_code(name, v.veto_reason.astype(str), '",'),
                                  ""), dtype=object)
        out = out + code
    return ("[" + out.str.rstrip(",") + "]").to_numpy(dtype=object)


def lever_one(nudge: float, kappa: float, standing: float) -> float:
    """A curator's c on one window: its mandate's nudge, plus the standing nudge of its
    role (0.0: none), clipped to its kappa (`_standing_lever` on one window)."""
    if standing == 0.0:
        return clip_nudge_one(nudge, kappa)
    return clip_nudge_one((0.0 if nudge != nudge else nudge) + standing, kappa)


def _standing_lever(v: Verdict, nudge: np.ndarray, reason: np.ndarray, kappa: float,
                    s_nudge: np.ndarray, s_veto: np.ndarray) -> Verdict:
    """A curator's verdict with its role's standing actions: where a standing nudge is in
    force, c = clip(mandate + standing, kappa) (reason standing_nudge); a standing veto
    after the curator's own veto rules (reason standing_veto). Windows with neither keep
    their values untouched."""
    veto, veto_reason = v.veto.astype(bool), v.veto_reason
    on = s_nudge != 0.0
    if on.any():
        nudge, reason = nudge.copy(), reason.copy()
        nudge[on] = clip_nudge(np.nan_to_num(v.nudge[on]) + s_nudge[on], kappa)
        reason[on] = np.where(nudge[on] != 0, STANDING_NUDGE, "")
    new = s_veto & ~veto
    if new.any():
        veto, veto_reason = veto | s_veto, veto_reason.copy()
        veto_reason[new] = STANDING_VETO
    return Verdict(nudge, reason, veto, veto_reason)


def _result(window_ids: np.ndarray, verdicts: dict[str, Verdict]) -> CouncilResult:
    nudge_sum = np.sum([v.nudge for v in verdicts.values()], axis=0)
    vetoed = np.any([v.veto for v in verdicts.values()], axis=0)
    return CouncilResult(nudge_sum, vetoed, _json_codes(verdicts, len(window_ids)), verdicts,
                         council_log(window_ids, verdicts))


def run_council(scored: pd.DataFrame, specs: Mapping[str, DetectorSpec], cfg: CouncilConfig,
                status: pd.DataFrame, fingerprint: str | None,
                standing: Standing = NO_STANDING) -> CouncilResult:
    """Every curator on every window; nudges clipped to their kappa, then summed. `standing`:
    the Curator API's vetoes and nudges in force (curators/standing.py)."""
    n = len(scored)
    if n == 0:
        return CouncilResult(np.zeros(0), np.zeros(0, dtype=bool), np.array([], dtype=object),
                             {}, council_log(np.array([], dtype=object), {}))
    per_window = status.reindex(scored["detector_id"].astype(str)).reset_index(drop=True)
    ctx = Context(scored.reset_index(drop=True), per_window, specs, cfg, fingerprint)
    levers = (standing.windows(scored["detector_id"].to_numpy(dtype=object),
                               scored["ts_ms"].to_numpy(dtype=np.int64)) if standing else None)
    verdicts: dict[str, Verdict] = {}
    for i, (name, fn) in enumerate(MANDATES.items()):
        v = fn(ctx)
        nudge = clip_nudge(v.nudge, cfg.kappa(name))
        reason = np.where(nudge != 0, v.nudge_reason, "").astype(object)
        if levers is None:
            verdicts[name] = Verdict(nudge, reason, v.veto.astype(bool), v.veto_reason)
        else:
            verdicts[name] = _standing_lever(v, nudge, reason, cfg.kappa(name),
                                             levers[0][:, i], levers[1][:, i])
    return _result(scored["window_id"].to_numpy(dtype=object), verdicts)


def curate(scored: pd.DataFrame, specs: Mapping[str, DetectorSpec], cfg: CouncilConfig,
           status: pd.DataFrame, fingerprint: str | None, u: np.ndarray,
           standing: Standing = NO_STANDING) -> tuple[CouncilResult, Publication]:
    """run_council, the publication policy, and the exploration cap on the windows the
    policy would publish (curators/exploration.py): a capped window becomes the diversity
    curator's `exploration_cap` veto and is published again as vetoed. `u` is the windows'
    exploration draws; `scored` is in the day's window order."""
    result = run_council(scored, specs, cfg, status, fingerprint, standing)
    sigma = scored["det_sigma"].to_numpy(dtype=np.float64) if len(scored) else np.zeros(0)
    eps = cfg.exploration.epsilon
    pub = publish(sigma, result.nudge_sum, result.vetoed, cfg.tau_publish, eps, u)
    held = capped(scored["coin"].to_numpy(dtype=object),
                  scored["detector_id"].to_numpy(dtype=object), pub.published,
                  exploration_ids(specs.values()), cfg.exploration_detectors.max_share)
    if not held.any():
        return result, pub
    v = result.verdicts[CAP_CURATOR]
    reason = v.veto_reason.copy()
    reason[held] = CAP_REASON  # published, so no veto before
    verdicts = {**result.verdicts, CAP_CURATOR: Verdict(v.nudge, v.nudge_reason,
                                                        v.veto | held, reason)}
    result = _result(scored["window_id"].to_numpy(dtype=object), verdicts)
    return result, publish(sigma, result.nudge_sum, result.vetoed, cfg.tau_publish, eps, u)


def council_log(window_ids: np.ndarray, verdicts: Mapping[str, Verdict]) -> pd.DataFrame:
    """One row per non-zero nudge and per veto, in window order then curator order."""
    parts = []
    for rank, (name, v) in enumerate(verdicts.items()):
        for kind, mask, value, reason in (("nudge", v.nudge != 0, v.nudge, v.nudge_reason),
                                          ("veto", v.veto, np.ones(len(v.veto)), v.veto_reason)):
            idx = np.flatnonzero(mask)
            parts.append(pd.DataFrame({"pos": idx, "rank": rank, "kind": kind,
                                       "window_id": window_ids[idx], "curator": name,
                                       "value": value[idx].astype(np.float64),
                                       "reason": reason[idx]}))
    log = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["pos", "rank", *LOG_COLUMNS])
    log = log.sort_values(["pos", "rank", "kind"], kind="stable")
    out = log[list(LOG_COLUMNS)].reset_index(drop=True)
    return out.astype({"window_id": "str", "curator": "str", "kind": "str", "value": "float64",
                       "reason": "str"})


class CouncilStep:
    """run_council and publish on the windows of one MicroTape row at a time: the mandates'
    `_one` forms in MANDATES order, the per-coin `_Recent` state and the exploration draw.
    curators/events.py's `CouncilStream` adds the signal_events and Signal Bus rows.

    `status` is detector_status(audit, detector_ids); `standing` the Curator API's actions
    (replaced with `set_standing` as the log grows: the rule decides which are in force)."""

    def __init__(self, day: str, specs: Sequence[DetectorSpec], council: CouncilConfig,
                 status: pd.DataFrame, standing: Standing = NO_STANDING) -> None:
        spec_map = {s.id: s for s in specs}
        self.standing, self._standing_on = standing, bool(standing)
        self._explore = exploration_ids(specs)
        self._cap = (ExplorationCap(council.exploration_detectors.max_share) if self._explore
                     else None)
        st = {str(d): Status(bool(r["leakage_ok"]), bool(r["adversarial_ok"]),
                             float(r["fragility"]), bool(r["card_ok"]))
              for d, r in status.to_dict(orient="index").items()}
        # per detector: (status, strength_scale, recipe_hash), one lookup per window
        self._det: dict[str, tuple[Status, float, str | None]] = {
            d: (st.get(d, _ALL_OK), float(s.strength_scale), s.recipe_hash)
            for d, s in spec_map.items()}
        self._det_status = st
        self._cohort = cohort_size(spec_map)
        c = council.curators
        self._data, self._div, self._reg = c.data, c.diversity, c.regime
        self._comp, self._mut, self._adv, self._expl = (c.compliance, c.mutation, c.adversarial,
                                                        c.explainability)
        self._kappas = tuple(council.kappa(name) for name in ("data", "regime", "mutation",
                                                              "adversarial"))
        self._kappa_of = tuple(council.kappa(name) for name in MANDATES)
        self._levels = regime_levels(c.regime.kappa)
        self._window_ms = recent_window_ms(c.diversity)
        self._tau = float(council.tau_publish)
        self._eps = float(council.exploration.epsilon)
        self._mix = ids.draw_mix(council.exploration.seed, day)
        self._recent: dict[str, _Recent] = {}
        self._pairs: dict[tuple[str, str], int] = {}
        self._crowding: dict[tuple[int, int], float] = {}

    def _enter(self, scored: Sequence[Mapping[str, Any]]
               ) -> tuple[int, str, list[str], _Recent]:
        """Check that `scored` is one new (ts_ms, coin) row and count its windows in."""
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
        recent.add(ts, dets, self._window_ms)
        return ts, coin, dets, recent

    def _crowded(self, mine: int, total: int) -> float:
        """The diversity nudge, clipped: a function of two counts, so made once per pair."""
        nudge = self._crowding.get((mine, total))
        if nudge is None:
            kappa = self._div.kappa
            nudge = clip_nudge_one(float(crowding(mine, total, self._cohort, kappa, max)),
                                   kappa)
            self._crowding[(mine, total)] = nudge
        return nudge

    def _council(self, w: Mapping[str, Any], ts: int, det: str, mine: int, total: int,
                 fp: str | None) -> tuple[float, list[str]]:
        """(nudge_sum, veto codes): run_council on one window. The mandates in MANDATES
        order, each nudge clipped to its kappa and added in np.sum's order (a veto-only
        curator's 0.0 too: it fixes a zero sum's sign)."""
        st, scale, recipe_hash = self._det.get(det) or (
            self._det_status.get(det, _ALL_OK), _NAN, None)
        lever = self.standing.at(det, ts) if self._standing_on else None
        if lever is not None:
            return self._council_standing(w, ts, det, mine, total, fp, st, scale,
                                          recipe_hash, lever)
        k_data, k_regime, k_mutation, k_adversarial = self._kappas
        codes: list[str] = []
        nudge, why = data_curator_one(self._data, w, fp)
        total_nudge = clip_nudge_one(nudge, k_data)
        if why:
            codes.append(_CODES["data"][why])
        nudge, why = leakage_curator_one(st)
        total_nudge += nudge  # kappa 0: always 0.0
        if why:
            codes.append(_CODES["leakage"][why])
        nudge, why = diversity_curator_one(self._div, w, self._crowded(mine, total))
        total_nudge += nudge  # clipped in _crowded
        if why:
            codes.append(_CODES["diversity"][why])
        nudge, _ = regime_curator_one(self._reg, self._levels, w)
        total_nudge += clip_nudge_one(nudge, k_regime)
        nudge, why = compliance_curator_one(self._comp, w, ts, det)
        total_nudge += nudge
        if why:
            codes.append(_CODES["compliance"][why])
        nudge, _ = mutation_curator_one(self._mut, w)
        total_nudge += clip_nudge_one(nudge, k_mutation)
        nudge, why = adversarial_curator_one(self._adv, w, st, scale)
        total_nudge += clip_nudge_one(nudge, k_adversarial)
        if why:
            codes.append(_CODES["adversarial"][why])
        nudge, why = explainability_curator_one(self._expl, w, st, recipe_hash)
        total_nudge += nudge
        if why:
            codes.append(_CODES["explainability"][why])
        return total_nudge, codes

    def _council_standing(self, w: Mapping[str, Any], ts: int, det: str, mine: int,
                          total: int, fp: str | None, st: Status, scale: float,
                          recipe_hash: str | None, lever: InForce
                          ) -> tuple[float, list[str]]:
        """`_council` on a window with standing actions in force: every curator's c is
        `lever_one` (mandate + its role's standing nudge, clipped), a standing veto follows
        the curator's own (run_council's `_standing_lever`), in MANDATES order."""
        kappa = self._kappa_of
        div = self._div.kappa
        crowd = (self._crowded(mine, total) if lever.nudges[2] == 0.0
                 else lever_one(float(crowding(mine, total, self._cohort, div, max)), div,
                                lever.nudges[2]))
        verdicts = (
            data_curator_one(self._data, w, fp), leakage_curator_one(st),
            diversity_curator_one(self._div, w, crowd),
            regime_curator_one(self._reg, self._levels, w),
            compliance_curator_one(self._comp, w, ts, det),
            mutation_curator_one(self._mut, w),
            adversarial_curator_one(self._adv, w, st, scale),
            explainability_curator_one(self._expl, w, st, recipe_hash))
        codes: list[str] = []
        total_nudge = 0.0
        for i, (name, (nudge, why)) in enumerate(zip(MANDATES, verdicts, strict=True)):
            c = nudge if i == 2 else lever_one(nudge, kappa[i], lever.nudges[i])
            total_nudge = c if i == 0 else total_nudge + c
            if why or lever.vetoes[i]:
                codes.append(_CODES[name][why or STANDING_VETO])
        return total_nudge, codes

    def set_standing(self, standing: Standing) -> None:
        """The log grew (the live daemon's poll): the same rule on the longer log."""
        self.standing, self._standing_on = standing, bool(standing)

    def _publish(self, det_sigma: float, nudge_sum: float, codes: list[str], coin: str,
                 det: str, u: float) -> tuple[list[str], tuple[float, bool, bool, bool, float]]:
        """`curate`'s publication on one window: publish_one, then the exploration cap on a
        window it would publish ((codes, publish_one's tuple))."""
        pub = publish_one(det_sigma, nudge_sum, bool(codes), self._tau, self._eps, u)
        if pub[2] and self._cap is not None and not self._cap.admit(coin, det in self._explore):
            codes = [_CODES[CAP_CURATOR][CAP_REASON]]  # published, so no veto before
            pub = publish_one(det_sigma, nudge_sum, True, self._tau, self._eps, u)
        return codes, pub

    def _draw(self, ts: int, coin: str, det: str) -> float:
        """The window's exploration draw u (ids.uniform_draws' form)."""
        pair = self._pairs.get((coin, det))
        if pair is None:
            pair = self._pairs[(coin, det)] = ids.pair_key(coin, det)
        return ids.uniform_draw(ids.window_key_one(pair, ts), self._mix)
