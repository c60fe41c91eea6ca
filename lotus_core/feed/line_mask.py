"""A bool a line, held as a bit a line (a coin-sharded parse keeps the day's line
verdict, which lines may reach a table, while it assembles every shard; as bytes that is
~48 MB at 100 coins x 24 h and grew with the coins).

`LineMask`: built a chunk at a time in line order (`append`), read for any line numbers
(`at`). `SeenLines`: line numbers marked in any order, asked whether they were marked before.
"""

from __future__ import annotations

import numpy as np

from lotus_core.arrays import distinct


class LineMask:
    """Lines 1..n, each kept or not, packed 8 to a byte (numpy's big-endian bit order)."""

    def __init__(self) -> None:
        self._packed: list[np.ndarray] = []
        self._tail = np.zeros(0, dtype=bool)  # the < 8 lines not yet packed
        self._bits: np.ndarray | None = None
        self.n = 0

    @classmethod
    def of(cls, keep: np.ndarray) -> LineMask:
        """The mask of lines 1..len(keep), line i kept when keep[i - 1]."""
        out = cls()
        out.append(keep)
        return out

    def append(self, keep: np.ndarray) -> None:
        """The next len(keep) lines, in order."""
        if self._bits is not None:
            raise RuntimeError("a LineMask is read-only once read")
        both = np.concatenate([self._tail, np.asarray(keep, dtype=bool)])
        whole = len(both) // 8 * 8
        if whole:
            self._packed.append(np.packbits(both[:whole]))
        self._tail = both[whole:]
        self.n += len(keep)

    def _packed_bits(self) -> np.ndarray:
        if self._bits is None:
            self._bits = np.concatenate([*self._packed, np.packbits(self._tail)]) \
                if self._packed or len(self._tail) else np.zeros(0, dtype=np.uint8)
            self._packed, self._tail = [], np.zeros(0, dtype=bool)
        return self._bits

    def at(self, lines: np.ndarray) -> np.ndarray:
        """bool per line number (1-based) of `lines`: is it kept?"""
        i = np.asarray(lines, dtype=np.int64) - 1
        if len(i) and (int(i.min()) < 0 or int(i.max()) >= self.n):
            raise IndexError(f"line numbers outside 1..{self.n}")
        bits = self._packed_bits()
        return ((bits[i >> 3] >> (7 - (i & 7)).astype(np.uint8)) & 1).astype(bool)

    def to_bools(self) -> np.ndarray:
        """Every line's bit as a bool array (tests; a byte a line)."""
        return np.unpackbits(self._packed_bits(), count=self.n).astype(bool)

    @property
    def nbytes(self) -> int:
        return int(sum(p.nbytes for p in self._packed) + self._tail.nbytes
                   + (0 if self._bits is None else self._bits.nbytes))


class SeenLines:
    """Line numbers seen so far, a bit a line, in any order (the DM's day replay asks
    whether any trades line had rows in two coin shards; asked at its end, that holds every
    shard's trade line numbers until then, 8 bytes a trade, ~55 MB at 100 coins x 24 h).
    `add` answers as each shard is read: were any of these lines seen before?"""

    def __init__(self) -> None:
        self._bits = np.zeros(0, dtype=np.uint8)

    def add(self, lines: np.ndarray) -> bool:
        """Mark `lines` (any order, repeats allowed); True when one was marked by an earlier
        call (a repeat within one call is not a repeat)."""
        d = distinct(np.asarray(lines, dtype=np.int64))
        if not len(d):
            return False
        if int(d[0]) < 0:
            raise IndexError(f"line number {int(d[0])} is negative")
        need = int(d[-1]) // 8 + 1
        if need > len(self._bits):
            grown = np.zeros(max(need, 2 * len(self._bits)), dtype=np.uint8)
            grown[:len(self._bits)] = self._bits
            self._bits = grown
        byte = d >> 3
        bit = (np.uint8(1) << (7 - (d & 7)).astype(np.uint8)).astype(np.uint8)
        seen = bool(((self._bits[byte] & bit) != 0).any())
        np.bitwise_or.at(self._bits, byte, bit)
        return seen

    @property
    def nbytes(self) -> int:
        return int(self._bits.nbytes)
