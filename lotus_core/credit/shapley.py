"""Shapley-lite: a player's average marginal contribution over a few seeded random
inclusion orders, plus the permutation knock-out (the whole coalition minus one player).

The exact Shapley value averages over all n! orders; 8-16 random orders give an unbiased
estimate whose spread across orders is its standard error. Every order's marginals add up
to v(all) - v(none) (they telescope), so the estimate keeps the efficiency property order
by order. Coalitions are valued once each (cached): n players need at most 2^n values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Value = Callable[[frozenset[str]], np.ndarray]
"""A coalition's value: a vector of metrics (the same length for every coalition)."""


@dataclass(frozen=True)
class ShapleyResult:
    players: tuple[str, ...]
    orders: tuple[tuple[str, ...], ...]
    marginals: np.ndarray   # (orders, players, metrics)
    knockout: np.ndarray    # (players, metrics): v(all) - v(all without the player)
    full: np.ndarray        # v(all)
    empty: np.ndarray       # v(none)
    evaluations: int        # distinct coalitions valued

    @property
    def mean(self) -> np.ndarray:
        """(players, metrics): the Shapley-lite estimate."""
        return np.asarray(self.marginals.mean(axis=0))

    @property
    def se(self) -> np.ndarray:
        """(players, metrics): the estimate's standard error across orders."""
        m = len(self.orders)
        if m < 2:
            return np.full(self.mean.shape, np.nan)
        return np.asarray(self.marginals.std(axis=0, ddof=1) / np.sqrt(m))


def inclusion_orders(players: Sequence[str], n: int, seed: int) -> list[tuple[str, ...]]:
    """`n` random orders of `players` from a seeded generator (the same seed, the same
    orders)."""
    rng = np.random.default_rng(seed)
    return [tuple(players[i] for i in rng.permutation(len(players))) for _ in range(n)]


def shapley_lite(players: Sequence[str], value: Value, orders: int, seed: int) -> ShapleyResult:
    """Marginal contributions of each player over `orders` seeded inclusion orders."""
    if len(set(players)) != len(players) or not players:
        raise ValueError(f"players must be distinct and not empty, got {list(players)}")
    cache: dict[frozenset[str], np.ndarray] = {}

    def v(coalition: frozenset[str]) -> np.ndarray:
        got = cache.get(coalition)
        if got is None:
            got = cache[coalition] = np.asarray(value(coalition), dtype=np.float64)
        return got

    index = {p: i for i, p in enumerate(players)}
    drawn = inclusion_orders(list(players), orders, seed)
    empty = v(frozenset())
    marginals = np.zeros((orders, len(players), len(empty)))
    for k, order in enumerate(drawn):
        coalition: frozenset[str] = frozenset()
        before = empty
        for p in order:
            coalition = coalition | {p}
            after = v(coalition)
            marginals[k, index[p]] = after - before
            before = after
    everyone = frozenset(players)
    full = v(everyone)
    knockout = np.stack([full - v(everyone - {p}) for p in players])
    return ShapleyResult(players=tuple(players), orders=tuple(drawn), marginals=marginals,
                         knockout=knockout, full=full, empty=empty, evaluations=len(cache))
