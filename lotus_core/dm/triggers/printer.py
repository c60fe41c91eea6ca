"""Print a trigger tree as canonical text: parse_trigger(print_trigger(e)) == e.

Canonical form: positional arguments, upper-case keywords, the shortest exact unit
(``0.15%`` when that reads back to the same float, else the bare fraction; ``6h`` when
the window is a whole number of hours), parentheses only where precedence needs them.
"""

from __future__ import annotations

from lotus_core.dm.triggers.tree import (
    And,
    Breakout,
    Cross,
    Expr,
    Level,
    NamedLevel,
    Or,
    Retest,
    Touch,
    Within,
)

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
_PRECEDENCE = {Within: 0, Or: 1, And: 2}  # leaves bind tightest (3)


def _num(x: float) -> str:
    return repr(float(x))


def _tol(x: float) -> str:
    pct = repr(x * 100.0)
    if "e" not in pct and float(pct) * 0.01 == x:
        return pct + "%"
    return _num(x)


def _duration(ms: int) -> str:
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise AssertionError("unreachable: ms divides by 1")


def _level(level: Level) -> str:
    return level.name if isinstance(level, NamedLevel) else _num(level.value)


def _prec(e: Expr) -> int:
    return _PRECEDENCE.get(type(e), 3)


def print_trigger(e: Expr) -> str:
    """Canonical text of a trigger tree."""
    if isinstance(e, Breakout):
        extra = "" if e.direction == "any" else f", {e.direction}"
        return f"breakout({e.lookback}, {_num(e.k)}σ{extra})"
    if isinstance(e, Retest):
        return f"retest({_level(e.level)}, {_tol(e.tol)})"
    if isinstance(e, Touch):
        extra = "" if e.tol == 0.0 else f", {_tol(e.tol)}"
        return f"touch({_level(e.level)}{extra})"
    if isinstance(e, Cross):
        extra = "" if e.direction == "any" else f", {e.direction}"
        return f"cross({_level(e.level)}{extra})"
    if isinstance(e, (And, Or)):
        op = "AND" if isinstance(e, And) else "OR"
        p = _prec(e)
        left = print_trigger(e.left)
        right = print_trigger(e.right)
        if _prec(e.left) < p:  # left-associative: same precedence on the left needs none
            left = f"({left})"
        if _prec(e.right) <= p:
            right = f"({right})"
        return f"{left} {op} {right}"
    if isinstance(e, Within):
        inner = print_trigger(e.expr)
        return f"{inner} WITHIN {_duration(e.window_ms)}"
    raise TypeError(f"not a trigger node: {e!r}")
