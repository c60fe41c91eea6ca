"""Recording lines as the parsers compare them: a 64-bit key per line (duplicate lines are
found by key), and a batch of lines as one block of bytes with its keys.

`line_keys` is the one definition of a line's key, used by the nightly parse
(`lotus_core.feed.parse`), the live day (`lotus_core.live.engine.LiveDay`) and the daemon's
feed loop, which keys each batch it hands to the score process. It is the same in every
process (Python's `hash` of bytes is salted per process, so keys made by the feed loop
would not match the ones the score process makes when it reads a day's earlier lines back
from the recording). CRC-32 in the high half, Adler-32 in the low half (zlib-ng's, both C
calls per line): two different lines share a key with probability about 2**-60, and only
lines received in the same millisecond are ever compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from zlib_ng import zlib_ng

_HIGH = np.uint64(32)


def line_keys(lines: Sequence[bytes]) -> np.ndarray:
    """int64 key of each line (see the module docstring)."""
    n = len(lines)
    crc = np.fromiter(map(zlib_ng.crc32, lines), np.uint64, n)
    adler = np.fromiter(map(zlib_ng.adler32, lines), np.uint64, n)
    return ((crc << _HIGH) | adler).view(np.int64)


def ended(lines: Sequence[bytes]) -> list[bytes]:
    """The lines, each ending in a newline (a recording's last line may lack its own)."""
    if all(line.endswith(b"\n") for line in lines):
        return list(lines)
    return [x if x.endswith(b"\n") else x + b"\n" for x in lines]


@dataclass(frozen=True, slots=True)
class LineBlock:
    """Consecutive recording lines as one bytes object (the lines one after another, each
    ending in a newline) and their `line_keys`: what the feed loop hands to the score
    process per batch. One bytes object crosses the pipe, not ten thousand, and the scorer
    neither re-keys nor re-joins the lines (a twelfth of its CPU at replay speed)."""

    data: bytes
    keys: np.ndarray
    count: int
    held: list[bytes] | None = None  # the lines themselves, where they were at hand

    @classmethod
    def of(cls, lines: Sequence[bytes]) -> LineBlock:
        """A block of lines; each must end in a newline (`ended`)."""
        return cls(b"".join(lines), line_keys(lines), len(lines), list(lines))

    def __len__(self) -> int:
        return self.count

    def lines(self) -> list[bytes]:
        """The lines again, each with its newline (split at b"\\n" only: a line may hold
        a carriage return)."""
        if self.held is not None:
            return self.held
        parts = self.data.split(b"\n")
        parts.pop()  # what follows the last newline: nothing
        return [p + b"\n" for p in parts]

    def after(self, skip: int) -> LineBlock:
        """The block without its first `skip` lines."""
        if skip <= 0:
            return self
        rest = self.lines()[skip:]
        return LineBlock(b"".join(rest), self.keys[skip:], len(rest), rest)

    def __reduce__(self) -> tuple[object, tuple[bytes, bytes, int]]:
        """The bytes and the keys cross a pipe; the held lines do not (one object, not one
        per line)."""
        return _block, (self.data, self.keys.tobytes(), self.count)


def _block(data: bytes, keys: bytes, count: int) -> LineBlock:
    """Unpickle a LineBlock (its keys as raw int64: cheaper than numpy's own pickle)."""
    return LineBlock(data, np.frombuffer(keys, dtype=np.int64), count)
