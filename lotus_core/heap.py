"""The process heap handed back to the OS: one home for `malloc_trim` (issue 32: a stage that
reads a large table in many small pieces leaves glibc's heap holding the freed pages)."""

from __future__ import annotations

import ctypes
import ctypes.util


def release_free_heap() -> None:
    """Hand the heap's free pages back to the OS (glibc `malloc_trim`; elsewhere nothing).

    Many few-MB arrays (a parse's chunks from its workers, a table's row groups read one
    after another) are served from glibc's heap, not from their own mappings; once freed,
    the heap keeps their pages (measured: 1.4 GB still resident after a 24-hour 10-coin
    parse whose tables hold 1.4 GB; 290 MB after the learning window's sampled read of
    11 M windows). Only RSS changes, never a value."""
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim  # noqa: B018 - glibc only; AttributeError elsewhere
            _LIBC = libc
        except (OSError, AttributeError):
            _LIBC = False
    if isinstance(_LIBC, ctypes.CDLL):
        _LIBC.malloc_trim(0)


_LIBC: ctypes.CDLL | bool | None = None
