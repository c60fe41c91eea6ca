"""Counterfactual replay of stored days, recorded as experiments (docs/experiments.md).

    alt = alternative_of(knock_out=["depth_vacuum"], gates={"tau_publish": 0.7})
    result = run_experiment(lake, "2026-01-03", alt, base, priors=..., history_days=7,
                            dsi_history_days=3, commit=code_commit(), actions=...)
    list_experiments(lake)

Pure (no dagster): the CLI (`lotus experiment`) and the `experiments` asset call it.
"""

from lotus_core.experiments.alternative import (
    Alternative,
    AlternativeError,
    DetectorAdded,
    GateMoved,
    KnockOut,
    StageConfig,
    ThresholdChanged,
    alternative_of,
    apply,
    base_config,
    parse_assignment,
)
from lotus_core.experiments.compare import Comparison, block_interval, compare, realised
from lotus_core.experiments.inputs import (
    DayInputs,
    InputsError,
    actions_as_of,
    frame_hash,
    load_day,
    outcome_tape,
)
from lotus_core.experiments.replay import replay_day, replay_dsi
from lotus_core.experiments.run import ExperimentResult, reproduction, run_experiment
from lotus_core.experiments.table import (
    ASSET,
    EXPERIMENTS_SCHEMA,
    code_commit,
    list_experiments,
    metrics_of,
    record,
)

__all__ = [
    "ASSET",
    "EXPERIMENTS_SCHEMA",
    "Alternative",
    "AlternativeError",
    "Comparison",
    "DayInputs",
    "DetectorAdded",
    "ExperimentResult",
    "GateMoved",
    "InputsError",
    "KnockOut",
    "StageConfig",
    "ThresholdChanged",
    "actions_as_of",
    "alternative_of",
    "apply",
    "base_config",
    "block_interval",
    "code_commit",
    "compare",
    "frame_hash",
    "list_experiments",
    "load_day",
    "metrics_of",
    "outcome_tape",
    "parse_assignment",
    "realised",
    "record",
    "replay_day",
    "replay_dsi",
    "reproduction",
    "run_experiment",
]
