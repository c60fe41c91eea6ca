"""Compute governance: a per-night compute budget spent across
breeding, re-audits, counterfactual replays and expert re-fits by Thompson sampling on the
information each arm bought per unit of compute, with a diversity quota. Pure (no
dagster); docs/governance.md.

    NormalGamma                         an arm's posterior of reward per cost unit
    GovernorState                       per arm: posterior, pulls, spend (JSON / table)
    Arm, Outcome                        a queue of injected pulls; what one bought and cost
    GovernorConfig, BudgetConfig        budget (units | cpu), quota, prior
    ThompsonPolicy, UniformPolicy       who spends next (uniform: equal spend per arm)
    govern_night(arms, state, ...)      -> Night (pulls table, new state, outcomes)
    breed_governed(frames, day, ...)    one breeding night under a budget -> GovernedNight
    replay_arm, refit_arm, Scoring      counterfactual replays and DSI expert re-fits of the
                                        newest scored day, as arms (nightly.govern_day)
"""

from lotus_core.governance.breeding import (
    GovernedNight,
    Reaudit,
    breed_governed,
    breeding_arms,
    evidence,
    family,
    reaudits_from,
)
from lotus_core.governance.governor import (
    PULL_COLUMNS,
    Arm,
    BudgetConfig,
    GovernorConfig,
    Night,
    Outcome,
    Policy,
    ThompsonPolicy,
    UniformPolicy,
    by_arm,
    govern_night,
    quota_arms,
)
from lotus_core.governance.posterior import NormalGamma
from lotus_core.governance.refit_arms import refit_arm
from lotus_core.governance.replay_arms import (
    Replay,
    Scoring,
    newest_scored_day,
    replay_arm,
    scoring_from,
)
from lotus_core.governance.state import STATE_COLUMNS, ArmState, GovernorState

__all__ = ["PULL_COLUMNS", "STATE_COLUMNS", "Arm", "ArmState", "BudgetConfig",
           "GovernedNight", "GovernorConfig", "GovernorState", "Night", "NormalGamma",
           "Outcome", "Policy", "Reaudit", "Replay", "Scoring", "ThompsonPolicy", "UniformPolicy",
           "breed_governed", "breeding_arms", "by_arm", "evidence", "family",
           "govern_night", "newest_scored_day", "quota_arms", "reaudits_from", "refit_arm",
           "replay_arm", "scoring_from"]
