"""The trigger DSL (dsl_ver "1"): parse, print and evaluate conditional entries.

    >>> from lotus_core.dm.triggers import parse_trigger, print_trigger, TriggerState
    >>> e = parse_trigger("breakout(20, 2σ) AND retest(broken, 0.15%) WITHIN 6h")
    >>> print_trigger(e)
    'breakout(20, 2.0σ) AND retest(broken, 0.15%) WITHIN 6h'
    >>> state = TriggerState(e)   # then state.update(row) for each MicroTape row

See docs/dm.md for the grammar and the semantics of each operator.
"""

from lotus_core.dm.triggers.evaluate import (
    TriggerRowError,
    TriggerState,
    TriggerStatus,
    evaluate_trigger,
    first_fire,
)
from lotus_core.dm.triggers.parser import TriggerSyntaxError, parse_trigger
from lotus_core.dm.triggers.printer import print_trigger
from lotus_core.dm.triggers.tree import (
    DSL_VERSION,
    And,
    Breakout,
    Cross,
    Expr,
    NamedLevel,
    Or,
    Price,
    Retest,
    Touch,
    Within,
)

__all__ = [
    "DSL_VERSION", "And", "Breakout", "Cross", "Expr", "NamedLevel", "Or", "Price", "Retest",
    "Touch", "TriggerRowError", "TriggerState", "TriggerStatus", "TriggerSyntaxError", "Within",
    "evaluate_trigger", "first_fire", "parse_trigger", "print_trigger",
]
