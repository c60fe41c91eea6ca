"""One engine that runs every grammar (state-machine) expert, in both forms: vectorised over
a coin-day (`run_grammar`) and as the per-row recursion written into a coin's step
(`grammar_flag`).

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. Each step function sits under its batch counterpart and reads the
same compiled Grammar (ops, windows, min_periods, lags, gaps, runs, hold);
tests/core/dsi/test_dsi_grammar.py::test_grammars_equal_annotate checks the two on the
registry's grammars and on random ones.

A grammar is data, not code: a list of states, each a conjunction of threshold conditions
on MicroTape columns (or on a few declared trailing derivations of them), a minimum run of
consecutive frames, and a gap window (in frames) after the previous state's completion in
which it must be entered. The engine turns each state into boolean arrays with shifts and
cumulative sums, so a whole coin-day is a handful of numpy passes and no per-frame Python.

Causality: every array at frame t is built from frames <= t (backward windows, prefix sums,
running maxima), so a flag at t never changes when later frames are appended or cut off.
docs/dsi.md gives the exact semantics.

The step: each state carries what the batch arrays read at row t: the run of rows its
conditions held on, the entries of that run's last `min_run` rows, the rows where the
previous state completed (for the gap window) and, for the last state, the row it last
completed (for `hold`). Each condition is one comparison in the step (the grammar is data,
so its code is written once per model). Derivations read the coin's shared windows, so a
grammar and the feature table push one rv_bps median, not two.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.dsi.windows import (
    PARTS,
    Extremes,
    Program,
    Window,
    lag,
    lit,
    read,
    step_lag,
    trailing,
)

_OPS: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "lt": (operator.lt, "<"), "le": (operator.le, "<="), "gt": (operator.gt, ">"),
    "ge": (operator.ge, ">="), "eq": (operator.eq, "=="), "ne": (operator.ne, "!="),
}
OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    k: f for k, (f, _) in _OPS.items()}
"""A condition's op: the batch's ufunc; SYMBOLS: the step's comparison (one table)."""
SYMBOLS = {k: sym for k, (_, sym) in _OPS.items()}
DERIVE_OPS = ("roll_median", "roll_max", "roll_min", "roll_mean", "roll_sum", "lag", "abs")


class GrammarSpecError(ValueError):
    """A grammar spec is malformed; the message names the key path."""


@dataclass(frozen=True)
class Condition:
    """`x op value * per` with x = col, |col| (`abs`) or side direction * col (`signed`);
    per is another column (or 1). A NaN on either side is False."""

    col: str
    op: str
    value: float
    per: str | None = None
    abs: bool = False
    sign: int = 1

    def mask(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        x = cols[self.col]
        if self.abs:
            x = np.abs(x)
        elif self.sign != 1:
            x = self.sign * x
        ref = self.value if self.per is None else self.value * cols[self.per]
        with np.errstate(invalid="ignore"):
            return np.asarray(OPS[self.op](x, ref), dtype=bool) & ~np.isnan(x + 0 * ref)

    def source(self, names: Mapping[str, Name]) -> str:
        """`mask` at one row, as an expression: `x op ref` and `x + 0 * ref` not NaN, i.e.
        x is not NaN and ref = value * per is finite. A constant that is not finite makes
        `x + 0 * value` NaN at every row: such a condition never holds."""
        x = _get(names, self.col)
        if self.abs:
            x = f"abs({x})"
        elif self.sign == -1:  # sign is +-1 (a side's direction)
            x = f"(-{x})"
        op = SYMBOLS[self.op]
        nan_ok = self.op == "ne"  # NaN != ref is True: the only op that needs the NaN test
        if self.per is None:
            if self.value - self.value != 0.0:
                return "False"
            test = f"{x} {op} {lit(self.value)}"
            return f"({x} == {x} and {test})" if nan_ok else f"({test})"
        ref = f"{lit(self.value)} * {_get(names, self.per)}"
        test = f"(_r := {ref}) - _r == 0.0 and {x} {op} _r"
        return f"({x} == {x} and {test})" if nan_ok else f"({test})"


@dataclass(frozen=True)
class State:
    """All conditions hold on `min_run` consecutive frames, entered `gap` frames after the
    previous state completed (gap = [min, max], inclusive; ignored for the first state)."""

    name: str
    conditions: tuple[Condition, ...]
    min_run: int = 1
    gap: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Derive:
    """A trailing per-coin derivation (frames <= t only), usable as a column."""

    name: str
    op: str
    col: str
    window: int = 1
    min_periods: int = 1

    @property
    def how(self) -> str:
        """A roll_* op's `trailing` statistic (mean, sum, median, max, min)."""
        return self.op.removeprefix("roll_")


@dataclass(frozen=True)
class Side:
    """One direction of a grammar: `vars` fill `{name}` placeholders in the spec."""

    direction: int
    vars: Mapping[str, str]


@dataclass(frozen=True)
class Grammar:
    """A compiled grammar: one state machine per side, sharing derivations."""

    derive: tuple[Derive, ...]
    machines: tuple[tuple[int, tuple[State, ...]], ...]
    hold: str | int

    def columns(self) -> set[str]:
        """MicroTape columns the grammar reads (derived names excluded)."""
        derived = {d.name for d in self.derive}
        used = {d.col for d in self.derive}
        for _, states in self.machines:
            for s in states:
                for c in s.conditions:
                    used.add(c.col)
                    if c.per:
                        used.add(c.per)
        return used - derived


def compile_grammar(spec: Mapping[str, Any], where: str = "spec") -> Grammar:
    """Validate a declarative spec (see experts.yaml) and compile it; errors name the key."""
    if not isinstance(spec, Mapping):
        raise GrammarSpecError(f"{where}: must be a mapping")
    unknown = set(spec) - {"sides", "derive", "states", "emit"}
    if unknown:
        raise GrammarSpecError(f"{where}: unknown key(s) {sorted(unknown)}")
    sides = _sides(spec.get("sides"), f"{where}.sides")
    derive = tuple(_derive(name, d, f"{where}.derive.{name}")
                   for name, d in (spec.get("derive") or {}).items())
    raw_states = spec.get("states")
    if not isinstance(raw_states, list) or not raw_states:
        raise GrammarSpecError(f"{where}.states: must be a non-empty list")
    machines = tuple(
        (side.direction,
         tuple(_state(s, side, f"{where}.states[{i}]") for i, s in enumerate(raw_states)))
        for side in sides)
    hold = (spec.get("emit") or {}).get("hold", "while_true")
    if not (hold == "while_true" or (isinstance(hold, int) and hold >= 1)):
        raise GrammarSpecError(f"{where}.emit.hold: must be 'while_true' or an int >= 1")
    return Grammar(derive=derive, machines=machines, hold=hold)


def _sides(raw: Any, where: str) -> tuple[Side, ...]:
    if raw is None:
        return (Side(direction=0, vars={}),)
    if not isinstance(raw, list) or not raw:
        raise GrammarSpecError(f"{where}: must be a non-empty list")
    out = []
    for i, s in enumerate(raw):
        d = s.get("direction") if isinstance(s, Mapping) else None
        if d not in (-1, 0, 1):
            raise GrammarSpecError(f"{where}[{i}].direction: must be -1, 0 or 1")
        out.append(Side(direction=d, vars={k: str(v) for k, v in (s.get("vars") or {}).items()}))
    return tuple(out)


def _derive(name: str, d: Any, where: str) -> Derive:
    if not isinstance(d, Mapping) or d.get("op") not in DERIVE_OPS:
        raise GrammarSpecError(f"{where}.op: must be one of {', '.join(DERIVE_OPS)}")
    if not isinstance(d.get("col"), str):
        raise GrammarSpecError(f"{where}.col: must be a column name")
    window, min_periods = int(d.get("window", 1)), int(d.get("min_periods", 1))
    if window < 1 or not 1 <= min_periods <= window:
        raise GrammarSpecError(f"{where}.window: need window >= min_periods >= 1")
    return Derive(name=name, op=d["op"], col=d["col"], window=window, min_periods=min_periods)


def _fill(text: Any, side: Side) -> Any:
    return text.format(**side.vars, dir=side.direction) if isinstance(text, str) else text


def _state(raw: Any, side: Side, where: str) -> State:
    if not isinstance(raw, Mapping):
        raise GrammarSpecError(f"{where}: must be a mapping")
    conds = raw.get("all")
    if not isinstance(conds, list) or not conds:
        raise GrammarSpecError(f"{where}.all: must be a non-empty list of conditions")
    out = []
    for j, c in enumerate(conds):
        cw = f"{where}.all[{j}]"
        if not isinstance(c, Mapping) or c.get("op") not in OPS:
            raise GrammarSpecError(f"{cw}.op: must be one of {', '.join(OPS)}")
        try:
            value = float(_fill(c.get("value"), side))
        except (TypeError, ValueError) as exc:
            raise GrammarSpecError(f"{cw}.value: must be a number") from exc
        per = _fill(c.get("per"), side)
        signed = bool(c.get("signed"))
        if signed and side.direction == 0:
            raise GrammarSpecError(f"{cw}.signed: needs sides with a direction of +1 or -1")
        out.append(Condition(col=str(_fill(c.get("col"), side)), op=c["op"], value=value,
                             per=None if per is None else str(per), abs=bool(c.get("abs")),
                             sign=side.direction if signed else 1))
    gap = tuple(int(g) for g in raw.get("gap", (1, 1)))
    if len(gap) != 2 or not 1 <= gap[0] <= gap[1]:
        raise GrammarSpecError(f"{where}.gap: must be [min, max] frames with 1 <= min <= max")
    min_run = int(raw.get("min_run", 1))
    if min_run < 1:
        raise GrammarSpecError(f"{where}.min_run: must be >= 1")
    return State(name=str(raw.get("name", where)), conditions=tuple(out), min_run=min_run,
                 gap=(gap[0], gap[1]))


# ---------------------------------------------------------------- evaluation: each batch
# function, then its per-row form (source written into the coin's step)


def _shift(x: np.ndarray, k: int, fill: Any) -> np.ndarray:
    """x delayed by k >= 0 frames (out[t] = x[t - k])."""
    if k == 0:
        return x
    out = np.full_like(x, fill)
    if k < len(x):
        out[k:] = x[:-k]
    return out


def run_length(c: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each frame (0 where False)."""
    idx = np.arange(len(c))
    last_false = np.maximum.accumulate(np.where(c, -1, idx))
    return np.where(c, idx - last_false, 0)


def any_in_window(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """out[t] = any(x[t - hi .. t - lo]) for 0 <= lo <= hi: a backward window."""
    cs = np.concatenate(([0], np.cumsum(x, dtype=np.int64)))
    n = len(x)
    t = np.arange(n)
    end = np.clip(t - lo + 1, 0, n)  # exclusive
    start = np.clip(t - hi, 0, n)
    return (cs[end] - cs[start]) > 0


def _derived_columns(derive: tuple[Derive, ...], cols: dict[str, np.ndarray]) -> None:
    for d in derive:
        x = cols[d.col]
        if d.op == "lag":
            cols[d.name] = lag(x, d.window)
        elif d.op == "abs":
            cols[d.name] = np.abs(x)
        else:
            cols[d.name] = trailing(x, d.window, d.how, d.min_periods)


Name = str | Callable[[], str]
"""A column's value in the step: a name, or (a window's read) a function that writes the
read where it is first needed and returns its name."""


def _get(names: Mapping[str, Name], col: str) -> str:
    n = names[col]
    return n if isinstance(n, str) else n()


def _derive_step(prog: Program, g: Grammar, cols: Mapping[str, str]) -> dict[str, Name]:
    """_derived_columns at one row: the inputs' names, then each derivation's (in spec
    order). A lag or a window pushes every row; a window's read is written only where a
    condition needs it (a read has no state, so a row whose earlier conditions fail skips
    it)."""
    names: dict[str, Name] = dict(cols)
    derived = {d.name for d in g.derive}
    for d in g.derive:
        if d.col not in names:
            raise ValueError(f"grammar derive {d.name!r}: column {d.col!r} is not known yet")
        if d.op == "abs":
            out = prog.name(d.name)
            prog.add(f"{out} = abs({_get(names, d.col)})")
            names[d.name] = out
        elif d.op == "lag":
            names[d.name] = step_lag(prog, _get(names, d.col), d.window)
        else:
            kind = PARTS[d.how]
            win: Window
            if d.col in derived:  # a window over a derived column: the grammar's own
                win = kind(prog, d.window)
                if isinstance(win, Extremes):
                    win.track(high=d.how == "max", low=d.how == "min")
                win.push(_get(names, d.col))
            else:
                win = prog.shared(kind, d.col, _get(names, d.col), d.window)
            names[d.name] = partial(read, win, d.how, d.min_periods)
    return names


def run_machine(states: tuple[State, ...], cols: Mapping[str, np.ndarray],
                hold: str | int) -> np.ndarray:
    """Boolean flag per frame of one side's state machine over one coin's frames."""
    done: np.ndarray | None = None
    c = np.zeros(0, dtype=bool)
    for st in states:
        c = np.logical_and.reduce([cond.mask(cols) for cond in st.conditions])
        entry = c if done is None else c & any_in_window(done, st.gap[0], st.gap[1])
        # completed at t: entered at t - L + 1 and the conditions held on the L frames since
        done = _shift(entry, st.min_run - 1, False) & (run_length(c) >= st.min_run)
    assert done is not None
    if hold == "while_true":
        idx = np.arange(len(c))
        last_done = np.maximum.accumulate(np.where(done, idx, -1))
        run_start = idx - run_length(c) + 1
        return c & (last_done >= run_start)
    return any_in_window(done, 0, int(hold) - 1)


def _holds(prog: Program, conds: tuple[Condition, ...], names: Mapping[str, Name],
           out: str) -> None:
    """np.logical_and.reduce of the masks at one row: set `out` to whether every condition
    holds, the ones on plain names first, each one reading a window nested under the ones
    before it."""
    def lazy(c: Condition) -> bool:
        return any(not isinstance(names[n], str) for n in (c.col, c.per) if n is not None)

    prog.add(f"{out} = False")
    with ExitStack() as nest:
        chain: list[str] = []
        for c in sorted(conds, key=lazy):
            if chain and lazy(c):
                nest.enter_context(prog.block("if " + " and ".join(chain)))
                chain = []
            chain.append(c.source(names))
        nest.enter_context(prog.block("if " + " and ".join(chain)))
        prog.add(f"{out} = True")


def _machine_step(prog: Program, states: tuple[State, ...], hold: str | int,
                  names: Mapping[str, Name]) -> str:
    """run_machine at row t, as source; the name of its flag. At row t, state k completes
    when its conditions held on the min_run rows since it was entered (done = entry[t - L +
    1] and run >= L); it is entered where its conditions hold and (k > 0) state k-1
    completed within rows [t - hi, t - lo]. The flag: `hold` rows after the last state
    completed, or (while_true) for the rest of that state's run."""
    t = prog.row
    prev: str | None = None  # the rows where the previous state completed, still in reach
    c = done = run = ""
    for k, st in enumerate(states):
        last = k + 1 == len(states)
        c, done = prog.name(f"c{k}"), prog.name(f"done{k}")
        run = prog.var(f"run{k}", "0") if prev is None or (last and hold == "while_true") else ""
        if prev is not None:
            prog.add("while {prev} and {prev}[0] < {t} - {hi}:\n    {prev}.popleft()",
                     prev=prev, t=t, hi=st.gap[1])
        _holds(prog, st.conditions, names, c)
        with prog.block("if {c}", c=c):
            if run:
                prog.add(f"{run} += 1")
            if prev is None:  # the first state: entered at every row its conditions hold
                prog.add(f"{done} = {run} >= {st.min_run}")
            else:
                entry = f"({prev}[0] <= {t} - {st.gap[0]} if {prev} else False)"
                if st.min_run == 1:
                    prog.add(f"{done} = {entry}")
                else:
                    entries = prog.var(f"entries{k}", f"deque(maxlen={st.min_run})")
                    prog.add(f"{entries}.append({entry})\n"
                             f"{done} = len({entries}) == {st.min_run} and {entries}[0]")
        with prog.block("else"):
            if run:
                prog.add(f"{run} = 0")
            if prev is not None and st.min_run > 1:
                prog.add(f"{entries}.clear()")
            prog.add(f"{done} = False")
        if not last:
            prev = prog.var(f"done_rows{k}", "deque()")
            prog.add(f"if {done}:\n    {prev}.append({t})")
    last_done, flag = prog.var("last_done", "-1"), prog.name("hit")
    prog.add(f"if {done}:\n    {last_done} = {t}")
    if hold == "while_true":
        prog.add(f"{flag} = {c} and {last_done} > {t} - {run}")
    else:
        prog.add(f"{flag} = {last_done} >= 0 and {t} - {last_done} < {int(hold)}")
    return flag


def run_grammar(g: Grammar, frames: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(flag int8, direction int8) per frame; frames sorted by (coin, ts_ms)."""
    n = len(frames)
    flag = np.zeros(n, dtype=np.int8)
    direction = np.zeros(n, dtype=np.int8)
    data = {c: frames[c].to_numpy(dtype="float64") for c in sorted(g.columns())}
    for lo, hi in coin_slices(frames):
        cols = {c: x[lo:hi] for c, x in data.items()}
        _derived_columns(g.derive, cols)
        up = np.zeros(hi - lo, dtype=bool)
        dn = np.zeros(hi - lo, dtype=bool)
        for d, states in g.machines:
            hit = run_machine(states, cols, g.hold)
            if d >= 0:
                up |= hit
            if d <= 0:
                dn |= hit
        flag[lo:hi] = up | dn
        direction[lo:hi] = up.astype(np.int8) - dn.astype(np.int8)
    return flag, direction


def grammar_flag(prog: Program, g: Grammar, cols: Mapping[str, str]) -> str:
    """run_grammar's flag at one row of one coin, written into its step; the name of the
    flag (0 or 1). `cols` names the input columns' values. Every side's machine steps every
    row (the direction is not needed: the flag is what fusion reads)."""
    names = _derive_step(prog, g, cols)
    hits = [_machine_step(prog, states, g.hold, names) for _, states in g.machines]
    flag = prog.name("flag")
    prog.add(f"{flag} = 1 if {' or '.join(hits)} else 0")
    return flag


def coin_slices(frames: pd.DataFrame) -> list[tuple[int, int]]:
    """[lo, hi) row ranges of each coin (rows are sorted by coin, then ts_ms)."""
    if len(frames) == 0:
        return []
    coin = frames["coin"].to_numpy(dtype=object)
    cut = np.flatnonzero(coin[1:] != coin[:-1]) + 1
    edges = np.concatenate(([0], cut, [len(coin)]))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
