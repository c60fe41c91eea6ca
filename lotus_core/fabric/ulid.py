"""ULIDs: 26-character, time-ordered, URL-safe ids (48-bit ms timestamp + 80 random bits).

Written here (30 lines) rather than pulled in as a dependency. `UlidFactory` takes a clock
and a byte source so tests get the same ids every run, and it is monotonic: ids made in
the same millisecond by one factory still sort in creation order (the random part is
incremented, as the ULID spec allows).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_MAX_TIME = (1 << 48) - 1
_MAX_RAND = (1 << 80) - 1


def encode(value: int) -> str:
    """The 26-character Crockford base32 form of a 128-bit integer."""
    if not 0 <= value < 1 << 128:
        raise ValueError("a ULID is a 128-bit unsigned integer")
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode(text: str) -> int:
    if not isinstance(text, str) or not ULID_RE.match(text):
        raise ValueError(f"not a ULID: {text!r}")
    value = 0
    for ch in text:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def timestamp_ms(text: str) -> int:
    """The millisecond Unix time a ULID was made at."""
    return decode(text) >> 80


def is_ulid(text: object) -> bool:
    return isinstance(text, str) and ULID_RE.match(text) is not None


class UlidFactory:
    """Makes ULIDs from `clock` (seconds, like time.time) and `randbytes(n)` (like os.urandom).

    Thread-safe. Deterministic when both are:
    `UlidFactory(lambda: 1.7e9, random.Random(1).randbytes)`.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        randbytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock = clock
        self._randbytes = randbytes
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def __call__(self) -> str:
        ms = int(self._clock() * 1000)
        if not 0 <= ms <= _MAX_TIME:
            raise ValueError(f"clock gave {ms} ms, outside the ULID time range")
        with self._lock:
            if ms <= self._last_ms and self._last_rand < _MAX_RAND:
                # Same millisecond (or a clock step back): stay monotonic.
                ms, rand = self._last_ms, self._last_rand + 1
            else:
                rand = int.from_bytes(self._randbytes(10), "big")
            self._last_ms, self._last_rand = ms, rand
        return encode((ms << 80) | rand)


_default = UlidFactory()


def new_ulid() -> str:
    """A fresh ULID from the wall clock and os.urandom (monotonic within this process)."""
    return _default()
