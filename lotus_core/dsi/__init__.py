"""Deep Signal Intelligence: micro-experts over the MicroTape, fused into mx_* evidence.

Pure numpy/pandas/scikit-learn (no dagster). The nightly assets and the live daemon call
the same functions:

    model = fit_dsi(history, registry=load_registry())  # earlier days only (or the priors)
    result = annotate(frames, model)    # per frame: mx_evidence, mx_confirm, f_/z_/c_<expert>
    row = DsiStream(model).push(tape_row)   # the same, one row at a time (the live daemon)
    table = expert_table(day, frames, model, result)   # the registry with the day's stats
    dsi_schema(model.registry).validate(result.annotations)  # the registry's columns
    # a day coin by coin: annotate_by_coin(coin_frames, model, tally); tally_table(day, tally)

See docs/dsi.md for every definition.
"""

from lotus_core.dsi.annotate import DsiResult, DsiStream, annotate
from lotus_core.dsi.day import (
    DayTally,
    annotate_by_coin,
    expert_table,
    expert_timings,
    tally_table,
    tally_timings,
)
from lotus_core.dsi.evaluate import Match, episodes, match_flags, occurrences
from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.grammar import GrammarSpecError, compile_grammar, run_grammar
from lotus_core.dsi.model import DsiModel, fit_dsi, tape_columns
from lotus_core.dsi.registry import Registry, RegistryError, load_registry, parse_registry
from lotus_core.dsi.schema import DSI_EXPERTS_SCHEMA, dsi_schema

__all__ = [
    "DSI_EXPERTS_SCHEMA",
    "DayTally",
    "DsiModel",
    "DsiResult",
    "DsiStream",
    "ExpertOutput",
    "GrammarSpecError",
    "Match",
    "Registry",
    "RegistryError",
    "annotate",
    "annotate_by_coin",
    "compile_grammar",
    "dsi_schema",
    "episodes",
    "expert_table",
    "expert_timings",
    "fit_dsi",
    "load_registry",
    "match_flags",
    "occurrences",
    "parse_registry",
    "run_grammar",
    "tally_table",
    "tally_timings",
    "tape_columns",
]
