"""Selecting each coin's windows: a scan of every window per coin (and per coin x detector,
as the meta-signals' entrainment did) against `lotus_core.arrays.positions_by`.

Usage: python -m bench.coin_scans
~8,200 windows a coin-day (the live bench's 24 h day), 9 detectors, seeded; CPU seconds of
one call (process_time). docs/scale.md, round 9, quotes it.
"""

from __future__ import annotations

import time

import numpy as np

from lotus_core.arrays import positions_by


def main() -> None:
    rng = np.random.default_rng(0)
    print("| coins | windows | scans per coin | scans per coin x detector "
          "| `positions_by` (both) |")
    print("|---|---|---|---|---|")
    for n_coins in (3, 10, 30, 100):
        n = 8_200 * n_coins
        coins = np.array([f"C{i}" for i in range(n_coins)], dtype=object)
        dets = np.array([f"d{i}" for i in range(9)], dtype=object)
        wcoin = coins[np.sort(rng.integers(0, n_coins, n))]
        wdet = dets[rng.integers(0, 9, n)]
        t = time.process_time()
        for c in coins:
            np.flatnonzero(wcoin == c)
        per_coin = time.process_time() - t
        t = time.process_time()
        for c in coins:
            for d in dets:
                np.flatnonzero((wcoin == c) & (wdet == d))
        per_pair = time.process_time() - t
        t = time.process_time()
        by_coin = positions_by(wcoin)
        for c in coins:
            mine = by_coin[c]
            by_det = positions_by(wdet[mine])
            for d in dets:
                _ = mine[by_det[d]]
        grouped = time.process_time() - t
        print(f"| {n_coins} | {n:,} | {per_coin:.2f} s | {per_pair:.2f} s | {grouped:.3f} s |")


if __name__ == "__main__":
    main()
