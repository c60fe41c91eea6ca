"""Extracting a chunk of recording lines: the one entry point, `extract_chunk`.

Why its own module: the scan (`scan_chunk`) leaves the lines it does not read to
`extract.ChunkBuilder`, so it builds on `extract`; the choice between the two sits above
both (in `extract` it would make the two import each other).
"""

from __future__ import annotations

from lotus_core.feed.extract import Chunk, extract_built

_SCAN_LINES = 1_000
"""Lines from which `extract_chunk` scans: the nightly parse's chunks (`parse._CHUNK_LINES`)
and the live loops' batches alike (a smaller batch is a quiet moment: the per-line path
costs it little). A live process loads the scan's kernel (on a fresh machine compiles it,
~20 s) before its first batch: `lotus_core.live.kernels.warm_kernels`."""


def extract_chunk(first_line: int, lines: list[bytes], typed: bool = True,
                  scan: bool | None = None) -> Chunk:
    """Decode and extract every line; the cyclic GC is paused (millions of acyclic
    containers would make it rescan the heap over and over). `typed=False` reads every
    line the generic way (`ChunkBuilder.add_line`): the same chunk, slower; the reference
    the typed path is tested against. `scan` (default: for `_SCAN_LINES` lines or more)
    reads the plain data lines in one numba pass (`lotus_core.feed.scan_chunk`) and the
    rest with `ChunkBuilder`: the same chunk again."""
    if typed and (len(lines) >= _SCAN_LINES if scan is None else scan):
        from lotus_core.feed.scan_chunk import extract_scanned  # numba: only when used

        return extract_scanned(first_line, lines)
    return extract_built(first_line, lines, typed)
