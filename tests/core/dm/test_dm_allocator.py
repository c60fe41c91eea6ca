"""The allocator against known solutions: a hand-solved case, each constraint binding in
turn (and reported so from its dual), a flat book on zero alpha, costs stopping sub-cost
trades, and "hold" with a reason when nothing is feasible."""

from __future__ import annotations

import numpy as np
import pytest

from lotus_core.dm.allocator import BIG, AllocationInput, Allocator

LAM, GAMMA = 2.0, 0.5
COV = np.array([[4e-4, 1e-4], [1e-4, 9e-4]])


def _inp(**over) -> AllocationInput:
    base = dict(mu=np.array([2e-3, 1e-3]), cov=COV, w0=np.zeros(2), cost=np.zeros(2),
                liquidity=np.full(2, BIG), kelly=np.full(2, BIG), asset_cap=np.full(2, BIG),
                gross=BIG, leverage=BIG, net=BIG, turnover=BIG, risk_target=BIG)
    base.update(over)
    return AllocationInput(**base)


@pytest.fixture(scope="module")
def alloc() -> Allocator:
    return Allocator(2, LAM, GAMMA, labels=("A", "B"))


def test_two_assets_match_the_hand_solution(alloc: Allocator) -> None:
    # Unconstrained, no cost: ∇ = μ − 2λΣw − 2γ(w − w₀) = 0.
    mu, w0 = np.array([2e-3, -1e-3]), np.array([0.1, 0.0])
    hand = np.linalg.solve(2 * LAM * COV + 2 * GAMMA * np.eye(2), mu + 2 * GAMMA * w0)
    res = alloc.solve(_inp(mu=mu, w0=w0))
    assert res.status == "optimal"
    np.testing.assert_allclose(res.w, hand, rtol=1e-6, atol=1e-9)
    assert res.binding == ()
    assert res.turnover == pytest.approx(np.abs(hand - w0).sum(), rel=1e-6)


@pytest.mark.parametrize(
    ("over", "expect", "check"),
    [
        (dict(gross=1e-3), "gross", lambda w: np.abs(w).sum() <= 1e-3 + 1e-8),
        (dict(leverage=1e-3), "leverage", lambda w: np.abs(w).sum() <= 1e-3 + 1e-8),
        (dict(net=1e-3), "net_long", lambda w: w.sum() <= 1e-3 + 1e-8),
        (dict(mu=np.array([-2e-3, -1e-3]), net=1e-3), "net_short",
         lambda w: w.sum() >= -1e-3 - 1e-8),
        (dict(asset_cap=np.array([1e-4, BIG])), "asset_cap:A", lambda w: abs(w[0]) <= 1e-4 + 1e-8),
        (dict(kelly=np.array([2e-4, BIG])), "kelly_cap:A", lambda w: abs(w[0]) <= 2e-4 + 1e-8),
        (dict(liquidity=np.array([BIG, 1e-4])), "liquidity_cap:B",
         lambda w: abs(w[1]) <= 1e-4 + 1e-8),
        (dict(turnover=1e-3), "turnover", lambda w: np.abs(w).sum() <= 1e-3 + 1e-8),
        (dict(risk_target=1e-5), "risk_budget", lambda w: np.sqrt(w @ COV @ w) <= 1e-5 + 1e-9),
        (dict(anchor=np.zeros(2), anchor_budget=1e-3), "tilt_anchor",
         lambda w: np.abs(w).sum() <= 1e-3 + 1e-8),
    ],
)
def test_each_constraint_binds_in_turn_and_is_reported(alloc, over, expect, check) -> None:
    free = alloc.solve(_inp(**{k: v for k, v in over.items() if k == "mu"}))
    res = alloc.solve(_inp(**over))
    assert res.status == "optimal", res.reason
    assert check(res.w), res.w
    assert expect in res.binding, (res.binding, res.duals)
    assert res.objective < free.objective  # the limit cost something
    others = [b for b in res.binding if b != expect]
    # gross and leverage are the same expression; turnover from a flat book equals gross
    assert set(others) <= {"gross", "leverage", "turnover", "tilt_anchor"}, others


def test_zero_alpha_stays_flat(alloc: Allocator) -> None:
    res = alloc.solve(_inp(mu=np.zeros(2), cost=np.full(2, 3e-4)))
    assert res.status == "optimal"
    np.testing.assert_allclose(res.w, 0.0, atol=1e-9)
    assert res.turnover < 1e-8 and res.binding == ()


def test_costs_stop_trades_whose_edge_is_below_cost() -> None:
    alloc = Allocator(2, LAM, GAMMA, labels=("A", "B"))
    diag = np.diag([4e-4, 9e-4])
    res = alloc.solve(_inp(mu=np.array([1e-4, 6e-4]), cov=diag, cost=np.full(2, 2e-4)))
    assert abs(res.w[0]) < 1e-8  # edge 1 bp < cost 2 bps: no trade
    # B trades by its edge net of cost: (μ − c) / (2λσ² + 2γ)
    assert res.w[1] == pytest.approx((6e-4 - 2e-4) / (2 * LAM * 9e-4 + 2 * GAMMA), rel=1e-6)
    assert res.expected_cost == pytest.approx(2e-4 * abs(res.w[1]), rel=1e-6)


def test_infeasible_is_a_hold_with_a_reason_never_a_crash(alloc: Allocator) -> None:
    w0 = np.array([0.5, 0.0])
    res = alloc.solve(_inp(w0=w0, asset_cap=np.full(2, 0.1), turnover=0.0))
    assert res.hold and res.status == "hold"
    np.testing.assert_array_equal(res.w, w0)
    assert "infeasible" in res.reason and "A 0.5 beyond its asset/Kelly cap" in res.reason
    bad = alloc.solve(_inp(mu=np.array([np.nan, 0.0])))
    assert bad.hold and "mu" in bad.reason


def test_built_once_and_resolved_with_new_parameters(alloc: Allocator) -> None:
    assert alloc.problem.is_dpp()
    problem = alloc.problem
    a = alloc.solve(_inp(mu=np.array([1e-3, 0.0]))).w.copy()
    b = alloc.solve(_inp(mu=np.array([0.0, 1e-3]))).w.copy()
    assert alloc.problem is problem
    assert a[0] > 0 and b[1] > 0 and not np.allclose(a, b)
