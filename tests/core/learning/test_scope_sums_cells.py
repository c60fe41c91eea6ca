"""The cells' sums a chunk of cells at a time (a feature's psi for every cell is
~7 MB of the search's peak at 250,000 windows). `add_rows` makes into an accumulator the
additions scipy's CSC product makes into zeros (its kernel, not public: scipy is pinned and
this holds it to the public product), so a product carried over chunks of its columns is
the whole product: the same additions in the same order, on one machine the same bits.
`scope_sums` is held to the whole-matrix algorithm it replaced (`_reference`: every cell's
psi, then each group's public (scopes x cells) product) with a stated tolerance."""

from itertools import combinations

import numpy as np
import pytest
import scipy.sparse as sp

from lotus_core.learning import search
from lotus_core.learning.search import add_rows, scope_sums
from lotus_core.learning.units import UnitSet


def _product(rows: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
    n = len(rows)
    member = sp.csc_matrix((np.ones(n), rows, np.arange(n + 1)), shape=(size, n))
    return member @ values


def test_add_rows_carried_over_chunks_is_the_public_product():
    rng = np.random.default_rng(11)
    rows = rng.integers(0, 13, 5_000).astype(np.int32)
    values = rng.standard_normal((5_000, 3)) * 10.0 ** rng.integers(-8, 8, (5_000, 1))
    want = _product(rows, 13, values)
    whole = np.zeros((13, 3))
    add_rows(whole, rows, values)
    carried = np.zeros((13, 3))
    for lo in range(0, 5_000, 777):
        add_rows(carried, rows[lo:lo + 777], values[lo:lo + 777])
    # the same kernel's additions in the same order: the same computation, not two
    np.testing.assert_array_equal(whole, want)
    np.testing.assert_array_equal(carried, want)
    # and not the chunks' products added together (which round otherwise): the test can fail
    parts = sum(_product(rows[lo:lo + 777], 13, values[lo:lo + 777])
                for lo in range(0, 5_000, 777))
    assert not np.array_equal(parts, want)


def test_add_rows_refuses_rows_outside_its_accumulator():
    out = np.zeros((4, 2))
    with pytest.raises(ValueError, match="a row outside out"):
        add_rows(out, np.array([0, 4]), np.ones((2, 2)))
    with pytest.raises(ValueError, match="a row outside out"):
        add_rows(out, np.array([-1]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="C-contiguous"):
        add_rows(np.zeros((2, 4))[:, :2], np.array([0]), np.ones((1, 2)))
    add_rows(out, np.array([], dtype=np.int32), np.zeros((0, 2)))
    assert not out.any()


def _units(seed: int, n: int, sizes: tuple[int, ...]) -> UnitSet:
    rng = np.random.default_rng(seed)
    values = tuple(tuple(["na", "lo", "mid", "hi", "top"][:s]) for s in sizes)  # na: code 0
    # a few codes repeated so that cells hold several windows
    codes = np.column_stack([rng.integers(0, s, n) for s in sizes]).astype(np.int8)
    codes[n // 2:] = codes[: n - n // 2][rng.permutation(n - n // 2)]
    return UnitSet(tuple(f"f{j}" for j in range(len(sizes))), values, codes, np.zeros(n),
                   np.zeros(n), 1_767_225_600_000 + np.arange(n) * 60_000)


def _reference(units: UnitSet, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(psi sums, counts, known counts) as the search summed them before: every cell's psi
    (windows added in order), zeroed where the literal's feature is unknown, then each scope
    group's public product with it."""
    ccodes, inverse = search._cells(units)
    n_cells, nf = ccodes.shape
    sizes = [len(v) for v in units.values]
    cell_n = np.bincount(inverse, minlength=n_cells).astype(np.float64)
    groups = [np.zeros(n_cells, dtype=np.int64)] + [ccodes[:, f].astype(np.int64)
                                                     for f in range(nf)]
    groups += [ccodes[:, f1].astype(np.int64) * sizes[f2] + ccodes[:, f2]
               for f1, f2 in combinations(range(nf), 2)]
    gsize = [1] + sizes + [sizes[a] * sizes[b] for a, b in combinations(range(nf), 2)]
    na = units.na_value[units.literal_feature]
    na = np.where(units.literal_value == na, -1, na)
    cell_psi = np.zeros((n_cells, units.n_literals))
    np.add.at(cell_psi, inverse, psi)
    unknown = ccodes[:, units.literal_feature] == na[None, :]
    cell_psi[unknown] = 0.0
    known = np.where(unknown, 0.0, cell_n[:, None])
    out = [np.vstack([_product(g, s, x) for g, s in zip(groups, gsize, strict=True)])
           for x in (cell_psi, cell_n[:, None], known)]
    return out[0], out[1][:, 0], out[2]


@pytest.mark.parametrize("cells", [search._CELLS, 97])
def test_scope_sums_a_chunk_of_cells_at_a_time_are_the_whole_products(monkeypatch, cells):
    units = _units(12, 4_000, (3, 5, 2, 4, 3))
    psi = np.random.default_rng(13).standard_normal((units.n, units.n_literals)) * 50.0
    monkeypatch.setattr(search, "_CELLS", cells)
    got = scope_sums(units, lambda lits, rows: psi[np.ix_(rows, lits)])
    want_psi, want_count, want_known = _reference(units, psi)
    assert got.cell_n.max() > 1 and len(got.cell_n) > 2 * 97  # cells of several windows
    np.testing.assert_array_equal(got.count, want_count)  # integers: exact in any order
    np.testing.assert_array_equal(got.known, want_known)
    np.testing.assert_allclose(got.psi, want_psi, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("cells", [search._CELLS, 97])
def test_scope_sums_of_blocks_together_are_each_blocks_alone(monkeypatch, cells):
    """A literal's column sums are its own: blocks of literals summed in one pass over the
    scope groups (`_batches`) give each block's sums alone, bit for bit."""
    units = _units(14, 3_000, (3, 5, 2, 4, 3))
    psi = np.random.default_rng(15).standard_normal((units.n, units.n_literals)) * 50.0
    monkeypatch.setattr(search, "_CELLS", cells)
    blocks = search._blocks(units)
    got, batches = {}, {}
    for cap in (0, search._BATCH_VALUES, 10**9):
        monkeypatch.setattr(search, "_BATCH_VALUES", cap)
        got[cap] = scope_sums(units, lambda lits, rows: psi[np.ix_(rows, lits)])
        batches[cap] = [len(b) for b in search._batches(blocks, min(len(got[cap].cell_n),
                                                                     cells))]
    assert batches[0] == [1] * len(blocks)  # each block alone
    assert len(batches[10**9]) == 1  # every block together
    for cap in (search._BATCH_VALUES, 10**9):
        assert got[cap].psi.tobytes() == got[0].psi.tobytes()
        assert got[cap].known.tobytes() == got[0].known.tobytes()
