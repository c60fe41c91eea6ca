"""Quantised context literals of a window and the canonical `cond_key` that names a set of them.

Lessons and prior patches speak in conjunctions of these literals
(`oi_pctl_bin=hi&session=us`); a patch applies to a window iff every literal of its
cond_key holds for the window. One quantiser, here, serves scoring and learning alike.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `RowQuantiser` is `literals` of one row's windows and
`cond_key_one` is `cond_keys` of one window (the live step, `pipeline.WindowScorer`), each
beside its batch form; tests/core/signals/test_signals_scoring.py proves them equal.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.microtape.context import SESSIONS
from lotus_core.microtape.regime import REGIMES
from lotus_core.signals.config import ContextConfig
from lotus_core.signals.meta import USUAL, nan_to_num_one

TERCILES = ("lo", "mid", "hi")
ALIGNED = ("against", "neutral", "with")
DEPTH_BINS = ("thin", "normal", "thick")
SPREAD_BINS = ("normal", "wide")
DIRS = ("long", "short")  # direction > 0, else
NA = "na"  # the value of a nullable literal whose input is NaN
BOOK_TAPE_NAN = 0.0  # a non-nullable book/tape input that is NaN: none (no flow, cancels)


@dataclass(frozen=True)
class BookTapeFeature:
    """A book/tape literal: `column` (a context column, from the MicroTape or, for `flow`,
    the scoring frame features over it) binned by `edges` (a ContextConfig field). Aligned
    features bin direction * value (does the book / tape lean with the window's signal?);
    `nullable` ones have an `na` value (the MicroTape leaves the input NaN, docs/microtape.md)."""
    column: str
    edges: str
    aligned: bool
    nullable: bool

    @property
    def values(self) -> tuple[str, ...]:
        labels = ALIGNED if self.aligned else TERCILES
        return (*labels, NA) if self.nullable else labels


# literal name -> its book/tape feature (docs/learning.md, "Vocabulary")
BOOK_TAPE: dict[str, BookTapeFeature] = {
    "bimb1_bin": BookTapeFeature("book_imb_1", "bimb1_edges", True, True),
    "bimb5_bin": BookTapeFeature("book_imb_5", "bimb5_edges", True, True),
    "bimb10_bin": BookTapeFeature("book_imb_10", "bimb10_edges", True, True),
    "flow_bin": BookTapeFeature("flow", "flow_edges", True, False),
    # NaN while the coin's trades channel is missing: unknown, not a run of 0
    "run_bin": BookTapeFeature("aggr_runlen", "run_edges", True, True),
    "drift_bin": BookTapeFeature("microprice_drift_bps", "drift_edges", True, False),
    "basis_bin": BookTapeFeature("basis_bps", "basis_edges", False, True),
    "oi_delta_bin": BookTapeFeature("oi_delta", "oi_delta_edges", False, True),
    "trend_bin": BookTapeFeature("trend_eff", "trend_edges", False, True),
    "cancel_bin": BookTapeFeature("cancel_rate", "cancel_edges", False, False),
}

# literal name -> the values it can take ("na": the input was not known yet)
LITERALS: dict[str, tuple[str, ...]] = {
    "depth_bin": (*DEPTH_BINS, NA),
    "dir": DIRS,
    "funding_pctl_bin": (*TERCILES, NA),
    "hbar_bin": TERCILES,
    "mx_bin": TERCILES,
    "oi_pctl_bin": (*TERCILES, NA),
    "regime": REGIMES,
    "rv_pctl_bin": (*TERCILES, NA),
    "session": SESSIONS,
    "spread_bin": SPREAD_BINS,
    **{name: f.values for name, f in BOOK_TAPE.items()},
}
_KEY_ORDER = tuple(sorted(LITERALS))  # a cond_key's literals, in order
# the context columns `literals` reads
CONTEXT_COLUMNS = ("session", "regime", "direction", "rv_pctl", "oi_pctl", "funding_pctl",
                   "kr_hbar", "mx_evidence", "depth_5_rel", "spread_rel",
                   *(f.column for f in BOOK_TAPE.values()))


class CondKeyError(ValueError):
    """A cond_key names an unknown literal or value, or repeats a literal."""


def _bin(x: np.ndarray, edges: tuple[float, ...], labels: tuple[str, ...],
         na: str | None = NA) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.asarray(labels, dtype=object)[np.searchsorted(np.asarray(edges), x, side="right")]
    if na is not None:
        out = np.where(np.isnan(x), na, out)
    return out


def bin_one(x: float, edges: tuple[float, ...], labels: tuple[str, ...],
            na: str | None = NA) -> str:
    """_bin of one value (a NaN without `na` sorts last, as searchsorted puts it)."""
    if na is not None and x != x:
        return na
    return labels[bisect_right(edges, x)]


def book_tape_value(ctx: pd.DataFrame, feature: BookTapeFeature) -> np.ndarray:
    """The value a book/tape literal bins: the column, times the direction when aligned."""
    x = pd.to_numeric(ctx[feature.column], errors="coerce").to_numpy(dtype=np.float64)
    if feature.aligned:
        x = x * np.sign(ctx["direction"].to_numpy(dtype=np.float64))
    return x


def literals(ctx: pd.DataFrame, cfg: ContextConfig) -> pd.DataFrame:
    """The literal values of each window. `ctx` holds every column of CONTEXT_COLUMNS."""
    missing = [c for c in CONTEXT_COLUMNS if c not in ctx.columns]
    if missing:
        raise ValueError(f"cannot quantise: context columns missing {missing}")
    pe = tuple(cfg.pctl_edges)
    book_tape = {}
    for name, f in BOOK_TAPE.items():
        labels = ALIGNED if f.aligned else TERCILES
        x = book_tape_value(ctx, f)
        if not f.nullable:  # never NaN in the MicroTape and frame_features
            x = np.nan_to_num(x, nan=BOOK_TAPE_NAN)
        book_tape[name] = _bin(x, tuple(getattr(cfg, f.edges)), labels,
                               na=NA if f.nullable else None)
    return pd.DataFrame({
        "depth_bin": _bin(ctx["depth_5_rel"], tuple(cfg.depth_edges), DEPTH_BINS),
        "dir": np.where(ctx["direction"].to_numpy() > 0, *DIRS).astype(object),
        "funding_pctl_bin": _bin(ctx["funding_pctl"], pe, TERCILES),
        "hbar_bin": _bin(ctx["kr_hbar"], pe, TERCILES, na=None),
        "mx_bin": _bin(ctx["mx_evidence"], tuple(cfg.mx_edges), TERCILES, na=None),
        "oi_pctl_bin": _bin(ctx["oi_pctl"], pe, TERCILES),
        "regime": ctx["regime"].to_numpy(dtype=object),
        "rv_pctl_bin": _bin(ctx["rv_pctl"], pe, TERCILES),
        "session": ctx["session"].to_numpy(dtype=object),
        "spread_bin": _bin(np.nan_to_num(ctx["spread_rel"], nan=USUAL), tuple(cfg.spread_edges),
                           SPREAD_BINS, na=None),
        **book_tape,
    }, index=ctx.index)


class RowQuantiser:
    """`literals` of one row's windows under one ContextConfig (the step): `row` gives the
    direction-free literals, `direction` adds a direction's own (dir and the aligned
    book/tape literals). Same edges, labels, NaN rules as `literals`."""

    def __init__(self, cfg: ContextConfig) -> None:
        e = {k: tuple(float(x) for x in v) for k, v in cfg.model_dump().items()}
        self.pctl, self.mx, self.depth, self.spread = (
            e["pctl_edges"], e["mx_edges"], e["depth_edges"], e["spread_edges"])
        # (name, column, edges, labels, na or None) of each book/tape literal
        self.static = tuple((name, f.column, e[f.edges], TERCILES, NA if f.nullable else None)
                            for name, f in BOOK_TAPE.items() if not f.aligned)
        self.aligned = tuple((name, f.column, e[f.edges], ALIGNED, NA if f.nullable else None)
                             for name, f in BOOK_TAPE.items() if f.aligned)

    def row(self, depth: float, funding_pctl: float, hbar: float, mx: float, oi_pctl: float,
            regime: str, rv_pctl: float, session: str, spread1: float,
            book_tape: Mapping[str, float]) -> dict[str, str]:
        """The row's literals that do not depend on the direction (`spread1`: spread_rel
        with NaN as USUAL, as `literals` bins it)."""
        pe = self.pctl
        lits = {
            "depth_bin": bin_one(depth, self.depth, DEPTH_BINS),
            "funding_pctl_bin": bin_one(funding_pctl, pe, TERCILES),
            "hbar_bin": bin_one(hbar, pe, TERCILES, None),
            "mx_bin": bin_one(mx, self.mx, TERCILES, None),
            "oi_pctl_bin": bin_one(oi_pctl, pe, TERCILES),
            "regime": regime,
            "rv_pctl_bin": bin_one(rv_pctl, pe, TERCILES),
            "session": session,
            "spread_bin": bin_one(spread1, self.spread, SPREAD_BINS, None),
        }
        for name, column, edges, labels, na in self.static:  # bin_one, inline
            x = book_tape[column]
            if na is None:
                lits[name] = labels[bisect_right(edges, nan_to_num_one(x, BOOK_TAPE_NAN))]
            else:
                lits[name] = na if x != x else labels[bisect_right(edges, x)]
        return lits

    def direction(self, base: Mapping[str, str], book_tape: Mapping[str, float],
                  s: float) -> dict[str, str]:
        """`base` (`row`) with the literals of direction s added (book_tape_value's sign)."""
        lits = dict(base)
        lits["dir"] = DIRS[0] if s > 0 else DIRS[1]
        sign = 1.0 if s > 0 else -1.0 if s < 0 else 0.0
        for name, column, edges, labels, na in self.aligned:  # bin_one, inline
            x = book_tape[column] * sign
            if na is None:
                lits[name] = labels[bisect_right(edges, nan_to_num_one(x, BOOK_TAPE_NAN))]
            else:
                lits[name] = na if x != x else labels[bisect_right(edges, x)]
        return lits


def cond_keys(lits: pd.DataFrame) -> pd.Series:
    """Every literal of each window as one canonical cond_key (names sorted)."""
    out: pd.Series | None = None
    for name in _KEY_ORDER:
        part = name + "=" + lits[name].astype(str)
        out = part if out is None else out + "&" + part
    return out.astype("str") if out is not None else pd.Series([], dtype="str")


_KEY_PREFIXES = tuple((name, name + "=") for name in _KEY_ORDER)


def cond_key_one(lits: Mapping[str, str]) -> str:
    """cond_keys of one window's literals."""
    return "&".join([k + lits[n] for n, k in _KEY_PREFIXES])


def parse_cond_key(key: str) -> tuple[tuple[str, str], ...]:
    """`a=x&b=y` -> (("a", "x"), ("b", "y")), sorted; `*` or "" is the empty conjunction."""
    if key in ("*", ""):
        return ()
    out: dict[str, str] = {}
    for part in key.split("&"):
        name, sep, value = part.partition("=")
        if not sep or name not in LITERALS:
            raise CondKeyError(f"unknown literal {part!r} in cond_key {key!r}; "
                               f"literals: {sorted(LITERALS)}")
        if value not in LITERALS[name]:
            raise CondKeyError(f"{name} has no value {value!r} (cond_key {key!r}); "
                               f"values: {list(LITERALS[name])}")
        if name in out:
            raise CondKeyError(f"literal {name} repeated in cond_key {key!r}")
        out[name] = value
    return tuple(sorted(out.items()))


def canonical_cond_key(key: str) -> str:
    """The canonical spelling of a cond_key (literals sorted by name; `*` when empty)."""
    lits = parse_cond_key(key)
    return "&".join(f"{k}={v}" for k, v in lits) if lits else "*"


def matches(lits: pd.DataFrame, cond: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Windows for which every literal of `cond` holds."""
    mask = np.ones(len(lits), dtype=bool)
    for name, value in cond:
        mask &= lits[name].to_numpy(dtype=object) == value
    return mask
