"""The cyclic garbage collector's pace in the live processes.

A live step allocates many short-lived containers (a parsed frame's dicts and lists, a
row's dict, a batch's tuples) and frees them at once: reference counting reclaims them,
but each 700 net allocations (CPython's default first threshold) also start a collection
that walks every young container. At replay speed that was 6-7 % of the feed loop's and
of the score process's CPU (measured with `gc.callbacks` on the first 4 h of the
`bench.live` day; docs/live.md). A larger first threshold runs the same collections less
often; nothing the streams compute depends on when garbage is collected.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

YOUNG_THRESHOLD = 20_000
"""Net container allocations between two young collections (CPython's default: 700)."""

_lock = threading.Lock()
_users = 0
_saved: tuple[int, ...] = ()


@contextlib.contextmanager
def collecting_less(young: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Run the body with the young generation's threshold at least `young`. The setting is
    per process and loops run side by side in threads: the first to enter saves the
    thresholds, the last to leave restores them."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(young, _saved[0]), *_saved[1:])
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                gc.set_threshold(*_saved)
