"""Column means and centred cross-products of a matrix, added a block of rows at a time:
the pooled correlation of a table too large to hold, from blocks (a coin, a coin-day) held
one at a time. Blocks merge by Chan et al.'s update, so a column constant over every block
keeps a variance of exactly 0 (no sum-of-squares cancellation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Comoments:
    """Row count, column means and centred cross-products, mergeable."""

    n: int = 0
    mean: np.ndarray | None = None
    cross: np.ndarray | None = None

    @classmethod
    def of(cls, m: np.ndarray) -> Comoments:
        """The co-moments of the rows of `m` (rows x columns)."""
        if len(m) == 0:
            return cls()
        mean = m.mean(axis=0)
        d = m - mean
        return cls(len(m), mean, d.T @ d)

    def add(self, m: np.ndarray) -> None:
        """Add the rows of `m` (rows x columns)."""
        self.merge(Comoments.of(m))

    def merge(self, other: Comoments) -> None:
        """Add another block's co-moments (`add` of its rows, without the rows: a block
        summarised in one process, merged in another)."""
        if other.n == 0 or other.mean is None or other.cross is None:
            return
        if self.n == 0 or self.mean is None or self.cross is None:
            self.n, self.mean, self.cross = other.n, other.mean, other.cross
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.cross = self.cross + other.cross + np.outer(delta, delta) * (self.n * other.n / n)
        self.mean = self.mean + delta * (other.n / n)
        self.n = n

    def live(self) -> np.ndarray:
        """Which columns vary (a variance above 0)."""
        if self.cross is None:
            return np.zeros(0, dtype=bool)
        return np.diag(self.cross) > 0

    def abs_corr(self) -> np.ndarray:
        """|Pearson correlation| between the live columns (`live()`), in their order."""
        assert self.cross is not None
        live = self.live()
        sd = np.sqrt(np.diag(self.cross)[live])
        return np.abs(self.cross[np.ix_(live, live)] / np.outer(sd, sd))

    def max_abs_corr(self, ids: list[str]) -> dict[str, float]:
        """Each column's largest |Pearson correlation| with another (0 if constant)."""
        if len(ids) < 2 or self.n < 2 or self.cross is None:
            return dict.fromkeys(ids, 0.0)
        live = self.live()
        corr = np.zeros((len(ids), len(ids)))
        if live.sum() >= 2:
            corr[np.ix_(live, live)] = self.abs_corr()
        np.fill_diagonal(corr, 0.0)
        return {i: float(corr[k].max()) for k, i in enumerate(ids)}
