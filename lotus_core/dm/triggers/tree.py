"""The trigger DSL's typed expression tree (dsl_ver "1").

A trigger is a conditional entry the Decision-Maker attaches to a ticket and the Trader
watches on MicroTape rows, e.g. ``breakout(20, 2σ) AND retest(broken, 0.15%) WITHIN 6h``.
Nodes are frozen dataclasses, so two trees compare equal iff they mean the same thing
(the parser/printer round trip is tested on that equality).

Units: ``tol`` is a fraction of the level (0.0015 = 0.15 %), ``k`` is in standard
deviations of mid_px over the lookback rows, ``window_ms`` is milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

DSL_VERSION = "1"

Direction: TypeAlias = Literal["up", "down", "any"]
DIRECTIONS: tuple[Direction, ...] = ("up", "down", "any")
LEVEL_NAMES = ("prev_high", "prev_low", "broken")
DEFAULT_LOOKBACK = 20
MAX_LOOKBACK = 100_000


def _finite(name: str, value: float, *, positive: bool = False, nonneg: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonneg and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _direction(value: str) -> None:
    if value not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {value!r}")


@dataclass(frozen=True)
class Price:
    """A fixed price level."""

    value: float

    def __post_init__(self) -> None:
        _finite("price level", self.value, positive=True)
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class NamedLevel:
    """A level the evaluator derives from the tape.

    prev_high / prev_low: the top / bottom of the range the latest breakout broke out of
    (max / min mid_px of its lookback rows); before any breakout, of the last
    DEFAULT_LOOKBACK rows before the current one. broken: the side the latest breakout
    broke (prev_high after an up-breakout, prev_low after a down-breakout); undefined
    (the leaf cannot fire) before any breakout.
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in LEVEL_NAMES:
            raise ValueError(f"level name must be one of {LEVEL_NAMES}, got {self.name!r}")


Level: TypeAlias = Price | NamedLevel


@dataclass(frozen=True)
class Breakout:
    """mid_px leaves the band mean ± k·sd of the previous ``lookback`` mids."""

    lookback: int
    k: float
    direction: Direction = "any"

    def __post_init__(self) -> None:
        if isinstance(self.lookback, bool) or not isinstance(self.lookback, int):
            raise TypeError(f"breakout lookback must be an integer, got {self.lookback!r}")
        if not 2 <= self.lookback <= MAX_LOOKBACK:
            raise ValueError(f"breakout lookback must be in [2, {MAX_LOOKBACK}], "
                             f"got {self.lookback}")
        _finite("breakout k", self.k, nonneg=True)
        object.__setattr__(self, "k", float(self.k))
        _direction(self.direction)


@dataclass(frozen=True)
class Retest:
    """mid_px comes back within ``tol`` of the level after having been farther than tol."""

    level: Level
    tol: float

    def __post_init__(self) -> None:
        _finite("retest tol", self.tol, positive=True)
        object.__setattr__(self, "tol", float(self.tol))


@dataclass(frozen=True)
class Touch:
    """The level lies within [bid_px·(1−tol), ask_px·(1+tol)] on this row."""

    level: Level
    tol: float = 0.0

    def __post_init__(self) -> None:
        _finite("touch tol", self.tol, nonneg=True)
        object.__setattr__(self, "tol", float(self.tol))


@dataclass(frozen=True)
class Cross:
    """mid_px crosses the level between the previous row and this one."""

    level: Level
    direction: Direction = "any"

    def __post_init__(self) -> None:
        _direction(self.direction)


@dataclass(frozen=True)
class And:
    """Both sides have occurred (since arming; inside a WITHIN, close enough together)."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    """Either side has occurred."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Within:
    """The events that satisfy ``expr`` all happened within ``window_ms`` of now."""

    expr: Expr
    window_ms: int

    def __post_init__(self) -> None:
        if isinstance(self.window_ms, bool) or not isinstance(self.window_ms, int):
            raise TypeError(f"WITHIN window must be integer milliseconds, got {self.window_ms!r}")
        if self.window_ms <= 0:
            raise ValueError(f"WITHIN window must be > 0 ms, got {self.window_ms}")


Leaf: TypeAlias = Breakout | Retest | Touch | Cross
Expr: TypeAlias = Breakout | Retest | Touch | Cross | And | Or | Within


def leaves(expr: Expr) -> list[Leaf]:
    """The leaves in print order (the evaluator keeps one state per leaf)."""
    if isinstance(expr, (And, Or)):
        return leaves(expr.left) + leaves(expr.right)
    if isinstance(expr, Within):
        return leaves(expr.expr)
    return [expr]


def max_lookback(expr: Expr) -> int:
    """Rows of history the evaluator must keep for this expression."""
    return max([DEFAULT_LOOKBACK] + [x.lookback for x in leaves(expr) if isinstance(x, Breakout)])
