"""Parse trigger text into the typed tree, with errors that name the position and what was
expected.

Grammar (keywords and function names are case-insensitive; spaces are free)::

    trigger  := or_expr ("WITHIN" duration)*
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := atom ("AND" atom)*
    atom     := call | "(" trigger ")" | "within" "(" trigger "," duration ")"
    call     := breakout(lookback, k[σ|s|sigma] [, up|down|any])
              | retest(level, tol)  | touch(level [, tol])  | cross(level [, up|down|any])
    level    := NUMBER | prev_high | prev_low | broken
    tol      := NUMBER ["%" | "bps" | "bp"]        (bare number = fraction)
    duration := NUMBER ("ms" | "s" | "m" | "h" | "d")

Arguments may be positional or named (``lookback=``/``n=``, ``band=``/``k=``, ``level=``,
``tol=``, ``dir=``). AND binds tighter than OR; WITHIN applies to everything on its left
(parenthesise to scope it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lotus_core.dm.triggers.tree import (
    DIRECTIONS,
    LEVEL_NAMES,
    And,
    Breakout,
    Cross,
    Direction,
    Expr,
    Level,
    NamedLevel,
    Or,
    Price,
    Retest,
    Touch,
    Within,
)

MAX_EXPR_CHARS = 2000  # the ticket schema's limit on dm_trigger.expr

_DURATION_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TOL_SCALE = {"": 1.0, "%": 0.01, "bps": 1e-4, "bp": 1e-4}
_SIGMA_UNITS = ("", "σ", "s", "sigma")
_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?P<unit>%|σ|[A-Za-z]+)?"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>[(),=])"
)


class TriggerSyntaxError(ValueError):
    """Bad trigger text: where (0-based character position), what was expected, what was found."""

    def __init__(self, text: str, pos: int, expected: str, found: str) -> None:
        self.text, self.pos, self.expected, self.found = text, pos, expected, found
        caret = " " * pos + "^"
        super().__init__(f"trigger syntax error at position {pos}: expected {expected}, "
                         f"found {found}\n  {text}\n  {caret}")


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | ident | punct | end
    text: str
    pos: int
    unit: str = ""

    def show(self) -> str:
        return "end of input" if self.kind == "end" else repr(self.text + self.unit)


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise TriggerSyntaxError(text, pos, "a number, a name, '(', ')', ',' or '='",
                                     repr(text[pos]))
        if m.group("num") is not None:
            toks.append(_Tok("num", m.group("num"), pos, m.group("unit") or ""))
        elif m.group("ident") is not None:
            toks.append(_Tok("ident", m.group("ident"), pos))
        elif m.group("punct") is not None:
            toks.append(_Tok("punct", m.group("punct"), pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    # -- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, expected: str, tok: _Tok | None = None) -> TriggerSyntaxError:
        t = tok or self.tok
        return TriggerSyntaxError(self.text, t.pos, expected, t.show())

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.upper() == word

    def is_punct(self, p: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == p

    def expect_punct(self, p: str, expected: str | None = None) -> None:
        if not self.is_punct(p):
            raise self.fail(expected or repr(p))
        self.i += 1

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Expr:
        if len(self.text) > MAX_EXPR_CHARS:
            raise TriggerSyntaxError(self.text, MAX_EXPR_CHARS,
                                     f"at most {MAX_EXPR_CHARS} characters", "more")
        expr = self.trigger()
        if self.tok.kind != "end":
            raise self.fail("AND, OR, WITHIN or end of input")
        return expr

    def trigger(self) -> Expr:
        expr = self.or_expr()
        while self.is_kw("WITHIN"):
            self.i += 1
            expr = Within(expr, self.duration())
        return expr

    def or_expr(self) -> Expr:
        expr = self.and_expr()
        while self.is_kw("OR"):
            self.i += 1
            expr = Or(expr, self.and_expr())
        return expr

    def and_expr(self) -> Expr:
        expr = self.atom()
        while self.is_kw("AND"):
            self.i += 1
            expr = And(expr, self.atom())
        return expr

    def atom(self) -> Expr:
        if self.is_punct("("):
            self.i += 1
            expr = self.trigger()
            self.expect_punct(")", "')' or AND, OR, WITHIN")
            return expr
        tok = self.tok
        name = tok.text.lower() if tok.kind == "ident" else ""
        if name == "within" and self.toks[self.i + 1].text == "(":  # within(expr, T)
            self.i += 2
            inner = self.trigger()
            self.expect_punct(",", "',' then a duration in within(expr, T)")
            ms = self.duration()
            self.expect_punct(")", "')' after within(expr, T)")
            return Within(inner, ms)
        if name not in _CALLS:
            raise self.fail("breakout, retest, touch, cross or '('")
        self.i += 1
        self.expect_punct("(", f"'(' after {name}")
        args = self.args(name)
        try:
            return _CALLS[name](self, args, tok)
        except (TypeError, ValueError) as e:
            if isinstance(e, TriggerSyntaxError):
                raise
            raise TriggerSyntaxError(self.text, tok.pos, f"valid arguments to {name}",
                                     str(e)) from None

    def args(self, fn: str) -> dict[str, _Tok]:
        """Arguments of a call, positional ones keyed by their canonical name."""
        names, aliases = _SIGNATURES[fn]
        out: dict[str, _Tok] = {}
        position = 0
        while not self.is_punct(")"):
            if out or position:
                self.expect_punct(",", "',' or ')'")
            tok = self.tok
            key: str | None = None
            if tok.kind == "ident" and self.toks[self.i + 1].kind == "punct" \
                    and self.toks[self.i + 1].text == "=":
                key = aliases.get(tok.text.lower())
                if key is None:
                    raise self.fail(f"an argument name of {fn} ({', '.join(aliases)})")
                self.i += 2
            else:
                if position >= len(names):
                    raise self.fail(f"')' ({fn} takes at most {len(names)} arguments)")
                key = names[position]
            if key in out:
                raise self.fail(f"a single value for {key}", tok)
            value = self.tok
            if value.kind not in ("num", "ident"):
                raise self.fail(f"a value for {key}")
            out[key] = value
            self.i += 1
            position += 1
        self.i += 1
        return out

    def duration(self) -> int:
        tok = self.tok
        if tok.kind != "num" or tok.unit not in _DURATION_MS:
            raise self.fail("a duration such as 500ms, 30s, 15m, 6h or 1d")
        self.i += 1
        ms = float(tok.text) * _DURATION_MS[tok.unit]
        if ms != int(ms) or ms <= 0:
            raise self.fail("a positive whole number of milliseconds", tok)
        return int(ms)

    # -- argument conversions --------------------------------------------------------------
    def required(self, fn: str, args: dict[str, _Tok], key: str, call: _Tok) -> _Tok:
        if key not in args:
            raise TriggerSyntaxError(self.text, call.pos, f"{fn}(...) with a {key} argument",
                                     f"{fn} without {key}")
        return args[key]

    def level(self, tok: _Tok) -> Level:
        if tok.kind == "num" and not tok.unit:
            return Price(float(tok.text))
        if tok.kind == "ident" and tok.text.lower() in LEVEL_NAMES:
            return NamedLevel(tok.text.lower())
        raise self.fail(f"a level (a price or one of {', '.join(LEVEL_NAMES)})", tok)

    def tol(self, tok: _Tok) -> float:
        if tok.kind != "num" or tok.unit.lower() not in _TOL_SCALE:
            raise self.fail("a tolerance such as 0.15%, 15bps or 0.0015", tok)
        return float(tok.text) * _TOL_SCALE[tok.unit.lower()]

    def direction(self, tok: _Tok) -> Direction:
        word = tok.text.lower()
        for d in DIRECTIONS:
            if tok.kind == "ident" and word == d:
                return d
        raise self.fail("a direction: up, down or any", tok)


def _breakout(p: _Parser, a: dict[str, _Tok], call: _Tok) -> Expr:
    n_tok = p.required("breakout", a, "lookback", call)
    if n_tok.kind != "num" or n_tok.unit or not re.fullmatch(r"\+?\d+", n_tok.text):
        raise p.fail("a whole number of rows for lookback", n_tok)
    k_tok = p.required("breakout", a, "k", call)
    if k_tok.kind != "num" or k_tok.unit.lower() not in _SIGMA_UNITS:
        raise p.fail("a band in standard deviations such as 2σ, 2s or 2", k_tok)
    direction = p.direction(a["dir"]) if "dir" in a else "any"
    return Breakout(int(n_tok.text), float(k_tok.text), direction)


def _retest(p: _Parser, a: dict[str, _Tok], call: _Tok) -> Expr:
    level = p.level(p.required("retest", a, "level", call))
    return Retest(level, p.tol(p.required("retest", a, "tol", call)))


def _touch(p: _Parser, a: dict[str, _Tok], call: _Tok) -> Expr:
    level = p.level(p.required("touch", a, "level", call))
    return Touch(level, p.tol(a["tol"]) if "tol" in a else 0.0)


def _cross(p: _Parser, a: dict[str, _Tok], call: _Tok) -> Expr:
    level = p.level(p.required("cross", a, "level", call))
    return Cross(level, p.direction(a["dir"]) if "dir" in a else "any")


_CALLS = {"breakout": _breakout, "retest": _retest, "touch": _touch, "cross": _cross}
# fn -> (positional order, {accepted keyword: canonical name})
_SIGNATURES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "breakout": (("lookback", "k", "dir"),
                 {"lookback": "lookback", "n": "lookback", "band": "k", "k": "k",
                  "dir": "dir"}),
    "retest": (("level", "tol"), {"level": "level", "tol": "tol"}),
    "touch": (("level", "tol"), {"level": "level", "tol": "tol"}),
    "cross": (("level", "dir"), {"level": "level", "dir": "dir"}),
}


def parse_trigger(text: str) -> Expr:
    """The tree of a trigger expression, or TriggerSyntaxError naming position and expectation."""
    if not isinstance(text, str):
        raise TypeError(f"trigger text must be a str, got {type(text).__name__}")
    return _Parser(text).parse()
