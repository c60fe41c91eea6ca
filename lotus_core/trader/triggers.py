"""The Trader's view of the Decision-Maker's trigger DSL (lotus_core.dm.triggers): arm a
ticket's dm_trigger and step it over MicroTape rows. There is one evaluator, the DM's;
this adapter only maps its status to the Trader's armed/fired reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lotus_core.dm.triggers import TriggerState, parse_trigger, print_trigger


class DmTriggers:
    """`TriggerEvaluator` over the DM's parser and causal evaluator."""

    def arm(self, trigger: Mapping[str, Any], coin: str) -> TriggerState:
        expr = trigger.get("expr")
        if not isinstance(expr, str):
            raise ValueError("dm_trigger.expr is missing")
        return TriggerState(parse_trigger(expr))  # TriggerSyntaxError is a ValueError

    def step(self, armed: TriggerState, row: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        st = armed.update(row)
        if not st.fired:
            return False, {}
        return True, {"expr": print_trigger(armed.expr), "fired_px": st.fired_px,
                      "fired_ts_ms": st.fired_ts_ms, "rows_seen": st.rows_seen,
                      "level_high": armed.range_high, "level_low": armed.range_low}
