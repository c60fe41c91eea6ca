"""The governed breeding night as the asset and the CLI run it: parents and re-audits
from earlier nights' `candidates`, counterfactual replays and expert re-fits on the newest
scored day (when the entry point passes what scoring took, `Scoring`, and the lake holds a
scored day), the governor's state from the newest earlier `governance_state`, the night
under the budget, and both tables written to the lake."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lotus_core.breeding.grammar import Grammar
from lotus_core.breeding.harness import HarnessConfig
from lotus_core.breeding.night import parents_from
from lotus_core.breeding.propose import RecipeProposer
from lotus_core.breeding.recipe import Recipe
from lotus_core.governance.breeding import GovernedNight, breed_governed, reaudits_from
from lotus_core.governance.governor import Arm, GovernorConfig, Policy, ThompsonPolicy
from lotus_core.governance.refit_arms import refit_arm
from lotus_core.governance.replay_arms import ScoredLake, Scoring, replay_arm
from lotus_core.governance.schema import PULLS_SCHEMA, STATE_SCHEMA
from lotus_core.governance.state import GovernorState
from lotus_core.signals.spec import DetectorSpec

PULLS, STATE = "compute_governance", "governance_state"


def state_before(lake: ScoredLake, day: str) -> GovernorState:
    """The governor's state after the newest night before `day` (empty on the first)."""
    nights = [d for d in lake.days(STATE) if d < day]
    return GovernorState.from_frame(lake.read(STATE, nights[-1])) if nights else GovernorState()


def earlier_candidates(lake: ScoredLake, day: str, nights: int) -> pd.DataFrame:
    earlier = [d for d in lake.days("candidates") if d < day][-nights:] if nights else []
    return (pd.concat([lake.read("candidates", d) for d in earlier], ignore_index=True)
            if earlier else pd.DataFrame(columns=["detector_id", "survived", "spec_json",
                                                  "origin", "oos_p", "oos_lift"]))


def scored_arms(lake: ScoredLake, day: str, history: pd.DataFrame, scoring: Scoring | None,
                replays: int, refits: int) -> list[Arm]:
    """The `replay` and `refit` arms on the newest scored day <= `day`: none without
    `scoring`, without a scored day in the lake, or with 0 pulls asked."""
    if scoring is None:
        return []
    arms = [replay_arm(lake, day, scoring, history, replays), refit_arm(lake, day, scoring, refits)]
    return [a for a in arms if a is not None]


def govern_day(lake: ScoredLake, frames: pd.DataFrame, day: str, *, recipe: Recipe,
               vetted: Sequence[DetectorSpec], gov: GovernorConfig, seed: int,
               parent_nights: int = 7, reaudits: int = 8,
               policy: Policy | None = None, scoring: Scoring | None = None,
               replays: int = 4, refits: int = 6) -> GovernedNight:
    """Breed `day` under the governor, with replays and re-fits of the newest scored day
    competing for the same budget (given `scoring`), and write `compute_governance` and
    `governance_state` for it."""
    history = earlier_candidates(lake, day, parent_nights)
    g = breed_governed(frames, day, proposer=RecipeProposer(recipe),
                       grammar=Grammar(vetted=tuple(s.id for s in vetted)), gov=gov,
                       policy=policy or ThompsonPolicy(), state=state_before(lake, day),
                       vetted=vetted, parents=parents_from(history),
                       reaudits=reaudits_from(history, reaudits), seed=seed,
                       cfg=HarnessConfig(),
                       extra=scored_arms(lake, day, history, scoring, replays, refits))
    lake.write(PULLS, day, g.night.pulls, validate=PULLS_SCHEMA.validate)
    lake.write(STATE, day, g.night.state.to_frame(day), validate=STATE_SCHEMA.validate)
    return g
