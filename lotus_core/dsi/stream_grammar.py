"""One coin's grammar expert, row by row: the per-row recursion of grammar.run_grammar,
written as source into the coin's step (stream_windows.Program).

The batch engine builds each state's arrays with shifts and prefix sums; here each state
carries what those arrays read at row t: the run of rows its conditions held on, the
entries of that run's last `min_run` rows, the rows where the previous state completed
(for the gap window) and, for the last state, the row it last completed (for `hold`).
Each condition is one comparison in the step (the grammar is data, so its code is written
once per model). Derivations read the coin's shared windows, so a grammar and the feature
table push one rv_bps median, not two. tests/core/live/test_stream_dsi.py checks it
against `annotate` on the registry's grammars and on random ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from functools import partial

from lotus_core.dsi.grammar import Condition, Grammar, State
from lotus_core.dsi.stream_windows import Extremes, Kahan, Median, Program, Window, lag, lit

_SYMBOL = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_KIND: dict[str, type[Window]] = {"roll_mean": Kahan, "roll_sum": Kahan, "roll_median": Median,
                                  "roll_max": Extremes, "roll_min": Extremes}


Name = str | Callable[[], str]
"""A column's value: a name, or (a window's read) a function that writes the read where
it is first needed and returns its name."""


def _get(names: Mapping[str, Name], col: str) -> str:
    n = names[col]
    return n if isinstance(n, str) else n()


def condition(c: Condition, names: Mapping[str, Name]) -> str:
    """Condition.mask at one row, as an expression: `x op ref` and `x + 0 * ref` not NaN,
    i.e. x is not NaN and ref = value * per is finite. A constant that is not finite makes
    `x + 0 * value` NaN at every row: such a condition never holds."""
    x = _get(names, c.col)
    if c.abs:
        x = f"abs({x})"
    elif c.sign == -1:
        x = f"(-{x})"
    op = _SYMBOL[c.op]
    nan_ok = c.op == "ne"  # NaN != ref is True: the only op that needs the NaN test
    if c.per is None:
        if c.value - c.value != 0.0:
            return "False"
        test = f"{x} {op} {lit(c.value)}"
        return f"({x} == {x} and {test})" if nan_ok else f"({test})"
    ref = f"{lit(c.value)} * {_get(names, c.per)}"
    test = f"(_r := {ref}) - _r == 0.0 and {x} {op} _r"
    return f"({x} == {x} and {test})" if nan_ok else f"({test})"


def _derive(prog: Program, g: Grammar, cols: Mapping[str, str]) -> dict[str, Name]:
    """The grammar's columns: the inputs', then each derivation's (in spec order). A lag
    or a window pushes every row; a window's read is written only where a condition
    needs it (a read has no state, so a row whose earlier conditions fail skips it)."""
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
            names[d.name] = lag(prog, _get(names, d.col), d.window)
        else:
            kind = _KIND[d.op]
            if d.col in derived:  # a window over a derived column: the grammar's own
                win = kind(prog, d.window)
                if isinstance(win, Extremes):
                    win.track(high=d.op == "roll_max", low=d.op == "roll_min")
                win.push(_get(names, d.col))
            else:
                win = prog.shared(kind, d.col, _get(names, d.col), d.window)
            names[d.name] = partial(_read, win, d.op, d.min_periods)
    return names


def _read(win: Window, op: str, minp: int) -> str:
    if isinstance(win, Kahan):
        return win.mean(minp) if op == "roll_mean" else win.total(minp)
    if isinstance(win, Median):
        return win.median(minp)
    return win.high(minp) if op == "roll_max" else win.low(minp)


def _holds(prog: Program, conds: tuple[Condition, ...], names: Mapping[str, Name],
           out: str) -> None:
    """Set `out` to whether every condition holds: the ones on plain names first, each
    one reading a window nested under the ones before it."""
    def lazy(c: Condition) -> bool:
        return any(not isinstance(names[n], str) for n in (c.col, c.per) if n is not None)

    prog.add(f"{out} = False")
    with ExitStack() as nest:
        chain: list[str] = []
        for c in sorted(conds, key=lazy):
            if chain and lazy(c):
                nest.enter_context(prog.block("if " + " and ".join(chain)))
                chain = []
            chain.append(condition(c, names))
        nest.enter_context(prog.block("if " + " and ".join(chain)))
        prog.add(f"{out} = True")


def _machine(prog: Program, states: tuple[State, ...], hold: str | int,
             names: Mapping[str, Name]) -> str:
    """run_machine for one side at row t, as source; the name of its flag. At row t, state
    k completes when its conditions held on the min_run rows since it was entered (done =
    entry[t - L + 1] and run >= L); it is entered where its conditions hold and (k > 0)
    state k-1 completed within rows [t - hi, t - lo]. The flag: `hold` rows after the last
    state completed, or (while_true) for the rest of that state's run."""
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


def grammar_flag(prog: Program, g: Grammar, cols: Mapping[str, str]) -> str:
    """Write one grammar expert's step; the name of its flag (0 or 1) at the row. `cols`
    names the input columns' values. Every side's machine steps every row."""
    names = _derive(prog, g, cols)
    hits = [_machine(prog, states, g.hold, names) for _, states in g.machines]
    flag = prog.name("flag")
    prog.add(f"{flag} = 1 if {' or '.join(hits)} else 0")
    return flag
