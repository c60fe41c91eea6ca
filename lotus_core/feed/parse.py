"""Parse and validate one day's recording into a `FeedDay`, never crashing on bad input.

Two phases. (1) Extraction, stateless and parallel: chunks of lines are decoded and
pulled into numpy columns by `lotus_core.feed.extract` (the plain data lines by a numba
scan, `lotus_core.feed.scan`) in worker processes (both cores of a 2-core machine; inline
for small files). (2) The rules that depend on order, applied
vectorised over the whole day in the order a sequential reader would apply them, by
`lotus_core.feed.assemble` (which serves the live step by the same rules). This module
reads: the file, its chunks, its hash, and the cache of parsed days.

What counts as bad (each a dead-letter reason):
  malformed_json, bad_record (not {"recv_ts_ms": int, "msg": ...}), malformed_message,
  unknown_channel, malformed_<channel> (shape or number errors), crossed_book,
  out_of_order (recv clock going back, or a venue time older than the stream's latest),
  duplicate_frame (a line identical to an earlier one), duplicate_trades (every trade in
  the frame was already seen), outside_day (received outside the partition's UTC day).
What is normal and only counted: plain-text frames such as "Websocket connection
established." (and blank lines), subscriptionResponse / pong / error frames, an l2Book or
bbo snapshot re-sent unchanged with the same venue time (the real venue does this), and
individual replayed trades inside a frame that also carries new ones. Level `n` (order
count) is not used by Lotus and not checked. Duplicate lines are found by a 64-bit key
of the line (`lotus_core.feed.lines.line_keys`; only lines of one millisecond are compared).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing as mp
import os
import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from lotus_core.cores import spare_workers
from lotus_core.feed import chunks
from lotus_core.feed import extract as ex
from lotus_core.feed.assemble import _assemble
from lotus_core.feed.gzlines import RecordingFormatError, Truncation, open_lines
from lotus_core.feed.lines import line_keys
from lotus_core.feed.spilled_keys import KeyParts
from lotus_core.feed.tables import DeadLetter, FeedDay
from lotus_core.feed.validate import FeedFormatError
from lotus_core.malloc import release_free_heap

_CHUNK_LINES = 50_000
_T = TypeVar("_T")
_PARALLEL_MIN_BYTES = 4_000_000  # smaller files parse inline: a pool costs ~1 s to start

__all__ = ["FeedFormatError", "RecordingFormatError", "file_sha256",
           "open_recording", "parse_recording", "parse_recording_cached"]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_recording(path: Path) -> io.BufferedReader:
    """A buffered reader over the decompressed recording; iterate it for lines. A stream
    that ends early stops at its last complete line (see `lotus_core.feed.gzlines`)."""
    return open_lines(path)[0]


def parse_recording(path: Path, day: str | None = None, workers: int | None = None) -> FeedDay:
    """Read a `<YYYY-MM-DD>.jsonl.gz` recording; `day` defaults to the file name's date.

    `workers`: extraction processes (default: for files over a few MB, 2 where a core is idle
    (`lotus_core.cores`), else inline). The result does not depend on it.
    """
    path = Path(path)
    day = day or path.name.split(".")[0]
    if workers is None:
        big = path.stat().st_size >= _PARALLEL_MIN_BYTES
        workers = spare_workers(2) if big else 1
    cut: list[Truncation] = []
    chunks, hashes = _extract_all(path, max(1, workers), cut)
    feed = _assemble(path, day, file_sha256(path), chunks, hashes)
    if cut:
        feed.dead.append(truncation_letter(path, cut[0], len(hashes) + 1))
    del chunks, hashes
    release_free_heap()
    return feed




_CACHE: OrderedDict[tuple[str, str, str], FeedDay] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cache_size() -> int:
    """LOTUS_PARSE_CACHE: recordings kept parsed per process (default 2: a day and the one
    before it, what `raw_feed` and a warm `microtape_frames` read); 0 turns it off."""
    try:
        return max(0, int(os.environ.get("LOTUS_PARSE_CACHE", "2")))
    except ValueError:
        return 2


def parse_recording_cached(path: Path, day: str | None = None) -> FeedDay:
    """`parse_recording`, remembered per process for the last few files by content.

    In one process a night's chain parses the same recording three times (`raw_feed`,
    `microtape_frames`, and the next day's warm start); with the in-process executor the
    second and third are a lookup. The key is the file's sha256, computed on every call, so
    a file changed on disk is parsed again, never served stale. Callers must not mutate
    the returned FeedDay (none does: the MicroTape and the summaries only read it)."""
    path = Path(path)
    day = day or path.name.split(".")[0]
    size = _cache_size()
    if size == 0:
        return parse_recording(path, day)
    key = (str(path.resolve()), day, file_sha256(path))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    feed = parse_recording(path, day)
    with _CACHE_LOCK:
        _CACHE[key] = feed
        while len(_CACHE) > size:
            _CACHE.popitem(last=False)
    return feed


def truncation_letter(path: Path, cut: Truncation, line_no: int) -> DeadLetter:
    """The one dead letter that stands for everything after a recording's last full line."""
    return DeadLetter(line_no=line_no, recv_ts_ms=None, channel=None, coin=None,
                      reason="truncated_recording", detail=cut.detail(path),
                      raw=ex.excerpt(cut.tail))


def _read_chunks(path: Path, hashes: KeyParts, cut: list[Truncation] | None = None
                 ) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) chunks; records each chunk's `line_keys` on the way, and in
    `cut` where the gzip stream ended early (if it did)."""
    size = _CHUNK_LINES
    first, buf = 1, []
    reader, raw = open_lines(path)
    with reader:
        for line in reader:
            buf.append(line)
            if len(buf) == size:
                hashes.append(line_keys(buf))
                yield first, buf
                first, buf = first + size, []
        if raw.truncation is not None and cut is not None:
            cut.append(raw.truncation)
    if buf:
        if not buf[-1].endswith(b"\n"):
            buf[-1] += b"\n"  # the last line may lack its newline; keep duplicates comparable
        hashes.append(line_keys(buf))
        yield first, buf


def _extract_all(path: Path, workers: int, cut: list[Truncation]
                 ) -> tuple[list[ex.Chunk], np.ndarray]:
    hashes: list[np.ndarray] = []
    chunks = extract_chunks(path, workers, cut, hashes, list)
    return chunks, _joined(hashes)


def extract_chunks(path: Path, workers: int, cut: list[Truncation],
                      hashes: KeyParts, take: Callable[[Iterator[ex.Chunk]], _T]) -> _T:
    """`take(chunks)`: the recording's extracted chunks, in line order, handed to `take` as
    they come (`list` holds them; a spill writes each to disk and drops it). `hashes` gets
    each chunk's line keys. A parallel extraction that loses a worker is run again inline
    (`take` is called a second time; `hashes` and `cut` start over), so `take` must not
    keep anything from a call that raised. In a daemonic process (a celery prefork pool's
    child, a multiprocessing pool worker), which may not start processes of its own, the
    extraction runs inline."""
    if workers > 1 and mp.current_process().daemon:
        warnings.warn(f"parsing {path} inline: this process ({mp.current_process().name}) "
                      "is daemonic and may not start the parse's worker processes",
                      RuntimeWarning, stacklevel=2)
        workers = 1
    if workers > 1:
        try:
            return take(_chunks_parallel(path, workers, cut, hashes))
        except (mp.TimeoutError, OSError, EOFError, mp.ProcessError) as exc:
            # the pool is only a speed-up: a lost or stuck worker must never hang or fail
            # a run, so extract again inline (the result does not depend on the path taken)
            warnings.warn(f"parallel extraction of {path} failed ({exc!r}); parsing inline",
                          RuntimeWarning, stacklevel=2)
            cut.clear()
            hashes.clear()
    return take(chunks.extract_chunk(first, lines)
                for first, lines in _read_chunks(path, hashes, cut))


def _joined(keys: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)


_CHUNK_TIMEOUT_S = 120.0  # a chunk takes well under a second; far past that, a worker is lost


def _chunks_parallel(path: Path, workers: int, cut: list[Truncation],
                     hashes: KeyParts) -> Iterator[ex.Chunk]:
    # fork: workers inherit the loaded modules and never re-import the caller's __main__
    # (forkserver/spawn break under `python -` or notebooks); they run only pure
    # extraction code and reset inherited signal handlers (ex.init_worker). The scan's
    # kernel is loaded first, so the workers inherit it (numba: imported only here).
    from lotus_core.feed.scan_chunk import warm

    warm()
    pool = mp.get_context("fork").Pool(workers, initializer=ex.init_worker)
    try:
        pending: deque = deque()
        for first, lines in _read_chunks(path, hashes, cut):
            pending.append(pool.apply_async(chunks.extract_chunk, (first, lines)))
            if len(pending) >= 2 * workers:  # bounded: the file never sits in the queue
                yield pending.popleft().get(timeout=_CHUNK_TIMEOUT_S)
        while pending:
            yield pending.popleft().get(timeout=_CHUNK_TIMEOUT_S)
        pool.close()  # let workers finish and exit on their own
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
