"""Heterogeneity in continuous features: where a detector's uplift lives in the context's
numbers (funding and OI percentiles, the aligned book and flow, ...), not only in their
pre-cut bins, compressed into rules of <= `search.max_literals` threshold literals and
judged by the lessons' own gates on windows the thresholds never saw (docs/learning.md,
"Heterogeneity in continuous features").

For each searched task (a detector, or the pooled set) and each of two halves of the
window (alternating blocks of `hetero.block_hours` hours, so both halves span every day):

1. **Discovery, on one half only.** The lessons' cross-fitted outcome model (the additive
   ridge of `estimator.fit_nuisances`, fitted on the half's own time folds) gives each
   window its out-of-fold residual r = Y - mu(X): what the binned vocabulary's additive
   effects leave. An honest regression forest of econml (`econml.grf.RegressionForest`,
   seeded, one thread) regresses r on the continuous moderators; its out-of-bag
   predictions say where the residual uplift lives. A depth-<= 3 regression tree
   (scikit-learn, seeded) distils those predictions, and each of its nodes is a rule: the
   thresholds on its path (two on one feature the same way: the tighter; the two ways of
   one feature: the node is dropped). The `hetero.max_rules` nodes of largest
   |mean prediction - the half's mean| x sqrt(n (1 - n / N)) are the half's candidates.
2. **Judgement, on the other half only.** Each candidate's literals become binary features
   ("in", "out"; "na" where the input is unknown) of a unit set in which they replace the
   binned features of the same inputs (their bins would leave no overlap), and the rule is
   estimated and gated exactly as a searched rule is: cross-fitted AIPW over that half's
   time folds, its weakest split, the hour bootstrap, support and control, overlap, and
   the night's bar for its length.

The family: every task adds 2 x `hetero.max_rules` rules to the night's count m_k of every
rule length k it may propose (the cap, not the number found, so the count is fixed before
any outcome is read), and each live continuous lesson re-estimated tonight adds one to its
own length. A candidate's thresholds depend only on the half it is not judged on, so the
union bound of the weighted Bonferroni holds over them as over the binned rules.

A threshold literal reads `<input>=gt<t>` or `<input>=le<t>` (x > t, x <= t); the aligned
book and tape inputs are named `<column>_aligned` (the column times the direction). The
scoring layer bins with the vocabulary's literals only, so a continuous lesson carries no
patch (`is_continuous`: the braids skip it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from lotus_core.learning.config import LearningConfig
from lotus_core.learning.estimator import fit_nuisances
from lotus_core.learning.evaluate import RuleDetail, hour_weights, rule_details
from lotus_core.learning.units import UnitSet, rule_mask
from lotus_core.signals.context import BOOK_TAPE, LITERALS, book_tape_value

# a binned feature -> the frame column it bins (the book and tape ones: BOOK_TAPE)
_SOURCES = {"funding_pctl_bin": "funding_pctl", "oi_pctl_bin": "oi_pctl",
            "rv_pctl_bin": "rv_pctl", "hbar_bin": "kr_hbar", "mx_bin": "mx_evidence",
            "depth_bin": "depth_5_rel", "spread_bin": "spread_rel"}
_VALUE = re.compile(r"^(gt|le)(-?[0-9.]+(?:e[-+]?[0-9]+)?)$")
IN, OUT, NA = "in", "out", "na"


@dataclass(frozen=True)
class Moderators:
    """The continuous moderators of a task's windows: `names[j]` is the input of column j
    of `x` (n x M, NaN: unknown), `source[j]` the binned feature of the same input."""

    names: tuple[str, ...]
    source: tuple[str, ...]
    x: np.ndarray

    def take(self, rows: np.ndarray | None) -> Moderators:
        return self if rows is None else Moderators(self.names, self.source, self.x[rows])


def moderators(frame: pd.DataFrame, features: tuple[str, ...]) -> Moderators | None:
    """The moderators of the searched `features` whose input the frame holds (None: none)."""
    names, source, cols = [], [], []
    for f in features:
        if f in _SOURCES and _SOURCES[f] in frame.columns:
            names.append(_SOURCES[f])
            cols.append(pd.to_numeric(frame[_SOURCES[f]], errors="coerce")
                        .to_numpy(dtype=np.float64))
        elif f in BOOK_TAPE and BOOK_TAPE[f].column in frame.columns \
                and (not BOOK_TAPE[f].aligned or "direction" in frame.columns):
            bt = BOOK_TAPE[f]
            names.append(bt.column + ("_aligned" if bt.aligned else ""))
            cols.append(book_tape_value(frame, bt))
        else:
            continue
        source.append(f)
    if not names:
        return None
    return Moderators(tuple(names), tuple(source), np.column_stack(cols))


def columns(features: tuple[str, ...]) -> tuple[str, ...]:
    """The frame columns the moderators of `features` are made of (the nightly read keeps
    them beside the literals when the search is on)."""
    out = [_SOURCES[f] for f in features if f in _SOURCES]
    out += [BOOK_TAPE[f].column for f in features if f in BOOK_TAPE]
    if any(BOOK_TAPE[f].aligned for f in features if f in BOOK_TAPE):
        out.append("direction")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Literal:
    name: str  # the input (Moderators.names)
    op: str  # "gt" (x > t) or "le" (x <= t)
    t: float

    @property
    def value(self) -> str:
        return f"{self.op}{self.t:.4g}"


def is_continuous(key: str) -> bool:
    """Does a rule key name a threshold literal (a continuous lesson)?"""
    if key in ("", "*"):
        return False
    for part in key.split("&"):
        name, _, value = part.partition("=")
        if name not in LITERALS and _VALUE.match(value):
            return True
    return False


def parse_rule(key: str) -> tuple[Literal, ...] | None:
    """A continuous rule key's literals (None: not one)."""
    out = []
    for part in key.split("&"):
        name, _, value = part.partition("=")
        m = _VALUE.match(value)
        if name in LITERALS or m is None:
            return None
        out.append(Literal(name, m.group(1), float(m.group(2))))
    return tuple(sorted(out, key=lambda lit: lit.name))


def rule_key(lits: tuple[Literal, ...]) -> str:
    return "&".join(f"{lit.name}={lit.value}" for lit in sorted(lits, key=lambda x: x.name))


@dataclass(frozen=True)
class Judged:
    """A continuous rule judged on some windows: its literal ids in `units` (the judged
    windows' unit set), the detail the gates read, and the window's whole unit set with
    the same literals (the watchdog's and the out-of-sample check's)."""

    key: str
    lits: tuple[int, ...]
    detail: RuleDetail
    mdl: float
    bins: float
    hours: int
    units: UnitSet
    window: UnitSet


def halves(units: UnitSet, block_hours: int) -> np.ndarray:
    """0/1 per window: alternating blocks of `block_hours` UTC hours."""
    return ((units.hour // block_hours) % 2).astype(np.int8)


def rule_units(units: UnitSet, mods: Moderators, lits: tuple[Literal, ...]) -> UnitSet:
    """`units` with each literal's input as a binary feature (out, in[, na]) in place of
    the binned feature of the same input: the rule's literals are `<name>=in`."""
    named = {lit.name for lit in lits}
    drop = {mods.source[mods.names.index(n)] for n in named}
    keep = [j for j, f in enumerate(units.features) if f not in drop]
    feats = [units.features[j] for j in keep]
    values = [units.values[j] for j in keep]
    cols = [units.codes[:, keep].astype(np.int8)]
    for lit in sorted(lits, key=lambda x: x.name):
        x = mods.x[:, mods.names.index(lit.name)]
        t = float(lit.value[2:])  # the threshold as the key writes it
        inside = x > t if lit.op == "gt" else x <= t
        unknown = np.isnan(x)
        code = np.where(unknown, 2, inside.astype(np.int8)).astype(np.int8)
        feats.append(lit.name)
        values.append((OUT, IN, NA) if unknown.any() else (OUT, IN))
        cols.append(code[:, None])
    return UnitSet(tuple(feats), tuple(values), np.hstack(cols), units.y, units.hit,
                   units.ts_ms, units.treatments)


def judge(units: UnitSet, mods: Moderators, lits: tuple[Literal, ...], rows: np.ndarray,
          cfg: LearningConfig) -> Judged | None:
    """The rule estimated on the windows `rows` as the search estimates a rule (None: not
    eligible there: too little support or control, or a literal's input never known)."""
    window = rule_units(units, mods, lits)
    sub = window.take(rows)
    ids = tuple(sorted(sub.literal_index(lit.name, IN) for lit in lits))
    whole = rule_mask(sub, ids)
    support = int(whole.sum())
    if support < cfg.search.min_support:
        return None
    for lit in ids:  # each split's control arm: its scope, where its input is known
        scope = rule_mask(sub, tuple(x for x in ids if x != lit)) & sub.known(lit)
        if int(scope.sum()) - support < cfg.search.min_control:
            return None
    nz = fit_nuisances(sub, cfg.estimator, lazy=True)
    hour_idx, weights = hour_weights(sub, cfg.bootstrap.resamples, cfg.bootstrap.seed)
    d = rule_details(sub, nz, [ids], hour_idx, weights, cfg.bootstrap.ci)[0]
    bins = float(sum(np.log2(len(sub.values[int(sub.literal_feature[x])])) for x in ids))
    return Judged(rule_key(lits), ids, d, cfg.search.lambda_mdl * (len(ids) + bins), bins,
                  int(weights.shape[1]), sub, window)


def discover(units: UnitSet, mods: Moderators, rows: np.ndarray,
             cfg: LearningConfig) -> list[tuple[Literal, ...]]:
    """The candidate rules of the windows `rows` (their outcomes alone are read)."""
    from econml.grf import RegressionForest
    from sklearn.tree import DecisionTreeRegressor

    h = cfg.hetero
    if len(rows) > h.max_rows:  # a seeded sample of the half (the forest's cost)
        rng = np.random.default_rng(h.seed)
        rows = np.sort(rng.choice(rows, size=h.max_rows, replace=False))
    sub = units.take(rows)
    if sub.n < 4 * h.min_leaf:
        return []
    nz = fit_nuisances(sub, cfg.estimator, lazy=True)  # the outcome model alone is read
    resid = sub.y - nz.base_y
    x = mods.x[rows].copy()
    known = ~np.isnan(x)
    for j in range(x.shape[1]):  # unknown inputs at the half's median (never a threshold side)
        x[~known[:, j], j] = float(np.median(x[known[:, j], j])) if known[:, j].any() else 0.0
    with threadpool_limits(1):
        forest = RegressionForest(n_estimators=h.trees, min_samples_leaf=h.min_leaf,
                                  max_depth=h.forest_depth, max_samples=h.max_samples,
                                  honest=h.honest, inference=False, n_jobs=1,
                                  random_state=h.seed)
        forest.fit(x, resid)
        tau = np.asarray(forest.oob_predict(x), dtype=np.float64).reshape(-1)
        tau = np.nan_to_num(tau, nan=float(np.nanmean(tau)) if np.isfinite(tau).any() else 0.0)
        tree = DecisionTreeRegressor(max_depth=cfg.search.max_literals,
                                     min_samples_leaf=max(cfg.search.min_support, h.min_leaf),
                                     random_state=h.seed)
        tree.fit(x, tau)
    return _nodes(tree, mods, tau, h.max_rules)


def _nodes(tree: object, mods: Moderators, tau: np.ndarray,
           keep: int) -> list[tuple[Literal, ...]]:
    """The tree's nodes as rules, the `keep` that stand out most from the half's mean."""
    t = tree.tree_  # type: ignore[attr-defined]
    n_all, mean_all = float(t.n_node_samples[0]), float(t.value[0].reshape(-1)[0])
    found: dict[str, tuple[float, tuple[Literal, ...]]] = {}
    stack: list[tuple[int, tuple[Literal, ...]]] = [(0, ())]
    while stack:
        node, path = stack.pop()
        if path:
            rule = _merged(path)
            if rule is not None:
                n = float(t.n_node_samples[node])
                gap = float(t.value[node].reshape(-1)[0]) - mean_all
                score = abs(gap) * np.sqrt(n * max(0.0, 1.0 - n / n_all))
                key = rule_key(rule)
                if score > found.get(key, (-1.0, ()))[0]:
                    found[key] = (score, rule)
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left < 0:
            continue
        name = mods.names[int(t.feature[node])]
        thr = float(f"{float(t.threshold[node]):.4g}")
        stack.append((left, (*path, Literal(name, "le", thr))))
        stack.append((right, (*path, Literal(name, "gt", thr))))
    ranked = sorted(found.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [rule for _, (_, rule) in ranked[:keep]]


def _merged(path: tuple[Literal, ...]) -> tuple[Literal, ...] | None:
    """A path's literals, one per input: two the same way -> the tighter; both ways (an
    interval) -> None (a rule names a feature once)."""
    by: dict[str, Literal] = {}
    for lit in path:
        old = by.get(lit.name)
        if old is None:
            by[lit.name] = lit
        elif old.op != lit.op:
            return None
        elif (lit.op == "gt") == (lit.t > old.t):
            by[lit.name] = lit
    return tuple(sorted(by.values(), key=lambda x: x.name))


@dataclass
class Found:
    """A task's continuous rules: judged ones by key, and how many rules of each length
    they add to the night's family (`family_extra`)."""

    judged: dict[str, Judged]
    family_extra: tuple[int, int, int]


def search(units: UnitSet, mods: Moderators, cfg: LearningConfig,
           keep: list[str]) -> Found:
    """Candidates discovered on each half and judged on the other; the task's live
    continuous lessons (`keep`) re-estimated on the whole window."""
    h = cfg.hetero
    half = halves(units, h.block_hours)
    judged: dict[str, Judged] = {}
    for side in (0, 1):
        train, test = np.flatnonzero(half == side), np.flatnonzero(half != side)
        if len(test) == 0:
            continue
        for lits in discover(units, mods, train, cfg):
            got = judge(units, mods, lits, test, cfg)
            if got is None:
                continue
            # one rule per inputs and sides (the candidates of both halves that differ
            # only in their thresholds): the one of largest z; each was judged at its own
            # bar, so keeping one of them activates no more than keeping all
            shape = _shape(lits)
            old = judged.get(shape)
            if old is None or (_z(got.detail), got.key) > (_z(old.detail), old.key):
                judged[shape] = got
    judged = {j.key: j for j in judged.values()}
    extra = [2 * h.max_rules if k < cfg.search.max_literals else 0 for k in range(3)]
    every = np.arange(units.n)
    for key in keep:
        lits = parse_rule(key)
        if lits is None or key in judged or any(x.name not in mods.names for x in lits):
            continue
        got = judge(units, mods, lits, every, cfg)
        if got is not None:
            judged[key] = got
            extra[len(lits) - 1] += 1
    return Found(judged, (extra[0], extra[1], extra[2]))


def _shape(lits: tuple[Literal, ...]) -> str:
    return "&".join(f"{lit.name}={lit.op}" for lit in sorted(lits, key=lambda x: x.name))


def _z(d: RuleDetail) -> float:
    sd = max(d.boot_sd, d.se_iid)
    return abs(d.uplift) / sd if np.isfinite(sd) and sd > 0 else 0.0


def continuous_sources(key: str) -> set[str]:
    """The binned features whose inputs a continuous rule's literals threshold."""
    by_input = {**{c: f for f, c in _SOURCES.items()},
                **{bt.column + ("_aligned" if bt.aligned else ""): f
                   for f, bt in BOOK_TAPE.items()}}
    lits = parse_rule(key) or ()
    return {by_input[lit.name] for lit in lits if lit.name in by_input}
