"""The live assembler's set of the day's trade keys at 100-coin scale, against numpy's own
np.unique merge (what it did before) and one sort of every key (the floor).

Usage: python -m bench.trade_keys [--keys 7500000] [--batch 2500] [--skip-unique]
A generated day has ~75,000 trades a coin, so 7.5 M keys is a 100-coin day; 2,500 a batch is
a 10,000-line batch at 100 coins. Random 64-bit keys, seeded. CPU seconds (process_time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lotus_core.arrays import distinct
from lotus_core.feed.assemble import _KeySet


class _UniqueKeySet(_KeySet):
    """The set as it merged before (numpy >= 2.3's hash-based np.unique over every key)."""

    def add(self, h: np.ndarray) -> None:
        self.pending.update(int(x) for x in h)
        if len(self.pending) > self._PENDING:
            merged = np.concatenate([self.sorted, np.fromiter(self.pending, np.uint64)])
            self.sorted = np.unique(merged)
            self.pending = set()


def _run(keyset: _KeySet, keys: np.ndarray, batch: int) -> float:
    t = time.process_time()
    for k in range(0, len(keys), batch):
        h = keys[k:k + batch]
        keyset.contains(h)
        keyset.add(distinct(h))
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=7_500_000)
    ap.add_argument("--batch", type=int, default=2_500)
    ap.add_argument("--skip-unique", action="store_true",
                    help="leave out the np.unique merge (minutes at 7.5 M keys)")
    a = ap.parse_args()
    keys = np.random.default_rng(0).integers(0, 2**63, a.keys, dtype=np.uint64)
    t = time.process_time()
    np.sort(keys)
    floor = time.process_time() - t
    print(f"{a.keys:,} keys in batches of {a.batch:,} (CPU s)")
    print(f"  floor: one sort of every key       {floor:8.2f}")
    print(f"  _KeySet (merge_distinct)           {_run(_KeySet(), keys, a.batch):8.2f}")
    if not a.skip_unique:
        print(f"  np.unique merge (before)           {_run(_UniqueKeySet(), keys, a.batch):8.2f}")


if __name__ == "__main__":
    main()
