"""One counterfactual experiment, end to end: apply the alternative (refused before any
read if it does not apply), read the day's stored inputs, replay the null alternative (the
proof the replay is faithful: it must give back the stored published set), replay the
alternative, compare with what was published on realised outcomes, record the row.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.evaluation import DEFAULT_FEE_BPS
from lotus_core.experiments.alternative import Alternative, StageConfig, apply
from lotus_core.experiments.compare import Comparison, compare
from lotus_core.experiments.inputs import DayInputs, inputs_hash, load_day, outcome_tape
from lotus_core.experiments.replay import replay_day
from lotus_core.experiments.table import LakeStore, record
from lotus_core.signals.pipeline import ExtraDetectors, SignalDay
from lotus_core.signals.priors import ActivePriors

SIGMA_TOL = 1e-9
"""How far a replayed det_sigma may lie from the stored one (two runs of the same float
code on the same inputs; the stored value went through Parquet, which keeps float64)."""


@dataclass(frozen=True)
class ExperimentResult:
    row: dict[str, Any]
    comparison: Comparison
    inputs: DayInputs
    null: SignalDay
    alt: SignalDay


def reproduction(stored: pd.DataFrame, replayed: pd.DataFrame) -> tuple[bool, float, str]:
    """(reproduced, max |det_sigma| difference, why not): the replay gives back the stored
    windows in order, their publication flags exactly and det_sigma within SIGMA_TOL."""
    a, b = stored["window_id"].astype(str).tolist(), replayed["window_id"].astype(str).tolist()
    if a != b:
        return False, float("nan"), f"windows differ ({len(a)} stored, {len(b)} replayed)"
    diff = float(np.max(np.abs(stored["det_sigma"].to_numpy(dtype=np.float64)
                               - replayed["det_sigma"].to_numpy(dtype=np.float64)), initial=0.0))
    for c in ("published", "paper", "vetoed"):
        if not np.array_equal(stored[c].to_numpy(dtype=bool), replayed[c].to_numpy(dtype=bool)):
            return False, diff, f"{c} differs on {int((stored[c] != replayed[c]).sum())} windows"
    if not diff <= SIGMA_TOL:
        return False, diff, f"det_sigma differs by up to {diff:.3g}"
    return True, diff, ""


def exp_id(created_ms: int, *parts: object) -> str:
    """exp_<created ms>_<8 hex of what was run>: sorts by time, tells re-runs apart."""
    return f"exp_{created_ms}_{_sha(created_ms, *parts)[:8]}"


def _sha(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def run_experiment(lake: LakeStore, day: str, alternative: Alternative, base: StageConfig, *,
                   priors: ActivePriors, history_days: int, dsi_history_days: int,
                   commit: str, seed: int = 0, block_s: int = 300, n_boot: int = 2000,
                   fee_bps: float = DEFAULT_FEE_BPS, save: bool = True,
                   actions: Sequence[Mapping[str, Any]] = (),
                   extra: ExtraDetectors | None = None,
                   clock: Callable[[], float] = time.time) -> ExperimentResult:
    """Replay `day` under `alternative` and (with `save`) record it in the experiments table.

    `base` is what the day was scored with; `priors` the set in force for the day
    (`active_priors_for_date`); the history sizes are the shared values the assets use;
    `actions` the Curator API's detector actions as the nightly chain reads them
    (`read_detector_actions`): both replays apply those standing for each window, so the
    null replay gives back a day that was published under standing vetoes and nudges;
    `extra` the exploration set the day was scored with (settings `scoring.exploration`:
    `lotus_core.breeding.scoring.exploration_set`), scored beside the engine's detectors in
    both replays as `score_signals` scored it."""
    t0 = time.perf_counter()
    cfg = apply(alternative, base)
    refit = alternative.touches_dsi
    inputs = load_day(lake, day, history_days=history_days, dsi_history_days=dsi_history_days,
                      with_dsi_history=refit, actions=actions)
    null = replay_day(inputs, base, priors, refit_dsi=refit, extra=extra)
    alt = (null if alternative.is_null
           else replay_day(inputs, cfg, priors, refit_dsi=refit, extra=extra))
    ok, sigma_diff, why = reproduction(inputs.events, null.events)
    cmp = compare(inputs.events, alt.events, outcome_tape(inputs), fee_bps=fee_bps, block_s=block_s,
                  n_boot=n_boot, seed=seed)
    hashes = {**inputs.hashes, "priors_ver": str(priors.version)}
    configs = {"base": base.hashes(), "alt": cfg.hashes()}
    config_hash = _sha(alternative.canonical(), sorted(configs["alt"].items()))
    ihash = inputs_hash(hashes)
    created = int(clock() * 1000)
    m = cmp.metrics
    metrics = {**m, "null_reproduced": ok, "null_det_sigma_max_abs_diff": sigma_diff,
               "null_reason": why, "dsi_refit": refit,
               "pending_windows": int((cmp.windows["status"] != "done").sum())}
    row = {
        "experiment_id": exp_id(created, day, config_hash, ihash, commit, seed),
        "created_ms": created, "day": day, "label": alternative.label(),
        "alternative": alternative.canonical(), "config_hash": config_hash,
        "configs": _json(configs), "inputs_hash": ihash, "inputs": _json(hashes),
        "commit": commit, "seed": seed, "null_reproduced": ok,
        "published_base": m["published_base"], "published_alt": m["published_alt"],
        "added": m["added"], "removed": m["removed"], "delta_net_bps": m["delta_net_bps"],
        "delta_ci_lo": m["delta_ci_lo"], "delta_ci_hi": m["delta_ci_hi"],
        "metrics": _json(metrics), "seconds": time.perf_counter() - t0,
    }
    if save:
        record(lake, row)
    return ExperimentResult(row=row, comparison=cmp, inputs=inputs, null=null, alt=alt)


def _json(body: Any) -> str:
    import json

    def clean(v: Any) -> Any:
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return clean(v)

    return json.dumps(walk(body), sort_keys=True, separators=(",", ":"))
