"""The governed breeding night as the asset and the CLI run it: parents and re-audits
from earlier nights' `candidates`, the governor's state from the newest earlier
`governance_state`, the night under the budget, and both tables written to the lake."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lotus_core.breeding.grammar import Grammar
from lotus_core.breeding.harness import HarnessConfig
from lotus_core.breeding.night import parents_from
from lotus_core.breeding.propose import RecipeProposer
from lotus_core.breeding.recipe import Recipe
from lotus_core.breeding.store import LakeLike
from lotus_core.governance.breeding import GovernedNight, breed_governed, reaudits_from
from lotus_core.governance.governor import GovernorConfig, Policy, ThompsonPolicy
from lotus_core.governance.schema import PULLS_SCHEMA, STATE_SCHEMA
from lotus_core.governance.state import GovernorState
from lotus_core.signals.spec import DetectorSpec

PULLS, STATE = "compute_governance", "governance_state"


def state_before(lake: LakeLike, day: str) -> GovernorState:
    """The governor's state after the newest night before `day` (empty on the first)."""
    nights = [d for d in lake.days(STATE) if d < day]
    return GovernorState.from_frame(lake.read(STATE, nights[-1])) if nights else GovernorState()


def earlier_candidates(lake: LakeLike, day: str, nights: int) -> pd.DataFrame:
    earlier = [d for d in lake.days("candidates") if d < day][-nights:] if nights else []
    return (pd.concat([lake.read("candidates", d) for d in earlier], ignore_index=True)
            if earlier else pd.DataFrame(columns=["detector_id", "survived", "spec_json",
                                                  "origin", "oos_p", "oos_lift"]))


def govern_day(lake: LakeLike, frames: pd.DataFrame, day: str, *, recipe: Recipe,
               vetted: Sequence[DetectorSpec], gov: GovernorConfig, seed: int,
               parent_nights: int = 7, reaudits: int = 8,
               policy: Policy | None = None) -> GovernedNight:
    """Breed `day` under the governor and write `compute_governance` and
    `governance_state` for it."""
    history = earlier_candidates(lake, day, parent_nights)
    g = breed_governed(frames, day, proposer=RecipeProposer(recipe),
                       grammar=Grammar(vetted=tuple(s.id for s in vetted)), gov=gov,
                       policy=policy or ThompsonPolicy(), state=state_before(lake, day),
                       vetted=vetted, parents=parents_from(history),
                       reaudits=reaudits_from(history, reaudits), seed=seed,
                       cfg=HarnessConfig())
    lake.write(PULLS, day, g.night.pulls, validate=PULLS_SCHEMA.validate)
    lake.write(STATE, day, g.night.state.to_frame(day), validate=STATE_SCHEMA.validate)
    return g
