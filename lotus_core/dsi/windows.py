"""The DSI stage's trailing windows in both forms: the batch helpers the feature table,
the grammars and the divergence expert call on a whole coin-day (`trailing`, `lag`: pandas
rolling and shift), and their per-row parts, written as source into a coin's step.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. Each batch helper has its part beside it, reading the same window,
min_periods and lag:

    trailing(x, w, "mean"/"sum", mp)   Kahan(w).mean(mp) / .total(mp)   (pandas' Kahan sums)
    trailing(x, w, "median", mp)       Median(w).median(mp)             (sorted list + bisect)
    trailing(x, w, "max"/"min", mp)    Extremes(w).high(mp) / .low(mp)  (monotonic deques)
    lag(x, k)                          step_lag(prog, x, k)             (NaN for k rows)
    filters.ewm_by_position            ewm_by_position_step             (a NaN row ages it)

Why a step is generated source (`Program`): a coin step is one Python function; each part
writes its per-row update as lines into it and keeps its state in the function's closure, so
a row costs straight-line arithmetic on local names, not a method call and attribute lookups
per window (most of the time a per-row form spends in CPython).

Exactness, not just closeness: the grammar and divergence experts compare these values with
thresholds, so each part repeats the pinned pandas' own arithmetic (window/aggregations.pyx)
in the same order, quirks included (the run of equal values in a rolling mean, the weight
rule at com == 1). Like pandas' rolling and ewm (`_prep_values`), +-inf inputs count as
missing. tests/core/dsi/test_dsi.py::test_window_parts_equal_pandas compiles each part alone
(`probe`) and checks it against pandas on random series with NaN, inf and constant runs.
"""

from __future__ import annotations

import keyword
import math
import re
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from math import copysign, exp, inf, log, log1p
from operator import itemgetter
from textwrap import dedent, indent
from typing import Any, TypeVar

import numpy as np
import pandas as pd

# ---------------------------------------------------------------- the step builder

NAN = float("nan")


def com_of(span: float | None = None, alpha: float | None = None) -> float:
    """pandas' centre of mass for `ewm(span=...)` or `ewm(alpha=...)` (get_center_of_mass)."""
    if span is not None:
        return float((span - 1) / 2)
    if alpha is None:
        raise ValueError("ewm: need span or alpha")
    return float((1 - alpha) / alpha)


def lit(x: float) -> str:
    """A float as source: repr round-trips every double; inf and NaN are names in scope."""
    x = float(x)
    if x != x:
        return "NAN"
    if x - x != 0.0:
        return "inf" if x > 0 else "(-inf)"
    return f"({x!r})" if x < 0 or (x == 0.0 and copysign(1.0, x) < 0) else repr(x)


_RESERVED = {"make", "step", "row", "coin", "ts", "x", "v", "vals",
             "_o", "_y", "_t", "_g", "_n", "_m", "_q", "_r"}
"""The step's parameters and the parts' scratch names (each part's own, line to line)."""


def _nan_to_num(x: float) -> float:
    """np.nan_to_num of one value."""
    if x - x == 0.0:
        return x
    return 0.0 if x != x else (1.7976931348623157e308 if x > 0 else -1.7976931348623157e308)


def _div(a: float, b: float) -> float:
    """a / b with numpy's answer at b == 0 (inf, or NaN for 0 / 0)."""
    if b != 0.0:
        return a / b
    return NAN if a == 0.0 or a != a else math.copysign(math.inf, a) * math.copysign(1.0, b)


def _log1p(x: float) -> float:
    """np.log1p of one value (numpy's loop, as the batch features: libm's math.log1p
    differs in the last bit on some CPUs): -inf at -1, NaN below."""
    if x > -1.0:
        return float(_NP_LOG1P(x))
    return -math.inf if x == -1.0 else NAN


_NP_LOG1P = np.log1p


def clip_step(x: str, lo: float, hi: float) -> str:
    """np.clip(x, lo, hi) at the row, as an expression: NaN stays NaN."""
    return f"({lit(lo)} if {x} < {lit(lo)} else {lit(hi)} if {x} > {lit(hi)} else {x})"


def expit_source(out: str, x: str) -> str:
    """Step source setting `out` to scipy's expit(x), bit for bit."""
    return (f"try:  # scipy's expit, bit for bit\n    {out} = 1.0 / (1.0 + exp(-{x}))\n"
            f"except OverflowError:\n    {out} = 0.0")


SCOPE_CONSTANTS: dict[str, float] = {"NAN": NAN, "inf": inf}
"""The names `lit` writes for NaN and inf: in the scope of any code that uses `lit`."""
_SCOPE: dict[str, Any] = {**SCOPE_CONSTANTS, "deque": deque, "copysign": copysign,
                          "bisect_left": bisect_left, "bisect_right": bisect_right,
                          "insort": insort, "exp": exp, "log": log,
                          "log1p": log1p, "NTN": _nan_to_num, "DIV": _div, "LOG1P": _log1p}
"""What every generated step can name (NTN, DIV, LOG1P: numpy's rules for one value)."""


W = TypeVar("W", "Kahan", "Median", "Extremes")


class Program:
    """One coin's per-row step as source, built from parts and compiled once.

    `build()` returns `make`; each `make()` is a fresh coin's `step`, its state (every
    `var`) kept from row to row. Parts write the step body with `add` (at the indentation of the
    enclosing `block`s), name scratch values with `name`, constants with `const`, and
    memoise reads with `memo` (a read made inside a block is not visible after it). A
    window over an input column is made once by `shared` and pushed at the top of the
    step, before every reader.
    """

    def __init__(self) -> None:
        self.scope: dict[str, Any] = dict(_SCOPE)
        self.state: dict[str, str] = {}
        self.head: list[str] = []
        self.body: list[str] = []
        self._out = self.body
        self._depth = 1
        self._memo: list[dict[Any, str]] = [{}]
        self._shared: dict[tuple[str, str, int], tuple[Any, str]] = {}
        self._runs: dict[str, tuple[str, str]] = {}  # input column -> its Kahans' run
        self._taken = set(self.scope) | set(keyword.kwlist) | _RESERVED
        self.row = self.var("t", "-1")  # the coin's row number, counted at the top of step

    def name(self, hint: str) -> str:
        """A new local name (scratch values of the step)."""
        base = re.sub(r"\W", "_", hint) or "v"
        if base[0].isdigit():
            base = "_" + base
        n, i = base, 1
        while n in self._taken:
            n, i = f"{base}_{i}", i + 1
        self._taken.add(n)
        return n

    def var(self, hint: str, init: str) -> str:
        """A new state name, set to the source `init` in each coin's `make()`."""
        n = self.name(hint)
        self.state[n] = init
        return n

    def const(self, hint: str, value: Any) -> str:
        """A new module-level name bound to `value` (shared by every coin)."""
        n = self.name(hint)
        self.scope[n] = value
        return n

    def add(self, src: str, **names: Any) -> None:
        """Append `src` (dedented, then formatted with `names`) at the current indentation."""
        text = dedent(src).strip("\n")
        if names:
            text = text.format(**names)
        self._out.append(indent(text, "    " * self._depth))

    @contextmanager
    def block(self, header: str, **names: Any) -> Iterator[None]:
        """`header:` then the lines added inside the `with`, indented under it."""
        self.add(header + ":", **names)
        self._depth += 1
        self._memo.append({})
        try:
            yield
        finally:
            self._memo.pop()
            self._depth -= 1

    def memo(self, key: Any, make: Callable[[], str]) -> str:
        """The name `make()` computed for `key` in this block or an enclosing one."""
        for layer in self._memo:
            if key in layer:
                return layer[key]
        n = self._memo[-1][key] = make()
        return n

    def shared(self, kind: type[W], col: str, x: str, size: int) -> W:
        """The coin's `kind` window of `size` rows over input column `col` (held in `x`):
        one per (kind, col, size), however many parts read it."""
        key = (kind.__name__, col, size)
        if key not in self._shared:
            if kind is Kahan:  # one run per column, its windows pushed together
                if col not in self._runs:
                    self._runs[col] = Kahan.run(self)
                self._shared[key] = (Kahan(self, size, self._runs[col]), x)
            else:
                self._shared[key] = (kind(self, size), x)
        win: W = self._shared[key][0]
        return win

    def build(self, params: str, result: str, prologue: str = "", label: str = "step"
              ) -> Callable[[], Callable[[Any], Any]]:
        """Compile `make()`; each call is a fresh coin's `step(params)`, which counts the
        row, runs `prologue` (reading the inputs), pushes the shared windows, runs the body
        and returns `result`.

        The step is a generator's `send`: its state lives in the generator's local names,
        the fastest names CPython has (a closure's cells cost ~8% more per row). An error
        inside the step ends it (later sends raise StopIteration)."""
        self._out, depth = self.head, self._depth
        self._depth = 2
        self.head.clear()
        self.add(f"{self.row} += 1")
        if prologue:
            self.add(prologue)
        kahans: dict[str, list[Kahan]] = {}
        for win, x in self._shared.values():
            if not win.read:  # a window no part reads (a derivation no condition uses)
                continue
            if isinstance(win, Kahan):
                kahans.setdefault(x, []).append(win)
            else:
                win.push(x)
        for x, wins in kahans.items():
            push_kahans(self, x, wins)
        self._out, self._depth = self.body, depth
        lines = ["def make():"]
        lines += [f"    {n} = {init}" for n, init in self.state.items()]
        lines += [f"    {params} = yield", "    while True:"]
        lines += ["    " + line.replace("\n", "\n    ") for line in self.body]
        lines.insert(len(lines) - len(self.body), "\n".join(self.head))
        lines.append(f"        {params} = yield {result}")
        self.source = "\n".join(lines)
        exec(compile(self.source, f"<{label}>", "exec"), self.scope)
        gen: Callable[[], Any] = self.scope["make"]

        def make() -> Callable[[Any], Any]:
            g = gen()
            next(g)
            send: Callable[[Any], Any] = g.send
            return send

        return make


class Inputs(Mapping[str, str]):
    """The MicroTape columns a step reads, each as a float in a local name."""

    def __init__(self, prog: Program) -> None:
        self.p = prog
        self.names: dict[str, str] = {}

    def __getitem__(self, col: str) -> str:
        if col not in self.names:
            self.names[col] = self.p.name("c_" + col)
        return self.names[col]

    def __iter__(self) -> Any:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def prologue(self) -> str:
        """The step's first line: unpack the row's values (`picker`'s, as floats)."""
        names = list(self.names.values())
        return f"{', '.join(names)}, = vals" if names else ""

    def picker(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """row -> its columns' values, in prologue's order (the caller makes them floats,
        outside the step, so a bad row leaves the step's state as it was)."""
        cols = list(self.names)
        if len(cols) > 1:
            return itemgetter(*cols)
        return lambda row: tuple(row[c] for c in cols)


# ---------------------------------------------------------------- the windows: each batch
# helper, then its per-row parts


def trailing(x: np.ndarray, window: int, how: str, min_periods: int = 1) -> np.ndarray:
    """A trailing window statistic (frames t - window + 1 .. t); per row: PARTS[how]."""
    roll = pd.Series(x, dtype="float64").rolling(window, min_periods=min_periods)
    return getattr(roll, how)().to_numpy()


class Kahan:
    """roll_mean / roll_sum of a fixed trailing window: pandas' Kahan add and remove
    (separate compensations), its sign count and its run of equal values (a window of one
    repeated value returns exactly that value). The buffer starts full of NaN, so the
    first rows remove nothing, as in pandas. Windows of one input share its run of equal
    values (`run`: the same for every window size) and are pushed together
    (`push_kahans`)."""

    def __init__(self, prog: Program, size: int, run: tuple[str, str] | None = None) -> None:
        self.p = prog
        self.read = False
        k = f"k{size}"
        same, prev = run or Kahan.run(prog)
        self.names = {
            "buf": prog.var(f"{k}_buf", f"deque([NAN] * {size}, maxlen={size})"),
            "nobs": prog.var(f"{k}_nobs", "0"), "s": prog.var(f"{k}_sum", "0.0"),
            "ca": prog.var(f"{k}_ca", "0.0"), "cr": prog.var(f"{k}_cr", "0.0"),
            "neg": prog.var(f"{k}_neg", "0"), "same": same, "prev": prev}

    @staticmethod
    def run(prog: Program) -> tuple[str, str]:
        """A run of equal values (its length, its value) for the windows of one input."""
        return prog.var("run_len", "0"), prog.var("run_value", "NAN")

    def push(self, x: str) -> None:
        push_kahans(self.p, x, [self])


    def mean(self, minp: int) -> str:
        def make() -> str:
            out = self.p.name("mean")
            self.p.add("""
                if {nobs} >= {mp}:
                    if {same} >= {nobs}:
                        {out} = {prev}
                    else:
                        {out} = {s} / {nobs}
                        if {out} < 0.0 and {neg} == 0:
                            {out} = 0.0
                        elif {out} > 0.0 and {neg} == {nobs}:
                            {out} = 0.0
                else:
                    {out} = NAN
                """, out=out, mp=max(minp, 1), **self.names)
            return out
        self.read = True
        return self.p.memo((self, "mean", minp), make)

    def total(self, minp: int) -> str:
        def make() -> str:
            out = self.p.name("total")
            if minp <= 0:
                self.p.add("{out} = ({prev} * {nobs} if {same} >= {nobs} else {s}) "
                           "if {nobs} else 0.0", out=out, **self.names)
            else:
                self.p.add("{out} = ({prev} * {nobs} if {same} >= {nobs} else {s}) "
                           "if {nobs} >= {mp} else NAN", out=out, mp=minp, **self.names)
            return out
        self.read = True
        return self.p.memo((self, "total", minp), make)


_KAHAN_REMOVE = """
    _y = -_o - {cr}
    _t = {s} + _y
    {cr} = _t - {s} - _y
    {s} = _t
    if _o <= 0.0 and (_o < 0.0 or copysign(1.0, _o) < 0.0):  # -0.0 counts
        {neg} -= 1"""


def push_kahans(prog: Program, x: str, wins: list[Kahan]) -> None:
    """Push x into Kahan windows sharing one run: per window, pandas removes the leaving
    value first, then adds (both there, the usual row: the count stays)."""
    run = wins[0].names["same"], wins[0].names["prev"]
    if any((w.names["same"], w.names["prev"]) != run for w in wins):
        raise ValueError("push_kahans: windows of different runs")
    with prog.block(f"if {x} - {x} == 0.0"):
        sign = f"{x} <= 0.0 and ({x} < 0.0 or copysign(1.0, {x}) < 0.0)"
        if len(wins) > 1:
            prog.add(f"_n = {sign}")
            sign = "_n"
        for w in wins:
            prog.add("""
                _o = {buf}[0]
                {buf}.append({x})
                if _o == _o:""" + indent(_KAHAN_REMOVE, " " * 16) + """
                else:
                    {nobs} += 1
                _y = {x} - {ca}
                _t = {s} + _y
                {ca} = _t - {s} - _y
                {s} = _t
                if {sign}:
                    {neg} += 1
                """, x=x, sign=sign, **w.names)
        prog.add("""
            if {x} == {prev}:
                {same} += 1
            else:
                {same} = 1
            {prev} = {x}
            """, x=x, same=run[0], prev=run[1])
    with prog.block("else"):
        for w in wins:
            prog.add("""
                _o = {buf}[0]
                {buf}.append(NAN)
                if _o == _o:
                    {nobs} -= 1""" + indent(_KAHAN_REMOVE, " " * 16), **w.names)

class Median:
    """roll_median_c: the middle of the window's non-missing values (mean of the two
    middles when their count is even)."""

    def __init__(self, prog: Program, size: int) -> None:
        self.p = prog
        self.read = False
        self.names = {"buf": prog.var(f"m{size}_buf", f"deque([NAN] * {size}, maxlen={size})"),
                      "srt": prog.var(f"m{size}_sorted", "[]")}

    def push(self, x: str) -> None:
        self.p.add("""
            _o = {buf}[0]
            if _o == _o:
                del {srt}[bisect_left({srt}, _o)]
            if {x} - {x} == 0.0:
                {buf}.append({x})
                insort({srt}, {x})
            else:
                {buf}.append(NAN)
            """, x=x, **self.names)

    def median(self, minp: int) -> str:
        def make() -> str:
            out = self.p.name("median")
            self.p.add("""
                _n = len({srt})
                if _n >= {mp}:
                    _m = _n >> 1
                    {out} = {srt}[_m] if _n & 1 else ({srt}[_m] + {srt}[_m - 1]) / 2
                else:
                    {out} = NAN
                """, out=out, mp=max(minp, 1), **self.names)
            return out
        self.read = True
        return self.p.memo((self, "median", minp), make)


class Extremes:
    """roll_max and roll_min of one window (the sides its readers ask for before the push
    is written): pandas' monotonic deques of (row, value) over the non-missing values,
    and the rows of the missing ones (for min_periods). On a tie the newer value stays.
    A window of one or two rows just keeps the previous row's value (missing: NaN).

    (A van Herk / Gil-Werman block scheme costs ~3x fewer steps a row but scans a whole
    block once every `w` rows, a +200 µs row: not worth its 1.5 µs a row here.)"""

    def __init__(self, prog: Program, size: int) -> None:
        self.p = prog
        self.read = False
        self.w = size
        self.small = size <= 2
        if self.small:
            self.last = prog.var(f"x{size}_last", "NAN")
            self.prev = prog.name(f"x{size}_prev")  # set by the push
        else:
            self.miss = prog.var(f"x{size}_missing", "deque()")
        self.sides: dict[str, str] = {}  # side -> its deque's name

    def push(self, x: str) -> None:
        p = self.p
        if self.small:
            p.add("{prev} = {last}\n{last} = {x} if {x} - {x} == 0.0 else NAN",
                  prev=self.prev, last=self.last, x=x)
            return
        if not self.sides:  # nothing reads it
            return
        names = {"miss": self.miss, "x": x, "t": p.row, "w": self.w}
        p.add("""
            _g = {t} - {w}
            if {miss} and {miss}[0] <= _g:
                {miss}.popleft()
            """, **names)
        for dq in self.sides.values():
            p.add("if {dq} and {dq}[0][0] <= _g:\n    {dq}.popleft()", dq=dq)
        with p.block("if {x} - {x} == 0.0", x=x):
            for side, dq in self.sides.items():
                p.add("""
                    while {dq} and {dq}[-1][1] {op} {x}:
                        {dq}.pop()
                    {dq}.append(({t}, {x}))
                    """, dq=dq, op="<=" if side == "high" else ">=", **names)
        with p.block("else"):
            p.add("{miss}.append({t})", **names)

    def _read(self, side: str, minp: int) -> str:
        def make() -> str:
            out = self.p.name(side)
            if self.small:
                cur, prev, op = self.last, self.prev, ">=" if side == "high" else "<="
                if self.w == 1:
                    expr = cur
                elif minp <= 1:  # either, or the one that is there (NaN if neither)
                    expr = f"{cur} if {cur} {op} {prev} or {prev} != {prev} else {prev}"
                else:
                    expr = (f"({cur} if {cur} {op} {prev} else {prev}) "
                            f"if {cur} == {cur} and {prev} == {prev} else NAN")
                self.p.add(f"{out} = {expr}")
                return out
            self.p.add("""
                _n = ({t} + 1 if {t} < {w} else {w}) - len({miss})
                {out} = {dq}[0][1] if _n >= {mp} else NAN
                """, out=out, dq=self.sides[side], mp=max(minp, 1), t=self.p.row, w=self.w,
                       miss=self.miss)
            return out
        self.read = True
        return self.p.memo((self, side, minp), make)

    def high(self, minp: int) -> str:
        """The max's name (a shared window: call before the push is written)."""
        self.track(high=True)
        return self._read("high", minp)

    def low(self, minp: int) -> str:
        self.track(low=True)
        return self._read("low", minp)

    def track(self, high: bool = False, low: bool = False) -> None:
        """Keep a side: a private window's reader calls this before writing the push."""
        for side, want in (("high", high), ("low", low)):
            if want and side not in self.sides:
                self.sides[side] = "" if self.small else self.p.var(f"x{self.w}_{side}s",
                                                                      "deque()")


Window = Kahan | Median | Extremes
PARTS: dict[str, type[Window]] = {"mean": Kahan, "sum": Kahan, "median": Median,
                                  "max": Extremes, "min": Extremes}
"""The per-row part of each `trailing` statistic."""


def read(win: Window, how: str, minp: int) -> str:
    """`trailing(x, w, how, minp)` at the row: the name of win's read (win a PARTS[how])."""
    if isinstance(win, Kahan):
        return win.mean(minp) if how == "mean" else win.total(minp)
    if isinstance(win, Median):
        return win.median(minp)
    return win.high(minp) if how == "max" else win.low(minp)


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """x delayed by k frames, NaN for the first k; per row: step_lag."""
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def step_lag(prog: Program, x: str, k: int) -> str:
    """`lag(x, k)` at the row: the name of x k rows ago (NaN for the first k)."""
    if k == 0:
        return x
    out = prog.name(f"{x}_lag{k}")
    if k == 1:
        prev = prog.var(f"{x}_prev", "NAN")
        prog.add("{out} = {prev}\n{prev} = {x}", out=out, prev=prev, x=x)
        return out
    buf = prog.var(f"{x}_lags", f"deque([NAN] * {k + 1}, maxlen={k + 1})")
    prog.add("{buf}.append({x})\n{out} = {buf}[0]", buf=buf, out=out, x=x)
    return out


# filters.ewm_by_position (the divergence expert's EMAs) and its per-row part


class Ewm:
    """aggregations.ewm with adjust=False, min_periods=1: a missing row leaves the mean and
    (ignore_na=False) ages the old weight, or (ignore_na=True) is skipped. At com == 1
    pandas weighs a new value by 1 - old weight (its irregular-interval rule). `push`
    returns the name holding the mean (valid until the next push)."""

    def __init__(self, prog: Program, com: float, ignore_na: bool) -> None:
        self.p = prog
        alpha = 1.0 / (1.0 + com)
        self.factor = lit(1.0 - alpha)
        self.com1 = com == 1
        self.new = lit(alpha)
        self.ignore_na = ignore_na
        self.mean = prog.var("ewm", "NAN")
        self.old = prog.var("ewm_old", "1.0")

    def push(self, x: str) -> str:
        names = {"w": self.mean, "old": self.old, "x": x, "f": self.factor,
                 "new": f"(1.0 - {self.old})" if self.com1 else self.new}
        self.p.add("""
            if {w} == {w}:
                if {x} - {x} == 0.0:
                    {old} *= {f}
                    if {w} != {x}:
                        {w} = ({old} * {w} + {new} * {x}) / ({old} + {new})
                    {old} = 1.0
            """ + ("" if self.ignore_na else """
                else:
                    {old} *= {f}
            """) + """
            elif {x} - {x} == 0.0:
                {w} = {x}
            """, **names)
        return self.mean


def ewm_by_position_step(prog: Program, x: str, span: float | None = None,
                         alpha: float | None = None) -> str:
    """filters.ewm_by_position(x, span, alpha) at the row (adjust=False; a NaN row ages
    the mean): the name of the mean."""
    return Ewm(prog, com_of(span=span, alpha=alpha), ignore_na=False).push(x)


def probe(kind: str, size: float, minp: int = 1, ignore_na: bool = False
          ) -> Callable[[float], tuple[float, ...]]:
    """One part compiled alone, for tests: `push(x)` returns the part's statistics after
    x (kahan: mean, sum; median; extremes: max, min; lag; ewm: `size` is the com)."""
    prog = Program()
    if kind == "ewm":
        stats = [Ewm(prog, size, ignore_na).push("x")]
    elif kind == "lag":
        stats = [step_lag(prog, "x", int(size))]
    else:  # the `trailing` statistics of PARTS[...] (kahan: mean, sum; extremes: max, min)
        hows = {"kahan": ("mean", "sum"), "median": ("median",), "extremes": ("max", "min")}
        win = prog.shared(PARTS[hows[kind][0]], "x", "x", int(size))
        stats = [read(win, how, minp) for how in hows[kind]]
    step: Callable[[float], tuple[float, ...]] = prog.build("x", f"({', '.join(stats)},)",
                                                            label=f"probe {kind}")()
    return step
