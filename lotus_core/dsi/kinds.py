"""Expert kind -> class: validates a kind's spec and builds an expert from a registry entry.

Above experts.py and every expert module (it imports them all), below the registry parser
and the model, so the base class never imports its own subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lotus_core.dsi.anomaly import AnomalyExpert
from lotus_core.dsi.divergence import DivergenceExpert
from lotus_core.dsi.expert_spec import ExpertSpec, RegistryError
from lotus_core.dsi.experts import Expert, GrammarExpert
from lotus_core.dsi.grammar import GrammarSpecError, compile_grammar
from lotus_core.dsi.params import PARAMS, parse_params
from lotus_core.dsi.sequence import SequenceExpert


def _kinds() -> dict[str, type[Expert]]:
    return {"grammar": GrammarExpert, "anomaly": AnomalyExpert, "divergence": DivergenceExpert,
            "sequence": SequenceExpert}


def validate_spec(kind: str, spec: Mapping[str, Any], where: str) -> None:
    """Raise RegistryError (naming the key) unless `spec` is valid for `kind`."""
    if kind == "grammar":
        try:
            compile_grammar(spec, where)
        except GrammarSpecError as exc:
            raise RegistryError(str(exc)) from exc
        return
    parse_params(PARAMS[kind], spec, where)


def make_expert(spec: ExpertSpec, seed: int, z_cap: float) -> Expert:
    return _kinds()[spec.kind](spec, seed, z_cap)
