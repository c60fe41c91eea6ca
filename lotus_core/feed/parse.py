"""Parse and validate one day's recording into a `FeedDay`, never crashing on bad input.

Two phases. (1) Extraction, stateless and parallel: chunks of lines are decoded and
pulled into numpy columns by `lotus_core.feed.extract` in worker processes (both cores of
a 2-core machine; inline for small files). (2) The rules that depend on order, applied
here vectorised over the whole day, in the order a sequential reader would apply them.

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
count) is not used by Lotus and not checked. Duplicate lines are found by a 64-bit hash
of the line (a collision between two different lines of one day is ~1e-7 likely).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import hashlib
import io
import multiprocessing as mp
import os
import threading
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lotus_core.feed import extract as ex
from lotus_core.feed.gzlines import RecordingFormatError, Truncation, open_lines
from lotus_core.feed.tables import (
    MAX_LEVELS,
    BookFrames,
    DeadLetter,
    FeedDay,
    empty_gaps,
    gaps_frame,
)
from lotus_core.feed.validate import FeedFormatError
from lotus_core.time import day_bounds_ms

_CHUNK_LINES = 50_000
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

    `workers`: extraction processes (default: 2 on a multi-core machine for files over a
    few MB, else inline). The result does not depend on it.
    """
    path = Path(path)
    day = day or path.name.split(".")[0]
    if workers is None:
        big = path.stat().st_size >= _PARALLEL_MIN_BYTES
        workers = min(2, os.cpu_count() or 1) if big else 1
    cut: list[Truncation] = []
    chunks, hashes = _extract_all(path, max(1, workers), cut)
    feed = _assemble(path, day, file_sha256(path), chunks, hashes)
    if cut:
        feed.dead.append(truncation_letter(path, cut[0], len(hashes) + 1))
    del chunks, hashes
    release_free_heap()
    return feed


def release_free_heap() -> None:
    """Hand the heap's free pages back to the OS (glibc `malloc_trim`; elsewhere nothing).

    The chunks' columns come back from the workers as many few-MB arrays, which glibc
    serves from its heap, not from their own mappings; once they are copied into the day's
    tables and freed, the heap keeps their pages (measured: 1.4 GB still resident after a
    24-hour 10-coin parse whose tables hold 1.4 GB). Only RSS changes, never a value."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 - glibc only; AttributeError elsewhere
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: ctypes.CDLL | bool | None = None


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


def _read_chunks(path: Path, hashes: list[int], cut: list[Truncation] | None = None
                 ) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) chunks; records each line's hash on the way, and in
    `cut` where the gzip stream ended early (if it did)."""
    size = _CHUNK_LINES
    first, buf = 1, []
    reader, raw = open_lines(path)
    with reader:
        for line in reader:
            buf.append(line)
            if len(buf) == size:
                hashes.extend(map(hash, buf))
                yield first, buf
                first, buf = first + size, []
        if raw.truncation is not None and cut is not None:
            cut.append(raw.truncation)
    if buf:
        if not buf[-1].endswith(b"\n"):
            buf[-1] += b"\n"  # the last line may lack its newline; keep duplicates comparable
        hashes.extend(map(hash, buf))
        yield first, buf


def _extract_all(path: Path, workers: int, cut: list[Truncation]
                 ) -> tuple[list[ex.Chunk], np.ndarray]:
    if workers > 1:
        try:
            return _extract_parallel(path, workers, cut)
        except (mp.TimeoutError, OSError, EOFError, mp.ProcessError) as exc:
            # the pool is only a speed-up: a lost or stuck worker must never hang or fail
            # a run, so extract again inline (the result does not depend on the path taken)
            warnings.warn(f"parallel extraction of {path} failed ({exc!r}); parsing inline",
                          RuntimeWarning, stacklevel=2)
            cut.clear()
    hashes: list[int] = []
    chunks = [ex.extract_chunk(first, lines)
              for first, lines in _read_chunks(path, hashes, cut)]
    return chunks, np.array(hashes, dtype=np.int64)


_CHUNK_TIMEOUT_S = 120.0  # a chunk takes well under a second; far past that, a worker is lost


def _extract_parallel(path: Path, workers: int, cut: list[Truncation]
                      ) -> tuple[list[ex.Chunk], np.ndarray]:
    # fork: workers inherit the loaded modules and never re-import the caller's __main__
    # (forkserver/spawn break under `python -` or notebooks); they run only pure
    # extraction code and reset inherited signal handlers (ex.init_worker).
    hashes: list[int] = []
    chunks: list[ex.Chunk] = []
    pool = mp.get_context("fork").Pool(workers, initializer=ex.init_worker)
    try:
        pending: deque = deque()
        for first, lines in _read_chunks(path, hashes, cut):
            pending.append(pool.apply_async(ex.extract_chunk, (first, lines)))
            if len(pending) >= 2 * workers:  # bounded: the file never sits in the queue
                chunks.append(pending.popleft().get(timeout=_CHUNK_TIMEOUT_S))
        chunks.extend(p.get(timeout=_CHUNK_TIMEOUT_S) for p in pending)
        pool.close()  # let workers finish and exit on their own
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return chunks, np.array(hashes, dtype=np.int64)


class _Names:
    """Global codes for coin / interval names, merged from each chunk's local codes."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def remap(self, local: list[str]) -> np.ndarray:
        """Local code -> global code (index -1 maps to -1)."""
        out = np.empty(len(local) + 1, dtype=np.int32)
        for i, name in enumerate(local):
            if name not in self.index:
                self.index[name] = len(self.names)
                self.names.append(name)
            out[i] = self.index[name]
        out[-1] = -1
        return out

    def decode(self, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
        return pd.array(np.array(self.names + [""], dtype=object)[codes], dtype="str")

    def name(self, code: int) -> str | None:
        return self.names[code] if code >= 0 else None


_DTYPES: dict[str, type] = {
    "recv": np.int64, "time": np.int64, "tid": np.int64, "line": np.int64, "t_open_ms": np.int64,
    "t_close_ms": np.int64, "n": np.int64, "coin": np.int32, "interval": np.int32,
    "side": np.int8, "nb": np.int16, "na": np.int16, "ok": np.bool_, "fast": np.bool_}
_MATRICES = ("bid_px", "bid_sz", "ask_px", "ask_sz")


class _Table:
    """One channel's columns over the whole day, restricted to lines that survived.

    Each column is filled into one preallocated array, chunk by chunk, and each chunk's
    part is released as soon as it is copied: the day's book matrices are held about once
    (the chunks' parts plus the column being filled), not three times (parts, their
    concatenation and its masked copy)."""

    def __init__(self, chunks: list[ex.Chunk], name: str, coins: _Names, intervals: _Names,
                 keep_line: np.ndarray) -> None:
        parts: list[dict[str, np.ndarray]] = []
        for chunk in chunks:
            table = dict(chunk.tables.pop(name))  # ours; the chunk's own dict is not touched
            coin_map = coins.remap(chunk.coins)  # chunk order: the global codes' order
            interval_map = intervals.remap(chunk.intervals)
            if "coin" in table:
                table["coin"] = coin_map[table["coin"]]
            if "interval" in table:
                table["interval"] = interval_map[table["interval"]]
            parts.append(table)
        self.cols: dict[str, np.ndarray] = {}
        self.owned = True  # built here: `_finish_books` may release columns it is done with
        if not parts or not parts[0]:
            return
        masks = [keep_line[part["line"] - 1] for part in parts]
        kept = [int(m.sum()) for m in masks]
        total = sum(kept)
        flat = name == "books"  # levels flat in the chunks, padded here part by part
        for col in [c for c in parts[0] if not (flat and c in ("px", "sz"))]:
            dtype = np.result_type(*(part[col] for part in parts))  # np.concatenate's dtype
            out = np.empty((total, *parts[0][col].shape[1:]), dtype=dtype)
            pos = 0
            for part, mask, n in zip(parts, masks, kept, strict=True):
                values = part[col] if col in ("nb", "na") and flat else part.pop(col)
                out[pos:pos + n] = values if n == len(mask) else values[mask]
                pos += n
                del values
            self.cols[col] = out
        if flat:
            mats = [np.empty((total, MAX_LEVELS)) for _ in _MATRICES]
            pos = 0
            for part, mask, n in zip(parts, masks, kept, strict=True):
                for out, values in zip(mats, ex.book_matrices(part), strict=True):
                    out[pos:pos + n] = values if n == len(mask) else values[mask]
                part.clear()
                pos += n
            self.cols.update(zip(_MATRICES, mats, strict=True))

    def __getitem__(self, col: str) -> np.ndarray:
        if col in self.cols:
            return self.cols[col]
        if col in _MATRICES:
            return np.empty((0, MAX_LEVELS))
        return np.empty(0, dtype=_DTYPES.get(col, np.float64))

    def __len__(self) -> int:
        return len(self["line"])


class _Dead:
    """Dead letters found while assembling; raw text is fetched in one extra pass."""

    def __init__(self, coins: _Names) -> None:
        self.coins = coins
        self.found: list[tuple[int, int | None, str | None, str | None, str, str]] = []

    def add(self, table: _Table, bad: np.ndarray, channel: str, reason: str, detail: str
            ) -> None:
        for i in np.flatnonzero(bad):
            self.found.append((int(table["line"][i]), int(table["recv"][i]), channel,
                               self.coins.name(int(table["coin"][i])), reason, detail))


def _assemble(path: Path, day: str, sha: str, chunks: list[ex.Chunk], hashes: np.ndarray,
              fetch: Callable[[set[int]], dict[int, bytes]] | None = None,
              owns: Callable[[str | None], bool] | None = None,
              lines: dict[str, np.ndarray] | None = None) -> FeedDay:
    """`owns` (a coin shard's assembly, lotus_core.feed.shards): keep only the dead letters
    whose coin (None: a line-level letter) it returns True for. `lines`: filled with each
    table's line numbers (what puts coin shards back in the day's order)."""
    start_ms, end_ms = day_bounds_ms(day)
    recv = np.concatenate([c.recv for c in chunks]) if chunks else np.empty(0, np.int64)
    kind = np.concatenate([c.kind for c in chunks]) if chunks else np.empty(0, np.int8)
    n_lines = len(recv)
    line_ok = recv >= 0

    # line-level rules, in a sequential reader's order: duplicate, recv order, day
    dup = np.zeros(n_lines, dtype=bool)
    idx = np.flatnonzero(line_ok)
    dup[idx] = pd.Series(hashes[idx]).duplicated().to_numpy()
    idx = np.flatnonzero(line_ok & ~dup)
    running = np.maximum.accumulate(recv[idx]) if len(idx) else recv[idx]
    behind = np.zeros(len(idx), dtype=bool)
    behind[1:] = recv[idx][1:] < running[:-1]
    late = np.zeros(n_lines, dtype=bool)
    late[idx[behind]] = True
    previous_max = dict(zip(idx[1:][behind[1:]], running[:-1][behind[1:]], strict=True))
    outside = line_ok & ~dup & ~late & ((recv < start_ms) | (recv >= end_ms))
    rejected = dup | late | outside
    keep_line = line_ok & ~rejected

    coins, intervals = _Names(), _Names()
    found = _Dead(coins)
    for i in np.flatnonzero(rejected):
        r = int(recv[i])
        if dup[i]:
            found.found.append((i + 1, r, None, None, "duplicate_frame",
                                "identical to an earlier line"))
        elif late[i]:
            found.found.append((i + 1, r, None, None, "out_of_order",
                                f"recv_ts_ms {r} is before an earlier line's "
                                f"{int(previous_max[i])}"))
        else:
            found.found.append((i + 1, r, None, None, "outside_day",
                                f"recv_ts_ms {r} is not within {day} UTC"))
    dead = [DeadLetter(*d) for c in chunks for d in c.dead if keep_line[d[0] - 1] or d[1] is None]

    stats: Counter[str] = Counter({"lines": n_lines})
    kept_kinds = Counter(kind[keep_line].tolist())
    for code, name in ex.KIND_STATS.items():
        if kept_kinds.get(code):
            stats[name] = kept_kinds[code]

    # one channel at a time, so only one channel's arrays are ever held twice
    table = _Table(chunks, "books", coins, intervals, keep_line)
    kept: list[np.ndarray] = []
    books = _finish_books(table, found, coins, stats, kept)
    if lines is not None:
        lines["books"] = table["line"][kept[0]]
    del table
    trades = _finish_trades(_Table(chunks, "trades", coins, intervals, keep_line), found, coins,
                            stats)
    bbo = _finish_bbo(_Table(chunks, "bbo", coins, intervals, keep_line), found, coins, stats)
    ctx = _finish_ctx(_Table(chunks, "ctx", coins, intervals, keep_line), found, coins)
    candles = _finish_candles(_Table(chunks, "candles", coins, intervals, keep_line), found,
                              coins, intervals)
    gaps = finish_gaps([(c.tables.pop("gaps", None), c.coins, c.first_line,
                         keep_line[c.first_line - 1:c.first_line - 1 + len(c.kind)])
                        for c in chunks])
    if owns is not None:
        dead = [d for d in dead if owns(d.coin)]
        found.found = [d for d in found.found if owns(d[3])]
    if found.found:
        wanted = {d[0] for d in found.found}
        raw = fetch(wanted) if fetch is not None else _fetch_lines(path, wanted)
        dead += [DeadLetter(*d, ex.excerpt(raw.get(d[0], b""))) for d in found.found]
    dead.sort(key=lambda d: d.line_no)
    counts = _counts(books.meta, trades, bbo, ctx, candles)
    if lines is not None:
        lines.update({"trades": trades["line_no"].to_numpy(), "bbo": bbo["line_no"].to_numpy(),
                      "ctx": ctx["line_no"].to_numpy(), "candles": candles["line"].to_numpy()})
    trades, bbo, ctx = (f.drop(columns="line_no") for f in (trades, bbo, ctx))
    candles = candles.drop(columns="line")
    return FeedDay(day=day, source=str(path), sha256=sha, books=books, trades=trades, bbo=bbo,
                   ctx=ctx, candles=candles, counts=counts, dead=dead, stats=dict(stats),
                   gaps=gaps)


def finish_gaps(parts: list[tuple[dict[str, np.ndarray] | None, list[str], int, np.ndarray]]
                ) -> pd.DataFrame:
    """The `gaps` table of chunks' gap rows: (table, the chunk's coin names, its first line,
    its lines' keep mask). A gap record is a line like any other (refused when duplicate,
    late or outside the day); nothing else about it depends on other lines."""
    cols: list[list[np.ndarray]] = [[], [], [], []]
    coin: list[str] = []
    for table, names, first_line, keep_line in parts:
        if not table or len(table["recv"]) == 0:
            continue
        keep = keep_line[table["line"] - first_line]
        for out, col in zip(cols, ("recv", "start", "end", "reason"), strict=True):
            out.append(table[col][keep])
        coin += [names[c] if c >= 0 else "" for c in table["gap_coin"][keep].tolist()]
    if not coin:
        return empty_gaps()
    recv, start, end, reason = (np.concatenate(c) for c in cols)
    return gaps_frame(recv, start, end, reason, coin)


def assemble_chunks(source: str, day: str, chunks: list[ex.Chunk], hashes: np.ndarray,
                    lines: Callable[[set[int]], dict[int, bytes]]) -> FeedDay:
    """A FeedDay from chunks already extracted (the live path: the day so far), by the very
    rules `parse_recording` applies. `chunks` are left intact (copies are consumed);
    `lines` returns the raw text of the line numbers dead letters need."""
    copies = [dataclasses.replace(c, tables=dict(c.tables)) for c in chunks]
    return _assemble(Path(source), day, "", copies, hashes, lines)


def _fetch_lines(path: Path, wanted: set[int]) -> dict[int, bytes]:
    """The raw text of a few lines, for dead letters found after extraction."""
    out = {}
    with open_recording(path) as reader:
        for n, line in enumerate(reader, start=1):
            if n in wanted:
                out[n] = line
                if len(out) == len(wanted):
                    break
    return out


def _stream_order(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A stable order grouping rows by stream (receive order kept inside each stream), and
    for each position in that order whether it starts a new stream."""
    codes = np.zeros(len(keys[0]), dtype=np.int64)
    for k in keys:
        k = k.astype(np.int64) + 1  # -1 (a bad name) becomes its own stream
        codes = codes * (int(k.max()) + 1 if len(k) else 1) + k
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_codes[1:] != sorted_codes[:-1]
    return order, starts


def _older_than_stream(keys: list[np.ndarray], t: np.ndarray) -> np.ndarray:
    """Rows whose venue time is older than the latest earlier time in the same stream."""
    if len(t) == 0:
        return np.zeros(0, dtype=bool)
    order, starts = _stream_order(keys)
    ts = t[order]
    group = np.cumsum(starts) - 1
    span = int(ts.max() - ts.min()) + 1
    shifted = group * span + (ts - ts.min())  # monotone across streams: one running max
    prev_max = np.maximum.accumulate(shifted)
    older = np.zeros(len(t), dtype=bool)
    older[1:] = (shifted[1:] < prev_max[:-1]) & ~starts[1:]
    out = np.zeros(len(t), dtype=bool)
    out[order] = older
    return out


_BLOCK_ROWS = 65_536  # rows compared at a time: temporaries stay a few MB at any day size


def _same_as_previous(keys: list[np.ndarray], values: list[np.ndarray],
                      rows: np.ndarray | None = None) -> np.ndarray:
    """Rows identical (in every `values` column) to the previous row of the same stream.

    `keys` describe the rows considered; with `rows`, `values` are the full columns and
    `rows` their positions of those rows (so the caller never copies a subset of a matrix).
    Compared a block of rows at a time; the answer does not depend on the block size."""
    if len(keys[0]) == 0:
        return np.zeros(0, dtype=bool)
    order, starts = _stream_order(keys)
    pos = order if rows is None else rows[order]
    same = ~starts
    for v in values:
        for lo in range(1, len(pos), _BLOCK_ROWS):
            hi = min(lo + _BLOCK_ROWS, len(pos))
            cur, prev = v[pos[lo:hi]], v[pos[lo - 1:hi - 1]]
            eq = (cur == prev) | (np.isnan(cur) & np.isnan(prev))
            if eq.ndim > 1:
                eq = eq.all(axis=1)
            same[lo:hi] &= eq
    out = np.zeros(len(same), dtype=bool)
    out[order] = same
    return out


def _subset(mask: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """Lift a mask over the rows selected by `mask` back to all rows."""
    out = np.zeros(len(mask), dtype=bool)
    out[np.flatnonzero(mask)[sub]] = True
    return out


def _finish_books(t: _Table, found: _Dead, coins: _Names, stats: Counter[str],
                  kept: list[np.ndarray] | None = None) -> BookFrames:
    """The accepted books (`kept`, when given, receives the mask of the table's rows kept)."""
    keys = [t["coin"], t["fast"].astype(np.int64)]
    old = _older_than_stream(keys, t["time"])
    found.add(t, old, "l2Book", "out_of_order", "book time before the stream's latest")
    live = ~old
    rows = np.flatnonzero(live)
    sub = [k[rows] for k in keys]
    resent = _subset(live, _same_as_previous(
        sub, [t["time"].astype(np.float64)] + [t[m] for m in _MATRICES], rows))
    stats["resent_snapshots"] += int(resent.sum())
    candidates = live & ~resent
    numbers_ok = t["ok"]
    found.add(t, candidates & ~numbers_ok, "l2Book", "malformed_l2Book",
              "a level px or sz is not a decimal number")
    sane = _book_is_sane(t["bid_px"], t["bid_sz"], t["ask_px"], t["ask_sz"], t["nb"], t["na"])
    found.add(t, candidates & numbers_ok & ~sane, "l2Book", "crossed_book",
              "levels out of order, non-positive, or best bid >= best ask")
    keep = candidates & numbers_ok & sane & (t["coin"] >= 0)
    if kept is not None:
        kept.append(keep)
    meta = pd.DataFrame({
        "recv_ts_ms": t["recv"][keep], "coin": coins.decode(t["coin"][keep]),
        "time_ms": t["time"][keep], "fast": t["fast"][keep], "n_bid": t["nb"][keep],
        "n_ask": t["na"][keep]})
    if keep.all():  # the usual case: hand over the matrices without copying them
        return BookFrames(meta, *(t[m] for m in _MATRICES))
    # one matrix at a time, each released from the table once its kept rows are copied
    owned = getattr(t, "owned", False)  # the live assembler's tables are its own state
    return BookFrames(meta, *(t.cols.pop(m)[keep] if owned and m in t.cols else t[m][keep]
                              for m in _MATRICES))


def _book_is_sane(bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
                  nb: np.ndarray, na: np.ndarray) -> np.ndarray:
    """Bids strictly descending, asks strictly ascending, prices and sizes positive, uncrossed.
    A block of rows at a time (row-wise rules: the answer does not depend on the block)."""
    out = np.empty(len(nb), dtype=bool)
    with np.errstate(invalid="ignore"):
        for lo in range(0, len(nb), _BLOCK_ROWS):
            b = slice(lo, lo + _BLOCK_ROWS)
            bp, bs, ap, az = bid_px[b], bid_sz[b], ask_px[b], ask_sz[b]
            bid_ok = ~(np.diff(bp, axis=1) >= 0).any(axis=1)
            ask_ok = ~(np.diff(ap, axis=1) <= 0).any(axis=1)
            positive = ~((bs <= 0) | (az <= 0) | (bp <= 0) | (ap <= 0)).any(axis=1)
            uncrossed = ~((nb[b] > 0) & (na[b] > 0)) | (bp[:, 0] < ap[:, 0])
            out[b] = bid_ok & ask_ok & positive & uncrossed
    return out


def _frame(t: _Table, names: list[str], keep: np.ndarray, coins: _Names,
           rename: dict[str, str], intervals: _Names | None = None) -> pd.DataFrame:
    """The kept rows of a channel's columns; code columns decoded to str."""
    out = {}
    for name in names:
        values = t[name][keep]
        if name == "coin":
            values = coins.decode(values)
        elif name == "interval" and intervals is not None:
            values = intervals.decode(values)
        out[rename.get(name, name)] = values
    return pd.DataFrame(out)


_RENAME = {"recv": "recv_ts_ms", "time": "time_ms", "line": "line_no"}


def _finish_trades(t: _Table, found: _Dead, coins: _Names, stats: Counter[str]) -> pd.DataFrame:
    line = t["line"]
    keys = pd.DataFrame({"coin": t["coin"], "time": t["time"], "tid": t["tid"]})
    replayed = keys.duplicated().to_numpy()
    stats["replayed_trades"] += int(replayed.sum())
    if stats["replayed_trades"] == 0:
        del stats["replayed_trades"]
    all_replayed = pd.Series(replayed).groupby(line).transform("all").to_numpy()
    first_of_frame = np.ones(len(line), dtype=bool)
    first_of_frame[1:] = line[1:] != line[:-1]
    found.add(t, all_replayed & first_of_frame, "trades", "duplicate_trades",
              "every trade in the frame was already seen")
    fresh = ~replayed
    with np.errstate(invalid="ignore"):
        ok = t["ok"] & (t["coin"] >= 0) & (t["px"] > 0) & (t["sz"] > 0)
    bad = np.isin(line, line[~ok & ~all_replayed])  # one bad trade refuses its whole frame
    found.add(t, bad & first_of_frame, "trades", "malformed_trades",
              "a trade has a bad coin, time, tid, or a non-positive / non-numeric px or sz")
    return _frame(t, ["recv", "coin", "time", "side", "px", "sz", "tid", "line"],
                  fresh & ~bad, coins, _RENAME)


def _finish_bbo(t: _Table, found: _Dead, coins: _Names, stats: Counter[str]) -> pd.DataFrame:
    ok = t["ok"] & (t["coin"] >= 0)
    found.add(t, ~ok, "bbo", "malformed_bbo", "bad coin, time, or a non-numeric px/sz")
    with np.errstate(invalid="ignore"):
        crossed = ok & (t["bid_px"] >= t["ask_px"])
    found.add(t, crossed, "bbo", "crossed_book", "best bid >= best ask")
    keep = ok & ~crossed
    old = _subset(keep, _older_than_stream([t["coin"][keep]], t["time"][keep]))
    found.add(t, old, "bbo", "out_of_order", "bbo time before the stream's latest")
    keep &= ~old
    values = ["bid_px", "bid_sz", "ask_px", "ask_sz"]
    resent = _subset(keep, _same_as_previous(
        [t["coin"][keep]], [t["time"][keep].astype(np.float64)] + [t[v][keep] for v in values]))
    stats["resent_snapshots"] += int(resent.sum())
    return _frame(t, ["recv", "coin", "time", *values, "line"], keep & ~resent, coins, _RENAME)


def _finish_ctx(t: _Table, found: _Dead, coins: _Names) -> pd.DataFrame:
    ok = t["ok"] & (t["coin"] >= 0)
    for name in ex.CTX_FIELDS[:4]:
        ok &= ~np.isnan(t[name])
    found.add(t, ~ok, "activeAssetCtx", "malformed_activeAssetCtx",
              "bad coin, or funding / openInterest / oraclePx / markPx not a decimal number")
    return _frame(t, ["recv", "coin", *ex.CTX_FIELDS, "line"], ok, coins, _RENAME)


def _finish_candles(t: _Table, found: _Dead, coins: _Names, intervals: _Names) -> pd.DataFrame:
    o, h, lo, c = t["o"], t["h"], t["l"], t["c"]
    with np.errstate(invalid="ignore"):
        ok = t["ok"] & (t["coin"] >= 0) & (t["interval"] >= 0) & (lo <= np.minimum(o, c)) & (
            h >= np.maximum(o, c))
    found.add(t, ~ok, "candle", "malformed_candle",
              "bad s / i / t / T / n, a non-numeric price, or not l <= o, c <= h")
    old = _subset(ok, _older_than_stream([t["coin"][ok], t["interval"][ok]], t["t_open_ms"][ok]))
    found.add(t, old, "candle", "out_of_order", "candle opened before the stream's current one")
    return _frame(t, ["recv", "coin", "interval", "t_open_ms", "t_close_ms", "o", "h", "l", "c",
                      "v", "n", "line"], ok & ~old, coins, {"recv": "recv_ts_ms"}, intervals)


def _counts(books: pd.DataFrame, trades: pd.DataFrame, bbo: pd.DataFrame, ctx: pd.DataFrame,
            candles: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Accepted frames per (channel, coin); a trades frame counts once however many trades."""
    out: dict[tuple[str, str], int] = {}
    for channel, frame in (("l2Book", books), ("bbo", bbo), ("activeAssetCtx", ctx),
                           ("candle", candles)):
        for coin, n in frame.groupby("coin", sort=True).size().items():
            out[(channel, str(coin))] = int(n)
    for coin, n in trades.groupby("coin", sort=True)["line_no"].nunique().items():
        out[("trades", str(coin))] = int(n)
    return out
