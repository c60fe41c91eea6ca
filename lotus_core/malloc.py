"""glibc malloc's two controls, in one home: the heap's free pages handed back to the OS
(`malloc_trim`: a stage that reads a large table in many small pieces leaves glibc's heap
holding the freed pages) and large allocations given their own mappings (`mallopt`).
With another C library both do nothing."""

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
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def map_large_allocations(threshold: int = 128 * 1024) -> None:
    """From now on, give every allocation of `threshold` bytes or more its own mapping,
    handed back to the OS when freed (glibc `mallopt(M_MMAP_THRESHOLD)`; elsewhere nothing).

    glibc raises that threshold each time such a mapping is freed (up to 32 MB), so a loop
    that makes the same few-hundred-kB arrays chunk after chunk soon gets them from the
    heap, whose freed pages stay resident until trimmed: the lessons search, a chunk of
    windows or cells at a time, peaks ~9 MB higher at 250,000 windows without the setting
    (with it, its wall is ~15 % longer: page faults). Fixed for the rest of the process
    (glibc has no way back to the moving threshold); only RSS and time change, never a
    value."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, int(threshold))


def _libc() -> ctypes.CDLL | None:
    """glibc, or None where the C library is another."""
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim  # noqa: B018 - glibc only; AttributeError elsewhere
            libc.mallopt  # noqa: B018
            _LIBC = libc
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC if isinstance(_LIBC, ctypes.CDLL) else None


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_LIBC: ctypes.CDLL | bool | None = None
