"""`scope_sums` against its definition, window by window: for the empty scope, every literal
and every pair of literals of two features, the windows in the scope, the psi sum of each
literal (a window whose feature is "na" adds nothing to that feature's other literals) and
the windows where the literal's feature is known. The sums are taken one scope group at a
time (the step's memory); this holds them to what they mean."""

from itertools import combinations

import numpy as np

from lotus_core.learning import search
from lotus_core.learning.search import scope_sums
from lotus_core.learning.units import UnitSet


def _units(seed: int, n: int, sizes: tuple[int, ...]) -> UnitSet:
    rng = np.random.default_rng(seed)
    values = tuple(tuple(["na", "lo", "mid", "hi"][:s]) for s in sizes)  # "na": code 0
    codes = np.column_stack([rng.integers(0, s, n) for s in sizes]).astype(np.int16)
    return UnitSet(tuple(f"f{j}" for j in range(len(sizes))), values, codes, np.zeros(n),
                   np.zeros(n), 1_767_225_600_000 + np.arange(n) * 60_000)


def test_scope_sums_are_the_per_window_sums_of_every_scope():
    units = _units(5, 2_000, (3, 4, 2, 3))
    psi = np.random.default_rng(6).standard_normal((units.n, units.n_literals))
    got = scope_sums(units, psi)
    codes = units.codes.astype(np.int64)
    na = units.na_value[units.literal_feature]
    unknown = (codes[:, units.literal_feature] == na[None, :]) & (units.literal_value != na)
    eff = np.where(unknown, 0.0, psi)
    sizes = [len(v) for v in units.values]
    scopes = [(0, np.ones(units.n, dtype=bool))]
    scopes += [(1 + int(units.offsets[f]) + v, codes[:, f] == v)
               for f in range(len(sizes)) for v in range(sizes[f])]
    scopes += [(int(got.pair_base[f1, f2]) + v1 * sizes[f2] + v2,
                (codes[:, f1] == v1) & (codes[:, f2] == v2))
               for f1, f2 in combinations(range(len(sizes)), 2)
               for v1 in range(sizes[f1]) for v2 in range(sizes[f2])]
    assert len(scopes) == len(got.count)
    assert any(unknown.ravel()) and (got.count == 0).sum() < len(scopes)
    for row, inside in scopes:
        assert got.count[row] == inside.sum()
        np.testing.assert_allclose(got.psi[row], eff[inside].sum(axis=0), rtol=1e-12,
                                   atol=1e-9)
        np.testing.assert_array_equal(got.known[row], (~unknown[inside]).sum(axis=0))


def test_psi_asked_a_block_at_a_time_gives_the_same_sums(monkeypatch):
    """`scope_sums` given what makes psi's columns (the search's `pseudo_outcomes`, a block
    of literals at a time, for the windows of a chunk of cells at a time) sums what it sums
    from the whole matrix: more literals than a block (8 features: 27 literals), every
    window asked once a block, its rows ascending. Compared with a stated tolerance."""
    units = _units(7, 3_000, (3, 4, 2, 3, 4, 3, 4, 4))
    psi = np.random.default_rng(8).standard_normal((units.n, units.n_literals))
    asked: dict[tuple[int, ...], list[np.ndarray]] = {}
    monkeypatch.setattr(search, "_CELLS", 700)  # several chunks of cells a block

    def columns(lits: np.ndarray, rows: np.ndarray) -> np.ndarray:
        assert (np.diff(rows) > 0).all()
        asked.setdefault(tuple(int(x) for x in lits), []).append(rows.copy())
        return psi[np.ix_(rows, lits)]

    whole, blocks = scope_sums(units, psi), scope_sums(units, columns)
    assert units.n_literals > max(len(a) for a in asked) and len(asked) > 1
    assert sorted(x for a in asked for x in a) == list(range(units.n_literals))
    for lits, calls in asked.items():
        assert len(calls) > 1, lits
        np.testing.assert_array_equal(np.sort(np.concatenate(calls)), np.arange(units.n))
    # a block is whole features: each feature's literals asked together (its propensities
    # predicted once a block)
    for f, values in enumerate(units.values):
        mine = set(range(int(units.offsets[f]), int(units.offsets[f]) + len(values)))
        assert any(mine <= set(a) for a in asked), f
    for name in ("psi", "count", "known", "cell_n"):
        np.testing.assert_allclose(getattr(blocks, name), getattr(whole, name), rtol=1e-12,
                                   atol=1e-9, err_msg=name)
