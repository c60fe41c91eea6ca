"""The `replay` arm: counterfactual replays of the newest scored day, bought under the
night's budget like any other pull (docs/governance.md, docs/experiments.md).

What a pull asks. The breeder judges a candidate on its own tape (the harness); whether a
survivor would have changed what Lotus *published* - after scoring, the council, the
exploration cap and the standing curator actions - only a replay of a scored day can say.
So the arm's pulls are, in order:

1. each recent breeding survivor (earlier nights' `candidates`, newest first, one per id),
   added to the exploration set the day was scored with: "what would publishing with this
   survivor have done?" (skipped: one already in that set, which would be the null
   alternative, and a WITHIN recipe, which scoring cannot run yet:
   `lotus_core.breeding.scoring.exploration_set`);
2. one gate move, `tau_publish` up by `TAU_STEP`: "did the least sure live publications
   pay?", the standing question of where the publication bar sits, asked of a new day.

Each is replayed through the stage functions (`lotus_core.experiments`: `load_day`,
`apply`, `replay_day` / `score_day`) and compared with what was published (`compare`).

Reward (the breeding arms' scale, `lotus_core.governance.breeding.evidence`): the two-sided
p of the realised paired difference alt - published, `min(8, -log10 p)` at p <= 0.05,
else 0. Two-sided: a survivor that would have lost money is information as much as one that
would have made it. p comes from the same time blocks `compare`'s bootstrap resamples
(`block_s`, 300 s: above the longest packaged horizon, so overlapping windows share a
block): the block sums s_1..s_k of d_w are a one-sample t test of mean 0 with k - 1
degrees of freedom (deterministic, so `units` nights stay byte-identical; the bootstrap
interval needs a seeded draw per pull and gives no p). An alternative that changes no
published window has d = 0 everywhere: p = 1, reward 0; so does fewer than two blocks or
block sums without spread (no test possible).

The replay is trusted only after the null alternative gives back the stored day
(`reproduction`): the night's first replay pull loads the day and replays the null; if it
does not reproduce (a lake scored with other configs or settings), every replay pull of the
night still runs but rewards 0 (its difference would mix the alternative with whatever made
the day unreproducible) and says why in its note.

Cost units (deterministic, the breeding arms' scale: 1 unit = one pass of one detector over
10,000 tape rows, the harness's `compile` gate): a replay runs every detector of the day
over the tape (one pass each), then scores, curates and publishes (one pass) and measures
each window's realised outcome (one pass): rows / 10,000 x (detectors + 2). The night's
first pull also pays the null replay: rows / 10,000 x (detectors + 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
import pandas as pd

from lotus_core.breeding.grammar import DETECTOR_PREFIX, BredSpec
from lotus_core.breeding.scoring import ExplorationSet, exploration_set
from lotus_core.breeding.store import LakeLike
from lotus_core.config.settings import Settings
from lotus_core.config.shared import shared_values
from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.experiments import (
    Alternative,
    DayInputs,
    StageConfig,
    alternative_of,
    apply,
    base_config,
    compare,
    load_day,
    outcome_tape,
    replay_day,
    reproduction,
)
from lotus_core.governance.breeding import ROWS_PER_UNIT, SIGNIFICANCE, evidence
from lotus_core.governance.governor import Arm, Outcome
from lotus_core.learning.priors_store import active_priors_for_date
from lotus_core.signals.pipeline import SignalDay
from lotus_core.signals.priors import ActivePriors
from lotus_core.signals.spec import enabled_specs
from lotus_core.store.opsdb import OpsDb

BLOCK_S = 300  # compare's default block: above the longest packaged horizon (180 s)
TAU_STEP = 0.05  # the gate move: tau_publish up by this much
SCORED = ("signal_events", "microtape_frames")


class ScoredLake(LakeLike, Protocol):
    """What the replay and refit arms need of a lake (`Lake` and `ObjectLake` have it)."""

    def exists(self, asset: str, day: str) -> bool: ...


@dataclass(frozen=True)
class Scoring:
    """What scoring a day took, passed down from the entry point (the experiments asset's
    inputs: `base_config(scoring=settings.scoring.config)`, the priors in force per day
    from the fabric, the standing curator actions, the shared history sizes and
    `scoring.exploration`); settings are never re-read below it."""

    base: StageConfig
    priors_for: Callable[[str], ActivePriors]
    history_days: int
    dsi_history_days: int
    actions: Sequence[Mapping[str, Any]] = ()
    exploration: bool = False


def scoring_from(settings: Settings, fabric: OpsDb) -> Scoring:
    """What scoring took, read as `score_signals` and the experiments read it: the entry
    point's settings (scoring config, history sizes, `scoring.exploration`), the priors in
    force per day and the standing curator actions from the fabric (open while pulled)."""
    values = shared_values(settings)
    actions, _ = read_detector_actions(fabric)
    return Scoring(base=base_config(scoring=settings.scoring.config),
                   priors_for=partial(active_priors_for_date, fabric),
                   history_days=values.history_days, dsi_history_days=values.dsi_history_days,
                   actions=actions, exploration=values.exploration)


def newest_scored_day(lake: ScoredLake, day: str) -> str | None:
    """The newest day <= `day` the chain scored (`signal_events` and `microtape_frames` in
    the lake, as `lotus_core.credit.run.window_days` asks), or None."""
    days = [d for d in lake.days("signal_events") if d <= day]
    for d in reversed(days):
        if all(lake.exists(a, d) for a in SCORED):
            return d
    return None


def p_evidence(p: float) -> float:
    """Breeding's reward of a two-sided p: min(8, -log10 p) at p <= 0.05, else 0."""
    return evidence({"oos_p": float(p), "oos_lift": 1.0}, SIGNIFICANCE)


def paired_p(windows: pd.DataFrame, block_s: int = BLOCK_S) -> tuple[float, int]:
    """(two-sided p that sum_w d_w != 0, blocks): a one-sample t test of the block sums of
    `compare`'s d_w (`diff_bps`) over the blocks its bootstrap resamples. p = 1 when nothing
    changed, with fewer than two blocks, or block sums without spread."""
    d = windows["diff_bps"].to_numpy(dtype=np.float64) if len(windows) else np.zeros(0)
    if not np.any(d != 0):
        return 1.0, 0
    _, block = np.unique(windows["ts_ms"].to_numpy(dtype=np.int64) // (block_s * 1000),
                         return_inverse=True)
    sums = np.bincount(block, weights=d)
    k = len(sums)
    sd = float(np.std(sums, ddof=1)) if k >= 2 else 0.0
    if not sd > 0:
        return 1.0, k
    t = float(np.mean(sums)) / (sd / math.sqrt(k))
    from scipy import stats  # here: scipy.stats costs every process ~0.5 s of import

    return float(min(1.0, 2.0 * stats.t.sf(abs(t), k - 1))), k


@dataclass(frozen=True)
class Replay:
    """One alternative: a config change (`alternative`), and/or a bred survivor added to
    the exploration set the day was scored with (`bred`)."""

    label: str
    alternative: Alternative = field(default_factory=Alternative)
    bred: BredSpec | None = None

    @classmethod
    def null(cls) -> Replay:
        return cls("null")


def survivor_replays(history: pd.DataFrame, limit: int,
                     in_force: Sequence[BredSpec] = ()) -> list[Replay]:
    """Earlier survivors (a `candidates` table of earlier nights), newest first, one per
    id, not already in the exploration set in force, none composed with a vetted
    detector's windows (scoring cannot run those: `exploration_set`)."""
    out: list[Replay] = []
    if not len(history) or limit <= 0:
        return out
    seen = {b.detector_id for b in in_force}
    surv = history[history["survived"].astype(bool)].iloc[::-1]
    for det, spec in zip(surv["detector_id"], surv["spec_json"], strict=True):
        if str(det) in seen:
            continue
        seen.add(str(det))
        bred = BredSpec.model_validate_json(str(spec))
        if any(t.input.startswith(DETECTOR_PREFIX) for t in bred.terms):
            continue
        out.append(Replay(f"add_bred:{bred.detector_id}", bred=bred))
        if len(out) == limit:
            break
    return out


def gate_replay(base: StageConfig, step: float = TAU_STEP) -> Replay | None:
    """tau_publish up by `step` (None when that leaves (0, 1])."""
    tau = round(float(base.council.tau_publish) + step, 10)
    if not 0 < tau <= 1:
        return None
    alt = alternative_of(gates={"tau_publish": tau})
    return Replay(alt.label(), alternative=alt)


class DayReplayer:
    """Replays of one scored day: the inputs and the null replay once (lazily, at the
    first pull), then one replay per alternative, each compared with what was published."""

    def __init__(self, lake: ScoredLake, day: str, scoring: Scoring,
                 block_s: int = BLOCK_S) -> None:
        self.lake, self.day, self.scoring, self.block_s = lake, day, scoring, block_s
        self.inputs: DayInputs | None = None
        self.priors: ActivePriors | None = None
        self.in_force: ExplorationSet | None = None
        self.reproduced: tuple[bool, str] = (False, "")

    def exploration(self) -> ExplorationSet | None:
        """The exploration set the day was scored with (settings `scoring.exploration`)."""
        return exploration_set(self.lake, self.day) if self.scoring.exploration else None

    def _prepare(self) -> float:
        """Load the day and replay the null; the units that cost (0 once done)."""
        if self.inputs is not None:
            return 0.0
        s = self.scoring
        self.in_force = self.exploration()
        self.priors = s.priors_for(self.day)
        self.inputs = load_day(self.lake, self.day, history_days=s.history_days,
                               dsi_history_days=s.dsi_history_days, with_dsi_history=False,
                               actions=s.actions)
        null = self._score(s.base, self.in_force)
        ok, _, why = reproduction(self.inputs.events, null.events)
        self.reproduced = (ok, why)
        return self._rows() * (self._detectors(s.base, self.in_force) + 1) / ROWS_PER_UNIT

    def _rows(self) -> int:
        assert self.inputs is not None
        return len(self.inputs.frames)

    @staticmethod
    def _detectors(cfg: StageConfig, extra: ExplorationSet | None) -> int:
        return len(enabled_specs(cfg.detectors)) + (len(extra.bred) if extra else 0)

    def _score(self, cfg: StageConfig, extra: ExplorationSet | None) -> SignalDay:
        """The day under `cfg` and the exploration set `extra` (the stored DSI: no
        alternative here touches it)."""
        assert self.inputs is not None and self.priors is not None
        return replay_day(self.inputs, cfg, self.priors, refit_dsi=False, extra=extra)

    def pull(self, replay: Replay) -> Outcome:
        """Replay one alternative; reward = evidence of its paired p against the published
        day (0 when the null did not reproduce)."""
        units = self._prepare()
        assert self.inputs is not None
        cfg = apply(replay.alternative, self.scoring.base)
        extra = self.in_force
        if replay.bred is not None:
            extra = ExplorationSet(tuple(extra.bred if extra else ()) + (replay.bred,))
        alt = self._score(cfg, extra)
        # one bootstrap draw: the reward's p is paired_p's, not the interval's
        cmp = compare(self.inputs.events, alt.events, outcome_tape(self.inputs),
                      block_s=self.block_s, n_boot=1, seed=0)
        units += self._rows() * (self._detectors(cfg, extra) + 2) / ROWS_PER_UNIT
        p, blocks = paired_p(cmp.windows, self.block_s)
        m = cmp.metrics
        ok, why = self.reproduced
        reward = p_evidence(p) if ok else 0.0
        note = (f"delta {m['delta_net_bps']:+.4g} bps, +{m['added']}/-{m['removed']} "
                f"published, p {p:.3g} ({blocks} blocks)")
        if not ok:
            note += f"; null not reproduced: {why}"
        return Outcome(reward, units, replay.label, note, cmp)


def replay_arm(lake: ScoredLake, day: str, scoring: Scoring, history: pd.DataFrame,
               limit: int, block_s: int = BLOCK_S) -> Arm | None:
    """The `replay` arm on the newest scored day <= `day`: up to `limit` pulls (the recent
    survivors, then the gate move); None when no day was scored or `limit` is 0."""
    scored = newest_scored_day(lake, day) if limit > 0 else None
    if scored is None:
        return None
    r = DayReplayer(lake, scored, scoring, block_s)
    in_force = r.exploration()
    plans = survivor_replays(history, limit, in_force.bred if in_force else ())
    gate = gate_replay(scoring.base)
    if gate is not None and len(plans) < limit:
        plans.append(gate)
    if not plans:
        return None
    return Arm("replay", "replay", [partial(r.pull, p) for p in plans])
