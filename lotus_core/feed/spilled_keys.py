"""The day's line keys on disk, a chunk's keys read back at a time.

Why: the line-level rules need every line's key (8 bytes a line) to settle the few lines
behind the receive clock, and a coin-sharded parse judges the whole day before it
assembles any shard: held in memory the keys were ~270 MB at 100 coins x 24 h, the one part
of `raw_feed`'s memory that still grew with the coins. Appended to a file as the parse
reads its chunks, they cost a chunk's keys at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np


class KeyParts(Protocol):
    """Each chunk's line keys in line order: a list, or `SpilledKeys` (on disk)."""

    def append(self, keys: np.ndarray, /) -> None: ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...

    def __getitem__(self, k: int, /) -> np.ndarray: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...


class KeySpillError(RuntimeError):
    """The disk refused the line keys (full, or gone)."""


class SpilledKeys:
    """A list of int64 key arrays, one per chunk, kept in `file`: what `parse.extract_chunks`
    appends to (and clears when it runs the extraction again) and the day's judge reads
    back in order. Closing it (or leaving its `with`) removes the file."""

    def __init__(self, file: Path) -> None:
        self.file = Path(file)
        try:
            self._f = open(self.file, "w+b")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise KeySpillError(f"could not spill the line keys to {self.file}: {exc}") from exc
        self._parts: list[tuple[int, int]] = []  # (byte offset, keys) of each chunk
        self._end = 0

    def append(self, keys: np.ndarray) -> None:
        data = np.ascontiguousarray(keys, dtype=np.int64)
        try:
            self._f.seek(self._end)
            self._f.write(data.tobytes())
        except OSError as exc:
            raise KeySpillError(f"could not spill the line keys to {self.file}: {exc}") from exc
        self._parts.append((self._end, len(data)))
        self._end += data.nbytes

    def clear(self) -> None:
        self._f.truncate(0)
        self._parts, self._end = [], 0

    def __len__(self) -> int:
        return len(self._parts)

    def __getitem__(self, k: int) -> np.ndarray:
        offset, n = self._parts[k]
        self._f.flush()
        self._f.seek(offset)
        keys = np.fromfile(self._f, dtype=np.int64, count=n)
        if len(keys) != n:
            raise KeySpillError(f"{self.file} holds {len(keys)} of chunk {k}'s {n} line keys")
        return keys

    def __iter__(self) -> Iterator[np.ndarray]:
        for k in range(len(self._parts)):
            yield self[k]

    @property
    def lines(self) -> int:
        return sum(n for _, n in self._parts)

    def close(self) -> None:
        self._f.close()
        self.file.unlink(missing_ok=True)

    def __enter__(self) -> SpilledKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
