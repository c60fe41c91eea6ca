"""Compile braid effects into one effective patch set (docs/priors.md, "Compile rules").

Four steps, each deterministic (inputs are put in a canonical order first, so the same
braids in any order give the identical set):

1. precedence and conflicts: braids that can touch the same window with opposite signs
   cannot both stand; the higher scope wins (detector > meta > field), then the higher
   BQS, then the more specific cond_key;
2. a small MILP (scipy/HiGHS) picks x_b in {0, 1} maximising sum x_b * uplift_b so that
   no window's total moves past the per-window caps and no two near-identical braids are
   both on; every window matches a clique of pairwise-compatible braids, so the caps are
   enforced per maximal clique, on the positive and negative parts separately (exact when
   signs agree, which step 1 ensures, and sound otherwise);
3. the night step: the new set is blended toward the previous night's, per connected
   group of patches, with the largest factor that keeps every window's change within the
   step caps - a contraction, so no sequence of nights can run away;
4. the result is re-checked against the per-window caps and shrunk toward no patch if an
   older set (compiled under looser caps) would push it over: the caps always win.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import model_validator

from lotus_core.signals.context import CondKeyError, canonical_cond_key, parse_cond_key
from lotus_core.signals.priors import Patch
from lotus_core.strict import StrictModel

Scope = Literal["detector", "meta", "field"]
SCOPE_RANK: dict[str, int] = {"detector": 0, "meta": 1, "field": 2}
MAX_CLIQUES = 20_000  # per connected group; beyond it the whole group is one (safe) clique
_EPS = 1e-12  # below this an effect is no effect; also the slack of the exact re-check
_Key = tuple[str, str, str]  # (detector_id, coin, canonical cond_key) of a patch
_DIGITS = 12  # compiled values are rounded so that float noise never reaches the fabric


class CompileError(ValueError):
    """A braid effect or the caps are malformed (the message names the braid or field)."""


@dataclass(frozen=True)
class BraidEffect:
    braid_id: str
    scope: Literal["detector", "meta", "field"]  # precedence detector > meta > field
    detector_id: str  # "*" for field braids
    coin: str  # "*" = every coin
    cond_key: str  # canonical cond_key (lotus_core.signals.context.canonical_cond_key) or "*"
    theta_delta: float  # additive change to kr_theta (negative = less context penalty)
    phi_mult: float  # > 0, multiplies kr_delta_phi
    uplift: float  # expected uplift (bps) of the braid, the objective weight
    bqs: float  # braid quality score, tie-breaker
    parents: tuple[str, ...] = ()  # braid ids this one's patch is an increment over (meta)

    def related(self, other: BraidEffect) -> bool:
        """A composed braid's patch is defined relative to its parents' (an increment), so
        the two never conflict and are never near-duplicates of each other."""
        return self.braid_id in other.parents or other.braid_id in self.parents


class PatchCaps(StrictModel):
    """theta_min/phi_max are applied at scoring; the rest bound what the compiled set may do
    to any one window (totals) and how far one night may move it (steps). Out of range: a
    ValidationError (a ValueError) naming every offending field."""

    theta_min: float = 0.05
    phi_max: float = 1.0
    max_abs_theta_delta: float = 0.15  # |sum theta_delta| per window
    phi_mult_max: float = 1.15  # prod phi_mult per window <= this
    phi_mult_min: float = 1 / 1.15  # prod phi_mult per window >= this
    max_step_theta: float = 0.05  # |change of sum theta_delta| per window per night
    max_step_log_phi: float = 0.05  # |change of log prod phi_mult| per window per night
    near_duplicate_jaccard: float = 0.8  # literal-set Jaccard at which two braids are one

    @model_validator(mode="after")
    def _check(self) -> PatchCaps:
        checks = {
            "theta_min": 0.0 <= self.theta_min <= 1.0,
            "phi_max": 0.0 < self.phi_max <= 1.0,
            "max_abs_theta_delta": 0.0 < self.max_abs_theta_delta <= 1.0,
            "phi_mult_max": 1.0 <= self.phi_mult_max < math.inf,
            "phi_mult_min": 0.0 < self.phi_mult_min <= 1.0,
            "max_step_theta": 0.0 < self.max_step_theta < math.inf,
            "max_step_log_phi": 0.0 < self.max_step_log_phi < math.inf,
            "near_duplicate_jaccard": 0.0 < self.near_duplicate_jaccard <= 1.0,
        }
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "PatchCaps out of range: " + ", ".join(bad) + " (need 0 <= theta_min <= 1, "
                "0 < phi_max <= 1, 0 < max_abs_theta_delta <= 1, phi_mult_max >= 1, "
                "0 < phi_mult_min <= 1, steps > 0, 0 < near_duplicate_jaccard <= 1)")
        return self

    @classmethod
    def from_config(cls, caps: object) -> PatchCaps:
        """From any object with the same attribute names (e.g. learning.yaml's `caps`)."""
        names = ("theta_min", "phi_max", "max_abs_theta_delta", "phi_mult_max",
                 "phi_mult_min", "max_step_theta", "max_step_log_phi")
        return cls(**{n: float(getattr(caps, n)) for n in names})


@dataclass(frozen=True)
class DroppedBraid:
    braid_id: str
    reason: str


@dataclass(frozen=True)
class CompiledPriors:
    """One effective patch set: what the fabric stores as a version (plus the caps)."""

    patches: tuple[Patch, ...]
    theta_min: float
    phi_max: float
    chosen: tuple[str, ...] = ()  # braid ids the optimiser switched on, sorted
    dropped: tuple[DroppedBraid, ...] = ()  # every other braid, with why, sorted by id
    step_scale: float = 1.0  # smallest blend factor toward the new set (1: no step bound)
    conservative_groups: int = 0  # groups with too many cliques, constrained as one clique
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_patches(cls, patches: Iterable[Patch], theta_min: float,
                     phi_max: float) -> CompiledPriors:
        """A stored set (e.g. the previous night's version) as the `previous` of a compile."""
        return cls(tuple(sorted(patches, key=_patch_key)), theta_min, phi_max)


# --- items: braids and patches share the matching rule -------------------------------------


@dataclass(frozen=True)
class _Item:
    name: str
    detector_id: str
    coin: str
    cond: tuple[tuple[str, str], ...]
    theta: float
    lphi: float  # log phi_mult

    @property
    def literals(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.cond)


def _patch_key(p: Patch) -> tuple[str, str, str]:
    return (p.detector_id, p.coin, p.cond_key)


def _compatible(a: _Item, b: _Item) -> bool:
    """Some window matches both: detector and coin equal or wildcard, no literal clash."""
    if "*" not in (a.detector_id, b.detector_id) and a.detector_id != b.detector_id:
        return False
    if "*" not in (a.coin, b.coin) and a.coin != b.coin:
        return False
    mine = dict(a.cond)
    return all(mine.get(k, v) == v for k, v in b.cond)


def _opposite(x: float, y: float) -> bool:
    return (x > _EPS and y < -_EPS) or (x < -_EPS and y > _EPS)


def _conflict(a: _Item, b: _Item) -> bool:
    return _opposite(a.theta, b.theta) or _opposite(a.lphi, b.lphi)


def _jaccard(a: frozenset, b: frozenset) -> float:
    union = a | b
    return 1.0 if not union else len(a & b) / len(union)


# --- graphs: adjacency as int bitmasks ----------------------------------------------------


def _bits(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _adjacency(items: Sequence[_Item]) -> list[int]:
    adj = [0] * len(items)
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if _compatible(items[i], items[j]):
                adj[i] |= 1 << j
                adj[j] |= 1 << i
    return adj


def _components(adj: Sequence[int]) -> list[int]:
    seen, out = 0, []
    for start in range(len(adj)):
        if seen >> start & 1:
            continue
        comp, frontier = 0, 1 << start
        while frontier:
            comp |= frontier
            nxt = 0
            for v in _bits(frontier):
                nxt |= adj[v]
            frontier = nxt & ~comp
        seen |= comp
        out.append(comp)
    return out


def _maximal_cliques(adj: Sequence[int], nodes: int, limit: int) -> list[int] | None:
    """Bron-Kerbosch with pivoting over the `nodes` bitmask; None past `limit` cliques."""
    out: list[int] = []
    stack = [(0, nodes, 0)]
    while stack:
        r, p, x = stack.pop()
        if not p:
            if not x:
                out.append(r)
                if len(out) > limit:
                    return None
            continue
        pivot = max(_bits(p | x), key=lambda u: (p & adj[u]).bit_count())
        for v in _bits(p & ~adj[pivot]):
            stack.append((r | 1 << v, p & adj[v], x & adj[v]))
            p &= ~(1 << v)
            x |= 1 << v
    return sorted(out)


def _groups(items: Sequence[_Item]) -> tuple[list[int], int]:
    """Sets (bitmasks) of items such that every window's matching items lie within one;
    and how many components fell back to being one group (too many cliques)."""
    adj = _adjacency(items)
    groups: list[int] = []
    fallback = 0
    for comp in _components(adj):
        cliques = _maximal_cliques(adj, comp, MAX_CLIQUES)
        if cliques is None:
            fallback += 1
            groups.append(comp)
        else:
            groups.extend(cliques)
    return groups, fallback


def _bound(items: Sequence[_Item], groups: Iterable[int]) -> tuple[float, float, float, float]:
    """Upper bounds over windows of the positive and negative parts of sum theta and of sum
    log phi: a window's matching items lie within one group."""
    out = [0.0, 0.0, 0.0, 0.0]
    for g in groups:
        members = [items[i] for i in _bits(g)]
        parts = (sum(max(m.theta, 0.0) for m in members), sum(max(-m.theta, 0.0) for m in members),
                 sum(max(m.lphi, 0.0) for m in members), sum(max(-m.lphi, 0.0) for m in members))
        out = [max(a, b) for a, b in zip(out, parts, strict=True)]
    return out[0], out[1], out[2], out[3]


# --- the compile ---------------------------------------------------------------------------


def _validated(effects: Iterable[BraidEffect]) -> list[tuple[BraidEffect, _Item]]:
    out: dict[str, tuple[BraidEffect, _Item]] = {}
    for e in effects:
        where = f"braid {e.braid_id!r}"
        if not isinstance(e.braid_id, str) or not e.braid_id:
            raise CompileError(f"a braid effect has no braid_id: {e!r}")
        if e.braid_id in out:
            raise CompileError(f"{where} appears twice in the braid effects")
        if e.scope not in SCOPE_RANK:
            raise CompileError(f"{where}: scope {e.scope!r} is not one of {list(SCOPE_RANK)}")
        for name in ("detector_id", "coin"):
            v = getattr(e, name)
            if not isinstance(v, str) or not v or "/" in v:
                raise CompileError(f"{where}: {name} {v!r} must be a non-empty name without '/'"
                                   " (or '*')")
        for name in ("theta_delta", "phi_mult", "uplift", "bqs"):
            if not math.isfinite(getattr(e, name)):
                raise CompileError(f"{where}: {name} is not finite ({getattr(e, name)!r})")
        if e.phi_mult <= 0:
            raise CompileError(f"{where}: phi_mult must be > 0, got {e.phi_mult!r}")
        try:
            cond = parse_cond_key(canonical_cond_key(e.cond_key))
        except CondKeyError as exc:
            raise CompileError(f"{where}: {exc}") from None
        out[e.braid_id] = (e, _Item(e.braid_id, e.detector_id, e.coin, cond,
                                    float(e.theta_delta), math.log(e.phi_mult)))
    return [out[k] for k in sorted(out)]


def _priority(pair: tuple[BraidEffect, _Item]) -> tuple:
    e, it = pair
    fixed = (e.detector_id != "*") + (e.coin != "*")
    return (SCOPE_RANK[e.scope], -e.bqs, -len(it.cond), -fixed, e.braid_id)


def _resolve(pairs: list[tuple[BraidEffect, _Item]],
             dropped: dict[str, str]) -> list[tuple[BraidEffect, _Item]]:
    """Step 1: walk braids best-first; one that conflicts with a kept braid is dropped."""
    kept: list[tuple[BraidEffect, _Item]] = []
    for e, it in sorted(pairs, key=_priority):
        winner = next((k for k in kept if _compatible(k[1], it) and _conflict(k[1], it)
                       and not k[0].related(e)), None)
        if winner is None:
            kept.append((e, it))
            continue
        w = winner[0]
        if SCOPE_RANK[w.scope] < SCOPE_RANK[e.scope]:
            dropped[e.braid_id] = (f"precedence: {w.scope} braid {w.braid_id} covers the same "
                                   f"windows with the opposite sign")
        elif w.bqs > e.bqs:
            dropped[e.braid_id] = (f"conflict: opposite sign to {w.braid_id}, which has the "
                                   f"higher BQS ({w.bqs:.6g} > {e.bqs:.6g})")
        else:
            dropped[e.braid_id] = (f"conflict: opposite sign to {w.braid_id} (same BQS), "
                                   f"which is more specific or sorts first")
    return sorted(kept, key=lambda p: p[0].braid_id)


class _Caps:
    """The per-window totals in the log space the constraints are linear in."""

    def __init__(self, caps: PatchCaps) -> None:
        self.theta = caps.max_abs_theta_delta
        self.lphi_up = math.log(caps.phi_mult_max)
        self.lphi_down = -math.log(caps.phi_mult_min)

    def alone_ok(self, it: _Item) -> bool:
        return (abs(it.theta) <= self.theta + _EPS and it.lphi <= self.lphi_up + _EPS
                and -it.lphi <= self.lphi_down + _EPS)


def _optimise(items: list[_Item], weights: np.ndarray, groups: list[int],
              pairs_excl: list[tuple[int, int]], caps: _Caps) -> np.ndarray:
    """Step 2: the MILP, then an exact feasibility pass (solver tolerance never leaks)."""
    n = len(items)
    rows, ub = [], []
    for g in groups:
        members = list(_bits(g))
        for fn, cap in ((lambda it: max(it.theta, 0.0), caps.theta),
                        (lambda it: max(-it.theta, 0.0), caps.theta),
                        (lambda it: max(it.lphi, 0.0), caps.lphi_up),
                        (lambda it: max(-it.lphi, 0.0), caps.lphi_down)):
            row = np.zeros(n)
            for i in members:
                row[i] = fn(items[i])
            if row.sum() > cap:  # a group that cannot exceed the cap needs no row
                rows.append(row)
                ub.append(cap)
    for i, j in pairs_excl:
        row = np.zeros(n)
        row[i] = row[j] = 1.0
        rows.append(row)
        ub.append(1.0)
    x = np.ones(n)
    if rows:
        from scipy.optimize import Bounds, LinearConstraint, milp  # ~0.3 s to load: on use

        res = milp(-weights, integrality=np.ones(n), bounds=Bounds(0, 1),
                   constraints=LinearConstraint(np.array(rows), -np.inf, np.array(ub)),
                   options={"disp": False, "presolve": True})
        x = np.round(res.x) if res.x is not None else np.zeros(n)
    # exact pass: accept in order (solver's choice first, then weight), keep what fits
    order = sorted(range(n), key=lambda i: (-x[i], -weights[i], items[i].name))
    on: list[int] = []
    sums = {g: [0.0, 0.0, 0.0, 0.0] for g in groups}
    limits = (caps.theta, caps.theta, caps.lphi_up, caps.lphi_down)
    excl = {(i, j) for i, j in pairs_excl} | {(j, i) for i, j in pairs_excl}
    for i in order:
        if x[i] < 0.5 and weights[i] <= 0:
            continue
        it = items[i]
        parts = (max(it.theta, 0.0), max(-it.theta, 0.0), max(it.lphi, 0.0), max(-it.lphi, 0.0))
        mine = [g for g in groups if g >> i & 1]
        fits = all(sums[g][k] + parts[k] <= limits[k] + _EPS for g in mine for k in range(4))
        if fits and not any((i, j) in excl for j in on):
            on.append(i)
            for g in mine:
                for k in range(4):
                    sums[g][k] += parts[k]
    out = np.zeros(n)
    out[on] = 1.0
    return out


def _merge(items: Iterable[_Item]) -> dict[_Key, tuple[float, float]]:
    """Patches by key (detector, coin, cond_key) -> (theta, log phi), summed."""
    out: dict[_Key, tuple[float, float]] = {}
    for it in items:
        key = (it.detector_id, it.coin, "&".join(f"{k}={v}" for k, v in it.cond) or "*")
        t, lp = out.get(key, (0.0, 0.0))
        out[key] = (t + it.theta, lp + it.lphi)
    return out


def _as_items(merged: Mapping[_Key, tuple[float, float]]) -> list[_Item]:
    return [_Item("/".join(k), k[0], k[1], parse_cond_key(k[2]), t, lp)
            for k, (t, lp) in sorted(merged.items())]


def _step(new: Mapping[_Key, tuple[float, float]], prev: Mapping[_Key, tuple[float, float]],
          caps: PatchCaps, c: _Caps) -> tuple[dict[_Key, tuple[float, float]], float, int]:
    """Steps 3-4: per connected group, move from the previous set toward the new one as far
    as the step caps allow; then, only if an older set compiled under looser caps would
    break the per-window caps, shrink the group toward no patch (the caps win)."""
    keys = sorted(set(new) | set(prev))
    zero = (0.0, 0.0)
    diff = _as_items({k: (new.get(k, zero)[0] - prev.get(k, zero)[0],
                          new.get(k, zero)[1] - prev.get(k, zero)[1]) for k in keys})
    adj = _adjacency(diff)
    out: dict[_Key, tuple[float, float]] = {}
    smallest, fallback = 1.0, 0
    for comp in _components(adj):
        cliques = _maximal_cliques(adj, comp, MAX_CLIQUES)
        if cliques is None:
            fallback += 1
            cliques = [comp]
        tp, tn, lp, ln = _bound(diff, cliques)
        lam = min(1.0, caps.max_step_theta / max(tp, tn, _EPS),
                  caps.max_step_log_phi / max(lp, ln, _EPS))
        smallest = min(smallest, lam)
        blended = {}
        for i in _bits(comp):
            pt, pl = prev.get(keys[i], zero)
            nt, nl = new.get(keys[i], zero)
            blended[i] = (pt + lam * (nt - pt), pl + lam * (nl - pl))
        mixed = list(diff)
        for i, (t, lphi) in blended.items():
            mixed[i] = _Item(diff[i].name, diff[i].detector_id, diff[i].coin, diff[i].cond, t, lphi)
        tp, tn, lp, ln = _bound(mixed, cliques)
        st = min(1.0, c.theta / max(tp, tn, _EPS))
        sl = min(1.0, c.lphi_up / max(lp, _EPS), c.lphi_down / max(ln, _EPS))
        for i, (t, lphi) in blended.items():
            out[keys[i]] = (t * st, lphi * sl)
    return out, smallest, fallback


def compile_patches(effects: Iterable[BraidEffect], caps: PatchCaps,
                    previous: CompiledPriors | None) -> CompiledPriors:
    """The effective patch set of tonight's braids, stepped from `previous` (None: from no
    patches). Same braids in any order -> the identical result."""
    c = _Caps(caps)
    dropped: dict[str, str] = {}
    pairs = []
    for e, it in _validated(effects):
        if abs(it.theta) <= _EPS and abs(it.lphi) <= _EPS:
            dropped[e.braid_id] = "no effect (theta_delta 0 and phi_mult 1)"
        elif e.uplift <= 0:
            dropped[e.braid_id] = f"no expected uplift ({e.uplift:.6g} bps)"
        elif not c.alone_ok(it):
            dropped[e.braid_id] = (
                f"alone exceeds the per-window caps (theta_delta {e.theta_delta:.6g}, "
                f"phi_mult {e.phi_mult:.6g}; caps +-{caps.max_abs_theta_delta:g}, "
                f"[{caps.phi_mult_min:.6g}, {caps.phi_mult_max:.6g}])")
        else:
            pairs.append((e, it))
    kept = _resolve(pairs, dropped)
    items = [it for _, it in kept]
    ranks = {e.braid_id: r for r, (e, _) in enumerate(sorted(kept, key=_priority))}
    n = len(kept)
    weights = np.array([e.uplift + 1e-7 * (n - ranks[e.braid_id]) / max(n, 1)
                        for e, _ in kept])
    groups, fallback = _groups(items)
    near: list[tuple[int, int]] = []
    for i in range(n):
        for j in range(i + 1, n):
            a, b = items[i], items[j]
            if ((a.detector_id, a.coin) == (b.detector_id, b.coin)
                    and not kept[i][0].related(kept[j][0])
                    and _jaccard(a.literals, b.literals) >= caps.near_duplicate_jaccard):
                near.append((i, j))
    x = _optimise(items, weights, groups, near, c) if n else np.zeros(0)
    chosen = [items[i] for i in range(n) if x[i] > 0.5]
    chosen_ids = {it.name for it in chosen}
    for i, it in enumerate(items):
        if it.name in chosen_ids:
            continue
        twin = next((items[j].name for a, b in near for j in (a, b)
                     if i in (a, b) and j != i and items[j].name in chosen_ids), None)
        dropped[it.name] = (f"near-duplicate of {twin} (literal Jaccard >= "
                            f"{caps.near_duplicate_jaccard:g}), which has more uplift"
                            if twin else "not chosen: the per-window caps bind (the optimiser "
                            "kept braids with more total uplift)")
    prev: dict[_Key, tuple[float, float]] = {}
    for p in () if previous is None else previous.patches:
        key = (p.detector_id, p.coin, canonical_cond_key(p.cond_key))
        t, lphi = prev.get(key, (0.0, 0.0))
        prev[key] = (t + float(p.theta_delta), lphi + math.log(p.phi_mult))
    final, lam, fb2 = _step(_merge(chosen), prev, caps, c)
    patches = []
    for (d, coin, cond), (t, lp) in sorted(final.items()):
        t = round(t, _DIGITS)
        lp = round(lp, _DIGITS)
        if abs(t) <= _EPS and abs(lp) <= _EPS:
            continue
        patches.append(Patch(d, coin, cond, t + 0.0, round(math.exp(lp), _DIGITS)))
    notes = []
    if lam < 1.0:
        notes.append(f"night step: moved {lam:.4g} of the way to tonight's set")
    if fallback + fb2:
        notes.append(f"{fallback + fb2} group(s) had more than {MAX_CLIQUES} cliques and were "
                     "constrained as one clique (safe, possibly stricter)")
    return CompiledPriors(
        patches=tuple(patches), theta_min=caps.theta_min, phi_max=caps.phi_max,
        chosen=tuple(sorted(chosen_ids)),
        dropped=tuple(DroppedBraid(k, v) for k, v in sorted(dropped.items())),
        step_scale=lam, conservative_groups=fallback + fb2, notes=tuple(notes))
