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

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.sparse import _sparsetools

from lotus_core.arrays import small_int
from lotus_core.learning.config import SearchConfig
from lotus_core.learning.units import UnitSet
from lotus_core.malloc import release_free_heap

_CELLS = 32_768
"""Cells whose windows' pseudo-outcomes are made and summed together (`scope_sums`)."""


def _blocks(units: UnitSet) -> list[np.ndarray]:
    """The literals a feature at a time (`scope_sums` sums a block's cells together and
    predicts a feature's propensities once a block): at 250,000 windows, nearly a cell each,
    a block of 8 literals' cells' sums is ~16 MB, one feature's (2-5 values) 4-10 MB, and
    the search no slower."""
    return [np.arange(int(units.offsets[f]), int(units.offsets[f]) + len(values))
            for f, values in enumerate(units.values) if len(values)]


_BATCH_VALUES = 8 * _CELLS
"""At most this many cells' literal psi sums (a chunk of cells x a batch's literals,
float64: 2 MB) are summed over the scope groups together (`_batches`)."""


def _batches(blocks: list[np.ndarray], cells: int) -> list[list[np.ndarray]]:
    """The blocks in order, consecutive ones together while a chunk of `cells` cells'
    values of their literals stay within `_BATCH_VALUES` (a block alone when it is wider):
    each pass over the scope groups is ~100 small sums, which a few-hundred-cell night
    made 15 times over, once a feature."""
    out: list[list[np.ndarray]] = []
    width = 0
    for b in blocks:
        if out and (width + len(b)) * cells <= _BATCH_VALUES:
            out[-1].append(b)
            width += len(b)
        else:
            out.append([b])
            width = len(b)
    return out


@dataclass(frozen=True)
class ScopeSums:
    psi: np.ndarray  # (scopes, L) sum of psi_l over the scope's windows where l's feature
    # is known (units.known)
    count: np.ndarray  # (scopes,) windows of the scope
    known: np.ndarray  # (scopes, L) of them, those where l's feature is known
    pair_base: np.ndarray  # (F, F) first scope row of each feature pair (f1 < f2)
    cell_codes: np.ndarray  # (cells, F) the distinct code rows (units' dtype; F x cells, .T)
    cell_n: np.ndarray  # (cells,) windows per cell


def _cells(units: UnitSet) -> tuple[np.ndarray, np.ndarray]:
    """(cell codes (cells x F), cell id per unit), cells in sorted code order."""
    radix = np.array([len(v) for v in units.values], dtype=np.int64)
    mult = np.concatenate([np.cumprod(radix[::-1])[::-1][1:], [1]])
    key = np.zeros(units.n, dtype=np.int64)  # the codes' mixed-radix number, a feature at a time
    for j, m in enumerate(mult):
        key += units.codes[:, j].astype(np.int64) * m
    uniq, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.astype(small_int(len(uniq)), copy=False)  # held through the sums
    # a feature at a time, as the codes' own small ints (the cells x F int64 matrix and its
    # copy were ~80 MB at 250,000 windows, nearly a cell each), each feature's contiguous:
    # the cell codes are the transpose of F x cells, which the scope groups read a feature
    # at a time (no int32 copy of them, ~13 MB at 250,000 windows)
    by_feature = np.empty((len(radix), len(uniq)), dtype=units.codes.dtype)
    for j, (m, r) in enumerate(zip(mult, radix, strict=True)):
        by_feature[j] = (uniq // m) % r
    return by_feature.T, inverse


def scope_sums(units: UnitSet,
               psi: np.ndarray | Callable[[np.ndarray, np.ndarray], np.ndarray]) -> ScopeSums:
    """Sums of psi, treated counts and window counts for every scope of <= 2 literals:
    row 0 the empty scope, rows 1..L single literals, then every pair of literals of two
    features (f1 < f2) at pair_base[f1, f2] + v1 * |V_f2| + v2. A literal's psi sum and
    its `known` count leave out the windows where its feature is "na" (a cell holds one
    value per feature, so that is a per-cell 0/1 weight). `psi`: the (n x L) matrix, or
    what makes its columns for some literal ids and window rows (`psi(lits, rows)`:
    len(rows) x len(lits)), asked a block of literals and of windows at a time, so neither
    the whole matrix nor a block of it a window wide is ever held."""
    ccodes, inverse = _cells(units)
    n_cells, nf = ccodes.shape
    nl = units.n_literals
    counts = np.bincount(inverse, minlength=n_cells)
    cell_n = counts.astype(np.float64)
    # each cell's windows (`by_cell[first[c]:first[c + 1]]`): the cells are summed a chunk
    # of them at a time, each chunk's windows' psi made for them alone
    first = np.zeros(n_cells + 1, dtype=small_int(units.n + 1))
    np.cumsum(counts, out=first[1:])
    by_cell = np.argsort(inverse, kind="stable").astype(small_int(units.n), copy=False)
    del counts
    sizes = [len(v) for v in units.values]
    pair_base = np.full((nf, nf), -1, dtype=np.int64)
    # the scope groups: the empty scope, each feature's literals, each feature pair's; a
    # cell falls in one row of each group (first row, rows, each cell's row in the group,
    # for a chunk of cells)
    groups: list[tuple[int, int, Callable[[slice], np.ndarray]]] = [
        (0, 1, lambda part: np.zeros(part.stop - part.start, dtype=np.int32))]
    by_feature = ccodes.T  # a feature's codes, contiguous (`_cells`)
    groups += [(1 + int(units.offsets[f]), sizes[f], partial(_column, by_feature, f))
               for f in range(nf)]
    nxt = 1 + nl
    for f1, f2 in combinations(range(nf), 2):
        pair_base[f1, f2] = nxt
        groups.append((nxt, sizes[f1] * sizes[f2], partial(_pair, by_feature, f1, f2, sizes[f2])))
        nxt += sizes[f1] * sizes[f2]
    na = units.na_value[units.literal_feature]  # (L,) the code of each literal's feature's na
    na = np.where(units.literal_value == na, -1, na)  # a split on "na" itself: every window
    parts = [slice(lo, min(n_cells, lo + _CELLS)) for lo in range(0, n_cells, _CELLS)]

    def summed(values: Callable[[slice], np.ndarray], width: int) -> np.ndarray:
        """(scopes x width): every group's sums of the cells' `values` (a chunk of cells'
        rows at a time), each scope's added cell by cell in the cells' order."""
        out = np.zeros((nxt, width))
        for part in parts:
            vals = np.ascontiguousarray(values(part), dtype=np.float64)
            for g0, size, row_of in groups:
                add_rows(out[g0:g0 + size], row_of(part), vals)
        return out

    count = summed(lambda part: cell_n[part, None], 1)
    # a literal's known counts are its feature's (the cells where that feature is not "na"),
    # or every window's (a split on "na" itself, a feature without one): one column a
    # feature, each the same additions as a literal's own were (integers, exact either way)
    known_sum = np.empty((nxt, nl))
    pairs = sorted({(int(units.literal_feature[x]), int(na[x])) for x in np.flatnonzero(na >= 0)})
    if pairs:
        known = summed(lambda part: np.stack([np.where(ccodes[part, f] == code, 0.0, cell_n[part])
                                              for f, code in pairs], axis=1), len(pairs))
        for k, (f, code) in enumerate(pairs):
            known_sum[:, np.flatnonzero((na == code) & (units.literal_feature == f))] = \
                known[:, [k]]
    known_sum[:, na < 0] = count
    # a block of literals at a time (`_blocks`), a chunk of cells at a time: each cell's psi
    # added window by window in the windows' order, and every scope's sum cell by cell in
    # the cells' order (`add_rows`), as the whole (cells x L) matrix and its (scopes x cells)
    # products added them, bit for bit; nothing a cell or window wide is held (at
    # 250,000 windows, nearly a cell each, a feature's cells' psi are ~7 MB of the search's
    # peak, and their whole matrices would be ~400 MB)
    psi_sum = np.empty((nxt, nl))

    def block_psi(part: slice, lits: np.ndarray) -> np.ndarray:
        """The cells `part`'s psi sums of a block's literals."""
        rows = np.sort(by_cell[first[part.start]:first[part.stop]])
        out = np.zeros((part.stop - part.start, len(lits)))
        np.add.at(out, inverse[rows] - part.start, psi[np.ix_(rows, lits)]
                  if isinstance(psi, np.ndarray) else psi(lits, rows))
        out[ccodes[part][:, units.literal_feature[lits]] == na[lits][None, :]] = 0.0  # unknown
        return out

    # a batch of blocks summed together: a column's sums are its own (the same additions at
    # any width), so a small night's every block is one pass over the scope groups
    for batch in _batches(_blocks(units), min(n_cells, _CELLS)):
        lits = np.concatenate(batch)

        def cells_psi(part: slice, batch: list[np.ndarray] = batch) -> np.ndarray:
            out = [block_psi(part, b) for b in batch]
            return out[0] if len(out) == 1 else np.hstack(out)

        psi_sum[:, lits] = summed(cells_psi, len(lits))
        release_free_heap()  # the batch's predictions' and sums' temporaries
    return ScopeSums(psi_sum, count[:, 0], known_sum, pair_base, ccodes, cell_n)


def _column(by_feature: np.ndarray, f: int, part: slice) -> np.ndarray:
    """Each cell's row in feature f's group (`by_feature`: the cells' codes, F x cells), of
    the cells `part`."""
    return by_feature[f, part].astype(np.int32)


def _pair(by_feature: np.ndarray, f1: int, f2: int, size2: int, part: slice) -> np.ndarray:
    """Each cell's row in the (f1, f2) pair's group, of the cells `part`."""
    return by_feature[f1, part].astype(np.int32) * np.int32(size2) + by_feature[f2, part]


def add_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """`out[rows[j]] += values[j]` for each j in order: the additions scipy's product of
    the 0/1 matrix with a one in (rows[j], j) and `values` makes into zeros (its CSC
    kernel, `member @ values`), made into `out` as it stands, so sums carried over chunks
    of the columns are the whole product's bit for bit (`np.add.at` makes the same
    additions, ten times slower). `out` (rows x width, C-contiguous) and `values`
    (len(rows) x width) float64. scipy's kernel is not public: scipy is pinned, and
    tests/core/learning/test_scope_sums_cells.py holds this to the public product."""
    if not out.flags.c_contiguous or out.dtype != np.float64:
        raise ValueError("add_rows: out must be C-contiguous float64")
    n = len(rows)
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    if n and (int(rows.min()) < 0 or int(rows.max()) >= out.shape[0]) or values.shape[0] != n:
        raise ValueError("add_rows: a row outside out, or values not one row per entry")
    pointers, ones = _one_a_column(n)
    _sparsetools.csc_matvecs(out.shape[0], n, out.shape[1], pointers, rows, ones,
                             np.ascontiguousarray(values, dtype=np.float64).ravel(), out.ravel())


@lru_cache(maxsize=4)
def _one_a_column(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(column pointers, data) of a 0/1 matrix of n columns holding a one each, read-only:
    made once for the chunks' few sizes, not again for every group of every chunk."""
    pointers, ones = np.arange(n + 1, dtype=np.int32), np.ones(n)
    pointers.flags.writeable = ones.flags.writeable = False
    return pointers, ones


def rule_support(units: UnitSet, sums: ScopeSums, rules: np.ndarray) -> np.ndarray:
    """Windows where each whole rule holds: scope-table counts for 1 and 2 literals, one
    grouped count per feature triple (over cells) for 3."""
    size = (rules >= 0).sum(axis=1)
    out = np.zeros(len(rules))
    one = size == 1
    out[one] = sums.count[1 + rules[one, 0]]
    two = np.flatnonzero(size == 2)
    if len(two):
        out[two] = sums.count[_pair_rows(units, sums, rules[two, 0], rules[two, 1])]
    three = np.flatnonzero(size == 3)
    if len(three):
        feat = units.literal_feature[rules[three]]
        val = units.literal_value[rules[three]]
        sizes = np.array([len(v) for v in units.values], dtype=np.int64)
        c = sums.cell_codes  # a feature's column made int32 when it is used (not all at once)
        weights = sums.cell_n
        key = feat[:, 0] * 10_000 + feat[:, 1] * 100 + feat[:, 2]
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        pair_code: dict[tuple[int, int], np.ndarray] = {}
        for sel in np.split(order, bounds):
            f1, f2, f3 = (int(x) for x in feat[sel[0]])
            if (f1, f2) not in pair_code:  # one pass per feature pair, reused for every f3
                pair_code = {(f1, f2): c[:, f1].astype(np.int32) * int(sizes[f2]) + c[:, f2]}
            code = pair_code[(f1, f2)] * int(sizes[f3]) + c[:, f3]
            counts = np.bincount(code, weights=weights,
                                 minlength=int(sizes[f1] * sizes[f2] * sizes[f3]))
            v = val[sel]
            out[three[sel]] = counts[(v[:, 0] * sizes[f2] + v[:, 1]) * sizes[f3] + v[:, 2]]
    return out


def _pair_rows(units: UnitSet, sums: ScopeSums, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fa, fb = units.literal_feature[a], units.literal_feature[b]
    sizes = np.array([len(v) for v in units.values], dtype=np.int64)
    return sums.pair_base[fa, fb] + units.literal_value[a] * sizes[fb] + units.literal_value[b]


def enumerate_rules(units: UnitSet, max_literals: int) -> np.ndarray:
    """(R, 3) flat literal ids of every conjunction of 1..max_literals literals on distinct
    features, padded with -1; sorted literal ids within a rule. Read-only: made once for
    the features' value counts, which a night's searches share (one per detector)."""
    return _rules_of(tuple(len(v) for v in units.values), max_literals)


@lru_cache(maxsize=4)
def _rules_of(sizes: tuple[int, ...], max_literals: int) -> np.ndarray:
    """`enumerate_rules` of features with these value counts."""
    out: list[np.ndarray] = []
    nf = len(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)[:-1]]).astype(np.int64)
    groups = [np.arange(offsets[f], offsets[f] + sizes[f]) for f in range(nf)]
    for k in range(1, max_literals + 1):
        for feats in combinations(range(nf), k):
            grid = np.array(np.meshgrid(*[groups[f] for f in feats], indexing="ij"))
            block = grid.reshape(k, -1).T
            out.append(np.hstack([block, np.full((len(block), 3 - k), -1)]))
    rules = np.vstack(out) if out else np.zeros((0, 3), dtype=np.int64)
    rules.flags.writeable = False
    return rules


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
    in_rule = rules >= 0
    lit = np.maximum(rules, 0)
    # only treatment literals are split on (all of them unless the units name treatments)
    valid = in_rule & units.treatment_literal[lit]
    srow = np.maximum(rows, 0)
    count = np.where(valid, sums.known[srow, lit], np.nan)  # the scope where l is known
    support = rule_support(units, sums, rules)
    treated = np.where(valid, support[:, None], np.nan)
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
    n_lit = in_rule.sum(axis=1)
    bits = np.log2(np.array([len(v) for v in units.values], dtype=np.float64))
    bins = np.where(in_rule, bits[units.literal_feature[lit]], 0.0).sum(axis=1)
    mdl = cfg.lambda_mdl * (n_lit + bins)
    has_split = valid.any(axis=1)
    with np.errstate(invalid="ignore"):
        min_control = np.where(has_split, np.nanmin(np.where(valid, control, np.inf), axis=1),
                               0.0)
    sign = np.where(has_split, sign, 0)
    uplift = np.where(has_split, uplift, 0.0)
    ok = has_split & (support >= cfg.min_support) & (min_control >= cfg.min_control)
    ok &= _monotone_ok(units, rules, cfg)
    if not cfg.na_literals:
        ok &= ~names_na(units, rules)
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


def names_na(units: UnitSet, rules: np.ndarray) -> np.ndarray:
    """Rules (rows of flat literal ids, -1 padded) naming some feature's "na" value: a
    missing input (a cold trailing window), not a market condition."""
    na = np.array([units.values[int(f)][int(v)] == "na" for f, v in
                   zip(units.literal_feature, units.literal_value, strict=True)], dtype=bool)
    return ((rules >= 0) & na[np.maximum(rules, 0)]).any(axis=1)


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
