"""Proposers: parents and the grammar in, candidate specs out, each with its origin and
parent ids. "The proposer proposes, the harness disposes": a proposer never sees outcomes,
so each candidate is a hypothesis fixed before the harness tests it.

`Proposer` is the interface a model-backed proposer implements later; `RecipeProposer`
is the deterministic one: mutation (the Mutation Curator's jitter ranges), recombination
(terms of two parents), composition (AND of two inputs, WITHIN after a vetted detector),
fresh draws from the grammar, and gated twins (an AND candidate of the night with one
context gate added: the recipe's `gates`). Same parents, grammar, recipe and seed: same
candidates. The twins are drawn last, so adding them leaves every other draw as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal, Protocol

import numpy as np

from lotus_core.breeding.grammar import (
    BOUNDED,
    DETECTOR_PREFIX,
    MAX_GATES,
    REGIME,
    UNBOUNDED,
    BredSpec,
    Gate,
    Grammar,
    Term,
)
from lotus_core.breeding.recipe import Recipe

Origin = Literal["fresh", "mutation", "recombination", "composition", "leaky", "gated"]


@dataclass(frozen=True)
class Candidate:
    """A proposed spec with where it came from (parent ids: bred or vetted detector ids)."""

    spec: BredSpec
    origin: str
    parents: tuple[str, ...] = ()
    note: str = ""

    @property
    def detector_id(self) -> str:
        return self.spec.detector_id


@dataclass(frozen=True)
class Parent:
    """A spec the proposer may build on: an earlier survivor (bred) or a vetted detector."""

    detector_id: str
    spec: BredSpec | None = None  # None: a vetted (packaged) detector, used as a term


class Proposer(Protocol):
    def propose(self, parents: Sequence[Parent], grammar: Grammar,
                rng: np.random.Generator) -> list[Candidate]: ...


def _jit(rng: np.random.Generator, x: float, j: float) -> float:
    return x * math.exp(rng.uniform(-math.log1p(j), math.log1p(j))) if j > 0 else x


@dataclass
class RecipeProposer:
    """The deterministic proposer over the grammar, shaped by the Mutation Curator's recipe."""

    recipe: Recipe
    notes: list[str] = field(default_factory=list)

    # --- pieces -------------------------------------------------------------------------

    def _inputs(self) -> tuple[str, ...]:
        return BOUNDED + UNBOUNDED

    def fresh_term(self, rng: np.random.Generator, grammar: Grammar, inp: str | None = None,
                   transform: str | None = None, sign: int | None = None) -> Term:
        inp = inp or str(rng.choice(self._inputs()))
        approved = [t for t in grammar.transforms_for(inp) if t != "lead"]
        tr = transform or str(rng.choice(approved))
        d = self.recipe.defaults
        window = int(self.recipe.clip("window_s", _jit(rng, d.window_s, self.recipe.jitter.window)))
        thr = self.recipe.clip("", _jit(rng, d.threshold[tr], self.recipe.jitter.threshold), tr)
        s = sign if sign is not None else (1 if rng.random() < 0.5 else -1)
        return Term(input=inp, transform=tr, window_s=max(window, 1), threshold=thr, sign=s)

    def _spec(self, rng: np.random.Generator, terms: Sequence[Term | Gate],
              combine: str = "and",
              horizon: float | None = None) -> BredSpec:
        d, j = self.recipe.defaults, self.recipe.jitter
        h = int(self.recipe.clip("horizon_s", horizon if horizon else _jit(rng, d.horizon_s,
                                                                            j.horizon)))
        cd = int(self.recipe.clip("cooldown_s", max(d.cooldown_s, h // 2)))
        return BredSpec(terms=list(terms), combine=combine,  # type: ignore[arg-type]
                        within_s=d.within_s, horizon_s=h, cooldown_s=cd)

    def gates(self, grammar: Grammar) -> list[Gate]:
        """The gates a twin may get: each percentile input x band, then each regime label
        (the recipe's `gates`), those the grammar offers."""
        g = self.recipe.gates
        out = [Gate(input=inp, transform="gate", lo=lo, hi=hi)
               for inp in g.inputs if inp in grammar.context for lo, hi in g.bands]
        if REGIME in grammar.context:
            out += [Gate(input=REGIME, transform="gate", labels=[lab]) for lab in g.regimes]
        return out

    def twins(self, rng: np.random.Generator, grammar: Grammar,
              cands: Sequence[Candidate]) -> list[Candidate]:
        """Gated twins: the recipe's `gates.share` of the night's AND candidates (not
        leaky), at most one twin each, in a seeded order; the k-th twin gets the k-th gate
        (cycling), so the gates share the twins evenly."""
        gates = self.gates(grammar)
        base = [c for c in cands if c.spec.combine == "and" and c.origin != "leaky"
                and len(c.spec.gates) < MAX_GATES]
        n = math.floor(self.recipe.gates.share * len(base) + 1e-9)
        if n == 0 or not gates:
            return []
        order = rng.permutation(len(base))
        out = []
        for k in range(n):
            c = base[int(order[k])]
            gate = gates[k % len(gates)]
            if any(g.input == gate.input for g in c.spec.gates):
                continue
            s = c.spec
            spec = BredSpec(terms=[*s.terms, gate], combine=s.combine, within_s=s.within_s,
                            horizon_s=s.horizon_s, cooldown_s=s.cooldown_s)
            out.append(Candidate(spec, "gated", (c.detector_id,),
                                 note=f"{c.origin} {c.detector_id} gated on "
                                      f"{gate.describe()}"))
        return out

    def mutate(self, rng: np.random.Generator, spec: BredSpec) -> BredSpec:
        j = self.recipe.jitter
        terms: list[Term | Gate] = []
        for t in spec.terms:
            if isinstance(t, Gate) or t.input.startswith(DETECTOR_PREFIX):
                terms.append(t)  # a gate's band and a vetted detector's windows stay
                continue
            w = int(self.recipe.clip("window_s", _jit(rng, t.window_s, j.window)))
            thr = self.recipe.clip("", _jit(rng, t.threshold, j.threshold), t.transform)
            s = -t.sign if rng.random() < j.flip_sign else t.sign
            terms.append(t.model_copy(update={"window_s": max(w, 1), "threshold": thr,
                                              "sign": s}))
        h = self.recipe.clip("horizon_s", _jit(rng, spec.horizon_s, j.horizon))
        out = self._spec(rng, terms, spec.combine, horizon=h)
        return out.model_copy(update={"within_s": int(self.recipe.clip(
            "within_s", _jit(rng, spec.within_s, j.window)))})

    # --- the night's proposal -----------------------------------------------------------

    def propose(self, parents: Sequence[Parent], grammar: Grammar,
                rng: np.random.Generator) -> list[Candidate]:
        n = self.recipe.per_night
        out: list[Candidate] = []
        for _ in range(n.fresh):
            out.append(Candidate(self._spec(rng, [self.fresh_term(rng, grammar)]), "fresh"))
        bred = [p for p in parents if p.spec is not None]
        vetted = [p.detector_id for p in parents if p.spec is None
                  and p.detector_id in grammar.vetted]
        for k in range(n.mutations if bred else 0):
            p = bred[k % len(bred)]
            assert p.spec is not None
            out.append(Candidate(self.mutate(rng, p.spec), "mutation", (p.detector_id,)))
        if len(bred) >= 2:
            for _ in range(n.recombinations):
                i, k = rng.choice(len(bred), size=2, replace=False)
                a, b = bred[int(i)], bred[int(k)]
                assert a.spec is not None and b.spec is not None
                va, vb = a.spec.votes, b.spec.votes
                terms: list[Term | Gate] = [va[int(rng.integers(len(va)))],
                                            vb[int(rng.integers(len(vb)))]]
                if terms[0] == terms[1]:
                    continue
                terms += a.spec.gates  # the first parent's gates ride along
                h = float(rng.choice([a.spec.horizon_s, b.spec.horizon_s]))
                out.append(Candidate(self._spec(rng, terms, horizon=h), "recombination",
                                     (a.detector_id, b.detector_id)))
        # composition: AND of two inputs' levels (ewm) or surprises (z), agreeing or opposed
        # (every pair once, in a seeded order, up to the recipe's count)
        pairs = [(a, b, s, tr) for tr in ("ewm", "z") for a, b in combinations(BOUNDED, 2)
                 for s in (1, -1)]
        for i in rng.permutation(len(pairs))[: n.compositions]:
            x, y, s, tr = pairs[int(i)]
            t1 = self.fresh_term(rng, grammar, x, tr, 1)
            t2 = self.fresh_term(rng, grammar, y, tr, s)
            out.append(Candidate(self._spec(rng, [t1, t2]), "composition",
                                 note=f"{x} and {'+' if s > 0 else '-'}{y}"))
        for k in range(n.within_vetted if vetted else 0):
            det = vetted[k % len(vetted)]
            ev = Term(input=DETECTOR_PREFIX + det, transform="event", window_s=1,
                      threshold=0.5, sign=1)
            spec = self._spec(rng, [ev, self.fresh_term(rng, grammar, sign=1)], "within")
            out.append(Candidate(spec, "composition", (det,), note=f"within after {det}"))
        if grammar.allow_leaky:
            for _ in range(n.leaky):
                # the future mid change over the next window_s: an oracle, if it survived
                t = self.fresh_term(rng, grammar, "dpx_bps", "lead", 1)
                t = t.model_copy(update={"window_s": int(rng.integers(20, 90)),
                                         "threshold": float(rng.uniform(0.5, 2.0))})
                out.append(Candidate(self._spec(rng, [t]), "leaky",
                                     note="planted leaky transform (lead)"))
        unique = _unique(out)
        return unique + _unique(self.twins(rng, grammar, unique), {c.detector_id for c in unique})


def _unique(cands: Sequence[Candidate], seen: set[str] | None = None) -> list[Candidate]:
    """One candidate per recipe: the first route that reached it."""
    seen = set() if seen is None else seen
    out = []
    for c in cands:
        if c.detector_id not in seen:
            seen.add(c.detector_id)
            out.append(c)
    return out
