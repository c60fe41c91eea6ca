"""The breeding grammar: what a bred detector may be made of, as validated data.

A bred spec is one to three voting *terms* combined by AND (all vote the same side on the
same frame) or WITHIN (the first voted that side in the last `within_s`, the second votes it
now). A term is an approved transform of an approved input: a MicroTape column, the
aggressor flow, or a vetted detector's windows (`detector:<id>`). Every approved transform
looks backwards only; `lead` (a future change) is the planted leaky transform, offered only
by a grammar built with `allow_leaky=True` (tests and the breeding proof), so the audits
can show it never survives.

An AND spec may also carry up to two *gates* (`Gate`, transform `gate`): a band on a
context column of the MicroTape (`funding_pctl`, `oi_pctl`, `basis_bps`, `premium`) or a
set of `regime` labels. A gate never votes a side; it holds or not on a frame, and the spec
fires only where every gate holds and the voting terms agree. A missing context value (NaN:
no context channel yet, or the percentile's warm-up; regime `warmup`) means the gate does
not hold. A spec of gates alone, or a gate in WITHIN, is refused. A spec without gates
serialises (and hashes) exactly as before gates existed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from lotus_core.strict import StrictModel

BOUNDED = ("book_imb_1", "book_imb_5", "book_imb_10", "aggr_imb", "flow")
"""Inputs in [-1, 1]: every transform applies (ewm levels, z-scores, changes)."""
UNBOUNDED = ("microprice_drift_bps", "dpx_bps", "depth_5_rel")
"""Inputs with a scale of their own: z-scores only (a level threshold would be arbitrary)."""
DETECTOR_PREFIX = "detector:"
CONTEXT_PCTL = ("funding_pctl", "oi_pctl")
"""Context percentiles in [0, 1] (against the coin's own trailing history): a gate's band
is in [0, 1]."""
CONTEXT_LEVEL = ("basis_bps", "premium")
"""Context levels in their own units (basis in bps, premium as the venue sends it)."""
REGIME = "regime"
REGIME_LABELS = ("quiet", "trend", "chop")
"""The regime labels a gate may name; `warmup` (not known yet) is never one: no gate holds
during the regime's warm-up."""
CONTEXT = CONTEXT_PCTL + CONTEXT_LEVEL + (REGIME,)
"""Context inputs: they gate (transform `gate`), they never vote."""
MAX_VOTES, MAX_GATES = 3, 2
APPROVED_TRANSFORMS = ("ewm", "z", "diff")
LEAKY_TRANSFORMS = ("lead",)
STATUS_EXPLORATION = "exploration"
"""The `status` a bred survivor enters scoring with (the council caps its publication share)."""

Transform = Literal["ewm", "z", "diff", "lead", "event"]


class Term(StrictModel):
    """One vote: +sign when the transformed input >= threshold, -sign when <= -threshold."""

    input: str = Field(min_length=1)
    transform: Transform
    window_s: int = Field(gt=0, le=3600)
    threshold: float = Field(gt=0)
    sign: Literal[1, -1] = 1

    @model_validator(mode="after")
    def _known(self) -> Term:
        if self.input.startswith(DETECTOR_PREFIX):
            if self.transform != "event":
                raise ValueError(f"{self.input}: a vetted detector's term uses transform event")
        elif self.input in CONTEXT:
            raise ValueError(f"{self.input} is a context input: it gates (transform gate, "
                             "with a band or regime labels), it never votes")
        elif self.input in UNBOUNDED:
            if self.transform not in ("z", "lead"):
                raise ValueError(f"{self.input}: an unbounded input takes z only")
        elif self.input not in BOUNDED:
            raise ValueError(f"unknown input {self.input!r}; approved: {BOUNDED + UNBOUNDED}")
        elif self.transform == "event":
            raise ValueError("transform event is for detector:<id> inputs")
        return self


class Gate(StrictModel):
    """A context condition: holds on a frame when the context column's value there is in
    [lo, hi] (either end may be open: None), or, for `regime`, is one of `labels`. It never
    votes a side. A missing value (NaN, regime `warmup`, or a tape without the column) does
    not hold."""

    input: str = Field(min_length=1)
    transform: Literal["gate"]
    lo: float | None = None
    hi: float | None = None
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _band(self) -> Gate:
        if self.input not in CONTEXT:
            raise ValueError(f"unknown context input {self.input!r}; approved: {CONTEXT}")
        if self.input == REGIME:
            if self.lo is not None or self.hi is not None or not self.labels:
                raise ValueError("a regime gate names labels (no lo/hi)")
            bad = sorted(set(self.labels) - set(REGIME_LABELS))
            if bad:
                raise ValueError(f"regime labels {bad} not gateable; approved: {REGIME_LABELS} "
                                 "(warmup is the regime not known yet: no gate holds there)")
            if self.labels != sorted(set(self.labels)):
                raise ValueError("regime labels are listed once each, sorted (one recipe, "
                                 "one hash)")
            return self
        if self.labels is not None:
            raise ValueError(f"{self.input}: labels are for the regime gate; give lo/hi")
        if self.lo is None and self.hi is None:
            raise ValueError(f"{self.input}: a gate needs lo, hi or both")
        for v in (self.lo, self.hi):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{self.input}: band ends are finite (None: open)")
        if self.lo is not None and self.hi is not None and not self.lo < self.hi:
            raise ValueError(f"{self.input}: need lo < hi, got [{self.lo}, {self.hi}]")
        if self.input in CONTEXT_PCTL and not all(
                0.0 <= v <= 1.0 for v in (self.lo, self.hi) if v is not None):
            raise ValueError(f"{self.input} is a percentile: its band is within [0, 1]")
        return self

    def describe(self) -> str:
        if self.labels is not None:
            return f"regime in {{{', '.join(self.labels)}}}"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{self.input} in [{lo}, {hi}]"


AnyTerm = Annotated[Term | Gate, Field(discriminator="transform")]


class BredSpec(StrictModel):
    """A bred detector's recipe. Its id is a hash of the recipe, so the same recipe bred
    twice (by any route) is one detector."""

    terms: list[AnyTerm] = Field(min_length=1, max_length=MAX_VOTES + MAX_GATES)
    combine: Literal["and", "within"] = "and"
    within_s: int = Field(default=30, gt=0, le=3600)
    horizon_s: int = Field(gt=0, le=3600)
    cooldown_s: int = Field(ge=0, le=3600)

    @model_validator(mode="after")
    def _shape(self) -> BredSpec:
        votes, gates = self.votes, self.gates
        if not votes:
            raise ValueError("a spec of gates alone is refused: a gate holds or not, it never "
                             "votes a side; add at least one voting term")
        if gates and self.combine != "and":
            raise ValueError("gates are allowed in `and` only (a gate holds on the frame where "
                             "the voting terms vote; within has no such frame for it)")
        if self.combine == "within" and len(self.terms) != 2:
            raise ValueError("within composes exactly two terms")
        if len(votes) > MAX_VOTES:
            raise ValueError(f"at most {MAX_VOTES} voting terms, got {len(votes)}")
        if len(gates) > MAX_GATES:
            raise ValueError(f"at most {MAX_GATES} gates, got {len(gates)}")
        if len({g.input for g in gates}) != len(gates):
            raise ValueError("one gate per context input")
        if any(isinstance(t, Term) for t in self.terms[len(votes):]):
            raise ValueError("gates follow the voting terms (one layout, one hash)")
        return self

    @property
    def votes(self) -> list[Term]:
        """The voting terms, in order."""
        return [t for t in self.terms if isinstance(t, Term)]

    @property
    def gates(self) -> list[Gate]:
        """The gates, in order."""
        return [t for t in self.terms if isinstance(t, Gate)]

    def canonical(self) -> str:
        """The recipe as compact sorted JSON (what the hash reads). A gate's unset band end
        or labels are left out, so a spec without gates reads exactly as before gates."""
        body = self.model_dump(mode="json")
        body["terms"] = [{k: v for k, v in t.items() if v is not None} for t in body["terms"]]
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @property
    def recipe_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical().encode()).hexdigest()

    @property
    def detector_id(self) -> str:
        """A stable id in the detector id grammar (`..._vN`): `bred_<10 hex>_v1`."""
        return f"bred_{self.recipe_hash[7:17]}_v1"

    @property
    def leaky(self) -> bool:
        return any(t.transform in LEAKY_TRANSFORMS for t in self.votes)


@dataclass(frozen=True)
class Grammar:
    """The approved inputs and transforms a proposer draws from."""

    vetted: tuple[str, ...] = ()  # packaged detector ids usable as `detector:<id>` terms
    allow_leaky: bool = False  # opt-in: offer `lead` (tests and the breeding proof only)
    context: tuple[str, ...] = CONTEXT  # context inputs a gate may read (() : no gates)

    @property
    def transforms(self) -> tuple[str, ...]:
        return APPROVED_TRANSFORMS + (LEAKY_TRANSFORMS if self.allow_leaky else ())

    def transforms_for(self, inp: str) -> tuple[str, ...]:
        base = self.transforms if inp in BOUNDED else ("z",) + (
            LEAKY_TRANSFORMS if self.allow_leaky else ())
        return base

    def admits(self, spec: BredSpec) -> str | None:
        """Why `spec` is outside this grammar (None: it is inside)."""
        for g in spec.gates:
            if g.input not in self.context:
                return f"a gate on {g.input} is not offered (context: {self.context})"
        for t in spec.votes:
            if t.input.startswith(DETECTOR_PREFIX):
                if t.input[len(DETECTOR_PREFIX):] not in self.vetted:
                    return f"{t.input} is not a vetted detector"
            elif t.transform not in self.transforms_for(t.input):
                return f"transform {t.transform} is not approved for {t.input}"
        return None
