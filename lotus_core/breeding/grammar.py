"""The breeding grammar: what a bred detector may be made of, as validated data.

A bred spec is one to three *terms* combined by AND (all vote the same side on the same
frame) or WITHIN (the first voted that side in the last `within_s`, the second votes it
now). A term is an approved transform of an approved input: a MicroTape column, the
aggressor flow, or a vetted detector's windows (`detector:<id>`). Every approved transform
looks backwards only; `lead` (a future change) is the planted leaky transform, offered only
by a grammar built with `allow_leaky=True` (tests and the breeding proof), so the audits
can show it never survives.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from lotus_core.strict import StrictModel

BOUNDED = ("book_imb_1", "book_imb_5", "book_imb_10", "aggr_imb", "flow")
"""Inputs in [-1, 1]: every transform applies (ewm levels, z-scores, changes)."""
UNBOUNDED = ("microprice_drift_bps", "dpx_bps", "depth_5_rel")
"""Inputs with a scale of their own: z-scores only (a level threshold would be arbitrary)."""
DETECTOR_PREFIX = "detector:"
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
        elif self.input in UNBOUNDED:
            if self.transform not in ("z", "lead"):
                raise ValueError(f"{self.input}: an unbounded input takes z only")
        elif self.input not in BOUNDED:
            raise ValueError(f"unknown input {self.input!r}; approved: {BOUNDED + UNBOUNDED}")
        elif self.transform == "event":
            raise ValueError("transform event is for detector:<id> inputs")
        return self


class BredSpec(StrictModel):
    """A bred detector's recipe. Its id is a hash of the recipe, so the same recipe bred
    twice (by any route) is one detector."""

    terms: list[Term] = Field(min_length=1, max_length=3)
    combine: Literal["and", "within"] = "and"
    within_s: int = Field(default=30, gt=0, le=3600)
    horizon_s: int = Field(gt=0, le=3600)
    cooldown_s: int = Field(ge=0, le=3600)

    @model_validator(mode="after")
    def _shape(self) -> BredSpec:
        if self.combine == "within" and len(self.terms) != 2:
            raise ValueError("within composes exactly two terms")
        return self

    def canonical(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def recipe_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical().encode()).hexdigest()

    @property
    def detector_id(self) -> str:
        """A stable id in the detector id grammar (`..._vN`): `bred_<10 hex>_v1`."""
        return f"bred_{self.recipe_hash[7:17]}_v1"

    @property
    def leaky(self) -> bool:
        return any(t.transform in LEAKY_TRANSFORMS for t in self.terms)


@dataclass(frozen=True)
class Grammar:
    """The approved inputs and transforms a proposer draws from."""

    vetted: tuple[str, ...] = ()  # packaged detector ids usable as `detector:<id>` terms
    allow_leaky: bool = False  # opt-in: offer `lead` (tests and the breeding proof only)

    @property
    def transforms(self) -> tuple[str, ...]:
        return APPROVED_TRANSFORMS + (LEAKY_TRANSFORMS if self.allow_leaky else ())

    def transforms_for(self, inp: str) -> tuple[str, ...]:
        base = self.transforms if inp in BOUNDED else ("z",) + (
            LEAKY_TRANSFORMS if self.allow_leaky else ())
        return base

    def admits(self, spec: BredSpec) -> str | None:
        """Why `spec` is outside this grammar (None: it is inside)."""
        for t in spec.terms:
            if t.input.startswith(DETECTOR_PREFIX):
                if t.input[len(DETECTOR_PREFIX):] not in self.vetted:
                    return f"{t.input} is not a vetted detector"
            elif t.transform not in self.transforms_for(t.input):
                return f"transform {t.transform} is not approved for {t.input}"
        return None
