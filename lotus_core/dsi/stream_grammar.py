"""One coin's grammar expert, row by row: the per-row recursion of grammar.run_grammar.

The batch engine builds each state's arrays with shifts and prefix sums; here each state
carries what those arrays read at row t: the run of rows its conditions held on, the
entries of that run's last `min_run` rows, the rows where the previous state completed
(for the gap window) and, for the last state, the row it last completed (for `hold`).
Derivations read the coin's shared windows (stream_windows), so a grammar and the feature
table push one rv_bps median, not two. tests/core/live/test_stream_dsi.py checks it
against `annotate` on the registry's grammars and on random ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

from lotus_core.dsi.grammar import OPS, Condition, Grammar, State
from lotus_core.dsi.stream_windows import Kahan, Lag, Median, Window, Windows, window

Cond = tuple[str, Callable[[float, float], bool], float, str | None, int]


def _never(_x: float, _ref: float) -> bool:
    return False


def _cond(c: Condition) -> Cond:
    """(column, op, value, per column, 0 | 1 for -x | 2 for |x|). A constant that is not
    finite makes `x + 0 * value` NaN at every row: such a condition never holds."""
    mode = 2 if c.abs else 1 if c.sign == -1 else 0
    op = cast(Callable[[float, float], bool], OPS[c.op])
    if c.per is None and c.value - c.value != 0.0:
        op = _never
    return (c.col, op, c.value, c.per, mode)


def holds(conds: tuple[Cond, ...], cols: Mapping[str, float]) -> bool:
    """Condition.mask of every condition at one row: the comparison, and `x + 0 * ref` not
    NaN, i.e. x is not NaN and ref = value * per is finite."""
    for col, op, value, per, mode in conds:
        x = cols[col]
        if mode:
            x = abs(x) if mode == 2 else -x
        if per is None:
            if x != x or not op(x, value):
                return False
        else:
            ref = value * cols[per]
            if x != x or ref - ref != 0.0 or not op(x, ref):
                return False
    return True


class _State:
    """One state: its conditions, the run of rows they held on, the entries of that run's
    last min_run rows (older ones, or any before the run, never decide a completion),
    and (when a next state exists) the rows where it completed, for that state's gap."""

    __slots__ = ("conds", "done_rows", "entries", "hi", "lo", "min_run", "run")

    def __init__(self, st: State, last: bool) -> None:
        self.conds = tuple(_cond(c) for c in st.conditions)
        self.min_run = st.min_run
        self.lo, self.hi = st.gap
        self.run = 0
        self.entries: deque[bool] = deque(maxlen=st.min_run)
        self.done_rows: deque[int] | None = None if last else deque()


class _Machine:
    """run_machine for one side, one row at a time. At row t, state k completes when its
    conditions held on the min_run rows since it was entered (done = entry[t - L + 1] and
    run >= L); it is entered where its conditions hold and (k > 0) state k-1 completed
    within rows [t - hi, t - lo]. The flag: `hold` rows after the last state completed,
    or (while_true) for the rest of that state's run."""

    __slots__ = ("hold", "last_done", "states")

    def __init__(self, states: tuple[State, ...], hold: str | int) -> None:
        self.states = [_State(st, k + 1 == len(states)) for k, st in enumerate(states)]
        self.hold = -1 if hold == "while_true" else int(hold)
        self.last_done = -1

    def step(self, t: int, cols: Mapping[str, float]) -> bool:
        prev: deque[int] | None = None
        c = done = False
        for st in self.states:
            if prev is not None:  # the previous state's completions still within reach
                gone = t - st.hi
                while prev and prev[0] < gone:
                    prev.popleft()
            c = holds(st.conds, cols)
            if c:
                st.run += 1
                entries = st.entries
                entries.append(prev is None or (bool(prev) and prev[0] <= t - st.lo))
                done = len(entries) == st.min_run and entries[0]
            else:
                st.run = 0
                if st.entries:
                    st.entries.clear()
                done = False
            prev = st.done_rows
            if done and prev is not None:
                prev.append(t)
        if done:
            self.last_done = t
        if self.hold < 0:
            return c and self.last_done > t - self.states[-1].run
        return self.last_done >= 0 and t - self.last_done < self.hold


_KIND = {"roll_mean": "kahan", "roll_sum": "kahan", "roll_median": "median",
         "roll_max": "extremes", "roll_min": "extremes"}


def _reader(w: Window, op: str) -> Callable[[int], float]:
    """The statistic `op` of window `w`, as a function of min_periods."""
    if isinstance(w, Kahan):
        return w.mean if op == "roll_mean" else w.total
    if isinstance(w, Median):
        return w.median
    if op == "roll_max":
        w.track(high=True)
        return w.high
    w.track(low=True)
    return w.low


class GrammarStream:
    """One coin's (flag, direction) per row of a compiled grammar.

    `windows` is the coin's table of windows over MicroTape columns, keyed (kind, column,
    size) and shared with other readers; the caller pushes each once a row, before
    `push`. A derivation over another derivation gets a private window, pushed here.
    """

    def __init__(self, g: Grammar, windows: Windows) -> None:
        derived = {d.name for d in g.derive}
        # (name, input column, how, function, min_periods); how: 0 read a shared window,
        # 1 a function of the input (lag, abs), 2 push a private window and read it
        self._derive: list[tuple[str, str, int, Any, int]] = []
        for d in g.derive:
            if d.op == "abs":
                self._derive.append((d.name, d.col, 1, abs, 0))
            elif d.op == "lag":
                self._derive.append((d.name, d.col, 1, Lag(d.window).push, 0))
            elif d.col in derived:
                own = window({}, _KIND[d.op], d.col, d.window)
                self._derive.append((d.name, d.col, 2, (own.push, _reader(own, d.op)),
                                     d.min_periods))
            else:
                shared = window(windows, _KIND[d.op], d.col, d.window)
                self._derive.append((d.name, d.col, 0, _reader(shared, d.op), d.min_periods))
        self._machines = [(d, _Machine(states, g.hold)) for d, states in g.machines]
        self._t = -1

    def push(self, row: Mapping[str, float]) -> tuple[int, int]:
        self._t = t = self._t + 1
        cols = dict(row)
        for name, col, how, fn, mp in self._derive:
            if how == 0:
                cols[name] = fn(mp)
            elif how == 1:
                cols[name] = fn(cols[col])
            else:
                fn[0](cols[col])
                cols[name] = fn[1](mp)
        up = dn = False
        for d, m in self._machines:
            hit = m.step(t, cols)
            if d >= 0:
                up = up or hit
            if d <= 0:
                dn = dn or hit
        return int(up or dn), int(up) - int(dn)
