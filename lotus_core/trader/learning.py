"""Execution lessons (seed 001): the Trader's executions through the signal layer's lesson
machinery, into `tr` braids and capped, versioned `tr` priors (docs/trader.md).

    exec_strands(reports)          one row per entry execution: context, choice, outcome
    fit_exec_quantizer(strands)    band edges fitted on the training window only
    exec_lessons(...)              lotus_core.learning.lessons.learn with the Trader's outcome
    tr_braids(lessons)             each active lesson as a choice in a context
    compile_tr(braids, ...)        the capped, stepped set of context -> choice entries

The unit is an execution; Y = -(slippage vs the arrival mid + fees) in bps of the filled
notional, minus `outcome_unfilled_bps` per unit of unfilled share (a limit order that never
fills is not free). The treatments are what the Trader chooses (`order`: market or limit,
`slices`: the slice count); spread, depth and volatility bands are context: they scope a
rule and confound, but a rule is judged only by its treatment splits, e.g.
tau(order=limit | spread=wide) with every other feature adjusted for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from lotus_core.learning.config import LearningConfig, load_learning_with
from lotus_core.learning.lessons import Outcome, learn, split_key
from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel

BPS = 1e4
BANDS = ("spread_bps", "depth_rel", "vol_bps")
FEATURE_OF = {"spread_bps": "spread", "depth_rel": "depth", "vol_bps": "vol"}
BAND_VALUES = {"spread": ("tight", "normal", "wide", "na"),
               "depth": ("thin", "normal", "deep", "na"),
               "vol": ("calm", "normal", "hot", "na")}
ORDERS = ("market", "limit")
GROUP = "tr"  # the lessons' group (the signal layer's detector_id): one search for the Trader
STRAND_COLUMNS = ["execution_id", "decision_id", "ts_ms", "date", "coin", "venue", "group",
                  "spread_bps", "depth_rel", "vol_bps", "order", "n_slices", "filled_share",
                  "cost_bps", "outcome_bps", "hit", "tr_priors_version"]


class BandsConfig(StrictModel):
    min_fit: int = Field(60, ge=10)
    spread_bps: tuple[float, float] = (1.0, 3.0)
    depth_rel: tuple[float, float] = (2.0, 10.0)
    vol_bps: tuple[float, float] = (0.5, 2.0)


class TrCaps(StrictModel):
    max_patches: int = Field(12, ge=0, le=1000)
    max_new_per_night: int = Field(4, ge=0, le=1000)
    min_uplift_bps: float = Field(0.5, ge=0)


class ExecLearningConfig(StrictModel):
    version: int = Field(ge=1)
    outcome_unfilled_bps: float = Field(10.0, ge=0)
    bands: BandsConfig = BandsConfig()
    slice_choices: tuple[int, ...] = Field((1, 4, 8), min_length=1)
    treatments: tuple[str, ...] = ("order", "slices")
    learning: dict[str, Any] = Field(default_factory=dict)
    caps: TrCaps = TrCaps()

    @property
    def slice_values(self) -> tuple[str, ...]:
        return tuple(f"n{n}" for n in self.slice_choices)


def load_exec_learning(source: str | Path | Mapping[str, Any] | None = None
                       ) -> tuple[ExecLearningConfig, LearningConfig]:
    """(the execution-lesson settings, the learning configuration they run with: the
    packaged learning.yaml with this file's `learning:` overrides)."""
    body, where = read_yaml(source, "exec_learning.yaml", package="lotus_core.trader")
    try:
        cfg = ExecLearningConfig.model_validate(body)
    except ValidationError as exc:
        raise SpecError(error_message(where, exc)) from None
    if sorted(set(cfg.slice_choices)) != list(cfg.slice_choices) or cfg.slice_choices[0] != 1:
        raise SpecError(f"{where}: slice_choices must be increasing and start at 1")
    bad = sorted(set(cfg.treatments) - {"order", "slices"})
    if bad:
        raise SpecError(f"{where}: treatments {bad} are not choices the Trader makes "
                        "(order, slices)")
    return cfg, load_learning_with(cfg.learning)


# ---- strands -----------------------------------------------------------------------------


def slice_bin(n: int, choices: tuple[int, ...]) -> str:
    """The slice literal of a count: the largest configured choice not above it."""
    return f"n{max(c for c in choices if c <= max(int(n), 1))}"


def outcome_of(metrics: Mapping[str, Any], unfilled_bps: float) -> tuple[float, float, float]:
    """(filled share, cost in bps of the filled notional, outcome bps) of one execution."""
    wanted = float(metrics.get("wanted_qty") or 0.0)
    qty = float(metrics.get("qty") or 0.0)
    share = min(1.0, qty / wanted) if wanted > 0 else (1.0 if qty > 0 else 0.0)
    slip = metrics.get("slippage_vs_arrival_bps")
    vwap = metrics.get("vwap")
    if qty > 0 and slip is not None and vwap:
        cost = float(slip) + float(metrics.get("fees") or 0.0) / (float(vwap) * qty) * BPS
    else:
        cost = 0.0
    return share, cost, -(share * cost) - (1.0 - share) * unfilled_bps


def exec_strands(reports: list[dict[str, Any]], cfg: ExecLearningConfig) -> pd.DataFrame:
    """One row per entry execution that sent an order (exits and refusals are not choices of
    the Trader's), with its context at decision time, its choice and its outcome."""
    rows = []
    for r in reports:
        m = r.get("exec_metrics") or {}
        ctx = m.get("context")
        if m.get("purpose") != "entry" or r.get("status") == "failed" or not ctx \
                or not m.get("n_orders"):
            continue
        share, cost, y = outcome_of(m, cfg.outcome_unfilled_bps)
        started = int(m["started_ms"])
        rows.append({
            "execution_id": r["execution_id"], "decision_id": r.get("decision_id", ""),
            "ts_ms": started,
            "date": pd.Timestamp(started, unit="ms", tz="UTC").date().isoformat(),
            "coin": r["symbol"], "venue": r.get("venue", ""), "group": GROUP,
            **{b: _num(ctx.get(b)) for b in BANDS},
            "order": str(m.get("order") or m.get("strategy")),
            "n_slices": int(m.get("n_slices") or 1),
            "filled_share": share, "cost_bps": cost, "outcome_bps": y,
            "hit": float(r.get("status") == "filled"),
            "tr_priors_version": int(m.get("tr_priors_version") or 0)})
    df = pd.DataFrame(rows, columns=STRAND_COLUMNS)
    return df.sort_values(["ts_ms", "execution_id"], kind="stable").reset_index(drop=True)


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if math.isfinite(v) else float("nan")


# ---- the quantiser ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecQuantizer:
    """Execution literals: three context bands (edges fitted on the training window, carried
    with the priors version as edge/<band>/<i>) and the two choices."""

    edges: dict[str, tuple[float, float]]
    slice_choices: tuple[int, ...]
    treatments: tuple[str, ...] = ("order", "slices")
    fitted: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return ("depth", "order", "slices", "spread", "vol")

    @property
    def values(self) -> dict[str, tuple[str, ...]]:
        return {**BAND_VALUES, "order": ORDERS,
                "slices": tuple(f"n{n}" for n in self.slice_choices)}

    def band(self, name: str, x: float) -> str:
        """The band literal of one context value (`na` when unknown)."""
        if not math.isfinite(x):
            return "na"
        lo, hi = self.edges[name]
        return BAND_VALUES[FEATURE_OF[name]][0 if x <= lo else 1 if x <= hi else 2]

    def context(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {FEATURE_OF[b]: self.band(b, _num(values.get(b))) for b in BANDS}

    def literals(self, strands: pd.DataFrame) -> pd.DataFrame:
        out = {FEATURE_OF[b]: [self.band(b, x) for x in strands[b].to_numpy(dtype=np.float64)]
               for b in BANDS}
        orders = strands["order"].astype(str)
        bad = sorted(set(orders) - set(ORDERS))
        if bad:
            raise ValueError(f"execution order types {bad} are not {list(ORDERS)}")
        out["order"] = list(orders)
        out["slices"] = [slice_bin(int(n), self.slice_choices) for n in strands["n_slices"]]
        return pd.DataFrame(out, columns=list(self.features), index=strands.index)

    def edge_rows(self) -> dict[str, float]:
        return {f"edge/{b}/{i}": float(x) for b in BANDS for i, x in enumerate(self.edges[b])}

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "treatments": list(self.treatments),
                "edges": {k: list(v) for k, v in sorted(self.edges.items())},
                "fitted": list(self.fitted), "slice_choices": list(self.slice_choices)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecQuantizer:
        return cls({k: (float(v[0]), float(v[1])) for k, v in data["edges"].items()},
                   tuple(int(n) for n in data["slice_choices"]),
                   tuple(data["treatments"]), tuple(data["fitted"]))

    @classmethod
    def from_rows(cls, rows: Mapping[str, float], cfg: ExecLearningConfig) -> ExecQuantizer:
        """The quantiser a priors version was compiled with (configured edges where absent)."""
        edges = {b: tuple(getattr(cfg.bands, b)) for b in BANDS}
        for b in BANDS:
            k0, k1 = f"edge/{b}/0", f"edge/{b}/1"
            if k0 in rows and k1 in rows:
                edges[b] = (float(rows[k0]), float(rows[k1]))
        return cls(edges, cfg.slice_choices, cfg.treatments)  # type: ignore[arg-type]


def fit_exec_quantizer(train: pd.DataFrame, cfg: ExecLearningConfig) -> ExecQuantizer:
    """Terciles of each band on the training window (configured edges with too few rows or a
    degenerate distribution)."""
    edges: dict[str, tuple[float, float]] = {}
    fitted = []
    for b in BANDS:
        x = train[b].to_numpy(dtype=np.float64) if b in train else np.array([])
        x = x[np.isfinite(x)]
        edges[b] = tuple(getattr(cfg.bands, b))  # type: ignore[assignment]
        if len(x) >= cfg.bands.min_fit:
            lo, hi = (round(float(v), 6) for v in np.quantile(x, (1 / 3, 2 / 3)))
            if lo < hi:
                edges[b] = (lo, hi)
                fitted.append(b)
    return ExecQuantizer(edges, cfg.slice_choices, cfg.treatments, tuple(fitted))


# ---- lessons ------------------------------------------------------------------------------


def exec_outcome(cfg: ExecLearningConfig) -> Outcome:
    return Outcome(y="outcome_bps", hit="hit", group="group", treatments=cfg.treatments)


def exec_lessons(strands: pd.DataFrame, previous: pd.DataFrame, day: str,
                 cfg: ExecLearningConfig, lcfg: LearningConfig
                 ) -> tuple[pd.DataFrame, ExecQuantizer]:
    """The night's execution lessons over `strands` (the training window's executions) with
    the signal layer's `learn`: same search, estimator, gates, lifecycle and watchdog."""
    q = fit_exec_quantizer(strands, cfg)
    frame = strands.reset_index(drop=True)
    lits = q.literals(frame) if len(frame) else \
        pd.DataFrame({f: pd.Series(dtype=object) for f in q.features})
    days = sorted(set(frame["date"].astype(str))) if len(frame) else []
    window = f"{days[0]}..{days[-1]}" if days else ""
    lessons, _ = learn(frame, lits, q, lcfg, previous, day, window, exec_outcome(cfg))
    return lessons, q


# ---- braids and priors --------------------------------------------------------------------

BRAID_COLUMNS = ["braid_id", "lesson_id", "rule", "context", "choice_json", "sign",
                 "uplift_bps", "bqs", "state", "reason"]


def tr_braids(lessons: pd.DataFrame, cfg: ExecLearningConfig) -> pd.DataFrame:
    """Each live lesson as a choice in a context: a positive rule prefers its treatment
    values where its context holds; a negative one on `order` prefers the other order type.
    Only active lessons become active braids; the rest are listed with why not."""
    rows = []
    for r in lessons.sort_values("lesson_id", kind="stable").itertuples():
        if r.state not in ("proposed", "active"):
            continue
        lits = dict(split_key(str(r.rule)))
        choice = {k: v for k, v in lits.items() if k in cfg.treatments}
        context = "&".join(f"{k}={v}" for k, v in sorted(lits.items())
                           if k not in cfg.treatments) or "*"
        state, reason = ("active", "lesson_active") if r.state == "active" else (
            "proposed", "lesson_proposed")
        if int(r.sign) < 0:
            if set(choice) == {"order"}:
                choice = {"order": ORDERS[1 - ORDERS.index(choice["order"])]}
            else:
                state, reason = "dropped", "negative_not_binary"
        if not choice:
            state, reason = "dropped", "no_choice"
        elif abs(float(r.uplift_bps)) < cfg.caps.min_uplift_bps and state == "active":
            state, reason = "dropped", "below_min_uplift"
        rows.append({"braid_id": "T" + str(r.lesson_id)[1:], "lesson_id": r.lesson_id,
                     "rule": r.rule, "context": context,
                     "choice_json": json.dumps(choice, sort_keys=True), "sign": int(r.sign),
                     "uplift_bps": float(r.uplift_bps), "bqs": float(r.bqs),
                     "state": state, "reason": reason})
    return pd.DataFrame(rows, columns=BRAID_COLUMNS)


def _compatible(a: str, b: str) -> bool:
    la, lb = dict(split_key(a)), dict(split_key(b))
    return all(lb.get(k, v) == v for k, v in la.items())


def patch_key(context: str, feature: str, coin: str = "*") -> str:
    return f"patch/{coin}/{context}/{feature}"


def choice_value(feature: str, value: str) -> float:
    """A choice as a priors value: order -> 0 market / 1 limit, slices -> the count."""
    return float(ORDERS.index(value)) if feature == "order" else float(value[1:])


@dataclass
class CompiledTr:
    rows: dict[str, float]
    chosen: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # braid_id -> reason


def compile_tr(braids: pd.DataFrame, q: ExecQuantizer, cfg: ExecLearningConfig,
               previous: Mapping[str, float] | None) -> CompiledTr:
    """Active braids -> one tr priors row set (patch/<coin>/<context>/<feature> = choice,
    cap/ rows, the quantiser's edges). Best BQS first (then more literals, then id); a braid
    whose context can hold together with a kept one's and that chooses differently for the
    same feature is dropped ("conflict"); at most `max_patches` entries; against the version
    in force at most `max_new_per_night` entries added or changed (removals always apply, so
    a lesson that is no longer active stops steering the Trader the next night)."""
    prev = {k: v for k, v in (previous or {}).items() if k.startswith("patch/")}
    act = braids[braids["state"] == "active"] if len(braids) else braids
    order = sorted(act.itertuples(), key=lambda r: (-float(r.bqs), -len(split_key(r.rule)),
                                                     str(r.braid_id)))
    kept: list[tuple[str, dict[str, str]]] = []
    out = CompiledTr({})
    for r in order:
        choice = json.loads(r.choice_json)
        clash = [c for c, ch in kept if _compatible(c, r.context)
                 and any(ch.get(f, v) != v for f, v in choice.items())]
        if clash:
            out.dropped[r.braid_id] = "conflict"
            continue
        entries = {patch_key(r.context, f): choice_value(f, v) for f, v in choice.items()}
        if all(k in out.rows for k in entries):
            out.dropped[r.braid_id] = "duplicate"
            continue
        if len({k for k in out.rows if k.startswith("patch/")} | set(entries)) \
                > cfg.caps.max_patches:
            out.dropped[r.braid_id] = "cap:max_patches"
            continue
        new = [k for k, v in entries.items() if prev.get(k) != v and k not in out.rows]
        budget = cfg.caps.max_new_per_night - sum(
            1 for k, v in out.rows.items() if prev.get(k) != v)
        if len(new) > budget:
            out.dropped[r.braid_id] = "cap:max_new_per_night"
            continue
        out.rows.update(entries)
        kept.append((r.context, choice))
        out.chosen.append(r.braid_id)
    out.rows.update({"cap/max_patches": float(cfg.caps.max_patches),
                     "cap/max_new_per_night": float(cfg.caps.max_new_per_night)})
    if any(k.startswith("patch/") for k in out.rows):
        out.rows.update(q.edge_rows())
    out.rows = dict(sorted(out.rows.items()))
    return out


# ---- what the Trader applies ---------------------------------------------------------------


@dataclass(frozen=True)
class TrPriors:
    """A tr priors version as the Trader applies it: context -> choice entries and the
    quantiser they were learned with. Version 0 (the default) changes nothing."""

    version: int = 0
    entries: tuple[tuple[str, tuple[tuple[str, str], ...], str, float], ...] = ()
    # (coin, context literals, feature, value)
    quantizer: ExecQuantizer | None = None

    @classmethod
    def from_rows(cls, version: int, rows: Mapping[str, float],
                  cfg: ExecLearningConfig) -> TrPriors:
        entries = []
        for key, value in sorted(rows.items()):
            if not key.startswith("patch/"):
                continue
            parts = key.split("/")
            if len(parts) != 4 or parts[3] not in ("order", "slices"):
                raise ValueError(f"tr priors key {key!r} is not patch/<coin>/<context>/"
                                 "<order|slices>")
            entries.append((parts[1], split_key(parts[2]), parts[3], float(value)))
        return cls(version, tuple(entries), ExecQuantizer.from_rows(rows, cfg))

    def choose(self, coin: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """{order: market|limit, slices: n} the priors prescribe for an execution in this
        context (raw spread_bps, depth_rel, vol_bps); {} when none apply. The most specific
        matching entry wins per feature (compile_tr leaves no disagreeing overlaps)."""
        if not self.entries or self.quantizer is None:
            return {}
        lits = self.quantizer.context(context)
        best: dict[str, tuple[int, float]] = {}
        for c, cond, feature, value in self.entries:
            if c not in ("*", coin) or any(lits.get(k) != v for k, v in cond):
                continue
            if feature not in best or len(cond) > best[feature][0]:
                best[feature] = (len(cond), value)
        out: dict[str, Any] = {}
        if "order" in best:
            out["order"] = ORDERS[int(best["order"][1])]
        if "slices" in best:
            out["slices"] = int(best["slices"][1])
        return out


NO_TR_PRIORS = TrPriors()
