"""Credit for DSI experts (docs/experiments.md, "Expert credit").

    result = run_credit(lake, day, base_config(), priors_for, history_days=7,
                        dsi_history_days=3, config=CreditConfig())
    found = proposals(history_of_credit, day, weeks=4)   # never removals
    post_proposals(fabric, found, keys)                  # WATCHDOG_ALERT -> curator_queue

Pure (no dagster); the `expert_credit` asset calls it.
"""

from lotus_core.credit.config import CreditConfig
from lotus_core.credit.game import CreditGame, DayGame, coalition_annotations, prepare_day
from lotus_core.credit.pooling import Pooled, pool
from lotus_core.credit.retire import (
    RetirementProposal,
    iso_week,
    last_weeks,
    post_proposals,
    proposals,
    weekly_credit,
)
from lotus_core.credit.run import CreditError, CreditResult, players_of, run_credit, window_days
from lotus_core.credit.shapley import ShapleyResult, inclusion_orders, shapley_lite
from lotus_core.credit.table import ASSET, CREDIT_SCHEMA

__all__ = [
    "ASSET",
    "CREDIT_SCHEMA",
    "CreditConfig",
    "CreditError",
    "CreditGame",
    "CreditResult",
    "DayGame",
    "Pooled",
    "RetirementProposal",
    "ShapleyResult",
    "coalition_annotations",
    "inclusion_orders",
    "iso_week",
    "last_weeks",
    "players_of",
    "pool",
    "post_proposals",
    "prepare_day",
    "proposals",
    "run_credit",
    "shapley_lite",
    "weekly_credit",
    "window_days",
]
