"""Braids: active lessons as bounded micro braids, and the weave of meta and field braids.

micro   one per live lesson (detector scope): its rule, a bounded effect from its DR uplift,
        the caps, TTL, state and BQS, and a sample of member windows for audit.
meta    compositions of two active micro braids of one detector (INTERSECT when their rules
        can hold together and share the sign, UNION of disjoint same-sign siblings, EXCEPT
        when an opposite-sign braid carves a piece out), kept only when the composition's
        own DR estimate beats BOTH parents' BQS and holds on the newest (out-of-sample)
        fold. Its patches are increments over the parents (lotus_core.learning.algebra).
field   a rule active with one sign in >= 2 detectors, re-estimated pooled over every
        detector and coin; kept when significant there, holding out of sample and in every
        coin with enough of it, it carries ATTENUATE(0.5) of the pooled
        effect, LIFT_ONLY when positive and PENALTY_ONLY when negative, to the detectors
        that have not learned it themselves (policy scope).
pooled  an active pooled lesson (detector `*`, searched over every detector's windows):
        one field-scope braid (op POOLED) per detector of the window with that detector's
        uplift shrunk toward the field's (lotus_core.learning.pooled), so the pooled prior
        applies to every detector's matching windows, capped like any other.
"""

from __future__ import annotations

import hashlib
import json
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import ndtri  # scipy.stats' norm.ppf, without importing scipy.stats

from lotus_core.columns import STR
from lotus_core.learning.algebra import (
    Effect,
    RulePatch,
    attenuate,
    conjoin,
    disjoint,
    effect_from_uplift,
    except_patches,
    intersect_patches,
    lift_only,
    penalty_only,
    union,
    union_patches,
)
from lotus_core.learning.config import LearningConfig
from lotus_core.learning.drmask import MaskEstimate, dr_mask
from lotus_core.learning.hetero import is_continuous
from lotus_core.learning.lessons import (
    POOLED,
    LiteralSpace,
    detector_units,
    rule_lits,
    unit_columns,
)
from lotus_core.learning.pooled import specialise
from lotus_core.learning.quantize import Quantizer
from lotus_core.learning.units import UnitSet, rule_mask
from lotus_core.signals.context import parse_cond_key

SAMPLE = 20  # member windows kept per braid for audit
COLUMNS = ["braid_id", "braid_type", "scope", "op", "parents", "detector_id", "coin", "rule",
           "patches", "theta_delta", "phi_mult", "caps", "sign", "uplift_bps", "ci_lo",
           "ci_hi", "p05", "support", "bqs", "oos_uplift", "state", "reason", "ttl_days",
           "expires_on", "lesson_id", "members_sample"]
STATE_OF_LESSON = {"active": "active", "sunset": "sunset", "archived": "archived"}


def _bid(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:15]


def _effect(cfg: LearningConfig, uplift: float) -> Effect:
    e = cfg.effect
    return effect_from_uplift(uplift, e.half_bps, e.max_theta_delta, e.max_phi_step)


def _caps(cfg: LearningConfig) -> str:
    c = cfg.caps
    return json.dumps({"theta_min": c.theta_min, "phi_max": c.phi_max,
                       "max_abs_theta_delta": c.max_abs_theta_delta,
                       "phi_mult_max": c.phi_mult_max, "phi_mult_min": c.phi_mult_min},
                      sort_keys=True)


def _patches_json(patches: list[RulePatch]) -> str:
    return json.dumps([{"cond_key": p.cond_key, "theta_delta": round(p.effect.theta_delta, 12),
                        "phi_mult": round(p.effect.phi_mult, 12)} for p in patches],
                      sort_keys=True)


def _members(frame: pd.DataFrame, lits: pd.DataFrame, det: str, rule: str) -> str:
    mask = (frame["detector_id"] == det).to_numpy().copy()
    for name, value in parse_cond_key(rule):
        mask &= lits[name].to_numpy(dtype=object) == value
    ids = frame.loc[mask, "window_id"].astype(str).tolist()[-SAMPLE:]
    return json.dumps(ids)


def micro_braids(lessons: pd.DataFrame, frame: pd.DataFrame, lits: pd.DataFrame,
                 cfg: LearningConfig, q: LiteralSpace | None = None) -> pd.DataFrame:
    """One micro braid per active, sunset or archived lesson (state follows the lesson; a
    sunset braid's patch is no longer compiled: the revert); a pooled lesson gives pooled
    braids instead (`pooled_braids`)."""
    rows = []
    live = lessons[lessons["state"].isin(list(STATE_OF_LESSON))]
    for r in live.itertuples():
        if is_continuous(r.rule):  # a threshold literal: scoring bins with literals only
            continue
        if r.detector_id == POOLED:
            rows += pooled_braids(r, frame, lits, cfg, q)
            continue
        eff = _effect(cfg, float(r.uplift_bps))
        rows.append({
            "braid_id": _bid("B", r.lesson_id), "braid_type": "micro", "scope": "detector",
            "op": "LESSON", "parents": json.dumps([r.lesson_id]), "detector_id": r.detector_id,
            "coin": "*", "rule": r.rule,
            "patches": _patches_json([RulePatch(r.rule, eff)]),
            "theta_delta": eff.theta_delta, "phi_mult": eff.phi_mult, "caps": _caps(cfg),
            "sign": int(r.sign), "uplift_bps": float(r.uplift_bps), "ci_lo": float(r.ci_lo),
            "ci_hi": float(r.ci_hi), "p05": float(r.p05), "support": int(r.support),
            "bqs": float(r.bqs), "oos_uplift": float(r.oos_uplift) if pd.notna(r.oos_uplift)
            else np.nan,
            "state": STATE_OF_LESSON[r.state], "reason": r.reason,
            "ttl_days": cfg.activation.ttl_days, "expires_on": r.expires_on,
            "lesson_id": r.lesson_id, "members_sample": _members(frame, lits, r.detector_id,
                                                                  r.rule),
        })
    return finish(rows)


def pooled_braids(r, frame: pd.DataFrame, lits: pd.DataFrame, cfg: LearningConfig,
                  q: LiteralSpace | None) -> list[dict]:
    """An active pooled lesson's patches, one field-scope braid (op POOLED) per detector of
    the window with its shrunk uplift (lotus_core.learning.pooled): the pooled prior
    applies to every detector's matching windows, each by its own evidence shrunk toward
    the field's, through the same bounded effect and caps as a detector's lesson. A detector
    whose shrunk uplift has the other sign gets none. A sunset or archived pooled lesson
    gives one `*` braid in its state (not compiled: the revert); so does an active one when
    no detector can be estimated (the pooled uplift for every detector)."""
    base = {"braid_type": "field", "scope": "field", "op": "POOLED",
            "parents": json.dumps([r.lesson_id]), "coin": "*", "rule": r.rule,
            "caps": _caps(cfg), "sign": int(r.sign), "bqs": float(r.bqs),
            "oos_uplift": float(r.oos_uplift) if pd.notna(r.oos_uplift) else np.nan,
            "state": STATE_OF_LESSON[r.state], "reason": r.reason,
            "ttl_days": cfg.activation.ttl_days, "expires_on": r.expires_on,
            "lesson_id": r.lesson_id}
    parts = specialise(frame, lits, q, r.rule, int(r.sign), cfg) \
        if r.state == "active" and q is not None else []
    if not parts:
        eff = _effect(cfg, float(r.uplift_bps))
        return [{**base, "braid_id": _bid("P", r.lesson_id, POOLED), "detector_id": POOLED,
                 "patches": _patches_json([RulePatch(r.rule, eff)]),
                 "theta_delta": eff.theta_delta, "phi_mult": eff.phi_mult,
                 "uplift_bps": float(r.uplift_bps), "ci_lo": float(r.ci_lo),
                 "ci_hi": float(r.ci_hi), "p05": float(r.p05), "support": int(r.support),
                 "members_sample": "[]"}]
    z = float(-ndtri((1 - cfg.bootstrap.ci) / 2))
    out = []
    for p in parts:
        if np.sign(p.uplift) != np.sign(r.sign):
            continue  # specialised away: this detector's evidence points the other way
        eff = _effect(cfg, p.uplift)
        out.append({**base, "braid_id": _bid("P", r.lesson_id, p.detector_id),
                    "detector_id": p.detector_id,
                    "patches": _patches_json([RulePatch(r.rule, eff)]),
                    "theta_delta": eff.theta_delta, "phi_mult": eff.phi_mult,
                    "uplift_bps": p.uplift, "ci_lo": p.uplift - z * p.sd,
                    "ci_hi": p.uplift + z * p.sd,
                    "p05": float(r.sign) * p.uplift - float(-ndtri(0.05)) * p.sd,
                    "support": p.support,
                    "members_sample": _members(frame, lits, p.detector_id, r.rule)})
    return out


def _mask_of(units: UnitSet, rules: list[str]) -> tuple[np.ndarray, set[int]] | None:
    mask = np.zeros(units.n, dtype=bool)
    feats: set[int] = set()
    for rule in rules:
        lits = rule_lits(units, rule)
        if lits is None:
            return None
        mask |= rule_mask(units, lits)
        feats |= {int(units.literal_feature[x]) for x in lits}
    return mask, feats


def _bqs(cfg: LearningConfig, est: MaskEstimate, literals: int, bins: float) -> float:
    mdl = cfg.search.lambda_mdl * (literals + bins)
    return (cfg.bqs.a * abs(est.uplift) - cfg.bqs.b * mdl - cfg.bqs.c * est.boot_sd
            + cfg.bqs.d * float(np.log1p(est.support)))


def _size(units: UnitSet, rules: list[str]) -> tuple[int, float]:
    n, bins = 0, 0.0
    for rule in rules:
        for name, _ in parse_cond_key(rule):
            n += 1
            bins += float(np.log2(len(units.values[units.features.index(name)])))
    return n, bins


def _composed_row(cfg, kind, op, parents, det, rules, patches, est, sign, bqs_v, eff,
                  ttl_expires):
    return {
        "braid_id": _bid("M" if kind == "meta" else "F", op, det, *parents),
        "braid_type": kind, "scope": kind, "op": op, "parents": json.dumps(sorted(parents)),
        "detector_id": det, "coin": "*", "rule": " | ".join(rules),
        "patches": _patches_json(patches), "theta_delta": eff.theta_delta,
        "phi_mult": eff.phi_mult, "caps": _caps(cfg), "sign": sign,
        "uplift_bps": est.uplift, "ci_lo": est.ci_lo, "ci_hi": est.ci_hi, "p05": est.p05,
        "support": est.support, "bqs": bqs_v, "oos_uplift": est.oos_uplift,
        "state": "active", "reason": "beats_parents" if kind == "meta" else "pooled_significant",
        "ttl_days": cfg.activation.ttl_days, "expires_on": ttl_expires, "lesson_id": None,
        "members_sample": "[]",
    }


def weave(micro: pd.DataFrame, frame: pd.DataFrame, lits: pd.DataFrame, q: Quantizer,
          cfg: LearningConfig) -> pd.DataFrame:
    """Meta and field braids from tonight's active micro braids (see the module docstring)."""
    active = micro[(micro["state"] == "active") & (micro["op"] != "POOLED")] \
        .sort_values("braid_id")
    rows: list[dict] = []
    for det, group in active.groupby("detector_id", sort=True):
        if len(group) < 2:
            continue
        m = (frame["detector_id"] == det).to_numpy()
        units = detector_units(frame.loc[m, unit_columns(frame)], lits[m], q)
        for a, b in combinations(list(group.itertuples()), 2):
            row = _compose(units, a, b, cfg)
            if row is not None:
                rows.append(row)
    rows += _field(active, frame, lits, q, cfg)
    return finish(rows)


def _compose(units: UnitSet, a, b, cfg: LearningConfig) -> dict | None:
    ea, eb = Effect(a.theta_delta, a.phi_mult), Effect(b.theta_delta, b.phi_mult)
    expires = min(str(a.expires_on or "9999"), str(b.expires_on or "9999"))
    expires = None if expires == "9999" else expires
    if a.sign == b.sign and not disjoint(a.rule, b.rule):
        op, rules = "INTERSECT", [conjoin(a.rule, b.rule)]
    elif a.sign == b.sign:
        op, rules = "UNION", [a.rule, b.rule]
    elif not disjoint(a.rule, b.rule):
        op, rules = "EXCEPT", [a.rule]  # the stronger braid minus the other's windows
        if abs(b.uplift_bps) > abs(a.uplift_bps):
            a, b = b, a
            ea, eb = eb, ea
            rules = [a.rule]
    else:
        return None
    got = _mask_of(units, rules)
    if got is None:
        return None
    mask, feats = got
    if op == "EXCEPT":
        carve = _mask_of(units, [b.rule])
        if carve is None:
            return None
        mask &= ~carve[0]
        feats |= carve[1]
    if mask.sum() < cfg.search.min_support or (~mask).sum() < cfg.search.min_control:
        return None
    sign = int(a.sign)
    est = dr_mask(units, mask, feats, sign, cfg)
    n_lit, bins = _size(units, rules + ([b.rule] if op == "EXCEPT" else []))
    score = _bqs(cfg, est, n_lit, bins)
    oos_ok = np.isfinite(est.oos_uplift) and sign * est.oos_uplift > 0
    if not (score > max(a.bqs, b.bqs) and est.p05 > 0 and oos_ok):
        return None
    eff = _effect(cfg, est.uplift)
    if op == "INTERSECT":
        patches = intersect_patches(a.rule, ea, b.rule, eb, eff)
    elif op == "UNION":
        w = [max(a.bqs, 1e-6), max(b.bqs, 1e-6)]
        eff = union([ea, eb], w)
        patches = union_patches(a.rule, ea, b.rule, eb, eff)
    else:
        patches = except_patches(a.rule, ea, b.rule)
        eff = ea
    return _composed_row(cfg, "meta", op, [a.braid_id, b.braid_id], a.detector_id, rules,
                         patches, est, sign, score, eff, expires)


def _field(active: pd.DataFrame, frame: pd.DataFrame, lits: pd.DataFrame, q: Quantizer,
           cfg: LearningConfig) -> list[dict]:
    rows: list[dict] = []
    detectors = sorted(frame["detector_id"].unique()) if len(frame) else []
    for (rule, sign), group in active.groupby(["rule", "sign"], sort=True):
        if group["detector_id"].nunique() < 2:
            continue
        units = detector_units(frame, lits, q)
        got = _mask_of(units, [rule])
        if got is None:
            continue
        mask, feats = got
        est = dr_mask(units, mask, feats, int(sign), cfg)
        if not (est.p05 > 0 and np.isfinite(est.oos_uplift) and sign * est.oos_uplift > 0
                and _every_coin_agrees(frame, mask, est.psi, int(sign), cfg)):
            continue
        base = attenuate(_effect(cfg, est.uplift), 0.5)
        op = "LIFT_ONLY" if sign > 0 else "PENALTY_ONLY"
        eff = lift_only(base) if sign > 0 else penalty_only(base)
        learned = set(group["detector_id"])
        n_lit, bins = _size(units, [rule])
        for det in detectors:
            if det in learned:
                continue
            rows.append(_composed_row(cfg, "field", op, sorted(group["braid_id"]), det,
                                      [rule], [RulePatch(rule, eff)], est, int(sign),
                                      _bqs(cfg, est, n_lit, bins), eff,
                                      min(group["expires_on"].dropna(), default=None)))
    return rows


def _every_coin_agrees(frame: pd.DataFrame, mask: np.ndarray, psi: np.ndarray, sign: int,
                       cfg: LearningConfig) -> bool:
    """A field pattern must hold in every coin that has enough of it (same-sign mean psi)."""
    coins = frame["coin"].astype(str).to_numpy()
    for coin in sorted(set(coins)):
        mine = coins == coin
        if (mine & mask).sum() < cfg.search.min_support:
            continue
        judged = psi[mine][np.isfinite(psi[mine])]  # nan: a window the set is not judged on
        if not len(judged) or sign * judged.mean() <= 0:
            return False
    return True


def finish(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame([{k: r.get(k) for k in COLUMNS} for r in rows], columns=COLUMNS)
    str_cols = ["braid_id", "braid_type", "scope", "op", "parents", "detector_id", "coin",
                "rule", "patches", "caps", "state", "reason", "expires_on", "lesson_id",
                "members_sample"]
    for c in str_cols:
        df[c] = df[c].astype(STR)
    for c in ("sign", "support", "ttl_days"):
        df[c] = df[c].astype(np.int64)
    for c in ("theta_delta", "phi_mult", "uplift_bps", "ci_lo", "ci_hi", "p05", "bqs",
              "oos_uplift"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
    return df.sort_values(["braid_type", "detector_id", "braid_id"], kind="stable") \
        .reset_index(drop=True)
