"""MDL rule search over the pseudo-outcomes: every conjunction of <= 3 literals, by grouped sums.

A rule z (a set of literals on distinct features) is judged through its SPLITS: for each
literal l of z, the effect of l within the scope C = z \\ {l}, tau(l | C) = mean of psi_l
over the windows where C holds. A rule's uplift is the weakest of its splits, signed only
when every split agrees (min for a positive rule, max for a negative one): every literal
must earn its place, so a decoy riding along with a real literal adds nothing and a rule
resting on the decoy alone estimates ~0 once the real literal is a confounder.

All sums come from one sparse product: windows are collapsed to cells (distinct code
rows), and every scope of <= 2 literals is a row of a sparse scope-by-cell matrix.
score = |uplift| - lambda * (literals + bins), bins = sum of log2(|values|) of the rule's
features (the description length of naming each literal's value).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lotus_core.learning.config import SearchConfig
from lotus_core.learning.units import UnitSet


@dataclass(frozen=True)
class ScopeSums:
    psi: np.ndarray  # (scopes, L) sum of psi_l over the scope's windows
    treated: np.ndarray  # (scopes, L) windows of the scope where l holds
    count: np.ndarray  # (scopes,) windows of the scope
    pair_base: np.ndarray  # (F, F) first scope row of each feature pair (f1 < f2)


def _cells(units: UnitSet) -> tuple[np.ndarray, np.ndarray]:
    """(cell codes (cells x F), cell id per unit), cells in sorted code order."""
    radix = np.array([len(v) for v in units.values], dtype=np.int64)
    mult = np.concatenate([np.cumprod(radix[::-1])[::-1][1:], [1]])
    key = units.codes.astype(np.int64) @ mult
    uniq, inverse = np.unique(key, return_inverse=True)
    ccodes = (uniq[:, None] // mult[None, :]) % radix[None, :]
    return ccodes.astype(np.int64), inverse


def scope_sums(units: UnitSet, psi: np.ndarray) -> ScopeSums:
    """Sums of psi, treated counts and window counts for every scope of <= 2 literals:
    row 0 the empty scope, rows 1..L single literals, then every pair of literals of two
    features (f1 < f2) at pair_base[f1, f2] + v1 * |V_f2| + v2."""
    ccodes, inverse = _cells(units)
    n_cells, nf = ccodes.shape
    nl = units.n_literals
    agg = sp.csr_matrix((np.ones(units.n), (inverse, np.arange(units.n))),
                        shape=(n_cells, units.n))
    cell_psi = agg @ psi
    cell_n = np.asarray(agg.sum(axis=1)).ravel()
    flat = ccodes + units.offsets[None, :]
    cell_treated = np.zeros((n_cells, nl))
    cell_treated[np.repeat(np.arange(n_cells), nf), flat.ravel()] = np.repeat(cell_n, nf)
    sizes = [len(v) for v in units.values]
    pair_base = np.full((nf, nf), -1, dtype=np.int64)
    rows = [np.zeros(n_cells, dtype=np.int64), 1 + flat.T]
    nxt = 1 + nl
    for f1, f2 in combinations(range(nf), 2):
        pair_base[f1, f2] = nxt
        rows.append((nxt + ccodes[:, f1] * sizes[f2] + ccodes[:, f2])[None, :])
        nxt += sizes[f1] * sizes[f2]
    scope_rows = np.concatenate([r.reshape(-1, n_cells) for r in rows]).ravel()
    scope_cols = np.tile(np.arange(n_cells), len(scope_rows) // n_cells)
    member = sp.csr_matrix((np.ones(len(scope_rows)), (scope_rows, scope_cols)),
                           shape=(nxt, n_cells))
    rhs = np.hstack([cell_psi, cell_treated, cell_n[:, None]])
    out = np.asarray(member @ rhs)
    return ScopeSums(out[:, :nl], out[:, nl:2 * nl], out[:, -1], pair_base)


def scope_row(units: UnitSet, sums: ScopeSums, scope: tuple[int, ...]) -> int:
    """The scope-table row of a conjunction of 0..2 literals (flat ids)."""
    if not scope:
        return 0
    if len(scope) == 1:
        return 1 + int(scope[0])
    a, b = sorted(scope, key=lambda lit: units.literal_feature[lit])
    fa, fb = int(units.literal_feature[a]), int(units.literal_feature[b])
    va, vb = int(units.literal_value[a]), int(units.literal_value[b])
    return int(sums.pair_base[fa, fb] + va * len(units.values[fb]) + vb)


def enumerate_rules(units: UnitSet, max_literals: int) -> np.ndarray:
    """(R, 3) flat literal ids of every conjunction of 1..max_literals literals on distinct
    features, padded with -1; sorted literal ids within a rule."""
    out: list[np.ndarray] = []
    nf = len(units.features)
    groups = [np.arange(units.offsets[f], units.offsets[f] + len(units.values[f]))
              for f in range(nf)]
    for k in range(1, max_literals + 1):
        for feats in combinations(range(nf), k):
            grid = np.array(np.meshgrid(*[groups[f] for f in feats], indexing="ij"))
            block = grid.reshape(k, -1).T
            out.append(np.hstack([block, np.full((len(block), 3 - k), -1)]))
    return np.vstack(out) if out else np.zeros((0, 3), dtype=np.int64)


def _split_rows(units: UnitSet, sums: ScopeSums, rules: np.ndarray) -> np.ndarray:
    """(R, 3) scope row for each split (treatment literal = rule column j); -1 padding."""
    r = len(rules)
    size = (rules >= 0).sum(axis=1)
    rows = np.full((r, 3), -1, dtype=np.int64)
    feat = np.where(rules >= 0, units.literal_feature[np.maximum(rules, 0)], -1)
    val = np.where(rules >= 0, units.literal_value[np.maximum(rules, 0)], -1)
    sizes = np.array([len(v) for v in units.values], dtype=np.int64)
    one = size == 1
    rows[one, 0] = 0
    two = size == 2
    rows[two, 0] = 1 + rules[two, 1]
    rows[two, 1] = 1 + rules[two, 0]
    three = size == 3
    for j, (a, b) in enumerate(((1, 2), (0, 2), (0, 1))):
        fa, fb = feat[three, a], feat[three, b]
        rows[three, j] = (sums.pair_base[fa, fb] + val[three, a] * sizes[fb] + val[three, b])
    return rows


def score_rules(units: UnitSet, sums: ScopeSums, rules: np.ndarray,
                cfg: SearchConfig) -> pd.DataFrame:
    """Every rule's splits, uplift, support and MDL score (one row per rule)."""
    rows = _split_rows(units, sums, rules)
    valid = rules >= 0
    lit = np.maximum(rules, 0)
    srow = np.maximum(rows, 0)
    count = np.where(valid, sums.count[srow], np.nan)
    treated = np.where(valid, sums.treated[srow, lit], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(valid, sums.psi[srow, lit] / count, np.nan)
    control = count - treated
    tau = np.where(valid & (count == 0), 0.0, tau)  # an empty scope: no evidence (support 0)
    pos = np.min(np.where(valid, tau, np.inf), axis=1)
    neg = np.max(np.where(valid, tau, -np.inf), axis=1)
    sign = np.where(pos > 0, 1, np.where(neg < 0, -1, 0))
    uplift = np.where(sign > 0, pos, np.where(sign < 0, neg, 0.0))
    primary = np.where(sign >= 0, np.argmin(np.where(valid, tau, np.inf), axis=1),
                       np.argmax(np.where(valid, tau, -np.inf), axis=1))
    n_lit = valid.sum(axis=1)
    bits = np.log2(np.array([len(v) for v in units.values], dtype=np.float64))
    bins = np.where(valid, bits[units.literal_feature[lit]], 0.0).sum(axis=1)
    mdl = cfg.lambda_mdl * (n_lit + bins)
    support = treated[:, 0]
    min_control = np.nanmin(control, axis=1)
    ok = (support >= cfg.min_support) & (min_control >= cfg.min_control)
    ok &= _monotone_ok(units, rules, cfg)
    return pd.DataFrame({
        "l0": rules[:, 0], "l1": rules[:, 1], "l2": rules[:, 2],
        "n_literals": n_lit.astype(np.int64),
        "bins": bins,
        "sign": sign.astype(np.int64),
        "uplift": uplift,
        "primary": primary.astype(np.int64),
        "support": np.nan_to_num(support).astype(np.int64),
        "min_control": np.nan_to_num(min_control).astype(np.int64),
        "mdl": mdl,
        "score": np.abs(uplift) - mdl,
        "eligible": ok,
    })


def _monotone_ok(units: UnitSet, rules: np.ndarray, cfg: SearchConfig) -> np.ndarray:
    """A literal on a monotone feature must name the end of the order its constraint
    favours (the top bin when lift may only rise, the bottom when it may only fall)."""
    ok = np.ones(len(rules), dtype=bool)
    for name, direction in cfg.monotone.items():
        if name not in units.features:
            continue
        f = units.features.index(name)
        ordered = [i for i, v in enumerate(units.values[f]) if v != "na"]
        good = int(units.offsets[f]) + (ordered[-1] if direction == "increasing" else ordered[0])
        on_f = (rules >= 0) & (units.literal_feature[np.maximum(rules, 0)] == f)
        ok &= ~(on_f & (rules != good)).any(axis=1)
    return ok
