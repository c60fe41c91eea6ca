"""Clarabel called directly on the allocator's compiled problem (`lotus_core.dm.direct`)
gives what `Problem.solve` gives, bit for bit: weights, duals and the constraints they
make binding, objective, status and hold reasons, over a run of solves that share one
solver (the base and tilt stages of a day, infeasible books and bad inputs among them)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from lotus_core.dm.allocator import Allocation, AllocationInput, Allocator


def _pair(n: int) -> tuple[Allocator, Allocator]:
    labels = tuple(f"C{i}" for i in range(n))
    direct = Allocator(n, 2.0, 0.5, "CLARABEL", labels)
    plain = Allocator(n, 2.0, 0.5, "CLARABEL", labels)
    plain._direct_tried = True  # cvxpy's own path
    return direct, plain


def _inputs(n: int, count: int, seed: int) -> list[AllocationInput]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a = rng.normal(size=(n, n)) * 1e-2
        out.append(AllocationInput(
            mu=rng.normal(size=n) * 3e-3, cov=a @ a.T + np.eye(n) * 1e-5,
            w0=rng.normal(size=n) * float(rng.choice([0.0, 0.01, 0.1])),
            cost=rng.uniform(0, 5e-4, n), liquidity=rng.choice([0.0, 0.05, 0.5], n),
            kelly=rng.uniform(0, 1, n), asset_cap=np.full(n, 0.25),
            gross=float(rng.choice([0.1, 1.0])), leverage=2.0,
            net=float(rng.choice([0.05, 0.5])), turnover=float(rng.choice([0.0, 0.02, 0.3])),
            risk_target=float(rng.choice([1e-4, 0.01]))))
    return out


def _bits(a: Allocation) -> tuple[object, ...]:
    return (a.status, a.w.tobytes(), a.binding, repr(a.objective), repr(a.expected_cost),
            repr(a.turnover), repr(a.risk), a.solver_status, a.reason,
            repr(sorted(a.duals.items())))


@pytest.mark.parametrize("n", [1, 3, 6])
def test_direct_solves_are_cvxpys_bit_for_bit(n: int) -> None:
    direct, plain = _pair(n)
    statuses = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optimal_inaccurate warns on both paths
        for inp in _inputs(n, 60, seed=n):
            base = direct.solve(inp)
            assert _bits(base) == _bits(plain.solve(inp))
            statuses.add(base.status)
            if base.hold:
                continue
            tilt = replace(inp, mu=inp.mu * 1.5, anchor=base.w, anchor_budget=0.05)
            assert _bits(direct.solve(tilt)) == _bits(plain.solve(tilt))
    assert direct._direct is not None  # the direct path was the one taken
    assert {"optimal", "hold"} <= statuses


def test_bad_inputs_are_named_as_before() -> None:
    direct, _ = _pair(2)
    good = _inputs(2, 1, seed=0)[0]
    cases: tuple[tuple[str, Any, str], ...] = (
        ("mu", np.array([np.nan, 0.0]), "mu must be 2 finite"),
        ("kelly", np.array([-1.0, 0.0]), "kelly must be >= 0"),
        ("cost", np.zeros(3), "cost must be 2 finite"),
        ("liquidity", np.array([0.1, np.inf]), "liquidity must be 2 finite"))
    for field, value, says in cases:
        res = direct.solve(replace(good, **{field: value}))
        assert res.hold and says in res.reason
    assert not direct.solve(good).hold  # the solver kept after refusals still solves


def test_other_solvers_keep_cvxpys_path() -> None:
    alloc = Allocator(2, 2.0, 0.5, "SCS", ("A", "B"))
    alloc.solve(_inputs(2, 1, seed=0)[0])
    assert alloc._direct is None
