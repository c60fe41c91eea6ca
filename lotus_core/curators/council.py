"""The curator council: eight narrow mandates, hard vetoes only where the seeds allow them,
soft nudges bounded by each curator's kappa, every verdict logged (docs/curators.md).

    log curated_sigma = log det_sigma + sum_j c_j,   c_j in [-kappa_j, +kappa_j]

`run_council` works on whole arrays of windows: each curator is one vectorised function
returning a `Verdict`; nothing here can raise a score by fiat beyond its kappa.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.curators.config import CURATORS, CouncilConfig
from lotus_core.signals.features import coin_blocks
from lotus_core.signals.spec import DetectorSpec

LOG_COLUMNS = ("window_id", "curator", "kind", "value", "reason")
STATUS_COLUMNS = ("leakage_ok", "adversarial_ok", "fragility", "card_ok")


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
    """Audit and card status per detector (index detector_id), defaults filled in:
    leakage_ok and adversarial_ok True, fragility 0, card_ok True.

    Accepts a dict detector_id -> {leakage_ok, adversarial_ok, fragility?, card_ok?} or a
    DataFrame with a detector_id column (or index) and those columns."""
    out = pd.DataFrame({"leakage_ok": True, "adversarial_ok": True, "fragility": 0.0,
                        "card_ok": True}, index=pd.Index(list(detector_ids), name="detector_id"))
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


def _verdict(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (np.zeros(n), np.full(n, "", dtype=object), np.zeros(n, dtype=bool),
            np.full(n, "", dtype=object))


def _first_veto(n: int, rules: Sequence[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Veto flags and the first matching reason, in rule order."""
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


def leakage_curator(c: Context) -> Verdict:
    """Veto every window of a detector whose leakage audit failed."""
    nudge, nreason, _, _ = _verdict(len(c.w))
    veto, reason = _first_veto(len(c.w), [("audit_leakage_failed",
                                           ~c.status["leakage_ok"].to_numpy())])
    return Verdict(nudge, nreason, veto, reason)


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


def diversity_curator(c: Context) -> Verdict:
    """Veto when a live cohort member is a near-duplicate; nudge for under-/over-represented."""
    cfg, w, n = c.cfg.curators.diversity, c.w, len(c.w)
    veto, vreason = _first_veto(n, [
        ("cohort_corr_cap", w["sq_orthogonality"].to_numpy() < 1.0 - cfg.corr_cap)])
    mine, total = _recent_counts(w, cfg.window_s * 1000)
    cohort = max(1, len(c.specs))
    share = mine / np.maximum(total, 1)
    nudge = -cfg.kappa * np.tanh(np.log(np.maximum(share * cohort, 1e-9)))
    nreason = np.where(nudge > 0, "novelty", np.where(nudge < 0, "crowded", "")).astype(object)
    return Verdict(nudge, nreason, veto, vreason)


def regime_curator(c: Context) -> Verdict:
    """kr_hbar vs the regime label, and ms_entrain_r: exploit calm coherence, explore
    surprise without coherence, distrust an insane label. Soft only."""
    cfg, w, n = c.cfg.curators.regime, c.w, len(c.w)
    _, _, veto, vreason = _verdict(n)
    regime = w["regime"].astype(str).to_numpy(dtype=object)
    hbar = w["kr_hbar"].to_numpy(dtype=np.float64)
    r = w["ms_entrain_r"].to_numpy(dtype=np.float64)
    insane = ((regime == "warmup") | ((regime == "quiet") & (hbar > cfg.quiet_hbar_max))
              | (np.isin(regime, ["trend", "chop"]) & (hbar < cfg.active_hbar_min)))
    exploit = ~insane & (hbar <= cfg.hbar_lo) & (r >= cfg.entrain_hi)
    explore = ~insane & (hbar >= cfg.hbar_hi) & (r <= cfg.entrain_lo)
    k = cfg.kappa
    nudge = np.select([insane, exploit, explore], [-k, k / 2, -k / 2], 0.0)
    nreason = np.select([insane, exploit, explore], ["regime_unclear", "exploit", "explore"], "")
    return Verdict(nudge, nreason.astype(object), veto, vreason)


def compliance_curator(c: Context) -> Verdict:
    """Policy exclusions: coins, detectors, sessions, blackout intervals."""
    cfg, w, n = c.cfg.curators.compliance, c.w, len(c.w)
    nudge, nreason, _, _ = _verdict(n)
    ts = w["ts_ms"].to_numpy(dtype=np.int64)
    black = np.zeros(n, dtype=bool)
    for a, b in cfg.blackouts_ms:
        black |= (ts >= a) & (ts <= b)
    veto, reason = _first_veto(n, [
        ("excluded_coin", w["coin"].isin(cfg.excluded_coins).to_numpy()),
        ("excluded_detector", w["detector_id"].isin(cfg.excluded_detectors).to_numpy()),
        ("excluded_session", w["session"].isin(cfg.excluded_sessions).to_numpy()),
        ("blackout", black),
    ])
    return Verdict(nudge, nreason, veto, reason)


def mutation_curator(c: Context) -> Verdict:
    """Complexity must be earned: nudge = -kappa * kr_rho * (1 - earned). Soft only."""
    cfg, w, n = c.cfg.curators.mutation, c.w, len(c.w)
    _, _, veto, vreason = _verdict(n)
    earned = np.clip((w["sq_accuracy"].to_numpy() - 0.5) / cfg.earn_edge, 0.0, 1.0)
    nudge = -cfg.kappa * w["kr_rho"].to_numpy() * (1.0 - earned)
    nreason = np.where(nudge < 0, "unearned_complexity", "").astype(object)
    return Verdict(nudge, nreason, veto, vreason)


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


def _json_codes(verdicts: Mapping[str, Verdict], n: int) -> np.ndarray:
    out = pd.Series([""] * n, dtype=object)
    for name, v in verdicts.items():
        code = pd.Series(np.where(v.veto, '"' + name + ":" + v.veto_reason.astype(str) + '",',
                                  ""), dtype=object)
        out = out + code
    return ("[" + out.str.rstrip(",") + "]").to_numpy(dtype=object)


def run_council(scored: pd.DataFrame, specs: Mapping[str, DetectorSpec], cfg: CouncilConfig,
                status: pd.DataFrame, fingerprint: str | None) -> CouncilResult:
    """Every curator on every window; nudges clipped to their kappa, then summed."""
    n = len(scored)
    if n == 0:
        return CouncilResult(np.zeros(0), np.zeros(0, dtype=bool), np.array([], dtype=object),
                             {}, council_log(np.array([], dtype=object), {}))
    per_window = status.reindex(scored["detector_id"].astype(str)).reset_index(drop=True)
    ctx = Context(scored.reset_index(drop=True), per_window, specs, cfg, fingerprint)
    verdicts: dict[str, Verdict] = {}
    for name, fn in MANDATES.items():
        v = fn(ctx)
        k = cfg.kappa(name)
        nudge = np.clip(np.nan_to_num(v.nudge), -k, k)
        reason = np.where(nudge != 0, v.nudge_reason, "").astype(object)
        verdicts[name] = Verdict(nudge, reason, v.veto.astype(bool), v.veto_reason)
    nudge_sum = np.sum([v.nudge for v in verdicts.values()], axis=0)
    vetoed = np.any([v.veto for v in verdicts.values()], axis=0)
    return CouncilResult(nudge_sum, vetoed, _json_codes(verdicts, n), verdicts,
                         council_log(scored["window_id"].to_numpy(dtype=object), verdicts))


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
