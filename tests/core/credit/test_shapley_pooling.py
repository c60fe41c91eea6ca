"""Shapley-lite and partial pooling on games and estimates whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from lotus_core.credit import inclusion_orders, pool, shapley_lite

TOL = 1e-12


def test_an_additive_game_gives_each_player_its_own_worth_in_every_order():
    worth = {"a": 1.0, "b": -2.0, "c": 0.5}
    r = shapley_lite(list(worth), lambda s: np.array([sum(worth[p] for p in s)]), 8, seed=3)
    assert np.allclose(r.marginals[..., 0], np.array(list(worth.values()))[None, :], atol=TOL)
    assert np.allclose(r.knockout[:, 0], list(worth.values()), atol=TOL)
    assert np.allclose(r.se, 0.0, atol=TOL)


def test_a_pure_interaction_is_shared_and_orders_telescope():
    # v = 1 only when a and b are both in; c is a dummy
    game = lambda s: np.array([1.0 if {"a", "b"} <= s else 0.0, float(len(s))])  # noqa: E731
    r = shapley_lite(["a", "b", "c"], game, 16, seed=11)
    # each order: its marginals sum to v(all) - v(none), metric by metric
    assert np.allclose(r.marginals.sum(axis=1), (r.full - r.empty)[None, :], atol=TOL)
    assert r.mean[2, 0] == 0.0                        # the dummy earns nothing
    assert r.mean[0, 0] + r.mean[1, 0] == pytest.approx(1.0, abs=TOL)
    assert 0.2 < r.mean[0, 0] < 0.8                   # shared, as the orders fell
    assert r.knockout[0, 0] == 1.0 and r.knockout[2, 0] == 0.0
    assert r.evaluations <= 2 ** 3


def test_orders_are_seeded():
    assert inclusion_orders(["a", "b", "c", "d"], 8, 5) == inclusion_orders(["a", "b", "c", "d"],
                                                                            8, 5)
    assert inclusion_orders(["a", "b", "c", "d"], 8, 5) != inclusion_orders(["a", "b", "c", "d"],
                                                                            8, 6)
    with pytest.raises(ValueError, match="players must be distinct"):
        shapley_lite(["a", "a"], lambda s: np.zeros(1), 8, 0)


def test_pooling_shrinks_noisy_coins_more_and_agreeing_coins_fully():
    # coins that agree within their noise: no between-coin variance, all get the pooled mean
    agree = pool(np.array([1.0, 1.1, 0.9]), np.array([0.5, 0.5, 0.5]))
    assert agree.tau2 == 0.0 and np.allclose(agree.shrunk, agree.mu, atol=TOL)
    assert agree.mu == pytest.approx(1.0, abs=1e-12)
    # coins that differ for real: the precise ones keep their estimate, the noisy one moves
    apart = pool(np.array([0.0, 10.0, 20.0, 5.0]), np.array([0.1, 0.1, 0.1, 30.0]))
    assert apart.tau2 > 0
    assert np.allclose(apart.shrunk[:3], [0.0, 10.0, 20.0], atol=0.01)
    assert abs(apart.shrunk[3] - apart.mu) < abs(5.0 - apart.mu) * 0.5
    assert apart.weight[3] < 0.5 < apart.weight[0]
